use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use File::Temp qw(tempfile);
use List::Util qw(max min sum);
use POSIX ();
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Util qw(extended_testing run_until run_for wait_all fetch ecode body hdr response_ok raw_server raw_server_main raw_stop raw_events start_req);

# Connection lifetime limits (Keep-Alive max, max_requests_per_connection,
# max_lifetime, the keep-alive deadline, idle jitter), queue limits
# (max_queue, queue_timeout), max_total with eviction, and per-destination
# stats.

my @warnings;
$SIG{__WARN__} = sub { push @warnings, $_[0] };

# ---- helpers: every loop run is bounded by a deadline ----

# The event lines of a raw server, each split into fields.

my $srv  = Uvent::Test::Server->new;
my $loop = Uvent::Loop->new;

sub conn_pattern {
    my @c = @_;
    my %name;
    my $next = 'a';
    return join '', map { defined $_ ? ($name{$_} //= $next++) : '?' } @c;
}

subtest 'Keep-Alive: max=N is honoured' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my @r;
    for my $i (1 .. 5) {
        my $r = fetch($loop, $pool, uri => $srv->url("/keepalive-max?n=2&i=$i"));
        response_ok($r, "request $i");
        push @r, $r;
    }
    is($srv->connections, 3, 'server accepted 3 connections');
    is(conn_pattern(map { hdr($_, 'X-Conn') } @r), 'aabbc', 'two requests per connection');
    my $st = $pool->stats;
    is($st->{connections_opened}, 3, 'stats connections_opened 3');
    is($st->{retried}, 0, 'no retries');
    is($st->{idle_closed_peer}, 0, 'no connection found closed by the server');
    is($st->{errors}{connection_closed}, 0, 'no connection_closed');
};

subtest 'Keep-Alive: max=1 without a close from the server' => sub {
    # the server says "max=1" on every response but never closes by itself:
    # the client must stop after one more request on each connection
    my $rs = raw_server(respond => sub { (0, [ 'Keep-Alive: timeout=5, max=1' ], 0) });
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my @r = map { fetch($loop, $pool, uri => "http://127.0.0.1:$rs->{port}/ka?i=$_") } 1 .. 5;
    response_ok($_, $_->{uri}) for @r;
    is(conn_pattern(map { hdr($_, 'X-Conn') } @r), 'aabbc', 'two requests per connection');
    is($pool->stats->{connections_opened}, 3, 'stats connections_opened 3');
    ok(!$r[1]{response}->keep_alive, 'the response that used up max=1 is not keep-alive');
    ok($r[0]{response}->keep_alive, 'the one before is');
    raw_stop($rs);
};

subtest 'max_requests_per_connection' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_requests_per_connection => 2 }, $loop);
    my @r;
    for my $i (1 .. 5) {
        my $r = fetch($loop, $pool, uri => $srv->url("/ok?i=$i"));
        response_ok($r, "request $i");
        push @r, $r;
    }
    is(conn_pattern(map { hdr($_, 'X-Conn') } @r), 'aabbc', 'two requests per connection');
    is($srv->connections, 3, 'server accepted 3 connections');
    is($pool->stats->{connections_opened}, 3, 'stats connections_opened 3');
    is($pool->size, 1, 'the last connection is idle (it served only one request)');
};

subtest 'max_lifetime' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_lifetime => 0.3 }, $loop);
    my $t0 = time;
    my $r1 = fetch($loop, $pool, uri => $srv->url('/ok?t=0'));
    run_until($loop, sub { time - $t0 >= 0.1 }, 1);
    my $r2 = fetch($loop, $pool, uri => $srv->url('/ok?t=0.1'));
    my $size_at_02 = do { run_until($loop, sub { time - $t0 >= 0.2 }, 1); $pool->size };
    run_until($loop, sub { time - $t0 >= 0.45 }, 1);
    my $size_at_045 = $pool->size;
    my $r3 = fetch($loop, $pool, uri => $srv->url('/ok?t=0.45'));
    response_ok($_, $_->{uri}) for $r1, $r2, $r3;
    is(hdr($r2, 'X-Conn'), hdr($r1, 'X-Conn'), 'at 0.1 s: same connection');
    is($size_at_02, 1, 'still open at 0.2 s');
    is($size_at_045, 0, 'closed by 0.45 s although the idle timeout is 60 s');
    isnt(hdr($r3, 'X-Conn'), hdr($r1, 'X-Conn'), 'at 0.45 s: a new connection');
    is($srv->connections, 2, 'server accepted 2 connections');

    # an idle pool empties by itself at max_lifetime
    my $p2 = Uvent::HTTP::Pool->new({ timeout => 60, max_lifetime => 0.3 }, $loop);
    my $ts = time;
    my $r = fetch($loop, $p2, uri => $srv->url('/ok?idle=1'));
    response_ok($r, 'request on the second pool');
    my $gone;
    ok(run_until($loop, sub { $gone //= time if $p2->size == 0; defined $gone }, 2), 'idle connection closed');
    cmp_ok(($gone // 99) - $ts, '>=', 0.28, 'not before 0.3 s after connecting');
    cmp_ok(($gone // 99) - $ts, '<', 1.0, 'soon after, well before the 60 s idle timeout');
    is($p2->stats->{connections_closed}, 1, 'stats connections_closed 1');

    # a connection that passes max_lifetime while busy is not reused
    my $p3 = Uvent::HTTP::Pool->new({ timeout => 60, max_lifetime => 0.3 }, $loop);
    my $rb = fetch($loop, $p3, uri => $srv->url('/sleep?s=0.4'));
    response_ok($rb, 'a request longer than max_lifetime');
    ok(!$rb->{response}->keep_alive, 'its response is not keep-alive for the pool');
    ok(run_until($loop, sub { $p3->size == 0 }, 1), 'its connection is closed');
    my $rn = fetch($loop, $p3, uri => $srv->url('/ok'));
    response_ok($rn, 'next request');
    isnt(hdr($rn, 'X-Conn'), hdr($rb, 'X-Conn'), 'on a new connection');
};

subtest 'the client closes before the server at the keep-alive deadline' => sub {
    my $n = extended_testing() ? 3 : 2;    # requests, each ~0.95 s after the one before
    my $s2 = Uvent::Test::Server->new(idle_close => 1.0);
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my @r;
    my @timers;
    my $next;
    $next = sub {
        my $i = @r + 1;
        my $r;
        $r = start_req($pool, uri => $s2->url("/keepalive-timeout?t=1&i=$i"), timeout => 5);
        push @r, $r;
        # the next request 0.95 s after this one completed: the server closes
        # its side 1.0 s after its response
        my $orig = $r;
        push @timers, Uvent::Timer->new($loop);
        my $t = $timers[-1];
        $t->start(0.005, 0.005, sub {
            return unless $orig->{calls};
            $t->stop;
            return if @r >= $n;
            my $delay = 0.95 - (time - $orig->{at});
            push @timers, Uvent::Timer->once($delay > 0 ? $delay : 0, sub { $next->() }, $loop);
        });
    };
    $next->();
    ok(run_until($loop, sub { @r == $n && $r[-1]{calls} }, 8), "$n requests completed");
    undef $next;
    for my $i (0 .. $#r) {
        response_ok($r[$i], 'request ' . ($i + 1));
        ok(!$r[$i]{response}->retried, 'request ' . ($i + 1) . ' not retried') if $r[$i]{response};
    }
    for my $i (1 .. $#r) {
        my $gap = $r[$i]{started} - $r[$i - 1]{at};
        cmp_ok($gap, '>=', 0.93, "request " . ($i + 1) . " sent ~0.95 s after the previous one");
    }
    my $st = $pool->stats;
    is($st->{retried}, 0, 'stats retried 0');
    is($st->{idle_closed_peer}, 0, 'stats idle_closed_peer 0: the server never closed first');
    cmp_ok($st->{idle_closed_timeout}, '>=', 1, 'stats idle_closed_timeout >= 1: the client closed first');
    is($st->{errors}{connection_closed}, 0, 'no connection_closed');
    is($s2->connections, $n, 'a new connection for each request');
    $s2->stop;
};

subtest 'idle timeout jitter: connections opened together do not all close together' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 1, max_connections => 10 }, $loop);
    my @r = map { start_req($pool, uri => $srv->url("/sleep?s=0.05&j=$_")) } 1 .. 10;
    is($pool->size, 10, '10 connections opened');
    ok(wait_all($loop, @r), 'all completed');
    response_ok($_, $_->{uri}) for @r;
    is($pool->size, 10, '10 idle connections');
    my $first = min(map { $_->{at} } @r);
    my $last  = max(map { $_->{at} } @r);
    diag(sprintf 'responses spread over %.1f ms', ($last - $first) * 1000) if $ENV{TEST_VERBOSE};
    my @samples;
    my $sampler = Uvent::Timer->new($loop);
    $sampler->start(0.002, 0.002, sub {
        my $now = time;
        push @samples, [ $now, $pool->size ] if $now >= $first + 0.9;
        $loop->stop if $now > $last + 1.1 || ($pool->size == 0 && @samples && $samples[-1][1] == 0);
    });
    my $watchdog = Uvent::Timer->once(3, sub { $loop->stop }, $loop);
    $loop->run;
    $sampler->stop;
    $watchdog->stop;
    ok(scalar @samples, 'sampled');
    my @early = grep { $_->[0] < $first + 0.93 } @samples;
    is(scalar(grep { $_->[1] != 10 } @early), 0, 'nothing closed before 0.95 s (jitter is at most 5%)');
    my $steps = 0;
    for my $i (1 .. $#samples) {
        $steps++ if $samples[$i][1] < $samples[$i - 1][1];
    }
    my $zero = (grep { $_->[1] == 0 } @samples)[0];
    ok($zero, 'the pool emptied');
    cmp_ok($zero ? $zero->[0] - $last : 99, '<=', 1.0 + 0.05, 'no later than 1.0 s after going idle (jitter only shortens)');
    cmp_ok($steps, '>=', 2, 'the size went down in at least 2 distinct steps')
        or diag(explain [ map { sprintf '%.3f %d', $_->[0] - $first, $_->[1] } @samples ]);
    is($pool->stats->{idle_closed_timeout}, 10, 'stats idle_closed_timeout 10');
};

subtest 'idle timeout jitter, per connection (10 destinations)' => sub {
    # one connection per destination (127.0.0.1 .. 127.0.0.10), so each close
    # time is known exactly from its destination's stats
    my $rs = raw_server(host => '0.0.0.0');
    my $pool = Uvent::HTTP::Pool->new({ timeout => 0.5 }, $loop);
    my @dest = map { "http://127.0.0.$_:$rs->{port}" } 1 .. 10;
    my @r = map { start_req($pool, uri => "$_/ok") } @dest;
    ok(wait_all($loop, @r), 'all completed');
    my @ok = grep { !$_->{error} } @r;
    if (@ok < 10) {
        diag('127.0.0.x not reachable here: ' . join ', ', map { "$_->{error}" } grep { $_->{error} } @r);
        pass('skipped: the 127.0.0.0/8 loopback range is not usable');
        raw_stop($rs);
        return;
    }
    my %closed;
    run_until($loop, sub {
        for my $i (0 .. 9) {
            $closed{$i} //= time if $pool->stats($dest[$i])->{idle_closed_timeout};
        }
        keys %closed == 10;
    }, 3);
    is(scalar keys %closed, 10, 'all 10 closed by the idle timeout');
    my @dt = map { ($closed{$_} // 99) - $r[$_]{at} } 0 .. 9;
    diag('idle times: ' . join ' ', map { sprintf '%.4f', $_ } @dt) if $ENV{TEST_VERBOSE};
    my @bad = grep { $_ < 0.5 * 0.95 - 0.01 || $_ > 0.5 + 0.03 } @dt;
    is(scalar @bad, 0, 'every idle time within [0.475 s, 0.5 s] (plus measuring slack)')
        or diag(explain [ map { sprintf '%.4f', $_ } @dt ]);
    cmp_ok(max(@dt) - min(@dt), '>=', 0.005, 'the idle times differ (random jitter)')
        or diag(explain [ map { sprintf '%.4f', $_ } @dt ]);
    raw_stop($rs);
};

subtest 'max_queue' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 1, max_queue => 2 }, $loop);
    my $slow = start_req($pool, uri => $srv->url('/sleep?s=0.3'));
    my @q = map { start_req($pool, uri => $srv->url("/ok?q=$_")) } 1 .. 4;
    ok(!$slow->{queued}, 'the first request runs');
    ok($_->{queued}, "request $_->{uri} returned undef") for @q;
    is($pool->nqueued, 2, 'two requests queued');
    is(scalar(grep { $_->{calls} } $slow, @q), 0, 'no callback ran inside a request() call');
    ok(run_until($loop, sub { $q[2]{calls} && $q[3]{calls} }, 2), 'the rejected requests called back');
    is(ecode($q[$_]), 'queue_full', "request " . ($_ + 2) . ": queue_full") for 2, 3;
    ok(!$q[$_]{inside}, "request " . ($_ + 2) . ": not called back from inside request()") for 2, 3;
    # at once: before the running request (0.3 s) is done, whatever the machine's load
    cmp_ok($q[$_]{at}, '<', $slow->{at} // 9e9, "request " . ($_ + 2) . ": rejected at once, while the first still ran") for 2, 3;
    is($q[$_]{response} && $q[$_]{response}->code, 0, 'response code 0') for 2, 3;
    ok(wait_all($loop, $slow, @q), 'all called back');
    response_ok($_, $_->{uri}) for $slow, @q[0, 1];
    is($_->{calls}, 1, "one callback for $_->{uri}") for $slow, @q;
    is($srv->requests, 3, 'the server saw 3 requests');
    ok(!grep({ $_->{target} =~ /q=[34]/ } @{ $srv->log }), 'not the rejected ones');
    my $st = $pool->stats;
    is($st->{errors}{queue_full}, 2, 'stats errors{queue_full} 2');
    is($st->{requests}, 5, 'stats requests 5');
    is($st->{responses}, 3, 'stats responses 3');
    is($st->{max_queued}, 2, 'stats max_queued 2');
    is($pool->stats($srv->url)->{errors}{queue_full}, 2, 'per-destination errors{queue_full} 2');

    # the limit is on the current length: the queue can fill again
    my $s2 = start_req($pool, uri => $srv->url('/sleep?s=0.1'));
    my @q2 = map { start_req($pool, uri => $srv->url("/ok?again=$_")) } 1 .. 2;
    ok(wait_all($loop, $s2, @q2), 'called back');
    response_ok($_, $_->{uri}) for $s2, @q2;
};

subtest 'queue_timeout' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 1, queue_timeout => 0.2 }, $loop);
    my $slow = start_req($pool, uri => $srv->url('/sleep?s=0.6'), timeout => 20);
    my $q    = start_req($pool, uri => $srv->url('/ok?queued=1'), timeout => 20);
    ok($q->{queued}, 'second request queued');
    ok(wait_all($loop, $slow, $q), 'both called back');
    is(ecode($q), 'queue_timeout', 'queued request: queue_timeout');
    ok(!$q->{inside}, 'not called back from inside request()');
    my $dt = $q->{at} - $q->{started};
    cmp_ok($dt, '>=', 0.18, 'not before 0.2 s');
    cmp_ok($q->{at}, '<', $slow->{at}, 'before the running request (0.6 s) freed the connection');
    response_ok($slow, 'the running request is not limited by queue_timeout');
    is($srv->requests, 1, 'the queued request never reached the server');
    my $st = $pool->stats;
    is($st->{errors}{queue_timeout}, 1, 'stats errors{queue_timeout} 1');
    is($st->{errors}{timeout}, 0, 'stats errors{timeout} 0');
    cmp_ok($st->{queue_wait}, '>=', 0.15, 'stats queue_wait counts the wait');
};

subtest 'max_total across destinations' => sub {
    my $A = Uvent::Test::Server->new;
    my $B = Uvent::Test::Server->new;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 5, max_total => 2 }, $loop);
    my $t0 = time;
    my @r = (
        (map { start_req($pool, uri => $A->url("/sleep?s=0.3&a=$_"), timeout => 3) } 1 .. 2),
        (map { start_req($pool, uri => $B->url("/sleep?s=0.3&b=$_"), timeout => 3) } 1 .. 2),
    );
    cmp_ok($pool->size, '<=', 2, 'size <= 2 after submitting');
    is($pool->nqueued, 2, 'two requests wait');
    my $max = 0;
    ok(run_until($loop, sub { $max = max($max, $pool->size); !grep { !$_->{calls} } @r }, 10), 'all called back');
    my $total = max(map { $_->{at} } @r) - $t0;
    cmp_ok($max, '<=', 2, 'never more than 2 connections open');
    response_ok($_, $_->{uri}) for @r;
    cmp_ok($total, '>=', 0.55, 'two rounds: total time >= 0.55 s');
    cmp_ok($total, '<', 2.0, 'but not much more (total ' . sprintf('%.2f', $total) . ' s)');
    cmp_ok($pool->size, '<=', 2, 'size <= 2 afterwards');
    $A->stop;
    $B->stop;
};

subtest 'max_total: a queued request gets room when another destination\'s connection goes idle' => sub {
    my $A = Uvent::Test::Server->new;
    my $B = Uvent::Test::Server->new;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_total => 1 }, $loop);
    my $ra = start_req($pool, uri => $A->url('/sleep?s=0.3'), timeout => 3);
    my $rb = start_req($pool, uri => $B->url('/ok?waiting=1'), timeout => 3);
    ok($rb->{queued}, 'B waits (max_total 1, A busy)');
    ok(wait_all($loop, $ra, $rb), 'both called back');
    response_ok($ra, 'A');
    response_ok($rb, 'B');
    cmp_ok($rb->{at} - $ra->{at}, '<', 1.5, 'B served soon after A finished, well before its 3 s timeout');
    is($pool->size, 1, 'size 1');
    $A->stop;
    $B->stop;
};

subtest 'max_total: the least recently used idle connection is evicted' => sub {
    my $A = raw_server();
    my $B = Uvent::Test::Server->new;
    my $urlA = "http://127.0.0.1:$A->{port}";
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_total => 1 }, $loop);
    my $ra = fetch($loop, $pool, uri => "$urlA/a");
    response_ok($ra, 'request to A');
    is($pool->size, 1, 'A holds 1 idle connection');
    my $rb = fetch($loop, $pool, uri => $B->url('/ok?b=1'));
    response_ok($rb, 'request to B');
    cmp_ok($rb->{at} - $rb->{started}, '<', 2, "B completed without waiting for A's 60 s idle timeout");
    is($pool->size, 1, 'pool size stays 1');
    ok(run_until($loop, sub { grep { $_->[0] eq 'eof' } @{ raw_events($A) } }, 2), 'server A saw EOF on its connection');
    my $stA = $pool->stats($urlA);
    is($stA->{connections_closed}, 1, 'stats(A) connections_closed 1');
    is($stA->{idle_closed_timeout} + $stA->{idle_closed_peer}, 0, 'not counted as an idle timeout or a peer close');
    is($B->connections, 1, 'B: one connection');

    # and back: B's idle connection makes room for A
    my $ra2 = fetch($loop, $pool, uri => "$urlA/a2");
    response_ok($ra2, 'A again');
    is($pool->size, 1, 'size 1');
    is(scalar(grep { $_->[0] eq 'conn' } @{ raw_events($A) }), 2, 'A: a new connection');
    raw_stop($A);
    $B->stop;
};

subtest 'per-destination stats' => sub {
    my $A = Uvent::Test::Server->new;
    my $B = Uvent::Test::Server->new;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my @r = (
        (map { fetch($loop, $pool, uri => $A->url("/ok?a=$_")) } 1 .. 3),
        (map { fetch($loop, $pool, uri => $B->url("/ok?b=$_")) } 1 .. 2),
        fetch($loop, $pool, uri => $B->url('/drop')),
    );
    my $sa = $pool->stats($A->url);
    my $sb = $pool->stats($B->url('/any/path?x=1'));
    my $all = $pool->stats;
    ok($sa && $sb, 'stats for both destinations');
    is($sa->{requests}, 3, 'A: 3 requests');
    is($sb->{requests}, 3, 'B: 3 requests');
    is($sa->{responses}, 3, 'A: 3 responses');
    is($sb->{responses}, 2, 'B: 2 responses');
    is($sb->{errors}{connection_closed}, 1, 'B: 1 connection_closed');
    is($sa->{errors}{connection_closed}, 0, 'A: none');
    is($sa->{reused}, 2, 'A: 2 reused');
    is_deeply([ sort keys %$sa ], [ sort keys %$all ], 'same keys as the pool stats');
    is_deeply([ sort keys %{ $sa->{errors} } ], [ sort keys %{ $all->{errors} } ], 'same error codes');
    for my $k (qw(requests responses connections_opened connections_closed reused retried
                  idle_closed_timeout idle_closed_peer queued)) {
        is($sa->{$k} + $sb->{$k}, $all->{$k}, "$k adds up");
    }
    for my $k (sort keys %{ $all->{errors} }) {
        is($sa->{errors}{$k} + $sb->{errors}{$k}, $all->{errors}{$k}, "errors{$k} adds up");
    }
    is_deeply($pool->stats("http://127.0.0.1:" . $A->port . "/other"), $sa, 'any URL of the destination gives the same');
    is($pool->stats('http://127.0.0.1:1'), undef, 'unknown destination: undef');
    is($pool->stats('http://127.0.0.1:1/x'), undef, 'unknown destination with a path: undef');
    $A->stop;
    $B->stop;
};

$srv->stop;
is_deeply(\@warnings, [], 'no warnings') or diag(explain \@warnings);
done_testing;
