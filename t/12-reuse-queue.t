use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use Scalar::Util qw(refaddr);
use List::Util qw(max);
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Util qw(run_until run_for wait_all start_req fetch ecode body hdr response_ok);

# ---- helpers: every loop run is bounded by a deadline ----

my $srv  = Uvent::Test::Server->new;
my $port = $srv->port;
my $loop = Uvent::Loop->new;

subtest 'sequential requests reuse one connection' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my (@conn, @seq);
    for my $i (1 .. 5) {
        my $r = fetch($loop, $pool, uri => $srv->url("/ok?i=$i"));
        response_ok($r, "request $i");
        push @conn, hdr($r, 'X-Conn');
        push @seq,  hdr($r, 'X-Seq');
        is($pool->size, 1, "size 1 after request $i");
        is($pool->nbusy, 0, "nbusy 0 after request $i");
    }
    is(scalar(grep { defined $_ && $_ eq ($conn[0] // '') } @conn), 5, 'same X-Conn for all 5 requests')
        or diag("X-Conn: @conn");
    is_deeply(\@seq, [ 1 .. 5 ], 'X-Seq counts 1..5 on that connection');
    is($srv->connections, 1, 'server accepted one connection');
    is($srv->requests, 5, 'server saw 5 requests');
    my %conns = map { $_->{conn} => 1 } @{ $srv->log };
    is(scalar keys %conns, 1, 'server log: one connection');
};

subtest 'Connection: close in the request' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my @conn;
    for my $i (1 .. 2) {
        my $r = fetch($loop, $pool, uri => $srv->url('/ok'), headers => { Connection => 'close' });
        response_ok($r, "request $i");
        is(body($r), 'ok', 'body');
        push @conn, hdr($r, 'X-Conn');
        ok(run_until($loop, sub { $pool->size == 0 }, 2), "connection not kept after request $i");
    }
    isnt($conn[0], $conn[1], 'different connections');
    is($srv->connections, 2, 'server accepted two connections');
};

subtest 'Connection: close in the response' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my @conn;
    for my $i (1 .. 2) {
        my $r = fetch($loop, $pool, uri => $srv->url('/ok?close=1'));
        response_ok($r, "request $i");
        is(body($r), 'ok', 'body');
        ok(!$r->{response}->keep_alive, 'keep_alive false');
        like(hdr($r, 'Connection') // '', qr/close/i, 'response says Connection: close');
        push @conn, hdr($r, 'X-Conn');
        ok(run_until($loop, sub { $pool->size == 0 }, 2), "connection not kept after request $i");
    }
    isnt($conn[0], $conn[1], 'different connections');
    is($srv->connections, 2, 'server accepted two connections');

    # a normal request after that opens a fresh connection and works
    my $r = fetch($loop, $pool, uri => $srv->url('/ok'));
    response_ok($r, 'follow-up');
    is($srv->connections, 3, 'third connection');
};

subtest 'different servers are different destinations' => sub {
    my $srv2 = Uvent::Test::Server->new;
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 1 }, $loop);
    for my $round (1 .. 2) {
        for my $s ($srv, $srv2) {
            my $r = fetch($loop, $pool, uri => $s->url('/ok'));
            response_ok($r, "round $round, port " . $s->port);
        }
    }
    is($pool->size, 2, 'one idle connection per destination');
    is($srv->connections, 1, 'server 1: one connection');
    is($srv2->connections, 1, 'server 2: one connection');
    is($srv->requests, 2, 'server 1: two requests');
    is($srv2->requests, 2, 'server 2: two requests');

    # max_connections is per destination: one running request on each, none queued
    my $ra = start_req($pool, uri => $srv->url('/sleep?s=0.2'));
    my $rb = start_req($pool, uri => $srv2->url('/sleep?s=0.2'));
    ok(!$ra->{queued} && !$rb->{queued}, 'neither request was queued');
    is($pool->nbusy, 2, 'nbusy 2');
    is($pool->nqueued, 0, 'nqueued 0');
    ok(wait_all($loop, $ra, $rb), 'both completed');
    response_ok($ra, 'server 1');
    response_ok($rb, 'server 2');
    $srv2->stop;
};

subtest 'host name is part of the destination' => sub {
    my $pool  = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $probe = fetch($loop, $pool, uri => "http://localhost:$port/ok");
    if ($probe->{error}) {
        diag("localhost does not reach the test server: $probe->{error}");
        pass('skipped: localhost is not usable here');
        return;
    }
    $pool->shutdown;
    ok(run_until($loop, sub { $pool->size == 0 }, 2), 'pool emptied');

    $srv->reset_stats;
    my $r1 = fetch($loop, $pool, uri => "http://127.0.0.1:$port/ok");
    my $r2 = fetch($loop, $pool, uri => "http://localhost:$port/ok");
    response_ok($r1, '127.0.0.1');
    response_ok($r2, 'localhost');
    isnt(hdr($r1, 'X-Conn'), hdr($r2, 'X-Conn'), '127.0.0.1 and localhost use different connections');
    is($srv->connections, 2, 'server accepted two connections');
    is($pool->size, 2, 'pool holds two idle connections');

    my $r3 = fetch($loop, $pool, uri => "http://LocalHost:$port/ok");
    response_ok($r3, 'LocalHost');
    is(hdr($r3, 'X-Conn'), hdr($r2, 'X-Conn'), 'host names compare case-insensitively');
    is($srv->connections, 2, 'no new connection');

    my $rc = 0;
    my $client = $pool->request({ uri => "http://LOCALHOST:$port/ok", timeout => 5, response_callback => sub { $rc++ } });
    is($client && $client->destination, "http://localhost:$port", 'destination is lower-cased');
    ok(run_until($loop, sub { $rc }), 'completed');
};

subtest 'queueing at max_connections' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 2 }, $loop);
    my @r;
    my $t_submit = time;
    my @expect = ([ 1, 0, 1 ], [ 2, 0, 2 ], [ 2, 1, 2 ], [ 2, 2, 2 ]);    # nbusy nqueued size
    for my $i (0 .. 3) {
        my $res = { calls => 0, uri => "sleep $i" };
        my $ret = $pool->request({
            uri               => $srv->url("/sleep?s=0.3&i=$i"),
            timeout           => 5,
            response_callback => sub {
                my ($req, $resp, $err) = @_;
                fail("request $i called back twice") if ++$res->{calls} > 1;
                @$res{qw(response error at)} = ($resp, $err, time);
            },
        });
        if ($i < 2) {
            isa_ok($ret, 'Uvent::HTTP::Client', "request $i returns a client");
            ok($ret && $ret->busy, "client $i is busy");
            is($ret && $ret->destination, "http://127.0.0.1:$port", "client $i destination");
        }
        else {
            is($ret, undef, "request $i is queued: returns undef");
        }
        is_deeply([ $pool->nbusy, $pool->nqueued, $pool->size ], $expect[$i], "nbusy/nqueued/size after request $i");
        push @r, $res;
    }
    ok(wait_all($loop, @r), q{all four completed});
    response_ok($r[$_], "request $_") for 0 .. 3;
    is($_->{calls}, 1, 'one callback') for @r;
    is_deeply([ $pool->nbusy, $pool->nqueued, $pool->size ], [ 0, 0, 2 ], 'afterwards: nothing busy or queued, 2 idle');
    is($srv->connections, 2, 'server accepted only two connections');
    is($srv->requests, 4, 'server saw four requests');
    my %first = map { (hdr($r[$_], 'X-Conn') // "none$_") => 1 } 0, 1;
    is(scalar keys %first, 2, 'first two ran on two connections');
    ok($first{ hdr($r[$_], 'X-Conn') // '' }, "queued request $_ reused one of them") for 2, 3;
    my $first_done = (sort { $a <=> $b } map { $_->{at} } @r[0, 1])[0];
    cmp_ok($r[$_]{at}, '>=', $first_done, "queued request $_ finished after a running one") for 2, 3;
    cmp_ok($r[$_]{at} - $t_submit, q{>=}, 0.5, "queued request $_ waited for a free connection") for 2, 3;
};

subtest 'FIFO order with max_connections 1' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 1 }, $loop);
    my @order;
    my @r;
    for my $i (1 .. 4) {
        my $res = start_req($pool, uri => $srv->url($i == 1 ? '/sleep?s=0.1' : "/ok?n=$i"));
        push @r, $res;
        is($res->{queued}, $i == 1 ? 0 : 1, "request $i " . ($i == 1 ? 'runs' : 'is queued'));
        is($pool->nqueued, $i - 1, "nqueued " . ($i - 1));
        is($pool->nbusy, 1, 'nbusy 1');
    }
    my $max_size = 0;
    ok(run_until($loop, sub { $max_size = max($max_size, $pool->size); !grep { !$_->{calls} } @r }), 'all completed');
    is($max_size, 1, 'never more than one connection');
    response_ok($r[$_], 'request ' . ($_ + 1)) for 0 .. 3;
    my @by_time = sort { $r[$a]{at} <=> $r[$b]{at} || $a <=> $b } 0 .. 3;
    is_deeply(\@by_time, [ 0 .. 3 ], 'completed in submission order');
    is_deeply([ map { hdr($_, 'X-Seq') } @r ], [ 1 .. 4 ], 'X-Seq 1..4 on one connection');
    is_deeply([ map { $_->{target} } @{ $srv->log } ],
        [ '/sleep?s=0.1', map { "/ok?n=$_" } 2 .. 4 ], 'server saw them in order');
    is($srv->connections, 1, 'one connection');
};

subtest 'raising max_connections' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 1 }, $loop);
    my $ra = start_req($pool, uri => $srv->url('/sleep?s=0.3'));
    my $rb = start_req($pool, uri => $srv->url('/sleep?s=0.3&b'));
    ok(!$ra->{queued}, 'first runs');
    ok($rb->{queued}, 'second queued at max_connections 1');
    $pool->max_connections(3);
    is($pool->max_connections, 3, 'raised to 3');
    my $rc = start_req($pool, uri => $srv->url('/sleep?s=0.1&c'));
    ok(!$rc->{queued}, 'a new request opens another connection after raising the limit');
    cmp_ok($pool->size, '>=', 2, 'size grew');
    ok(wait_all($loop, $ra, $rb, $rc), 'all completed');
    response_ok($_, $_->{uri}) for $ra, $rb, $rc;
    cmp_ok($pool->size, '<=', 3, 'size within the new limit');
};

subtest 'idle connections are reused most recently used first' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 2 }, $loop);
    my $ra = start_req($pool, uri => $srv->url('/sleep?s=0.1'));
    my $rb = start_req($pool, uri => $srv->url('/sleep?s=0.5'));
    ok(wait_all($loop, $ra, $rb), 'both completed');
    response_ok($_, $_->{uri}) for $ra, $rb;
    cmp_ok($ra->{at}, '<', $rb->{at}, 'the short one finished first');
    isnt(hdr($ra, 'X-Conn'), hdr($rb, 'X-Conn'), 'two connections');
    is($pool->size, 2, 'two idle connections');
    my $rc = fetch($loop, $pool, uri => $srv->url('/ok'));
    response_ok($rc, 'third');
    is(hdr($rc, 'X-Conn'), hdr($rb, 'X-Conn'), 'the most recently used connection was picked');
    is($srv->connections, 2, 'no new connection');
};

$srv->stop;
done_testing;
