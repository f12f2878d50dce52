package Uvent::Test::Adapter;
# The behaviour every event-loop adapter must have, run against one host
# loop. A test file describes its host and calls run_adapter_tests:
#
#   run_adapter_tests(
#       name   => 'AnyEvent (EV)',
#       class  => 'Uvent::Loop::AnyEvent',
#       attach => sub { Uvent::Loop::AnyEvent->attach(@_) },  # @_: the Uvent loop
#       run    => sub { my ($seconds, $until, $check_every) = @_; ... },
#                 # runs the host loop until $until->() or $seconds pass,
#                 # looking every $check_every s (a host timer)
#       every  => sub { my ($seconds, $cb) = @_; ...; return $guard },
#                 # a recurring host timer, gone with $guard
#       caught => sub { my ($code) = @_; ...; return @exceptions },
#                 # runs $code (which runs the host loop) and returns what
#                 # surfaced the host's way
#       serves_idle => 1,  # idle connections served while the host runs for other reasons
#       idle_tick => 0.2,  # the host timer of the idle-CPU check (default 0.1 s)
#       second_host => sub { attach the loop given to another host loop },
#   );
use strict;
use warnings;
use Exporter 'import';
use Test::More;
use Time::HiRes qw(time);
use POSIX ();
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Util qw(extended_testing run_until raw_server raw_stop);

our @EXPORT_OK = qw(run_adapter_tests guard anyevent_host);

{
    package Uvent::Test::Adapter::Guard;
    sub DESTROY { $_[0]->() }
}
sub guard { bless $_[0], 'Uvent::Test::Adapter::Guard' }

# The AnyEvent host, whichever backend AnyEvent picked; %more adds to it.
sub anyevent_host {
    my (%more) = @_;
    return (
        class  => 'Uvent::Loop::AnyEvent',
        attach => sub { Uvent::Loop::AnyEvent->attach(@_) },
        run    => sub {
            my ($seconds, $until, $every) = @_;
            my $cv = AE::cv();
            my $end = time + $seconds;
            my $w = AE::timer($every // 0.005, $every // 0.005, sub { $cv->send if $until->() || time > $end });
            $cv->recv;
        },
        every  => sub { my ($s, $cb) = @_; AE::timer($s, $s, $cb) },
        serves_idle => 1,
        %more,
    );
}

sub run_adapter_tests {
    my (%h) = @_;
    my $srv = Uvent::Test::Server->new;
    my $run = $h{run};

    my $loop = Uvent::Loop->new;
    my $adapter = $h{attach}->($loop);
    isa_ok($adapter, $h{class}, 'attach');

    subtest 'attach, twice, run while attached' => sub {
        is($h{attach}->($loop), $adapter, 'attaching again returns the same adapter');
        like($loop->driver, qr/\Q$h{class}\E/, 'the loop says who drives it: ' . $loop->driver);
        for my $m (qw(run run_once run_nowait)) {
            eval { $loop->$m };
            like($@, qr/\AUvent::Loop->$m: the loop is attached to .* and runs from that loop; run that loop instead/,
                "$m croaks while attached, saying why");
        }
        if ($h{second_host}) {
            eval { $h{second_host}->($loop) };
            like($@, qr/already attached to .*a Uvent loop runs from one host loop/, 'a second host loop croaks');
        }
        eval { $h{class}->attach(Uvent::Loop->new, Uvent::Loop->new) };
        like($@, qr/\A\Q$h{class}\E->attach: two Uvent loops given/, 'two Uvent loops croak');
        for my $bad ('garbage', [], Uvent::HTTP::Pool->new({}, $loop)) {
            eval { $h{class}->attach($bad) };
            like($@, qr/\A\Q$h{class}\E->attach: expects .*, got /, 'attach(' . (ref $bad || $bad) . ') croaks naming it');
            like($@, qr{ at t/lib/Uvent/Test/Adapter\.pm line \d+\.$}, 'at the caller\'s line');
        }
        is($loop->driver && $h{attach}->($loop), $adapter, 'and the loop is still driven by the same adapter');
    };

    my $pool = Uvent::HTTP::Pool->new({ max_connections => 20 }, $loop);

    subtest '200 concurrent requests inside the host loop' => sub {
        my ($done, $good) = (0, 0);
        for my $n (1 .. 200) {
            $pool->request({
                uri => $srv->url("/ok?size=$n"), timeout => 20,
                response_callback => sub {
                    my (undef, $res, $err) = @_;
                    $done++;
                    $good++ if !$err && $res->code == 200 && $res->body eq 'x' x $n;
                },
            });
        }
        $run->(30, sub { $done == 200 });
        is($done, 200, 'every request called back once');
        is($good, 200, 'each with its own body');
        ok($pool->size > 1 && $pool->size <= 20, 'over several keep-alive connections (' . $pool->size . ')');
    };

    subtest 'a host timer and requests: neither starves' => sub {
        my (@ticks, @completions);
        my $ticker = $h{every}->(0.01, sub { push @ticks, time });
        my $window = extended_testing() ? 2 : 0.6;
        my $t_end = time + $window;
        my $chain;
        $chain = sub {
            $pool->request({ uri => $srv->url('/sleep?s=0.02'), timeout => 10, response_callback => sub {
                push @completions, time unless $_[2];
                $chain->() if time < $t_end;
            } });
        };
        $chain->() for 1 .. 4;
        $run->(10, sub { time > $t_end + 0.05 && !$pool->nbusy });
        undef $ticker;
        undef $chain;
        my ($c0, $c1) = (@completions ? ($completions[0], $completions[-1]) : (0, 0));
        my ($k0, $k1) = (@ticks ? ($ticks[0], $ticks[-1]) : (0, 0));
        my $ticks_inside = grep { $_ > $c0 && $_ < $c1 } @ticks;
        my $done_inside  = grep { $_ > $k0 && $_ < $k1 } @completions;
        # at most 400 completions and 100 ticks a second; a fifth of each is plenty
        cmp_ok(scalar @completions, '>=', 20 * $window, 'requests kept completing (' . scalar(@completions) . " in $window s)");
        cmp_ok(scalar @ticks, '>=', 30 * $window, 'the 10 ms timer kept ticking (' . scalar(@ticks) . ' ticks)');
        cmp_ok($ticks_inside, '>=', 20 * $window, "ticks between the first and the last completion ($ticks_inside)");
        cmp_ok($done_inside, '>=', 15 * $window, "completions between the first and the last tick ($done_inside)");
    };

    subtest 'a request submitted from a host callback starts at once' => sub {
        # nothing else is pending: without the adapter re-arming on submit
        # nothing would run the Uvent loop for it
        my ($submitted, $done);
        my $guard = $h{every}->(0.05, sub {
            return if $submitted;
            $submitted = time;
            $pool->request({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub { $done = time unless $_[2] } });
        });
        $run->(5, sub { $done }, 0.02);
        ok($done, 'it completed');
        cmp_ok(($done // 99) - ($submitted // 0), '<', 0.5, 'promptly (' . sprintf('%.1f ms', (($done // 99) - ($submitted // 0)) * 1000) . ')');
    };

    subtest 'Uvent timers started from host code run from the host loop' => sub {
        my ($t0, $fired, $ticks) = (time, undef, 0);
        my $once = Uvent::Timer->once(0.15, sub { $fired = time }, $loop);
        my $rep = Uvent::Timer->new($loop);
        $rep->start(0.02, 0.02, sub { $ticks++ });
        $run->(5, sub { $fired && $ticks >= 10 }, 0.02);
        $rep->stop;
        ok($fired, 'a one-shot timer fired');
        cmp_ok(($fired // 99) - $t0, '>=', 0.14, 'not early');
        cmp_ok(($fired // 99) - $t0, '<', 0.6, 'and not late (' . sprintf('%.0f ms', (($fired // 99) - $t0) * 1000) . ')');
        cmp_ok($ticks, '>=', 10, "a repeating one ticked ($ticks)");
        ok(!$loop->alive, 'stopped: nothing referenced is left');
    };

    subtest 'a server closing an idle connection, while the host loop runs for other reasons' => sub {
        plan skip_all => $h{serves_idle_why} unless $h{serves_idle};
        my $idle_pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
        my $ok;
        $idle_pool->request({ uri => $srv->url('/idle-close?after=0.3'), timeout => 5, response_callback => sub { $ok = !$_[2] } });
        $run->(5, sub { $ok });
        ok($ok, 'response');
        is($idle_pool->size, 1, 'its connection stays open, idle');
        my $t0 = time;
        my $gone;
        my $other = $h{every}->(0.05, sub { $gone //= time if $idle_pool->size == 0 });
        $run->(3, sub { $gone });
        undef $other;
        is($idle_pool->size, 0, 'the connection the server closed is dropped');
        cmp_ok(($gone // 99) - $t0, '<', 1.5, 'when the server closed it (after ' . sprintf('%.2f', ($gone // 99) - $t0) . ' s), not at an idle timeout');
    };

    subtest 'a Uvent callback that dies' => sub {
        my ($after, $hit);
        my @errors = $h{caught}->(sub {
            $pool->request({ uri => $srv->url('/ok'), timeout => 5,
                response_callback => sub { $hit = 1; die "boom from a callback\n" } });
            $run->(5, sub { $hit }); # ends early where the exception leaves the host loop
        });
        ok($hit, 'the callback ran');
        is(scalar(grep { /boom from a callback/ } @errors), 1, 'surfaces once, the host\'s way') or diag explain \@errors;
        $pool->request({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub { $after = !$_[2] } });
        $run->(5, sub { $after });
        ok($after, 'the Uvent loop stays usable: the next request completes');
    };

    subtest 'callbacks that drop their pool, detach, or re-attach' => sub {
        my ($dropped, $after);
        {
            my $p = Uvent::HTTP::Pool->new({}, $loop);
            my $holder = \$p;
            $p->request({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub { $dropped = !$_[2]; undef $$holder } });
        }
        $run->(5, sub { $dropped });
        ok($dropped, 'a callback dropped the last reference to its pool');
        my ($in_cb, $second);
        $pool->request({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub {
            $in_cb = 1;
            $adapter->detach;
            $adapter = $h{attach}->($loop);
            $pool->request({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub { $second = !$_[2] } });
        } });
        $run->(5, sub { $second });
        ok($in_cb && $second, 'a callback detached and attached again, and its next request completed');
        isa_ok($adapter, $h{class});
        is($h{attach}->($loop), $adapter, 'the new adapter drives the loop');
    };

    subtest 'Future: request_f and ->get through the host loop' => sub {
        plan skip_all => 'Future is not installed' unless eval { require Future; 1 };
        my $res = $pool->request_f({ uri => $srv->url('/ok?size=3') })->get;
        is($res->body, 'xxx', '->get runs the host loop until done');
        my @all = Future->needs_all(map { $pool->request_f({ uri => $srv->url("/ok?size=$_") }) } 1 .. 10)->get;
        is(join(',', map { length $_->body } @all), join(',', 1 .. 10), 'needs_all over 10');
        eval { Uvent::Future->_on_loop($loop)->get };
        like($@, qr{\AUvent::Future->get: nothing is pending on its Uvent loop, so it can never complete at t/lib/Uvent/Test/Adapter\.pm line \d+\.$},
            'a future nothing can complete croaks, naming the caller');
        my $other_done;
        $pool->request({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub { $other_done = 1 } });
        eval { Uvent::Future->_on_loop($loop)->get };
        ok($other_done, 'waiting, the host loop ran the pending request');
        like($@, qr{\AUvent::Future->get: nothing is pending}, 'then, with nothing left that could settle it, croaks');
    };

    subtest 'idle CPU: 100 idle keep-alive connections, the host loop running other timers' => sub {
        # one select() server for the 100 (the forking test server would fork 100 children)
        my $raw = raw_server(backlog => 128);
        my $idle_pool = Uvent::HTTP::Pool->new({ max_connections => 100, timeout => 60 }, $loop);
        my $done = 0;
        $idle_pool->request({ uri => "http://127.0.0.1:$raw->{port}/", timeout => 20, response_callback => sub { $done++ } })
            for 1 .. 100;
        $run->(30, sub { $done == 100 });
        is($done, 100, '100 requests done');
        is($idle_pool->size, 100, '100 idle keep-alive connections');
        my $seconds = extended_testing() ? 5 : 0.6;
        my $wakeups = 0;
        no warnings 'redefine';
        my $ready = \&Uvent::Loop::Adapter::_ready;
        local *Uvent::Loop::Adapter::_ready = sub { $wakeups++; goto &$ready };
        my $ticks = 0;
        my $tick_every = $h{idle_tick} // 0.1;
        my $other = $h{every}->($tick_every, sub { $ticks++ });
        # times counts in clock ticks (10 ms here); the process CPU clock is exact
        my $clock = eval { Time::HiRes::CLOCK_PROCESS_CPUTIME_ID() };
        my @t0 = times;
        my $c0 = defined $clock ? Time::HiRes::clock_gettime($clock) : undef;
        $run->($seconds, sub { 1 }, $seconds); # the run stops at its first check, at the end
        my $c1 = defined $clock ? Time::HiRes::clock_gettime($clock) : undef;
        my @t1 = times;
        undef $other;
        my $cpu = ($t1[0] - $t0[0]) + ($t1[1] - $t0[1]);
        # the host loop's own wake-ups cost CPU too: 0.2-0.4 ms each on a
        # loaded 2-core VM, so its timers tick ten times a second here
        # (five under IO::Async::Loop::Poll, whose loop_once is pure Perl)
        cmp_ok($ticks, '>=', int($seconds / $tick_every / 2), "the host's timers ran ($ticks ticks of "
            . $tick_every * 1000 . ' ms)');
        SKIP: {
            skip 'no CLOCK_PROCESS_CPUTIME_ID', 1 unless defined $clock;
            cmp_ok(($c1 - $c0) * 1000, '<', 20, sprintf('under 20 ms of CPU in %s s by the process CPU clock (%.2f ms)',
                $seconds, ($c1 - $c0) * 1000));
        }
        # times counts user and system time each in whole ticks, so it can
        # show up to two ticks more than was used
        my $tick = 1000 / (eval { POSIX::sysconf(POSIX::_SC_CLK_TCK()) } || 100);
        cmp_ok($cpu * 1000, '<', 20 + 2 * $tick, sprintf('and by times (%.0f ms, in ticks of %.0f ms)', $cpu * 1000, $tick));
        cmp_ok($wakeups, '<=', 5, "the adapter woke $wakeups times");
        is($idle_pool->size, 100, 'the connections are still open');
        undef $idle_pool;
        raw_stop($raw);
    };

    subtest 'detach' => sub {
        $adapter->detach;
        is($loop->driver, undef, 'no driver');
        is($adapter->uvent_loop, undef, 'the adapter lets go of the loop');
        my $done;
        $pool->request({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub { $done = !$_[2] } });
        $run->(0.15, sub { $done });
        ok(!$done, 'the host loop no longer runs it');
        run_until($loop, sub { $done }, 5);
        ok($done, 'Uvent::Loop->run works again');
        $adapter->detach;
        pass('detaching twice is harmless');
        my $again = $h{attach}->($loop);
        isa_ok($again, $h{class}, 'attach again after detach');
        $again->detach;
    };

    $srv->stop;
}

1;
