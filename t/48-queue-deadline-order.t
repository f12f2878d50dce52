# Queued requests leave the queue at the earlier of their own timeout and
# the pool's queue_timeout, in that order across destinations, with one
# callback each. Regression: when several were due by the time the queue
# timer ran, they were completed destination by destination (the queue
# was also walked in full on every submit; bench/queue.pl measures that).
# The loop is kept from running (a blocking sleep) until every queued
# request is due, so one timer callback finds them all: the order tested
# is the pool's, not the timer's resolution.
use strict;
use warnings;
use Test::More;
use Time::HiRes ();
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Util qw(start_req run_until);

my @warnings;
$SIG{__WARN__} = sub { push @warnings, $_[0] };

my $srv = Uvent::Test::Server->new;
my @dest = ($srv->url('/stall'), $srv->url_host('localhost', '/stall'));

# Submit a stalled request per destination, then the queued ones
# (uri index, timeout) in the order given, sleep $nap seconds; returns
# them in completion order.
sub expire_all {
    my ($loop, $pool, $nap, @queued) = @_;
    my @stall = map { start_req($pool, uri => $_, timeout => 30) } @dest;
    my (@order, @r);
    for my $i (0 .. $#queued) {
        my ($d, $t) = @{ $queued[$i] };
        my $r = { i => $i, calls => 0 };
        $pool->request({ uri => "$dest[$d]?i=$i", timeout => $t, response_callback => sub {
            push @order, $r unless $r->{calls}++;
            $r->{error} = $_[2];
        } });
        push @r, $r;
    }
    Time::HiRes::sleep($nap);
    ok(run_until($loop, sub { !grep { !$_->{calls} } @r }, 5), 'every queued request called back');
    $pool->shutdown;
    ok(run_until($loop, sub { !grep { !$_->{calls} } @stall }, 5), 'the stalled ones cancelled');
    return @order;
}

subtest 'own timeouts, two destinations' => sub {
    my $loop = Uvent::Loop->new;
    my $pool = Uvent::HTTP::Pool->new({ max_connections => 1 }, $loop);
    # interleaved: destination-by-destination order would be 0 2 4 6 1 3 5 7 (or the reverse halves)
    my @t = (0.16, 0.02, 0.10, 0.08, 0.04, 0.14, 0.12, 0.06);
    my @q = map { [ $_ % 2, $t[$_] ] } 0 .. $#t;
    my @r = expire_all($loop, $pool, 0.26, @q);
    is(scalar @r, 8, 'eight completed');
    is(join(' ', map { $_->{i} } @r), join(' ', sort { $t[$a] <=> $t[$b] } 0 .. $#t), 'in timeout order');
    is(scalar(grep { $_->{calls} == 1 } @r), 8, 'one callback each');
    is(scalar(grep { $_->{error} && $_->{error}->code eq 'timeout' } @r), 8, 'each a timeout');
    is($pool->nqueued, 0, 'nothing left queued');
};

subtest 'own timeouts mixed with queue_timeout, two destinations' => sub {
    my $loop = Uvent::Loop->new;
    my $pool = Uvent::HTTP::Pool->new({ max_connections => 1, queue_timeout => 0.09 }, $loop);
    # the ones above queue_timeout are far above it: when the timer runs,
    # their own deadline has not passed
    my @t = (2, 0.03, 0.07, 3, 0.05, 5, 0.01, 4);
    my @q = map { [ $_ % 2, $t[$_] ] } 0 .. $#t;
    my $due = sub { $t[ $_[0] ] < 0.09 ? $t[ $_[0] ] : 0.09 };
    my @r = expire_all($loop, $pool, 0.19, @q);
    # equal due times (queue_timeout) in the order they were queued
    my @want = sort { $due->($a) <=> $due->($b) || $a <=> $b } 0 .. $#t;
    is(join(' ', map { $_->{i} } @r), "@want", 'by the earlier of timeout and queue_timeout, then first queued');
    my %code = map { $_->{i} => ($_->{error} ? $_->{error}->code : 'none') } @r;
    is(join(' ', map { $code{$_} } 0 .. $#t), join(' ', map { $t[$_] < 0.09 ? 'timeout' : 'queue_timeout' } 0 .. $#t),
        'timeout or queue_timeout, whichever came first');
    is(scalar(grep { $_->{calls} == 1 } @r), 8, 'one callback each');
};

$srv->stop;
is_deeply(\@warnings, [], 'no warnings') or diag(explain \@warnings);
done_testing;
