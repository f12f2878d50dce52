#!/usr/bin/env perl
# bench/queue.pl - the cost of queuing: N requests submitted to one
# destination behind max_connections => 1, against a listener on 127.0.0.1
# that accepts nothing (the kernel completes the first connection; no byte
# ever comes back, and nothing leaves the machine). Each request has a
# deadline (timeout), so every one of them is a queued request the pool's
# queue timer must watch.
#
#   perl -Mblib bench/queue.pl [--total 100000] [--batch 1000] [--marks 1000,10000,100000]
#                              [--warmup 100] [--limit 600] [--skip-expire] [--json]
#
# Reports the wall and CPU time per request() call of the batch of --batch
# requests submitted just before the queue reached each mark (so at 1,000
# queued: requests 1 to 1,000, at 10,000: 9,001 to 10,000, ...), the ratio
# of the slowest batch to the fastest (flat: within 2x), then the time to
# cancel them all (one shutdown) and, unless --skip-expire, to let a second
# such queue expire (queue_timeout). Bounded: each phase stops submitting
# after --limit seconds (default 600).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../blib/lib", "$FindBin::Bin/../blib/arch";
use Getopt::Long;
use IO::Socket::INET;
use JSON::PP;
use List::Util qw(max min);
use Time::HiRes qw(time clock_gettime CLOCK_PROCESS_CPUTIME_ID);
use Uvent;

my %opt = (total => 100_000, batch => 1000, marks => '1000,10000,100000', limit => 600, warmup => 100);
GetOptions(\%opt, 'total=i', 'batch=i', 'marks=s', 'limit=f', 'warmup=i', 'skip-expire', 'json')
    or die "usage: bench/queue.pl [--total N] [--batch N] [--marks N,N,...] [--warmup N] [--limit SECONDS]"
    . " [--skip-expire] [--json]\n";
my @marks = grep { $_ <= $opt{total} && $_ >= $opt{batch} } split /,/, $opt{marks};
die "bench/queue.pl: no mark between --batch and --total\n" unless @marks;

my $cpu = sub { clock_gettime(CLOCK_PROCESS_CPUTIME_ID) };

# A listener that never accepts: the first connection completes in the
# kernel's backlog, its request sits unread, every other request queues.
my $lsock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 8, Proto => 'tcp')
    or die "bench/queue.pl: cannot listen on 127.0.0.1: $@\n";
my $url = 'http://127.0.0.1:' . $lsock->sockport . '/q';

# One phase: submit --total requests, timing the batches that end at the marks.
sub submit_all {
    my ($pool, $params, $calls) = @_;
    my %mark = map { $_ => 1 } @marks;
    my (%at, $t0, $c0);
    my $start = time;
    my $cb = sub { $$calls++ };
    for my $i (1 .. $opt{total}) {
        if ($mark{ $i - 1 + $opt{batch} }) { $t0 = time; $c0 = $cpu->() }
        $pool->request({ uri => $url, %$params, response_callback => $cb });
        if ($mark{$i}) {
            $at{$i} = { wall_us => (time - $t0) / $opt{batch} * 1e6, cpu_us => ($cpu->() - $c0) / $opt{batch} * 1e6,
                        queued => $pool->nqueued };
        }
        if (time - $start > $opt{limit}) {
            warn "bench/queue.pl: stopped after $i requests (--limit $opt{limit} s)\n";
            last;
        }
    }
    return (\%at, time - $start, $pool->nqueued + 1);
}

my %result = (total => $opt{total}, batch => $opt{batch}, marks => \@marks, warmup => $opt{warmup});

# Warm-up: a few requests on a throw-away pool first, so the first batch
# does not pay for what only the first requests of a process do.
if ($opt{warmup}) {
    my $loop = Uvent::Loop->new;
    my $pool = Uvent::HTTP::Pool->new({ max_connections => 1 }, $loop);
    $pool->request({ uri => $url, timeout => 3600, response_callback => sub {} }) for 1 .. $opt{warmup};
    $pool->shutdown;
}

# Phase 1: submit, then cancel everything with one shutdown.
{
    my $loop = Uvent::Loop->new;
    my $pool = Uvent::HTTP::Pool->new({ max_connections => 1 }, $loop);
    my $calls = 0;
    my ($at, $secs, $submitted) = submit_all($pool, { timeout => 3600 }, \$calls);
    $result{submitted} = $submitted;
    my $queued = $pool->nqueued;
    my ($t0, $c0) = (time, $cpu->());
    $pool->shutdown;
    my ($cancel, $cancel_cpu) = (time - $t0, $cpu->() - $c0);
    $result{submit} = $at;
    $result{submit_seconds} = $secs;
    $result{shutdown_us} = $cancel / ($queued + 1) * 1e6;
    $result{shutdown_cpu_us} = $cancel_cpu / ($queued + 1) * 1e6;
    $result{shutdown_callbacks} = $calls;
    $result{shutdown_expected} = $queued + 1;
}

# Phase 2: the same queue, left to expire through queue_timeout.
if (!$opt{'skip-expire'}) {
    my $loop = Uvent::Loop->new;
    my $pool = Uvent::HTTP::Pool->new({ max_connections => 1, queue_timeout => 0.5 }, $loop);
    my $calls = 0;
    my ($at) = submit_all($pool, { timeout => 3600 }, \$calls);
    my $queued = $pool->nqueued;
    my $stop = Uvent::Timer->new($loop);
    my $deadline = time + 60;
    $stop->start(0.01, 0.01, sub { $loop->stop if $pool->nqueued == 0 || time > $deadline });
    my ($t0, $c0) = (time, $cpu->());
    $loop->run;
    my ($expire, $expire_cpu) = (time - $t0, $cpu->() - $c0);
    $stop->stop;
    $result{expire_submit} = $at;
    $result{expire_seconds} = $expire;
    $result{expire_cpu_us} = $queued ? $expire_cpu / $queued * 1e6 : 0;
    $result{expired_callbacks} = $calls;
    $result{expire_expected} = $queued;
    $pool->shutdown;
}

# flat or not is judged on CPU time: wall time also counts the other
# processes of a shared machine
my @cpu = map { $result{submit}{$_}{cpu_us} } grep { $result{submit}{$_} } @marks;
$result{flat_ratio} = @cpu && min(@cpu) > 0 ? max(@cpu) / min(@cpu) : 0;

if ($opt{json}) {
    print JSON::PP->new->canonical->encode(\%result), "\n";
    exit 0;
}
printf "queue: %d requests to one destination behind max_connections => 1 (listener on 127.0.0.1 that never answers)\n",
    $opt{total};
printf "  %-9s %12s %12s\n", 'queued', 'wall us/req', 'CPU us/req';
for my $m (@marks) {
    my $r = $result{submit}{$m} or next;
    printf "  %-9d %12.2f %12.2f\n", $m, $r->{wall_us}, $r->{cpu_us};
}
printf "  slowest/fastest batch (CPU): %.2fx (flat within 2x: %s)\n", $result{flat_ratio},
    $result{flat_ratio} && $result{flat_ratio} <= 2 ? 'yes' : 'NO';
printf "  %d submitted in %.2f s; shutdown: %.2f us (CPU %.2f us) per cancelled request, %d of %d callbacks\n",
    $result{submitted}, $result{submit_seconds}, $result{shutdown_us}, $result{shutdown_cpu_us}, $result{shutdown_callbacks},
    $result{shutdown_expected};
printf "  queue_timeout 0.5 s: %d of %d queued requests expired, %.2f s from the first loop run (CPU %.2f us each)\n",
    $result{expired_callbacks}, $result{expire_expected}, $result{expire_seconds}, $result{expire_cpu_us}
    if defined $result{expire_seconds};
