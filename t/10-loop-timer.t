use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use Scalar::Util qw(refaddr);
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;

# ---- helpers ----

# A watchdog: stops $loop after $secs so that a hang fails instead of blocking.
sub watchdog {
    my ($loop, $secs) = @_;
    my $w = { fired => 0 };
    $w->{timer} = Uvent::Timer->new($loop);
    $w->{timer}->start($secs, 0, sub { $w->{fired} = 1; $loop->stop });
    return $w;
}

subtest 'default loop is a singleton' => sub {
    my $d1 = Uvent::Loop->default;
    my $d2 = Uvent::Loop->default;
    isa_ok($d1, 'Uvent::Loop');
    is(refaddr($d1), refaddr($d2), 'Uvent::Loop->default returns the same object');
    my $l = Uvent::Loop->new;
    isa_ok($l, 'Uvent::Loop');
    isnt(refaddr($l), refaddr($d1), 'Uvent::Loop->new is a different loop');
};

subtest 'run returns at once when nothing is pending' => sub {
    for my $loop (Uvent::Loop->new, Uvent::Loop->default) {
        ok(!$loop->alive, 'an empty loop is not alive');
        my $t0 = time;
        $loop->run;
        cmp_ok(time - $t0, '<', 0.5, 'run returned promptly');
        $t0 = time;
        $loop->run_nowait;
        cmp_ok(time - $t0, '<', 0.5, 'run_nowait returned promptly');
    }
};

subtest 'Timer->once fires once, kept or not' => sub {
    my $loop = Uvent::Loop->new;
    my ($kept_n, $dropped_n) = (0, 0);
    my $t0 = time;
    my ($kept_at, $dropped_at);
    my $kept = Uvent::Timer->once(0.1, sub { $kept_n++; $kept_at = time }, $loop);
    Uvent::Timer->once(0.05, sub { $dropped_n++; $dropped_at = time }, $loop);    # return value dropped
    ok($loop->alive, 'loop is alive with pending timers');
    my $wd = watchdog($loop, 5);
    # the watchdog keeps the loop alive, so stop it from the last timer
    Uvent::Timer->once(0.2, sub { $wd->{timer}->stop }, $loop);
    $loop->run;
    ok(!$wd->{fired}, 'run returned without the watchdog');
    is($kept_n,    1, 'kept once-timer fired exactly once');
    is($dropped_n, 1, 'dropped once-timer fired exactly once');
    cmp_ok($dropped_at - $t0, '>=', 0.04, 'dropped timer waited ~0.05 s');
    cmp_ok($kept_at - $t0,    '>=', 0.09, 'kept timer waited ~0.1 s');
    cmp_ok($dropped_at, '<=', $kept_at, 'timers fired in deadline order');
    cmp_ok(time - $t0, '<', 2, 'run returned soon after the last timer');
    ok(!$loop->alive, 'loop is no longer alive');

    # nothing left: another run returns at once and fires nothing more
    my $t1 = time;
    $loop->run;
    cmp_ok(time - $t1, '<', 0.5, 'second run returns at once');
    is($kept_n + $dropped_n, 2, 'no timer fired again');
};

subtest 'Timer->once without a loop uses the default loop' => sub {
    my $loop = Uvent::Loop->default;
    my $n = 0;
    Uvent::Timer->once(0.01, sub { $n++ });
    my $wd = watchdog($loop, 5);
    Uvent::Timer->once(0.05, sub { $wd->{timer}->stop }, $loop);
    $loop->run;
    is($n, 1, 'fired on the default loop');
    ok(!$wd->{fired}, 'no watchdog');
};

subtest 'Timer->new/start: one-shot, repeat, stop' => sub {
    my $loop = Uvent::Loop->new;

    my $one = 0;
    my $t1 = Uvent::Timer->new($loop);
    isa_ok($t1, 'Uvent::Timer');
    $t1->start(0.02, 0, sub { $one++ });

    my $rep = 0;
    my @at;
    my $t0 = time;
    my $t2 = Uvent::Timer->new($loop);
    $t2->start(0.01, 0.03, sub {
        push @at, time;
        $t2->stop if ++$rep == 4;
    });
    my $wd = watchdog($loop, 5);
    Uvent::Timer->once(0.5, sub { $wd->{timer}->stop }, $loop);
    $loop->run;
    ok(!$wd->{fired}, 'no watchdog');
    is($one, 1, 'repeat 0 timer fired exactly once');
    is($rep, 4, 'repeating timer fired 4 times, then stop() inside its callback stopped it');
    cmp_ok($at[-1] - $t0, '>=', 0.08, 'repeats were spaced (~0.01 + 3 * 0.03 s)');

    # a stopped timer does not fire and does not keep the loop alive
    my $never = 0;
    my $t3 = Uvent::Timer->new($loop);
    $t3->start(0.05, 0, sub { $never++ });
    $t3->stop;
    ok(!$loop->alive, 'a stopped timer does not keep the loop alive');
    my $s = time;
    $loop->run;
    cmp_ok(time - $s, '<', 0.04, 'run returned at once with only a stopped timer');
    is($never, 0, 'stopped timer never fired');

    # a stopped timer can be started again
    $t3->start(0.01, 0, sub { $never++ });
    $wd = watchdog($loop, 5);
    Uvent::Timer->once(0.1, sub { $wd->{timer}->stop }, $loop);
    $loop->run;
    is($never, 1, 'restarted timer fired once');

};

subtest 'loop stop' => sub {
    my $loop = Uvent::Loop->new;
    my $ticks = 0;
    my $t = Uvent::Timer->new($loop);
    $t->start(0.01, 0.01, sub { $ticks++ });
    my $stopper = Uvent::Timer->once(0.1, sub { $loop->stop }, $loop);
    my $wd = watchdog($loop, 5);
    my $t0 = time;
    $loop->run;
    cmp_ok(time - $t0, '<', 2, 'run returned after stop()');
    ok(!$wd->{fired}, 'stop() ended run, not the watchdog');
    cmp_ok($ticks, '>=', 2, 'repeating timer ran meanwhile');
    ok($loop->alive, 'loop still alive: the repeating timer is active');
    $t->stop;
    $wd->{timer}->stop;
    ok(!$loop->alive, 'not alive once everything is stopped');
};

subtest 'now and update_time' => sub {
    my $loop = Uvent::Loop->new;
    $loop->update_time;
    my $n1 = $loop->now;
    like($n1, qr/^\d+(?:\.\d+)?$/, 'now is a number of ms');
    sleep 0.06;
    $loop->update_time;
    my $n2 = $loop->now;
    cmp_ok($n2 - $n1, '>=', 50, 'update_time advanced now by >= 50 ms after sleeping 60 ms');
    cmp_ok($n2 - $n1, '<', 5000, 'now is in milliseconds, not microseconds');

    # now advances across a loop run
    Uvent::Timer->once(0.05, sub { }, $loop);
    my $wd = watchdog($loop, 5);
    Uvent::Timer->once(0.06, sub { $wd->{timer}->stop }, $loop);
    $loop->run;
    cmp_ok($loop->now - $n2, '>=', 40, 'now advanced across run');
};

subtest 'run_nowait and run_once' => sub {
    my $loop = Uvent::Loop->new;
    my $fired = 0;
    my $t = Uvent::Timer->once(0.2, sub { $fired++ }, $loop);
    my $t0 = time;
    $loop->run_nowait;
    cmp_ok(time - $t0, '<', 0.1, 'run_nowait does not block on a pending timer');
    is($fired, 0, 'timer not fired yet');
    ok($loop->alive, 'loop alive');

    my $soon = 0;
    Uvent::Timer->once(0.02, sub { $soon++ }, $loop);
    $t0 = time;
    for (1 .. 3) { last if $soon; $loop->run_once }    # each iteration blocks until something happens
    is($soon, 1, 'run_once blocked until the near timer fired');
    cmp_ok(time - $t0, '<', 0.19, 'run_once did not wait for the later timer');
    is($fired, 0, 'later timer not fired by run_once');

    my $wd = watchdog($loop, 5);
    Uvent::Timer->once(0.3, sub { $wd->{timer}->stop }, $loop);
    $loop->run;
    is($fired, 1, 'run fired the remaining timer');
};

subtest 'an idle keep-alive connection does not keep run going' => sub {
    my $srv = Uvent::Test::Server->new;
    my $loop = Uvent::Loop->new;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my ($calls, $resp, $err, $done_at) = (0);
    $pool->request({
        uri               => $srv->url('/ok'),
        timeout           => 5,
        response_callback => sub { $calls++; (undef, $resp, $err) = @_; $done_at = time },
    });
    ok($loop->alive, 'loop alive while a request is in flight');
    my $wd = watchdog($loop, 10);
    my $t0 = time;
    # the watchdog is the only other thing pending; stop it from a short timer
    # chain that ends once the request completed
    my $poll = Uvent::Timer->new($loop);
    $poll->start(0.01, 0.01, sub { if ($calls) { $poll->stop; $wd->{timer}->stop } });
    $loop->run;
    my $ret_at = time;
    ok(!$wd->{fired}, 'run returned by itself');
    is($calls, 1, 'callback ran once');
    ok(!$err, 'no error') or diag("$err");
    is($resp && $resp->body, 'ok', 'body');
    is($pool->size, 1, 'the connection is kept open (idle) in the pool');
    is($pool->nbusy, 0, 'and it is not busy');
    cmp_ok($ret_at - $done_at, '<', 0.5, 'run returned promptly after the response despite the idle connection');

    # nothing pending: the idle connection alone does not keep run going
    my $s = time;
    $loop->run;
    cmp_ok(time - $s, '<', 0.5, 'run with only an idle connection returns at once');
    is($pool->size, 1, 'idle connection still there');
    ok(!$loop->alive, 'loop not alive with only an idle connection');
    $srv->stop;
};

subtest 'a timer started outside a run counts from the moment it starts' => sub {
    my $loop = Uvent::Loop->new;
    $loop->run;    # the loop's cached time is now
    sleep 0.3;     # and old from here on
    my $t0 = time;
    my $fired;
    Uvent::Timer->once(0.2, sub { $fired = time }, $loop);
    $loop->run;
    cmp_ok(($fired // 0) - $t0, '>=', 0.19, 'not 0.3 s early (' . sprintf('%.0f ms', (($fired // 0) - $t0) * 1000) . ')');
    my $inner;
    Uvent::Timer->once(0.01, sub {
        my $start = time;
        Uvent::Timer->once(0.05, sub { $inner = time - $start }, $loop);
    }, $loop);
    $loop->run;
    cmp_ok($inner // 0, '>=', 0.04, 'one started in a callback waits its delay too');
};

done_testing;
