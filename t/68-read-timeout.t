# read_timeout: the longest silence while a response is awaited or read.
# A server that trickles a byte every 0.3 s is not timed out at 0.5 s; one
# that stalls is, with a message naming the read timeout and the bytes that
# had arrived; a long but steady download is not; the total timeout stays
# separate; the pool's default applies and a request overrides it.
use strict;
use warnings;
use Test::More;
use Time::HiRes ();
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;

my $srv  = Uvent::Test::Server->new;
my $loop = Uvent::Loop->new;

# one request; returns { res, err, secs }
sub fetch {
    my ($pool, %params) = @_;
    my %r;
    my $t0 = Time::HiRes::time();
    $pool->request({
        timeout => 10, %params,
        response_callback => sub { (undef, $r{res}, $r{err}) = @_; $r{secs} = Time::HiRes::time() - $t0 },
    });
    $loop->run;
    return \%r;
}

my $pool = Uvent::HTTP::Pool->new({}, $loop);

{
    my $r = fetch($pool, uri => $srv->url('/drip?n=3&delay=0.3'), read_timeout => 0.5);
    ok(!$r->{err}, 'a byte every 0.3 s: no read timeout at 0.5 s') or diag "error: $r->{err}";
    is($r->{res} && $r->{res}->body, 'ddd', 'and the whole body arrived');
}

{
    my $r = fetch($pool, uri => $srv->url('/stall'), read_timeout => 0.5);
    ok($r->{err}, 'a server that stalls: the request fails');
    is($r->{err} && $r->{err}->code, 'timeout', 'with code timeout');
    like("$r->{err}", qr/read timeout: no byte arrived for 0\.5 s \(0 bytes of the response had arrived\)/,
        'the message says it was the read timeout, and that nothing had arrived');
    cmp_ok($r->{secs}, '>=', 0.45, 'not before the read timeout');
    cmp_ok($r->{secs}, '<', 5, 'long before the total timeout of 10 s');
}

{
    my $r = fetch($pool, uri => $srv->url('/drip?n=5&delay=0.05&stall_after=3'), read_timeout => 0.5);
    is($r->{err} && $r->{err}->code, 'timeout', 'a response that stalls half-way: timeout');
    like("$r->{err}", qr/read timeout: .*\(\d+ bytes of the response had arrived\)/, 'the message counts the bytes');
    my ($n) = "$r->{err}" =~ /\((\d+) bytes/;
    cmp_ok($n // 0, '>', 3, 'the head and 3 body bytes had arrived (more than 3 bytes)');
    is($pool->size, 0, 'the connection was discarded');
}

{
    # 10 bytes 0.1 s apart: 1 s of download, twice the read timeout
    my $r = fetch($pool, uri => $srv->url('/drip?n=10&delay=0.1'), read_timeout => 0.5);
    ok(!$r->{err}, 'a long but steady download is not timed out') or diag "error: $r->{err}";
    cmp_ok($r->{secs}, '>', 0.5, 'it lasted longer than the read timeout');
}

{
    my $r = fetch($pool, uri => $srv->url('/drip?n=10&delay=0.1'), read_timeout => 0.5, timeout => 0.6);
    is($r->{err} && $r->{err}->code, 'timeout', 'the total timeout still applies to a steady download');
    unlike("$r->{err}", qr/read timeout/, 'and says it was the total timeout');
}

{
    my $p = Uvent::HTTP::Pool->new({ read_timeout => 0.5 }, $loop);
    my $r = fetch($p, uri => $srv->url('/stall'));
    like($r->{err} // '', qr/read timeout/, "the pool's read_timeout applies to a request without one");
    $r = fetch($p, uri => $srv->url('/sleep?s=0.8'), read_timeout => 0);
    ok(!$r->{err}, 'a request with read_timeout => 0 has none') or diag "error: $r->{err}";
    $r = fetch($p, uri => $srv->url('/sleep?s=0.8'));
    like($r->{err} // '', qr/read timeout/, 'a response that waits 0.8 s before its head hits the 0.5 s read timeout');
    $r = fetch($p, uri => $srv->url('/ok'));
    ok(!$r->{err}, 'a quick response is not affected');
    $p->shutdown;
}

# a response that starts while the body is still uploading, then stalls
# (and the server stops reading): the read timeout runs from its last byte
{
    require IO::Socket::INET;
    my $l = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1) or die $!;
    my $port = $l->sockport;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        my $c = $l->accept or POSIX::_exit(1);
        my $buf = '';
        sysread($c, $buf, 4096, length $buf) until $buf =~ /\r\n\r\n/;
        syswrite($c, "HTTP/1.1 200 OK\r\n");
        sleep 6;
        require POSIX;
        POSIX::_exit(0);
    }
    close $l;
    my $r = fetch($pool, uri => "http://127.0.0.1:$port/up", method => 'POST', body => 'x' x (64 << 20),
        read_timeout => 0.5, timeout => 5);
    is($r->{err} && $r->{err}->code, 'timeout', 'an early response that stalls during the upload: timeout');
    like("$r->{err}", qr/read timeout/, '... the read timeout');
    cmp_ok($r->{secs}, '<', 2.5, '... about the read timeout after its last byte, not at the total timeout');
    kill 'TERM', $pid;
    waitpid $pid, 0;
}

# over TLS: the same clock, the bytes counted are the response's plaintext
SKIP: {
    require Uvent::Test::Certs;
    my $why = Uvent::Test::Server->tls_missing // Uvent::Test::Certs->missing;
    skip $why, 3 if $why;
    my $certs = Uvent::Test::Certs->new;
    my $tls = Uvent::Test::Server->new(tls => { cert_file => $certs->server_cert, key_file => $certs->server_key });
    my $p = Uvent::HTTP::Pool->new({ tls => { ca_file => $certs->ca_cert } }, $loop);
    my $r = fetch($p, uri => $tls->url('/drip?n=5&delay=0.05&stall_after=2'), read_timeout => 0.5);
    like($r->{err} // '', qr/read timeout: .*\(\d+ bytes/, 'TLS: a response that stalls half-way hits the read timeout');
    $r = fetch($p, uri => $tls->url('/drip?n=3&delay=0.3'), read_timeout => 0.5);
    ok(!$r->{err}, 'TLS: a byte every 0.3 s does not') or diag "error: $r->{err}";
    is($r->{res} && $r->{res}->body, 'ddd', 'TLS: the whole body arrived');
    $p->shutdown;
}

for my $bad (-1, 'abc', 9**9**9, -9**9**9 / 9**9**9, [1]) {
    my $shown = ref $bad ? 'a reference' : $bad;
    ok(!eval { $pool->request({ uri => $srv->url('/ok'), read_timeout => $bad, response_callback => sub { } }); 1 },
        "read_timeout => $shown croaks");
    like($@, qr/read_timeout/, '  naming read_timeout');
}
ok(!eval { Uvent::HTTP::Pool->new({ read_timeout => -1 }, $loop); 1 }, 'a pool read_timeout of -1 croaks');
like($@, qr/'read_timeout' must be a number >= 0/, '  naming it');

$pool->shutdown;
$loop->run;
done_testing;
