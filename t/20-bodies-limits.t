use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use Digest::MD5 qw(md5_hex);
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Util qw(run_until run_for wait_all start_req fetch ecode body hdr response_ok rss_kb);

# ---- helpers: every loop run is bounded by a deadline ----

my $srv  = Uvent::Test::Server->new;
my $loop = Uvent::Loop->new;

# 1 MiB of all byte values in a non-repeating-looking order
my $MB = 1024 * 1024;
my $upload = pack('N*', map { ($_ * 2654435761) & 0xffffffff } 0 .. $MB / 4 - 1);

subtest '1 MB upload' => sub {
    is(length $upload, $MB, 'payload is 1 MiB');
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/upload'), method => 'POST', body => $upload, timeout => 20);
    response_ok($r, 'upload');
    like(body($r) // '', qr/^$MB ${\ md5_hex($upload)}\s*\z/, 'server got every byte (length and md5)');
    my $log = $srv->log->[-1] || {};
    is($log->{body_length}, $MB, 'server log: body length');
    is($log->{body_md5}, md5_hex($upload), 'server log: body md5');

    # again on the same connection, with PUT
    my $r2 = fetch($loop, $pool, uri => $srv->url('/upload'), method => 'PUT', body => $upload, timeout => 20);
    response_ok($r2, 'second upload');
    like(body($r2) // '', qr/^$MB ${\ md5_hex($upload)}\s*\z/, 'intact again');
    is(hdr($r2, 'X-Conn'), hdr($r, 'X-Conn'), 'same connection');
};

subtest '1 MB download' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url("/big?size=$MB"), timeout => 20);
    response_ok($r, 'big');
    my $body = body($r) // '';
    is(length $body, $MB, 'length');
    is(hdr($r, 'Content-Length'), $MB, 'Content-Length header');
    my $want = substr('0123456789' x ($MB / 10 + 1), 0, $MB);
    ok($body eq $want, 'content is the 0123456789 pattern');
    is(md5_hex($body), md5_hex($want), 'md5');
    my $again = fetch($loop, $pool, uri => $srv->url('/ok'));
    is(hdr($again, 'X-Conn'), hdr($r, 'X-Conn'), 'connection reused after a large body');
};

subtest 'max_headers_size' => sub {
    my $small = Uvent::HTTP::Pool->new({ timeout => 60, max_headers_size => 1024 }, $loop);
    my $r = fetch($loop, $small, uri => $srv->url('/huge-headers?size=4096'));
    is(ecode($r), 'too_large', 'headers over 1024 bytes: too_large');
    ok(run_until($loop, sub { $small->size == 0 }, 2), 'connection discarded');
    is($small->nbusy, 0, 'nbusy 0');

    my $fits = fetch($loop, $small, uri => $srv->url('/huge-headers?size=100'));
    response_ok($fits, 'small headers fit');

    my $over = fetch($loop, $small, uri => $srv->url('/huge-headers?size=4096'), max_headers_size => 65536);
    response_ok($over, 'per-request max_headers_size raises the limit');

    my $big = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $d = fetch($loop, $big, uri => $srv->url('/huge-headers?size=4096'));
    response_ok($d, 'default limit (64 KiB) allows 4 KiB');
    my $l = fetch($loop, $big, uri => $srv->url('/huge-headers?size=4096'), max_headers_size => 1024);
    is(ecode($l), 'too_large', 'per-request max_headers_size lowers the limit');
    my $h = fetch($loop, $big, uri => $srv->url('/huge-headers?size=100000'));
    is(ecode($h), 'too_large', '100 KB of headers exceed the default 64 KiB');
};

subtest 'max_body_size' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_body_size => 1000 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/big?size=100000'));
    is(ecode($r), 'too_large', 'body over 1000 bytes: too_large');
    ok(run_until($loop, sub { $pool->size == 0 }, 2), 'connection discarded');

    my $fits = fetch($loop, $pool, uri => $srv->url('/big?size=500'));
    response_ok($fits, '500 bytes fit');
    is(length(body($fits) // ''), 500, 'length 500');
    my $edge = fetch($loop, $pool, uri => $srv->url('/big?size=1000'));
    response_ok($edge, 'exactly 1000 bytes fit');

    my $over = fetch($loop, $pool, uri => $srv->url('/big?size=100000'), max_body_size => 200000);
    response_ok($over, 'per-request max_body_size raises the limit');
    is(length(body($over) // ''), 100000, 'full body');

    my $free = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $low = fetch($loop, $free, uri => $srv->url('/big?size=100000'), max_body_size => 1000);
    is(ecode($low), 'too_large', 'per-request max_body_size lowers the limit');

    my $chunked = fetch($loop, $free, uri => $srv->url('/chunked'), max_body_size => 5);
    is(ecode($chunked), 'too_large', 'limit applies to chunked bodies');
};

subtest 'endless bodies stop at the limit' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_body_size => 1_000_000 }, $loop);
    my $rss0 = rss_kb();
    for my $path ('/endless', '/endless-cl') {
        my $r = fetch($loop, $pool, uri => $srv->url($path), timeout => 10);
        is(ecode($r), 'too_large', "$path: too_large");
        cmp_ok($r->{at} - $r->{started}, '<', 8, "$path: in time");
        ok(run_until($loop, sub { $pool->size == 0 }, 2), "$path: connection discarded");
    }
    run_for($loop, 0.2);
    my $rss1 = rss_kb();
    SKIP: {
        skip 'no /proc/self/status', 1 unless defined $rss0 && defined $rss1;
        cmp_ok($rss1 - $rss0, '<', 32 * 1024, 'client memory did not explode (< 32 MB growth)');
    }
};

subtest 'max_body_size defaults to 1 GiB; 0 still means no limit' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    is($pool->max_body_size, 1073741824, 'default max_body_size is 1 GiB');
    SKIP: {
        skip 'a 32-bit perl: byte limits stop at 4 GiB', 3 unless ~0 > 4294967295;
        my $big = Uvent::HTTP::Pool->new({ max_body_size => 8 * 1073741824, max_headers_size => 5 * 1073741824 }, $loop);
        is($big->max_body_size, 8589934592, 'max_body_size can be raised above 4 GiB');
        is($big->max_headers_size, 5368709120, 'so can max_headers_size');
        ok(!eval { Uvent::HTTP::Pool->new({ max_body_size => 2**53 + 2 }, $loop); 1 }
            && $@ =~ /'max_body_size' is too large \(at most 9007199254740992\)/, 'above 2**53 croaks') or diag $@;
    }
    # a declared length over the limit fails before any of the body is read
    my $r = fetch($loop, $pool, uri => $srv->url('/endless-cl'), timeout => 10);
    is(ecode($r), 'too_large', 'Content-Length: 10000000000 is over the default limit');
    my $how = 'raise max_body_size, or set it to 0 for no limit';
    my $want = "response body exceeds max_body_size (1073741824 bytes); $how";
    like("$r->{error}", qr{\Aresponse exceeds a limit \(GET http://127\.0\.0\.1:\d+/endless-cl\): \Q$want\E\z},
        'the message names the limit and how to raise it');
    ok(run_until($loop, sub { $pool->size == 0 }, 2), 'connection discarded');
    is($pool->stats->{errors}{too_large}, 1, 'counted as too_large');
    is($pool->stats->{errors}{nomem}, 0, 'stats has a nomem count, 0 here');

    my $small = Uvent::HTTP::Pool->new({ timeout => 60, max_body_size => 100_000 }, $loop);
    my $e = fetch($loop, $small, uri => $srv->url('/endless'), timeout => 10);
    is(ecode($e), 'too_large', 'an endless chunked body stops at an explicit limit');
    like("$e->{error}", qr{\Q: response body exceeds max_body_size (100000 bytes); $how\E\z}, 'the message names that limit');

    my $free = Uvent::HTTP::Pool->new({ timeout => 60, max_body_size => 0 }, $loop);
    is($free->max_body_size, 0, 'max_body_size => 0 is kept');
    my $big = fetch($loop, $free, uri => $srv->url('/big?size=3000000'), timeout => 20);
    response_ok($big, 'max_body_size => 0: a 3 MB body passes');
    is(length(body($big) // ''), 3_000_000, 'whole body');
    my $per = fetch($loop, $small, uri => $srv->url('/big?size=3000000'), max_body_size => 0, timeout => 20);
    response_ok($per, 'per-request max_body_size => 0 lifts the pool limit');
};

subtest 'a Request object can be sent again' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my @got;
    my $req = Uvent::HTTP::Request->new({
        uri => $srv->url('/upload'), method => 'POST', body => $upload, timeout => 20,
        response_callback => sub { push @got, [ @_[ 1, 2 ] ] },
    });
    for my $round (1 .. 2) {
        my $client = $pool->request($req);
        ok(defined $client, "round $round: runs at once");
        ok(run_until($loop, sub { @got >= $round }, 20), "round $round: completed");
        is(scalar @got, $round, "round $round: one callback");
        my ($resp, $err) = @{ $got[-1] };
        ok(!$err, "round $round: no error") or diag("$err");
        like($resp ? $resp->body : '', qr/^$MB ${\ md5_hex($upload)}\s*\z/, "round $round: body intact");
        is($resp && $resp->header('X-Seq'), $round, "round $round: X-Seq $round (same connection)");
    }
    is($srv->requests, 2, 'server saw two requests');
};

$srv->stop;
done_testing;
