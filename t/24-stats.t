# $pool->stats: counters of requests, responses, errors, connections and the queue.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;

my $srv  = Uvent::Test::Server->new;
my $loop = Uvent::Loop->new;
my $pool = Uvent::HTTP::Pool->new({ max_connections => 2, timeout => 0.3 }, $loop);
my $done = 0;
my $cb   = sub { $done++ };

$pool->request({ uri => $srv->url('/ok'), response_callback => $cb }) for 1 .. 6;
$pool->request({ uri => $srv->url('/garbage'), timeout => 5, response_callback => $cb });
$loop->run;
is($done, 7, 'all callbacks ran');

my $s = $pool->stats;
is($s->{requests}, 7, 'requests submitted');
is($s->{responses}, 6, 'responses');
is($s->{errors}{protocol}, 1, 'one protocol error');
is($s->{errors}{timeout}, 0, 'no timeouts');
is($s->{connections_opened}, 2, 'two connections opened for six requests to one destination')
    or diag explain $s;
is($s->{reused}, 5, 'five requests ran on an already used connection');
is($s->{max_queued}, 5, 'queue was five long at most');
is($s->{queued}, 0, 'nothing queued now');
cmp_ok($s->{queue_wait}, '>=', 0, 'queue wait is a number of seconds');

# idle connections close by timeout (pool timeout 0.3 s)
Uvent::Timer->once(0.6, sub { }, $loop);
$loop->run;
$s = $pool->stats;
is($s->{idle_closed_timeout}, 1, 'the idle connection closed by the idle timeout (the other was discarded after the protocol error)');
is($s->{connections_closed}, $s->{connections_opened}, 'every opened connection closed');

# the server closing an idle connection is counted separately
$pool->request({ uri => $srv->url('/idle-close?after=0.05'), response_callback => $cb });
$loop->run;
Uvent::Timer->once(0.25, sub { }, $loop);
$loop->run;
is($pool->stats->{idle_closed_peer}, 1, 'idle connection closed by the server');

done_testing;
