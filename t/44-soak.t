# Bounded soak: SOAK_SECONDS (default 10) of traffic, at most 200 000
# requests, with a light mix of faults. RSS must be flat after warm-up,
# file descriptors back to baseline, every request called back once.
# Without EXTENDED_TESTING, RELEASE_TESTING or SOAK_SECONDS it is brief:
# 250 requests (bounded at 30 s), RSS sampled every 50.
#   SOAK_SECONDS=600 prove -b -I t/lib t/44-soak.t     # by hand, longer
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Chaos;
use Uvent::Test::Util qw(extended_testing);

my $full = extended_testing() || defined $ENV{SOAK_SECONDS};
my $seconds = $full ? $ENV{SOAK_SECONDS} // 10 : 30;
# the full run's count depends on the machine's speed and load (CI runs it
# beside valgrind): it must reach a few hundred, sampled often enough
my ($requests, $every, $min_sent) = $full ? (200_000, 100, 500) : (250, 50, 250);
my $seed = $ENV{UVENT_CHAOS_SEED} // $$;
srand $seed;
diag $full ? "soak for $seconds s, seed $seed" : "brief soak: $requests requests, seed $seed (EXTENDED_TESTING=1 for 10 s)";

my $srv  = Uvent::Test::Server->new;
my $loop = Uvent::Loop->new;
{   # warm-up outside the measurement: the loop's reserve descriptor, Perl's arenas
    my $p = Uvent::HTTP::Pool->new({}, $loop);
    $p->request({ uri => $srv->url('/ok'), response_callback => sub { } }) for 1 .. 50;
    $loop->run;
    $p->shutdown;
    $loop->run;
}
my $fds_before = Uvent::Test::Chaos::open_fds();
my @samples;    # [done, rss_kb]
my $r = Uvent::Test::Chaos::run(
    server => $srv, loop => $loop, requests => $requests, seconds => $seconds, in_flight => 64,
    faults => 0.15,
    on_progress => sub { push @samples, [$_[0], Uvent::Test::Chaos::rss_kb()] if $_[0] % $every == 0 },
);

cmp_ok($r->{sent}, '>=', $min_sent, "sent $r->{sent} requests (at least $min_sent) within $seconds s");
is($r->{done}, $r->{sent}, 'as many callbacks as requests');
is(scalar @{ $r->{wrong} }, 0, 'every request got exactly one callback');
is_deeply($r->{counters}, { size => 0, nbusy => 0, nqueued => 0 }, 'pool counters back to zero');
is(Uvent::Test::Chaos::open_fds(), $fds_before, 'file descriptors back to the baseline');

# flat after warm-up: compare the first third with the end
my $warm = $samples[ int(@samples / 3) ];
my $end  = $samples[-1];
ok(@samples >= 3, scalar(@samples) . ' RSS samples');
my $growth = $end->[1] - $warm->[1];
cmp_ok($growth, '<', 3072, "RSS growth after warm-up: $growth KB ($warm->[1] KB at $warm->[0], $end->[1] KB at $end->[0])");
diag 'errors: ' . join(', ', map {"$_=$r->{errors}{$_}"} sort keys %{ $r->{errors} });

done_testing;
