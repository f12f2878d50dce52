package Uvent::Test::Chaos;
# Random traffic with injected faults for the exactly-once and soak tests:
# random routes of the scriptable server (resets, stalls, garbage, early
# closes, slow and big responses), random timeouts, random cancels, pools
# shut down or dropped mid-flight. Counts callbacks per request.
use strict;
use warnings;
use Uvent;

my @ROUTES = (
    ['/ok', 30], ['/ok?size=5000', 5], ['/chunked?trailers=1', 5], ['/big?size=70000', 3],
    ['/drop', 5], ['/reset', 5], ['/drop-second', 8], ['/stall', 3], ['/garbage', 3],
    ['/sleep?s=0.02', 6], ['/trickle?delay=0.002', 2], ['/idle-close?after=0.01', 6],
    ['/idle-reset?after=0.01', 6], ['/unsolicited?after=0.01', 3], ['/close-delimited', 3],
    ['/keepalive-max?n=2', 4], ['/status/204', 2], ['/1xx', 2],
);
my $TOTAL_WEIGHT = 0;
$TOTAL_WEIGHT += $_->[1] for @ROUTES;

sub pick_route {
    my $r = rand $TOTAL_WEIGHT;
    for (@ROUTES) { return $_->[0] if ($r -= $_->[1]) < 0 }
    return '/ok';
}

sub open_fds {
    opendir my $d, '/proc/self/fd' or return -1;
    my $n = grep { /^\d+$/ } readdir $d;
    return $n;
}

sub rss_kb {
    open my $fh, '<', '/proc/self/status' or return 0;
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+)/ }
    return 0;
}

# run(server => $srv, loop => $loop, requests => N, seconds => S, in_flight => C,
#     faults => 0..1 (probability scale), on_progress => sub { ($done) },
#     pool_requests => M (optional: a new pool, with new random settings, every
#     M requests; the old one finishes what it has. Short runs use it to see
#     several pool settings, as long runs do through the random pool faults))
# Returns { sent, done, ok, wrong => [ids whose callback count is not 1],
#           errors => {code => n}, counters => {size, nbusy, nqueued} }.
# Callback counts live in one byte per request (vec), so the bookkeeping
# itself stays small in long soak runs.
sub run {
    my (%a) = @_;
    my ($srv, $loop) = @a{qw(server loop)};
    my $faults   = $a{faults} // 1;
    my $deadline = Time::HiRes::time() + $a{seconds};
    my ($calls, %errors, @pools, $sent, $done, $ok) = ('');
    $sent = $done = $ok = 0;
    my $new_pool = sub {
        my $p = Uvent::HTTP::Pool->new({
            max_connections => 1 + int rand 6,
            timeout         => rand() < 0.5 ? 0.05 + rand 0.3 : 60,
            (rand() < 0.3 ? (max_queue => 5 + int rand 20) : ()),
            (rand() < 0.3 ? (queue_timeout => 0.05 + rand 0.5) : ()),
            (rand() < 0.2 ? (max_lifetime => 0.05 + rand 0.5) : ()),
            (rand() < 0.2 ? (max_requests_per_connection => 1 + int rand 5) : ()),
            %{ $a{pool_config} // {} },
        }, $loop);
        push @pools, $p;
        return $p;
    };
    my $pool = $new_pool->();
    my $send;
    $send = sub {
        return if $sent >= $a{requests} || Time::HiRes::time() > $deadline;
        my $id    = $sent++;
        my $route = rand() < $faults ? pick_route() : '/ok';
        my $req   = Uvent::HTTP::Request->new({
            uri     => $srv->url($route),
            method  => rand() < 0.2 ? 'POST' : 'GET',
            (rand() < 0.2 ? (body => 'x' x int rand 3000) : ()),
            timeout => rand() < 0.5 ? 0.05 + rand 0.5 : 2,
            (rand() < 0.1 ? (retry => 0) : ()),
            response_callback => sub {
                my (undef, $res, $err) = @_;
                vec($calls, $id, 8) = vec($calls, $id, 8) + 1 if vec($calls, $id, 8) < 255;
                $done++;
                if ($err) { $errors{ $err->code }++ } else { $ok++ }
                $a{on_progress}->($done) if $a{on_progress};
                $send->();
            },
        });
        my $pool_now = $pool;
        $pool_now->request($req);
        if (rand() < 0.08 * $faults) {
            my $t; $t = Uvent::Timer->once(rand 0.1, sub { undef $t; $req->cancel }, $loop);
        }
        if ($a{pool_requests} && $sent % $a{pool_requests} == 0) {
            $pool = $new_pool->();
        } elsif (rand() < 0.004 * $faults) {
            # now and then: shut the pool down, or just drop it, with requests in flight
            if (rand() < 0.5) { $pool->shutdown } else { @pools = grep { $_ != $pool } @pools }
            $pool = $new_pool->();
        }
    };
    $send->() for 1 .. $a{in_flight};
    # keep the loop going until every sent request has called back
    my $watchdog = Uvent::Timer->once($a{seconds} + 30, sub { $loop->stop }, $loop);
    my $guard = Uvent::Timer->new($loop);
    $guard->start(0.05, 0.05, sub {
        $send->() while $done == $sent && $sent < $a{requests} && Time::HiRes::time() < $deadline;
        if ($done == $sent && ($sent >= $a{requests} || Time::HiRes::time() > $deadline)) {
            $guard->stop;
            $watchdog->stop;
        }
    });
    $loop->run;
    undef $send;
    $_->shutdown for @pools;
    my %counters = map { ($_ => 0) } qw(size nbusy nqueued);
    for my $p (@pools) { $counters{$_} += $p->$_ for keys %counters }
    @pools = ();
    $loop->run;
    my @wrong = grep { vec($calls, $_, 8) != 1 } 0 .. $sent - 1;
    return { sent => $sent, done => $done, ok => $ok, wrong => \@wrong, errors => \%errors, counters => \%counters };
}

1;
