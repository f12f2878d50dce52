# Property test: thousands of requests with random faults (resets, stalls,
# garbage, early closes, random timeouts, random cancels, pools shut down
# or dropped mid-flight). Every request gets exactly one callback, file
# descriptors return to their baseline, pool counters return to zero.
# UVENT_CHAOS_REQUESTS and UVENT_CHAOS_SEED change the run.
use strict;
use warnings;
use Test::More;
use Time::HiRes ();
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Chaos;

my $seed = $ENV{UVENT_CHAOS_SEED} // int(Time::HiRes::time() * 1000) % 1_000_000;
srand $seed;
diag "seed $seed (set UVENT_CHAOS_SEED to repeat)";

my $srv  = Uvent::Test::Server->new;
my $loop = Uvent::Loop->new;
# warm up: libuv keeps one reserve descriptor per loop (for EMFILE) from its first socket on
{
    my $p = Uvent::HTTP::Pool->new({}, $loop);
    $p->request({ uri => $srv->url('/ok'), response_callback => sub { } });
    $loop->run;
    $p->shutdown;
    $loop->run;
}
my $fds_before = Uvent::Test::Chaos::open_fds();
my $n = $ENV{UVENT_CHAOS_REQUESTS} // 3000;
my $r = Uvent::Test::Chaos::run(server => $srv, loop => $loop, requests => $n, seconds => 60, in_flight => 32);

is($r->{sent}, $n, "sent $n requests");
is($r->{done}, $r->{sent}, 'as many callbacks as requests');
my @wrong = @{ $r->{wrong} };
is(scalar @wrong, 0, 'every request got exactly one callback')
    or diag "requests with != 1 callback: @wrong[0 .. ($#wrong < 9 ? $#wrong : 9)]";
cmp_ok($r->{ok}, '>', $n / 10, "some succeeded despite the faults ($r->{ok})");
cmp_ok(scalar(keys %{ $r->{errors} }), '>=', 4, 'several kinds of failure were exercised: '
    . join(', ', map {"$_=$r->{errors}{$_}"} sort keys %{ $r->{errors} }));
is_deeply($r->{counters}, { size => 0, nbusy => 0, nqueued => 0 }, 'pool counters back to zero');
is(Uvent::Test::Chaos::open_fds(), $fds_before, 'open file descriptors back to the baseline');

done_testing;
