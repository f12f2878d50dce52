use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Util qw(run_until run_for wait_all start_req fetch ecode body hdr response_ok);

# ---- helpers: every loop run is bounded by a deadline ----

my $srv  = Uvent::Test::Server->new;
my $loop = Uvent::Loop->new;

# The connection that served $r is reused, and framing left nothing behind:
# a follow-up GET /ok on the same pool gets "ok" on the same connection.
sub reused_cleanly {
    my ($pool, $r, $name) = @_;
    my $n = fetch($loop, $pool, uri => $srv->url('/ok'));
    response_ok($n, "$name: follow-up");
    is(body($n), 'ok', "$name: follow-up body intact");
    is(hdr($n, 'X-Conn'), hdr($r, 'X-Conn'), "$name: connection reused");
}

subtest 'chunked' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/chunked'));
    response_ok($r, 'chunked');
    is(body($r), 'hello world', 'body (chunk extensions ignored)');
    like(hdr($r, 'Transfer-Encoding') // '', qr/chunked/i, 'Transfer-Encoding: chunked');
    ok($r->{response}->keep_alive, 'keep_alive');
    is_deeply($r->{response}->trailers, {}, 'no trailers');
    reused_cleanly($pool, $r, 'chunked');
};

subtest 'chunked with trailers' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/chunked?trailers=1'));
    response_ok($r, 'chunked trailers');
    is(body($r), 'hello world', 'body');
    my $t = $r->{response} ? $r->{response}->trailers : undef;
    is(ref $t, 'HASH', 'trailers hashref');
    is_deeply($t, { 'x-checksum' => 'abc', 'x-other' => '1' }, 'trailers with lower-case names');
    ok(!exists $r->{response}->headers->{'x-checksum'}, 'trailers are not headers');
    reused_cleanly($pool, $r, 'trailers');
};

subtest 'chunked, byte by byte' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/chunked?split=1'));
    response_ok($r, 'split');
    is(body($r), 'hello world', 'body');
    my $r2 = fetch($loop, $pool, uri => $srv->url('/chunked?split=1&trailers=1'));
    response_ok($r2, 'split with trailers');
    is(body($r2), 'hello world', 'body');
    is_deeply($r2->{response} && $r2->{response}->trailers, { 'x-checksum' => 'abc', 'x-other' => '1' }, 'trailers');
    reused_cleanly($pool, $r2, 'split');
};

subtest 'headers arriving in pieces, trickled body' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/headers-split'));
    response_ok($r, 'headers-split');
    like(hdr($r, 'X-Conn') // '', qr/^\d+$/, 'headers parsed');
    my $r2 = fetch($loop, $pool, uri => $srv->url('/trickle?delay=0.005'));
    response_ok($r2, 'trickle');
    is(body($r2), 'trickled', 'trickled body');
};

subtest 'HEAD' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $get  = fetch($loop, $pool, uri => $srv->url('/ok?size=100'));
    response_ok($get, 'GET');
    is(length(body($get) // ''), 100, 'GET body of 100 bytes');
    my $r = fetch($loop, $pool, uri => $srv->url('/ok?size=100'), method => 'HEAD');
    response_ok($r, 'HEAD');
    is(body($r) // '', '', 'no body');
    is(hdr($r, 'Content-Length'), '100', 'same Content-Length header as GET');
    ok($r->{response}->keep_alive, 'keep_alive');
    reused_cleanly($pool, $r, 'HEAD');

    my $rc = fetch($loop, $pool, uri => $srv->url('/chunked'), method => 'HEAD');
    response_ok($rc, 'HEAD of a chunked resource');
    is(body($rc) // '', '', 'no body');
    like(hdr($rc, 'Transfer-Encoding') // '', qr/chunked/i, 'Transfer-Encoding header present');
    reused_cleanly($pool, $rc, 'HEAD chunked');
};

subtest '204 and 304 have no body' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/status/204'));
    ok(!$r->{error}, 'no error') or diag("$r->{error}");
    is($r->{response} && $r->{response}->code, 204, 'code 204');
    is(body($r) // '', '', 'no body');
    reused_cleanly($pool, $r, '204');

    my $r2 = fetch($loop, $pool, uri => $srv->url('/status/304'));
    ok(!$r2->{error}, 'no error') or diag("$r2->{error}");
    is($r2->{response} && $r2->{response}->code, 304, 'code 304');
    is(body($r2) // '', '', 'no body');
    is(hdr($r2, 'Content-Length'), '10', 'Content-Length: 10 is only metadata');
    reused_cleanly($pool, $r2, '304');
};

subtest '1xx responses are skipped' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/1xx'));
    response_ok($r, '1xx');
    is(body($r), 'final', 'final body');
    reused_cleanly($pool, $r, '1xx');
};

subtest 'close-delimited body' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/close-delimited'));
    response_ok($r, 'close-delimited');
    is(body($r), 'close-delimited body', 'body read to EOF');
    ok(!$r->{response}->keep_alive, 'keep_alive false');
    ok(run_until($loop, sub { $pool->size == 0 }, 2), 'connection not kept');
    my $r2 = fetch($loop, $pool, uri => $srv->url('/close-delimited'));
    response_ok($r2, 'again');
    is(body($r2), 'close-delimited body', 'body');
    isnt(hdr($r2, 'X-Conn'), hdr($r, 'X-Conn'), 'not reused');
    is($srv->connections, 2, 'two connections');
};

subtest 'conflicting framing is a protocol error' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    for my $path ('/conflict-cl', '/cl-te') {
        my $r = fetch($loop, $pool, uri => $srv->url($path));
        is(ecode($r), 'protocol', "$path: error code protocol");
        isa_ok($r->{error}, 'Uvent::Error', "$path: error");
        isa_ok($r->{response}, 'Uvent::HTTP::Response', "$path: still a response object");
        ok(run_until($loop, sub { $pool->size == 0 }, 2), "$path: connection discarded");
        is($pool->nbusy, 0, "$path: nbusy 0");
    }
    my $r = fetch($loop, $pool, uri => $srv->url('/ok'));
    response_ok($r, 'pool still works');
};

# Strict parsing (RFC 9112): each shape is refused as a protocol error and
# the connection is discarded, though the server keeps it open. The same
# shapes are in t/c/test_http1.c and t/fuzz/corpus/response/strict-*. A
# reason is checked where Uvent gives its own (llhttp's otherwise).
my $OK = "Content-Length: 0\r\n\r\n";
my $CH = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
my @STRICT = (
    [ 'chunk-no-crlf',       "${CH}5\r\nhelloXY0\r\n\r\n" ],
    [ 'chunk-lf-only',       "${CH}5\r\nhello\n0\r\n\r\n" ],
    [ 'name-space',          "HTTP/1.1 200 OK\r\nFoo Bar: x\r\n$OK" ],
    [ 'space-colon',         "HTTP/1.1 200 OK\r\nFoo : x\r\n$OK" ],
    [ 'trailer-name-space',  "${CH}0\r\nX T: a\r\n\r\n" ],
    [ 'empty-name',          "HTTP/1.1 200 OK\r\n: x\r\n$OK", 'a header line has no name' ],
    [ 'reason-ctl',          "HTTP/1.1 200 O\x01K\r\n$OK", 'control character in the reason phrase' ],
    [ 'reason-del',          "HTTP/1.1 200 O\x7fK\r\n$OK", 'control character in the reason phrase' ],
    [ 'obs-fold',            "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n$OK", 'obs-fold header continuation is not allowed' ],
    [ 'obs-fold-tab',        "HTTP/1.1 200 OK\r\nX-A: a\r\n\tb\r\n$OK", 'obs-fold header continuation is not allowed' ],
    [ 'obs-fold-empty',      "HTTP/1.1 200 OK\r\nX-A:\r\n b\r\n$OK", 'obs-fold header continuation is not allowed' ],
    [ 'obs-fold-trailer',    "${CH}0\r\nX-T: a\r\n b\r\n\r\n", 'obs-fold header continuation is not allowed' ],
    [ 'lf-status',           "HTTP/1.1 200 OK\n$OK", 'bare LF instead of CRLF' ],
    [ 'lf-header',           "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", 'bare LF instead of CRLF' ],
    [ 'lf-end',              "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n", 'bare LF instead of CRLF' ],
    [ 'lf-trailer-end',      "${CH}0\r\nX-T: a\r\n\n", 'bare LF instead of CRLF' ],
    [ 'cr-alone',            "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n$OK", 'a CR not followed by LF' ],
    [ 'nul-value',           "HTTP/1.1 200 OK\r\nX-A: a\0b\r\n$OK" ],
    [ 'ctl-value',           "HTTP/1.1 200 OK\r\nX-A: a\x01b\r\n$OK" ],
    [ 'chunk-size-char',     "${CH}5g\r\nhello\r\n0\r\n\r\n" ],
    [ 'chunk-size-0x',       "${CH}0x5\r\nhello\r\n0\r\n\r\n" ],
    [ 'chunk-size-neg',      "${CH}-5\r\nhello\r\n0\r\n\r\n" ],
    [ 'chunk-size-overflow', "${CH}10000000000000000\r\nhello\r\n0\r\n\r\n" ],
    [ 'chunk-ext-ctl',       "${CH}5;a\x01=b\r\nhello\r\n0\r\n\r\n" ],
    [ 'chunk-ext-nul',       "${CH}5;a\0b\r\nhello\r\n0\r\n\r\n" ],
    [ 'cl-duplicate',        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello" ],
    [ 'cl-conflict',         "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!" ],
    [ 'cl-list',             "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello" ],
    [ 'cl-then-te',          "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" ],
    [ 'te-then-cl',          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n" ],
    [ 'te-chunked-gzip',     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      'unsupported Transfer-Encoding: only a single chunked coding is accepted' ],
    [ 'te-gzip-chunked',     "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      'unsupported Transfer-Encoding: only a single chunked coding is accepted' ],
    [ 'te-gzip',             "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello",
      'unsupported Transfer-Encoding: only a single chunked coding is accepted' ],
    [ 'te-twice',            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      'unsupported Transfer-Encoding: only a single chunked coding is accepted' ],
    [ 'te-empty',            "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\nhello",
      'unsupported Transfer-Encoding: only a single chunked coding is accepted' ],
    [ 'te-http10',           "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      'Transfer-Encoding in an HTTP/1.0 response' ],
    [ 'version-2',           "HTTP/2.0 200 OK\r\n$OK", 'an HTTP version other than 1.0 and 1.1' ],
);

subtest 'strict parsing: malformed shapes are protocol errors, the connection is discarded' => sub {
    my $raw = Uvent::Test::Server->new(raw => { map { $_->[0] => $_->[1] } @STRICT });
    my $pool = Uvent::HTTP::Pool->new({ timeout => 10 }, $loop);
    for my $shape (@STRICT) {
        my ($name, undef, $why) = @$shape;
        my $before = $pool->stats;
        my $r = fetch($loop, $pool, uri => $raw->url("/raw/$name"));
        is(ecode($r), 'protocol', "$name: error code protocol") or diag("got: " . ($r->{error} // 'a response'));
        like("$r->{error}", qr{\Amalformed response \(GET http://127\.0\.0\.1:\d+/raw/\Q$name\E\): \S},
            "$name: the message names the request and the reason") if $r->{error};
        like("$r->{error}", qr/\): .*\Q$why\E/, "$name: reason '$why'") if $why && $r->{error};
        ok(run_until($loop, sub { $pool->stats->{connections_closed} == $before->{connections_closed} + 1 }, 5),
            "$name: the connection is closed, though the server keeps it open");
        is($pool->size, 0, "$name: no connection kept");
        my $n = fetch($loop, $pool, uri => $raw->url('/ok'));
        response_ok($n, "$name: the next request");
        my $after = $pool->stats;
        is($after->{connections_opened}, $before->{connections_opened} + 2, "$name: it ran on a new connection");
        is($after->{reused}, $before->{reused}, "$name: nothing reused");
        is($after->{errors}{protocol}, $before->{errors}{protocol} + 1, "$name: counted as a protocol error");
        ok(run_until($loop, sub { $pool->size == 1 }, 2), "$name: the good connection is kept");
        $pool->shutdown;  # the next shape starts without an idle connection
        $pool = Uvent::HTTP::Pool->new({ timeout => 10 }, $loop);
    }
    $raw->stop;
};

subtest 'large bodies and many headers' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/big?size=100000'));
    response_ok($r, 'big');
    my $want = substr('0123456789' x 10000, 0, 100000);
    is(length(body($r) // ''), 100000, 'length');
    ok((body($r) // '') eq $want, 'content');
    reused_cleanly($pool, $r, 'big');

    my $m = fetch($loop, $pool, uri => $srv->url('/many-headers?n=200'));
    response_ok($m, 'many headers');
    cmp_ok(scalar @{ $m->{response}->header_list }, '>=', 200, 'all headers kept');
};

$srv->stop;
done_testing;
