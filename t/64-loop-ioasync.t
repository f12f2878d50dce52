# Uvent::Loop::IOAsync: the behaviour every adapter has
# (Uvent::Test::Adapter), a second IO::Async loop refused, removing the
# notifier detaching, and an exception leaving $ioa->run.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
BEGIN {
    plan skip_all => 'IO::Async is not installed (Debian: libio-async-perl)'
        unless eval { require IO::Async::Loop; require IO::Async::Timer::Periodic; 1 };
}
use IO::Async::Loop;
use IO::Async::Timer::Periodic;
use Time::HiRes qw(time);
use Uvent;
use Uvent::Loop::IOAsync;
use Uvent::Test::Adapter qw(run_adapter_tests guard);
use Uvent::Test::Server;

my $ioa = IO::Async::Loop->new;
diag('IO::Async loop: ' . ref $ioa);

my $every = sub {
    my ($s, $cb) = @_;
    my $t = IO::Async::Timer::Periodic->new(interval => $s, on_tick => $cb);
    $ioa->add($t);
    $t->start;
    return guard(sub { $ioa->remove($t) });
};

run_adapter_tests(
    name   => 'IO::Async (' . ref($ioa) . ')',
    class  => 'Uvent::Loop::IOAsync',
    attach => sub { Uvent::Loop::IOAsync->attach($ioa, @_) },
    run    => sub {
        my ($seconds, $until, $check) = @_;
        my $end = time + $seconds;
        my $g = $every->($check // 0.005, sub { $ioa->stop if $until->() || time > $end });
        $ioa->run;
    },
    every  => $every,
    caught => sub {
        my ($code) = @_;
        return eval { $code->(); 1 } ? () : ($@);
    },
    serves_idle => 1,
    idle_tick => 0.2,
    second_host => sub { Uvent::Loop::IOAsync->attach($_[0], IO::Async::Loop->really_new) },
);

subtest 'the adapter is a notifier of the loop; removing it detaches' => sub {
    my $srv = Uvent::Test::Server->new;
    my $loop = Uvent::Loop->new;
    my $adapter = Uvent::Loop::IOAsync->attach($ioa, $loop);
    isa_ok($adapter, 'IO::Async::Notifier');
    is($adapter->loop, $ioa, 'added to the IO::Async loop');
    is($adapter->uvent_loop, $loop, 'driving the Uvent loop');
    my $done;
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    $pool->request({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub { $done = !$_[2]; $ioa->stop } });
    my $guard = $ioa->watch_time(after => 10, code => sub { $ioa->stop });
    $ioa->run;
    $ioa->unwatch_time($guard);
    ok($done, 'a request completes under $ioa->run');
    $ioa->remove($adapter);
    is($loop->driver, undef, '$ioa->remove detached it');
    ok(!$adapter->loop, 'and it is no longer in the loop');
    $srv->stop;
};

done_testing;
