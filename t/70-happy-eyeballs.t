# Happy Eyeballs (RFC 8305) through `resolve`: a name with an IPv6 address
# that hangs (a listener on ::1 whose accept queue is full, so SYNs are
# dropped) and an IPv4 one that answers is reached over IPv4 after about
# happy_eyeballs_delay, not after the connect timeout; both refused gives
# one `connect` error naming both attempts; `family` filters.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use IO::Socket::IP;
use Time::HiRes qw(time);
use Uvent;
use Uvent::Test::Server;

my $v6 = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0, Listen => 1)
    or plan skip_all => "no IPv6 on ::1 here: $@";
close $v6;

my $srv  = Uvent::Test::Server->new;
my $port = $srv->port;
my $loop = Uvent::Loop->new;

sub fetch {
    my ($pool, %req) = @_;
    my ($res, $err, $done);
    my $t0 = time;
    $pool->request({ %req, response_callback => sub { (undef, $res, $err) = @_; $done++ } });
    $loop->run;
    return { res => $res, err => $err, done => $done, took => time - $t0 };
}

# A listener on ::1 at $port with a full accept queue: filler connections
# nobody accepts until one more connect hangs. Undef when connects never
# hang on this kernel.
sub hanging_v6_listener {
    my ($p) = @_;
    my $l = IO::Socket::IP->new(LocalHost => '::1', LocalPort => $p, Listen => 0, ReuseAddr => 1) or return;
    my @fill;
    for (1 .. 64) {
        my $c = IO::Socket::IP->new(PeerHost => '::1', PeerPort => $p, Blocking => 0) or return;
        push @fill, $c;
        my $w = '';
        vec($w, fileno $c, 1) = 1;
        return [$l, @fill] unless select(undef, my $wo = $w, undef, 0.2);
    }
    return;
}

subtest 'IPv6 hangs, IPv4 answers: the request succeeds over IPv4 after the delay' => sub {
    my $hang = hanging_v6_listener($port)
        or plan skip_all => "could not make a ::1 listener on port $port whose full accept queue drops SYNs";
    my $pool = Uvent::HTTP::Pool->new({
        resolve => { "he.test:$port" => [ '::1', '127.0.0.1' ] }, happy_eyeballs_delay => 0.3,
    }, $loop);
    my $r = fetch($pool, uri => "http://he.test:$port/peer", connect_timeout => 5, timeout => 10);
    is($r->{done}, 1, 'one callback');
    ok(!$r->{err}, 'no error') or diag "error: $r->{err}";
    is($r->{res} && $r->{res}->body, '127.0.0.1', 'the server saw the IPv4 connection');
    cmp_ok($r->{took}, '<', 3, sprintf('well before the 5 s connect timeout (%.3f s)', $r->{took}));
    cmp_ok($r->{took}, '>=', 0.28, 'after about the delay');
    is($pool->stats->{dns_lookups}, 0, 'a resolve entry makes no lookup');
    is($pool->stats->{connections_opened}, 1, 'one connection counted');

    # family => 6: only the hanging address is tried, so the connect times out
    $r = fetch($pool, uri => "http://he.test:$port/peer", family => 6, connect_timeout => 0.5);
    is($r->{err} && $r->{err}->code, 'connect_timeout', 'family 6: only ::1, which hangs');
    close $_ for @$hang;
};

subtest 'both families refused: one connect error naming both attempts' => sub {
    my $l = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 1) or die "listen: $@";
    my $closed = $l->sockport;
    close $l;
    my $pool = Uvent::HTTP::Pool->new({ resolve => { "he.test:$closed" => [ '127.0.0.1', '::1' ] } }, $loop);
    my $r = fetch($pool, uri => "http://he.test:$closed/", connect_timeout => 5);
    is($r->{done}, 1, 'one callback');
    is($r->{err} && $r->{err}->code, 'connect', 'code connect');
    like("$r->{err}", qr/\Q[::1]:$closed: connection refused; 127.0.0.1:$closed: connection refused\E/,
        'the message names both attempts, IPv6 first') or diag "$r->{err}";
    is($pool->stats->{errors}{connect}, 1, 'one connect error counted');
};

subtest 'family filters the addresses' => sub {
    my $pool = Uvent::HTTP::Pool->new({ resolve => { "he.test:$port" => [ '::1', '127.0.0.1' ] }, family => 4 }, $loop);
    my $r = fetch($pool, uri => "http://he.test:$port/peer", connect_timeout => 5);
    is($r->{res} && $r->{res}->body, '127.0.0.1', 'family 4 (pool): IPv4 at once') or diag "error: " . ($r->{err} // '');
    $r = fetch($pool, uri => "http://he.test:$port/peer", family => 6, connect_timeout => 5);
    is($r->{err} && $r->{err}->code, 'connect', 'family 6 (request): the refused ::1 only');
    unlike("$r->{err}", qr/127\.0\.0\.1/, 'no IPv4 attempt') if $r->{err};
    $r = fetch($pool, uri => "http://127.0.0.1:$port/peer", family => 6, connect_timeout => 5);
    is($r->{err} && $r->{err}->code, 'resolve', 'an IPv4 literal with family 6: no address');
    like("$r->{err}", qr/no IPv6 address/, 'saying so') if $r->{err};
    $pool = Uvent::HTTP::Pool->new({ resolve => { "HE.test:$port" => '127.0.0.1' } }, $loop);
    $r = fetch($pool, uri => "http://he.TEST:$port/peer", connect_timeout => 5);
    is($r->{res} && $r->{res}->body, '127.0.0.1', 'host names match case-insensitively; one address as a string');
};

subtest 'bad resolve entries croak, naming the entry' => sub {
    for my $case (
        [ [ 'x' ],                                 qr/'resolve' must be a hashref/ ],
        [ { 'he.test' => ['::1'] },                qr/'resolve' key 'he\.test' must be 'host:port'/ ],
        [ { 'he.test:0' => ['::1'] },              qr/'resolve' key 'he\.test:0' must be 'host:port'/ ],
        [ { 'he.test:99999' => ['::1'] },          qr/'resolve' key 'he\.test:99999' must be 'host:port'/ ],
        [ { 'he.test:80' => [] },                  qr/'resolve' entry 'he\.test:80' must be an arrayref of IP addresses/ ],
        [ { 'he.test:80' => [undef] },             qr/'resolve' entry 'he\.test:80' must be an arrayref/ ],
        [ { 'he.test:80' => ['::1', 'nope'] },     qr/resolve 'he\.test:80': 'nope' is not an IPv4 or IPv6 address/ ],
        [ { 'he.test:80' => ['1.2.3.4.5'] },       qr/'1\.2\.3\.4\.5' is not an IPv4 or IPv6 address/ ],
        [ { 'he.test:80' => ["127.0.0.1\0x"] },    qr/'resolve' entry 'he\.test:80' must be an arrayref/ ],
    ) {
        my ($resolve, $re) = @$case;
        eval { Uvent::HTTP::Pool->new({ resolve => $resolve }, $loop) };
        like($@, qr/\AUvent::HTTP::Pool->new: .*$re.* at \Q${\__FILE__}\E/, "croaks: $re");
    }
    for my $case ([ happy_eyeballs_delay => -1 ], [ happy_eyeballs_delay => 'x' ], [ happy_eyeballs_delay => 1e10 ]) {
        eval { Uvent::HTTP::Pool->new({ @$case }, $loop) };
        like($@, qr/'happy_eyeballs_delay' must be/, "happy_eyeballs_delay => $case->[1] croaks");
    }
};

done_testing;
