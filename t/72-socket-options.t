# Socket options as pool and request options: local_address seen by the
# server as the peer address, options that change the connection kept
# apart in the destination key (never sharing a connection) while
# $client->destination still names the target, a local address of the
# other family, and bad values croaking with the option's name. The
# options themselves are read back with getsockopt in t/c/test_dial.c.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;

my $srv  = Uvent::Test::Server->new;
my $loop = Uvent::Loop->new;
my $url  = $srv->url('/peer');

sub fetch {
    my ($pool, %req) = @_;
    my ($res, $err);
    my $client = $pool->request({ uri => $url, connect_timeout => 5, timeout => 10, %req,
        response_callback => sub { (undef, $res, $err) = @_ } });
    $loop->run;
    return ($err ? "error: $err" : $res->body, $client);
}

subtest 'local_address: the server sees it as the peer' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my ($peer, $client) = fetch($pool, local_address => '127.0.0.2');
    is($peer, '127.0.0.2', 'per request');
    is($client && $client->destination, 'http://127.0.0.1:' . $srv->port, 'destination still names the target');
    ($peer) = fetch($pool);
    is($peer, '127.0.0.1', 'a request without it: the default address');
    is($pool->stats->{connections_opened}, 2, 'on a connection of its own');
    $pool = Uvent::HTTP::Pool->new({ local_address => '127.0.0.3' }, $loop);
    ($peer) = fetch($pool);
    is($peer, '127.0.0.3', 'as a pool option');
};

subtest 'different options never share a connection' => sub {
    my $pool = Uvent::HTTP::Pool->new({ local_address => '127.0.0.2' }, $loop);
    $srv->reset_stats;
    my @peers = map { (fetch($pool, %$_))[0] } { local_address => '127.0.0.3' }, {}, { local_address => '127.0.0.2' },
        { local_address => '127.0.0.3' }, { tcp_keepalive => 30 }, { tcp_keepalive => 30 }, { family => 4 };
    is_deeply(\@peers, [qw(127.0.0.3 127.0.0.2 127.0.0.2 127.0.0.3 127.0.0.2 127.0.0.2 127.0.0.2)], 'peers as asked');
    my $s = $pool->stats;
    is($s->{connections_opened}, 4, 'four connections: .3, the pool\'s (also asked by value), keepalive 30, family 4');
    is($s->{reused}, 3, 'equal options reused the connection');
    is($srv->connections, 4, 'the server counted four connections');
    is($pool->size, 4, 'four kept');
};

subtest 'tuning options per request and per pool' => sub {
    my %o = (tcp_nodelay => 0, tcp_keepalive => 5, so_linger => 0, socket_buffer_size => 65536, family => 0);
    my $pool = Uvent::HTTP::Pool->new({%o}, $loop);
    is((fetch($pool))[0], '127.0.0.1', 'a pool with every option set works');
    is((fetch($pool, %o, so_linger => -1, tcp_nodelay => 1))[0], '127.0.0.1', 'and a request setting them');
};

subtest 'a local address of the other family skips the address, saying so' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my ($r) = fetch($pool, uri => 'http://[::1]:' . $srv->port . '/peer', local_address => '127.0.0.2');
    like($r, qr/^error: could not connect .*\[::1\]:\d+: skipped, local_address 127\.0\.0\.2 is IPv4/,
        'a connect error naming the mismatch');
};

subtest 'bad values croak, naming the option' => sub {
    my @bad = (
        [ family             => 5,            qr/'family' must be 4 \(IPv4\), 6 \(IPv6\) or 0 \(both\), got '5'/ ],
        [ family             => 'six',        qr/'family' must be a number, got 'six'/ ],
        [ tcp_nodelay        => 2,            qr/'tcp_nodelay' must be 0 or 1, got '2'/ ],
        [ tcp_keepalive      => -1,           qr/'tcp_keepalive' must be a whole number of seconds from 0 \(off\) to 32767, got '-1'/ ],
        [ tcp_keepalive      => 1.5,          qr/'tcp_keepalive' must be a whole number, got '1.5'/ ],
        [ tcp_keepalive      => 'nan',        qr/'tcp_keepalive' must be a whole number, got 'nan'/ ],
        [ tcp_keepalive      => 9**9**9,      qr/'tcp_keepalive' must be a whole number, got 'Inf'/ ],
        [ tcp_keepalive      => 40000,        qr/'tcp_keepalive' must be a whole number of seconds from 0 \(off\) to 32767, got '40000'/ ],
        [ so_linger          => -2,           qr/'so_linger' must be -1 \(the system's default\) or a whole number of seconds from 0 to 65535, got '-2'/ ],
        [ socket_buffer_size => -1,           qr/'socket_buffer_size' must be a whole number of bytes from 0/ ],
        [ socket_buffer_size => 2**40,        qr/'socket_buffer_size' must be a whole number, got/ ],
        [ socket_buffer_size => [],           qr/'socket_buffer_size' must be a number, got/ ],
        [ local_address      => '127.0.0.256', qr/'local_address' must be an IPv4 or IPv6 address \(such as 127\.0\.0\.2 or ::1\), got '127\.0\.0\.256'/ ],
        [ local_address      => 'localhost',  qr/'local_address' must be an IPv4 or IPv6 address .*got 'localhost'/ ],
        [ local_address      => '[::1]',      qr/'local_address' must be an IPv4 or IPv6 address/ ],
        [ local_address      => "::1\0",      qr/'local_address' must be an IPv4 or IPv6 address .*got '::1\\0'/ ],
        [ local_address      => [],           qr/'local_address' must be a string, not a reference/ ],
    );
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    for my $case (@bad) {
        my ($key, $value, $re) = @$case;
        eval { Uvent::HTTP::Pool->new({ $key => $value }, $loop) };
        like($@, qr/\AUvent::HTTP::Pool->new: $re.* at \Q${\__FILE__}\E/, "pool $key: croaks");
        my $called = 0;
        eval { $pool->request({ uri => $url, $key => $value, response_callback => sub { $called++ } }) };
        like($@, qr/\AUvent::HTTP::Pool->request: $re.* at \Q${\__FILE__}\E/, "request $key: croaks");
        is($called + $pool->stats->{requests}, 0, 'nothing sent');
        eval { Uvent::HTTP::Request->new({ uri => $url, $key => $value })->validate };
        like($@, qr/\AUvent::HTTP::Request->validate: $re/, "validate $key: croaks");
    }
    ok(eval { Uvent::HTTP::Pool->new({ local_address => '::1', family => 6, so_linger => -1 }, $loop) },
        'good values are taken') or diag $@;
};

subtest 'no leaked SVs (Test::LeakTrace)' => sub {
    plan skip_all => 'Test::LeakTrace not installed' unless eval { require Test::LeakTrace; 1 };
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    fetch($pool, local_address => '127.0.0.2', tcp_keepalive => 5);    # warm up
    Test::LeakTrace::no_leaks_ok(sub { fetch($pool, local_address => '127.0.0.2', tcp_keepalive => 5) }, 'a request with options');
    Test::LeakTrace::no_leaks_ok(sub { eval { $pool->request({ uri => $url, local_address => 'x' }) } }, 'a croak');
    Test::LeakTrace::no_leaks_ok(sub {
        my $p = Uvent::HTTP::Pool->new({ resolve => { "a.test:1" => ['::1'] }, family => 4, so_linger => 1 }, $loop);
        eval { Uvent::HTTP::Pool->new({ resolve => { "a.test:1" => ['nope'] } }, $loop) };
        eval { Uvent::HTTP::Pool->new({ so_linger => -5 }, $loop) };
    }, 'pool options, good and bad');
};

done_testing;
