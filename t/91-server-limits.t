# Uvent::HTTP::Server against bad and hostile clients: every automatic
# answer closes the connection, and none reaches the request callback.
# Slowloris (a header byte every 0.5 s) gets 408 at read_timeout while
# another client is served; 431 and 413 (a declared body refused before it
# is sent) with memory bounded; every request smuggling shape refused; 501,
# 505; 503 beyond max_connections; max_keepalive_requests; idle_timeout;
# max_multipart_size for buffered multipart/form-data bodies, smaller or
# larger than max_body_size, not for a partial one; write_timeout closes a
# connection whose client never reads, not one that reads slowly.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Time::HiRes ();
use Uvent;
use Uvent::HTTP::Server;
use Uvent::Test::Util qw(run_until rss_kb);
use Uvent::Test::Serve qw(serve client client_start client_wait raw_exchange split_responses);

my $loop = Uvent::Loop->new;
my ($server, $port, $log) = serve($loop, read_timeout => 1.5, idle_timeout => 3, max_headers_size => 4096,
    max_body_size => 1000, max_keepalive_requests => 3);

sub refused {
    my ($bytes, $status, $name) = @_;
    my $out = client($loop, sub { raw_exchange($port, $bytes) }) // '';
    my @r = split_responses($out);
    ok(@r == 1 && $r[0][0] == $status && ($r[0][1]{connection} // '') eq 'close', "$name: $status and a close")
        or diag("got: " . substr($out, 0, 80));
}

@$log = ();
refused("GARBAGE\r\n\r\n", 400, 'a malformed request line');
refused("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, 'smuggling: Content-Length and Transfer-Encoding');
refused("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, 'smuggling: two Content-Lengths');
refused("POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\nabcd", 400, 'smuggling: a Content-Length list');
refused("GET / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n", 400, 'smuggling: obs-fold');
refused("GET / HTTP/1.1\nHost: x\n\n", 400, 'smuggling: bare LF line ends');
refused("GET / HTTP/1.1\r\nX-A: 1\rX-B: 2\r\n\r\n", 400, 'smuggling: a bare CR');
refused("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, 'smuggling: a space before the colon');
refused("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", 400, 'smuggling: chunked not the last Transfer-Encoding');
refused("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, 'an unsupported Transfer-Encoding');
refused("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, 'the HTTP/2 preface');
refused("GET / HTTP/1.1\r\nX-Big: " . ('a' x 8000) . "\r\n\r\n", 431, 'headers over max_headers_size');
# the head alone: the client waits for the answer before sending the body
refused("POST / HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n", 413, 'a declared body over max_body_size, refused before it is sent');
refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" . ("100\r\n" . ('z' x 256) . "\r\n") x 5 . "0\r\n\r\n", 413,
    'a chunked body over max_body_size');
is(scalar @$log, 0, 'none of them reached the request callback');

# ---- memory stays bounded under oversized heads and bodies
{
    my $before = rss_kb();
    my $out = client($loop, sub {
        my $n = 0;
        for (1 .. 30) {
            my $got = raw_exchange($port, "GET / HTTP/1.1\r\nX-Big: " . ('b' x 1_000_000) . "\r\n\r\n", limit => 5);
            $n++ if $got =~ /^HTTP\/1\.1 431/;
            $got = raw_exchange($port, "POST / HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n" . ('c' x 1_000_000), limit => 5);
            $n++ if $got =~ /^HTTP\/1\.1 413/;
        }
        return $n;
    }, 120);
    is($out, 60, '30 one-megabyte heads got 431 and 30 one-megabyte bodies 413');
    my $grew = rss_kb() - $before;
    cmp_ok($grew, '<', 20_000, "the server's memory grew by less than 20 MB for 60 MB sent ($grew kB)");
}

# ---- slowloris, while another client is served
{
    my $slow = client_start(sub { raw_exchange($port, "GET / HTTP/1.1\r\nHost: slowloris.example\r\n\r\n", drip => 1, pause => 0.5, stamp => 1) });
    my $fast = client($loop, sub { Time::HiRes::sleep(0.3); my $r = raw_exchange($port, "GET /fast HTTP/1.1\r\nConnection: close\r\n\r\n", stamp => 1); $r });
    my $slow_out = client_wait($loop, $slow, 20) // '';
    my ($slow_at, $slow_got) = split /\n/, $slow_out, 2;
    my ($fast_at, $fast_got) = split /\n/, $fast // '', 2;
    my @r = split_responses($slow_got // '');
    ok(@r == 1 && $r[0][0] == 408, 'a header byte every 0.5 s: 408 at read_timeout') or diag(substr($slow_got // '', 0, 80));
    like($fast_got // '', qr/GET \/fast 0\z/, 'another client is answered meanwhile');
    ok($fast_at && $slow_at && $fast_at < $slow_at, 'before the slow one got its 408');
}

# ---- keep-alive limits
{
    my $bytes = join '', map { "GET /k$_ HTTP/1.1\r\n\r\n" } 1 .. 5;
    my @r = split_responses(client($loop, sub { raw_exchange($port, $bytes) }) // '');
    is(scalar @r, 3, 'max_keepalive_requests 3: three of five pipelined requests answered');
    is($r[2][1]{connection}, 'close', 'the third says Connection: close');
    ok(!defined $r[1][1]{connection}, 'the second does not');

    my $out = client($loop, sub { raw_exchange($port, "GET /idle HTTP/1.1\r\n\r\n", stamp => 1) });
    @r = split_responses((split /\n/, $out // '', 2)[1] // '');
    is(scalar @r, 1, 'a kept-alive connection left idle is answered once, then closed by idle_timeout');
}

# ---- max_connections
{
    my ($s2, $p2) = serve($loop, max_connections => 1, handler => sub { my ($req) = @_; Uvent::Timer->once(1, sub { $req->respond({ body => 'held' }) }, $loop) });
    my $first = client_start(sub { raw_exchange($p2, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n") });
    run_until($loop, sub { $s2->connection_count == 1 }, 5);
    my @r = split_responses(client($loop, sub { raw_exchange($p2, "GET / HTTP/1.1\r\n\r\n") }) // '');
    ok(@r == 1 && $r[0][0] == 503 && $r[0][1]{connection} eq 'close', 'max_connections 1: the second connection gets 503 and a close');
    @r = split_responses(client_wait($loop, $first) // '');
    is($r[0][2], 'held', 'the first is answered');
    $s2->stop;
}

# ---- max_multipart_size: a buffered multipart/form-data body's limit in place of max_body_size
{
    my $upload = sub {
        my ($p, $type, $n, %o) = @_;
        my $path = $o{path} // '/m';
        my $frame = $o{chunked} ? "Transfer-Encoding: chunked" : "Content-Length: $n";
        my $body = $o{head_only} ? '' : $o{chunked} ? sprintf("%x\r\n%s\r\n0\r\n\r\n", $n, 'u' x $n) : 'u' x $n;
        my @r = split_responses(client($loop, sub {
            raw_exchange($p, "POST $path HTTP/1.1\r\nContent-Type: $type\r\n$frame\r\nConnection: close\r\n\r\n$body")
        }) // '');
        return @r == 1 ? "$r[0][0] $r[0][2]" : 'got ' . scalar(@r) . ' responses';
    };
    my $mp = 'multipart/form-data; boundary=xyz';
    my $log;
    my ($s1, $p1);
    ($s1, $p1, $log) = serve($loop, max_body_size => 1000, max_multipart_size => 100);
    like($upload->($p1, $mp, 500), qr/^413 /, 'max_body_size 1000, max_multipart_size 100: a 500-byte multipart/form-data body gets 413');
    like($upload->($p1, 'Multipart/Form-Data; Boundary=xyz', 500), qr/^413 /, 'the media type in any case, with parameters');
    like($upload->($p1, $mp, 500, chunked => 1), qr/^413 /, 'a chunked one over max_multipart_size too');
    # the head alone: the client waits for the answer before sending the body
    like($upload->($p1, $mp, 10_000_000, head_only => 1), qr/^413 /,
        'a declared 10 MB multipart body: 413 from the head alone, before the body is sent');
    is(scalar @$log, 0, 'none of them reached the request callback');
    is($upload->($p1, 'text/plain', 500), '200 POST /m 500', 'a 500-byte text/plain body gets 200');
    is($upload->($p1, $mp, 100), '200 POST /m 100', 'a multipart body at max_multipart_size gets 200');
    $s1->stop;

    ($s1, $p1) = serve($loop, max_body_size => 100, max_multipart_size => 1000);
    is($upload->($p1, $mp, 500), '200 POST /m 500', 'max_body_size 100, max_multipart_size 1000: a 500-byte multipart body is taken');
    is($upload->($p1, $mp, 500, chunked => 1), '200 POST /m 500', 'chunked too');
    like($upload->($p1, 'text/plain', 500), qr/^413 /, 'a 500-byte text/plain body gets 413');
    like($upload->($p1, $mp, 1001), qr/^413 /, 'a multipart one over 1000 gets 413');
    $s1->stop;

    # streaming is the handler's business: enable_partial is not held to max_multipart_size
    my %streamed;
    ($s1, $p1) = serve($loop, max_multipart_size => 100,
        route_callback => sub { $_[0]->enable_partial if $_[0]->path eq '/stream' },
        partial_callback => sub { $streamed{ $_[0]->path } += length $_[1] });
    is($upload->($p1, $mp, 5000, path => '/stream'), '200 POST /stream 0',
        'enable_partial in route_callback: a 5000-byte multipart body over max_multipart_size 100 is streamed');
    is($streamed{'/stream'}, 5000, 'all of it to partial_callback');
    is($upload->($p1, $mp, 5000, path => '/stream', chunked => 1), '200 POST /stream 0', 'chunked too');
    like($upload->($p1, $mp, 5000, path => '/other'), qr/^413 /, 'a route_callback that does not stream it: 413');
    $s1->stop;
}

# ---- write_timeout: a client that does not read
{
    use IO::Socket::INET;
    my $big = 'w' x 4_000_000;    # more than the socket buffers hold
    my ($s3, $p3) = serve($loop, write_timeout => 0.5, handler => sub { $_[0]->respond({ body => $big }) });
    my $connect = sub {
        my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p3) or die "connect: $!";
        $sock->blocking(0);
        syswrite $sock, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n";
        return $sock;
    };
    my $deaf = $connect->();
    ok(run_until($loop, sub { $s3->connection_count == 1 }, 5), 'a client that never reads is connected');
    my $t0 = Time::HiRes::time();
    ok(run_until($loop, sub { $s3->connection_count == 0 }, 10), 'it is closed by write_timeout');
    my $took = Time::HiRes::time() - $t0;
    cmp_ok($took, '<', 3, sprintf('soon after 0.5 s without progress (%.2f s)', $took));
    close $deaf;

    # 64 KiB every 50 ms: the response takes about 3 s, far past
    # write_timeout, but each wait sees progress
    my $slow = $connect->();
    my ($got, $last) = ('', 0);
    ok(run_until($loop, sub {
        my $now = Time::HiRes::time();
        if ($now - $last >= 0.05) {
            $last = $now;
            my $n = sysread($slow, my $buf, 65536);
            $got .= $buf if $n;
        }
        return length($got) >= length($big) && $got =~ /\r\n\r\n(w+)\z/ && length($1) == length($big);
    }, 30), 'a client that reads slowly gets all of a 4 MB body');
    cmp_ok(Time::HiRes::time() - $t0, '>', 1.5, 'over more than three write_timeouts');
    is($s3->connection_count, 1, 'and its connection is kept alive');
    close $slow;
    $s3->stop;
}

$server->stop;
done_testing;
