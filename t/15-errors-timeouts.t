use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Util qw(run_until run_for wait_all start_req fetch ecode body hdr response_ok);

# ---- helpers: every loop run is bounded by a deadline ----

my $srv  = Uvent::Test::Server->new;
my $loop = Uvent::Loop->new;

sub unused_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp')
        or die "cannot bind: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

subtest 'connection refused' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $port = unused_port();
    my $t0 = time;
    my $r = fetch($loop, $pool, uri => "http://127.0.0.1:$port/ok", timeout => 5);
    my $err = $r->{error};
    ok($err, 'error is true in boolean context');
    isa_ok($err, 'Uvent::Error');
    is(ecode($r), 'connect', 'code connect');
    is($err && $err->errno, 'ECONNREFUSED', 'errno ECONNREFUSED');
    ok(length($err ? $err->message : ''), 'has a message');
    is($err ? "$err" : undef, $err ? $err->message : q{}, q{stringifies to its message});
    isa_ok($r->{response}, 'Uvent::HTTP::Response', 'callback still gets a response');
    is($r->{response} && $r->{response}->code, 0, 'response code 0 on an early error');
    cmp_ok($r->{at} - $t0, '<', 3, 'failed quickly');
    is_deeply([ $pool->size, $pool->nbusy, $pool->nqueued ], [ 0, 0, 0 ], 'pool empty afterwards');
};

subtest 'unresolvable host' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $r = fetch($loop, $pool, uri => 'http://nonexistent.invalid/', timeout => 9);
    is(ecode($r), 'resolve', 'code resolve') or diag("error: " . ($r->{error} // 'none'));
    is($r->{response} && $r->{response}->code, 0, 'response code 0');
    is_deeply([ $pool->size, $pool->nbusy ], [ 0, 0 ], 'pool empty afterwards');
};

subtest 'IPv6 literal is a valid destination' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $r = eval { fetch($loop, $pool, uri => 'http://[::1]:1/', timeout => 5) };
    is($@, '', 'http://[::1]:1/ does not croak');
    is($r && ecode($r), 'connect', 'it fails to connect instead');
};

subtest 'connect_timeout is accepted' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/ok'), connect_timeout => 1);
    response_ok($r, 'with connect_timeout');
    is(body($r), 'ok', 'body');
};

subtest 'timeout of a running request' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/stall'), timeout => 0.3);
    is(ecode($r), 'timeout', 'code timeout');
    my $dt = $r->{at} - $r->{started};
    cmp_ok($dt, '>=', 0.25, 'not before 0.3 s');
    cmp_ok($dt, '<',  1.5,  'soon after 0.3 s');
    is($srv->requests, 1, 'the server got the request');
    ok(run_until($loop, sub { $pool->size == 0 }, 2), 'the stalled connection was discarded');
    is($pool->nbusy, 0, 'nbusy 0');
    my $ok = fetch($loop, $pool, uri => $srv->url('/ok'));
    response_ok($ok, 'pool still works');
};

subtest 'timeout covers the whole response, not each read' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/trickle?delay=0.2'), timeout => 0.5);
    is(ecode($r), 'timeout', 'a body trickling for ~1.6 s times out at 0.5 s');
    cmp_ok($r->{at} - $r->{started}, '<', 1.4, 'in time');
};

subtest 'timeout 0 means none' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/sleep?s=0.3'), timeout => 0);
    response_ok($r, 'timeout 0');
};

subtest 'timeout of a queued request' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 1 }, $loop);
    my $slow   = start_req($pool, uri => $srv->url('/sleep?s=1'), timeout => 5);
    my $queued = start_req($pool, uri => $srv->url('/ok?queued=1'), timeout => 0.2);
    ok(!$slow->{queued}, 'slow request runs');
    ok($queued->{queued}, 'second request is queued');
    is($pool->nqueued, 1, 'nqueued 1');
    ok(wait_all($loop, $slow, $queued), 'both called back');
    is(ecode($queued), 'timeout', 'queued request timed out');
    my $dt = $queued->{at} - $queued->{started};
    cmp_ok($dt, '>=', 0.15, 'not before 0.2 s');
    cmp_ok($dt, '<',  0.9,  'while still queued (before the slow one finished)');
    cmp_ok($queued->{at}, '<', $slow->{at}, 'timed out before the slow request completed');
    response_ok($slow, 'slow request');
    is($pool->nqueued, 0, 'queue empty');
    is($srv->requests, 1, 'the queued request never reached the server');
    ok(!grep({ $_->{target} =~ /queued/ } @{ $srv->log }), 'not in the server log');
};

subtest 'connection dropped or reset before the response' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    for my $path ('/drop', '/reset') {
        my $r = fetch($loop, $pool, uri => $srv->url($path));
        is(ecode($r), 'connection_closed', "$path: code connection_closed");
        is($r->{response} && $r->{response}->code, 0, "$path: response code 0");
        ok(run_until($loop, sub { $pool->size == 0 }, 2), "$path: connection gone");
        is($pool->nbusy, 0, "$path: nbusy 0");
    }
    my $ok = fetch($loop, $pool, uri => $srv->url('/ok'));
    response_ok($ok, 'pool still works');
};

subtest 'server closes a reused connection without answering' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r1 = fetch($loop, $pool, uri => $srv->url('/drop-second'));
    response_ok($r1, 'first request on the connection');
    is($pool->size, 1, 'kept alive');
    # a GET is safe to repeat: sent again on a new connection (t/40-retry.t has the rest)
    my $r2 = fetch($loop, $pool, uri => $srv->url('/drop-second'));
    response_ok($r2, 'second request succeeds after a retry');
    ok($r2->{response}->retried, 'response says it was retried');
    my $r3 = fetch($loop, $pool, uri => $srv->url('/drop-second'), retry => 0);
    is(ecode($r3), 'connection_closed', 'with retry => 0: connection_closed');
    ok(run_until($loop, sub { $pool->size == 0 }, 2), 'connection gone');
    my $r4 = fetch($loop, $pool, uri => $srv->url('/ok'));
    response_ok($r4, 'next request on a new connection');
    is($srv->connections, 3, 'three connections');
};

subtest 'garbage response' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/garbage'));
    is(ecode($r), 'protocol', 'code protocol');
    ok(length("$r->{error}"), 'error has a message') if $r->{error};
    ok(run_until($loop, sub { $pool->size == 0 }, 2), 'connection discarded');
    my $ok = fetch($loop, $pool, uri => $srv->url('/ok'));
    response_ok($ok, 'pool still works');
};

subtest 'many failing requests leave consistent counters' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 2 }, $loop);
    my $port = unused_port();
    my @r = (
        (map { start_req($pool, uri => "http://127.0.0.1:$port/") } 1 .. 3),
        (map { start_req($pool, uri => $srv->url('/drop')) } 1 .. 3),
        (map { start_req($pool, uri => $srv->url('/ok')) } 1 .. 3),
    );
    ok(wait_all($loop, @r), 'all called back');
    is($_->{calls}, 1, "one callback for $_->{uri}") for @r;
    is(ecode($_), 'connect', 'refused') for @r[0 .. 2];
    is(ecode($_), 'connection_closed', 'dropped') for @r[3 .. 5];
    response_ok($_, 'ok') for @r[6 .. 8];
    is_deeply([ $pool->nbusy, $pool->nqueued ], [ 0, 0 ], 'nothing busy or queued');
    cmp_ok($pool->size, '<=', 2, 'at most max_connections idle');
};

$srv->stop;
done_testing;
