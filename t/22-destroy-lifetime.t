use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use Scalar::Util qw(weaken);
use File::Temp qw(tempfile);
use POSIX qw(WNOHANG);
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Util qw(run_until run_for wait_all start_req fetch ecode body hdr response_ok);

my @warnings;
$SIG{__WARN__} = sub { push @warnings, $_[0] };

# ---- helpers: every loop run is bounded by a deadline ----

my $srv  = Uvent::Test::Server->new;
my $port = $srv->port;
my $loop = Uvent::Loop->new;

subtest 'destroy a pool inside its own callback' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    weaken(my $wp = $pool);
    my ($n1, $n2, $resp2, $err2) = (0, 0);
    $pool->request({
        uri => $srv->url('/ok'), timeout => 5,
        response_callback => sub { $n1++; undef $pool },
    });
    $pool->request({
        uri => $srv->url('/sleep?s=0.3'), timeout => 5,
        response_callback => sub { $n2++; (undef, $resp2, $err2) = @_ },
    });
    ok(run_until($loop, sub { $n1 && $n2 }, 5), 'both called back');
    run_for($loop, 0.05);
    is($n1, 1, 'first callback once');
    is($n2, 1, 'the other in-flight request still completed once');
    ok(!$err2, 'with success') or diag("$err2");
    is($resp2 && $resp2->code, 200, 'code 200');
    ok(!defined $wp, 'pool object freed');
    my $t0 = time;
    $loop->run;
    cmp_ok(time - $t0, '<', 0.5, 'nothing left on the loop');
};

subtest 'drop the pool with requests running and queued' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 2 }, $loop);
    weaken(my $wp = $pool);
    my @r = map { start_req($pool, uri => $srv->url("/sleep?s=0.2&n=$_")) } 1 .. 3;
    is_deeply([ map { $_->{queued} } @r ], [ 0, 0, 1 ], 'two running, one queued');
    undef $pool;
    ok(wait_all($loop, @r), 'all called back after the pool was dropped');
    response_ok($_, $_->{uri}) for @r;
    run_for($loop, 0.05);
    is($_->{calls}, 1, 'one callback') for @r;
    is($srv->requests, 3, 'server saw all three');
    ok(!defined $wp, 'pool object gone');
    my $t0 = time;
    $loop->run;
    cmp_ok(time - $t0, '<', 0.5, 'no idle connection keeps anything pending');
};

subtest 'drop a pool holding idle connections' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/ok'));
    response_ok($r, 'request');
    is($pool->size, 1, 'one idle connection');
    weaken(my $wp = $pool);
    undef $pool;
    ok(!defined $wp, 'pool freed at once');
    my $t0 = time;
    $loop->run;
    cmp_ok(time - $t0, '<', 0.5, 'loop run returns');
};

subtest 'drop request objects while in flight' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my ($n, $greq, $resp, $err) = (0);
    {
        my $req = Uvent::HTTP::Request->new({
            uri => $srv->url('/sleep?s=0.1'), timeout => 5,
            response_callback => sub { $n++; ($greq, $resp, $err) = @_ },
        });
        $pool->request($req);
    }
    ok(run_until($loop, sub { $n }, 5), 'callback ran');
    run_for($loop, 0.05);
    is($n, 1, 'exactly once');
    ok(!$err, 'success');
    isa_ok($greq, 'Uvent::HTTP::Request', 'callback still gets the request object');
    is($greq && $greq->uri, $srv->url('/sleep?s=0.1'), 'intact');
    is($resp && $resp->code, 200, 'response');
};

subtest 'drop the Client object' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $n = 0;
    my $err;
    {
        my $c = $pool->request({ uri => $srv->url('/sleep?s=0.1'), timeout => 5, response_callback => sub { $n++; $err = $_[2] } });
        isa_ok($c, 'Uvent::HTTP::Client');
        undef $c;
    }
    ok(run_until($loop, sub { $n }, 5), 'request completed');
    is($n, 1, 'once');
    ok(!$err, 'success');

    # a Client kept after its pool is gone stays a safe object
    my $p2 = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $m = 0;
    my $client = $p2->request({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub { $m++ } });
    ok(run_until($loop, sub { $m }, 5), 'completed');
    undef $p2;
    run_for($loop, 0.05);
    my $dest = eval { $client->destination };
    is($dest, "http://127.0.0.1:$port", 'destination still readable');
    my $served = eval { $client->requests_served };
    is($served, 1, 'requests_served still readable');
    my $busy = eval { $client->busy };
    ok(!$busy, 'not busy');
    eval { $client->pool; $client->loop };    # may return undef or croak, must not crash
    undef $client;
    pass('client accessors and destruction after its pool is gone did not crash');
};

subtest 'start new requests from inside a callback' => sub {
    for my $max (1, 10) {
        $srv->reset_stats;
        my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => $max }, $loop);
        my @results;
        my $next;
        $next = sub {
            my $i = shift;
            $pool->request({
                uri => $srv->url("/ok?chain=$i"), timeout => 5,
                response_callback => sub {
                    my (undef, $resp, $err) = @_;
                    push @results, [ $i, $err ? $err->code : $resp->body ];
                    $next->($i + 1) if $i < 5;
                },
            });
        };
        $next->(1);
        ok(run_until($loop, sub { @results >= 5 }, 10), "max_connections $max: chain of 5 completed");
        run_for($loop, 0.05);
        is_deeply(\@results, [ map { [ $_, 'ok' ] } 1 .. 5 ], 'each once, in order, successful');
        cmp_ok($srv->connections, '<=', 2, 'connections reused');
        is_deeply([ $pool->nbusy, $pool->nqueued ], [ 0, 0 ], 'counters');
        undef $next;
    }
};

subtest 'cancel another request from inside a callback' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my @events;
    my $stalled = Uvent::HTTP::Request->new({
        uri => $srv->url('/stall'), timeout => 10,
        response_callback => sub { push @events, [ 'stalled', $_[2] ? $_[2]->code : 'ok' ] },
    });
    $pool->request($stalled);
    my $first;
    $first = Uvent::HTTP::Request->new({
        uri => $srv->url('/ok'), timeout => 5,
        response_callback => sub {
            push @events, [ 'first', $_[2] ? $_[2]->code : 'ok' ];
            $stalled->cancel;
            $first->cancel;    # own, already finishing: no-op
            push @events, ['first-end'];
        },
    });
    $pool->request($first);
    my $t0 = time;
    ok(run_until($loop, sub { @events >= 3 }, 5), 'callbacks ran');
    run_for($loop, 0.05);
    cmp_ok(time - $t0, '<', 3, 'did not wait for the stalled request timeout');
    is_deeply(\@events, [ [ 'first', 'ok' ], [ 'stalled', 'cancelled' ], ['first-end'] ],
        'cancel ran the other callback synchronously, once; own cancel was a no-op');
    ok(run_until($loop, sub { $pool->size <= 1 }, 2), 'cancelled connection discarded');
    is_deeply([ $pool->nbusy, $pool->nqueued ], [ 0, 0 ], 'counters');
    undef $first;
};

subtest 'shutdown the pool from inside a callback' => sub {
    my $srv2 = Uvent::Test::Server->new;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 2 }, $loop);
    my @st   = map { start_req($pool, uri => $srv->url("/stall?n=$_")) } 1 .. 2;
    my $q    = start_req($pool, uri => $srv->url('/ok?queued=1'));
    ok($q->{queued}, 'third request to the stalling server is queued');
    my ($n, $trigger_err) = (0);
    $pool->request({
        uri => $srv2->url('/sleep?s=0.2'), timeout => 5,
        response_callback => sub { $n++; $trigger_err = $_[2]; $pool->shutdown },
    });
    ok(run_until($loop, sub { $n && !grep { !$_->{calls} } @st, $q }, 5), 'everything called back');
    run_for($loop, 0.05);
    is($n, 1, 'the callback that shut the pool down ran once');
    ok(!$trigger_err, 'and its own request had succeeded');
    is(ecode($_), 'cancelled', "$_->{uri}: cancelled by shutdown") for @st, $q;
    is($_->{calls}, 1, 'once') for @st, $q;
    ok(run_until($loop, sub { $pool->size == 0 }, 2), 'all connections closed');
    is_deeply([ $pool->nbusy, $pool->nqueued ], [ 0, 0 ], 'counters');
    $srv2->stop;
};

subtest 'a loop dropped with a pool and a request on it' => sub {
    my ($n, $code) = (0);
    {
        my $l = Uvent::Loop->new;
        my $p = Uvent::HTTP::Pool->new({}, $l);
        $p->request({ uri => $srv->url('/stall'), timeout => 5, response_callback => sub { $n++; $code = $_[2] ? $_[2]->code : 'ok' } });
    }
    pass('dropping them did not crash');
    cmp_ok($n, '<=', 1, 'callback ran at most once');
    is($code, 'cancelled', 'and if it ran, it was cancelled') if $n;
};

# ---- global destruction in a subprocess ----

sub run_child {
    my ($code) = @_;
    my (undef, $out) = tempfile(UNLINK => 1);
    my (undef, $errf) = tempfile(UNLINK => 1);
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open STDOUT, '>', $out;
        open STDERR, '>', $errf;
        exec($^X, (map { "-I$_" } grep { !ref } @INC), q{-e}, $code, $port) or POSIX::_exit(127);
    }
    my $deadline = time + 30;
    my $done;
    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) { $done = 1; last }
        sleep 0.05;
    }
    unless ($done) { kill 'KILL', $pid; waitpid($pid, 0) }
    my $status = $?;
    my $slurp = sub { open my $fh, '<', $_[0] or return ''; local $/; my $s = <$fh>; $s // '' };
    return { done => $done, status => $status, out => $slurp->($out), err => $slurp->($errf) };
}

my $child_setup = <<'CODE';
use strict; use warnings;
use Uvent;
use Uvent::HTTP qw(http_request);
my $port = shift;
my $u = sub { "http://127.0.0.1:$port$_[0]" };
my $loop = Uvent::Loop->default;
our $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 2 }, $loop);
our $idle = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
our @reqs;
$idle->request({ uri => $u->('/ok'), timeout => 5, response_callback => sub { } });
for my $path ('/stall', '/sleep?s=5', '/stall', '/stall?q=1') {    # two running, two queued
    $pool->request({ uri => $u->($path), timeout => 30, response_callback => sub { } });
}
push @reqs, Uvent::HTTP::Request->new({ uri => $u->('/stall?obj=1'), timeout => 30, response_callback => sub { } });
$pool->request($reqs[-1]);
http_request({ uri => $u->('/stall?inst=1'), timeout => 30, response_callback => sub { } });
our $other_loop = Uvent::Loop->new;
our $other = Uvent::HTTP::Pool->new({}, $other_loop);
$other->request({ uri => $u->('/stall?other=1'), timeout => 30, response_callback => sub { } });
our $timer = Uvent::Timer->new($loop);
$timer->start(30, 30, sub { });
CODE

subtest 'exit at top level with requests in flight' => sub {
    my $res = run_child($child_setup . <<'CODE');
Uvent::Timer->once(0.5, sub { $loop->stop }, $loop);
$loop->run;
print "ran\n";
exit 0;
CODE
    ok($res->{done}, 'child exited by itself');
    is($res->{status}, 0, 'exit status 0 (no crash, no signal)');
    is($res->{out}, "ran\n", 'stdout');
    is($res->{err}, '', 'nothing on stderr (no warnings)');
};

subtest 'exit inside a response callback with requests in flight' => sub {
    my $res = run_child($child_setup . <<'CODE');
$pool->request({ uri => $u->('/ok?exit=1'), timeout => 30, response_callback => sub { } });    # queued
$idle->request({ uri => $u->('/sleep?s=0.3'), timeout => 30, response_callback => sub { print "exiting\n"; exit 0 } });
$loop->run;
print "not reached\n";
exit 1;
CODE
    ok($res->{done}, 'child exited by itself');
    is($res->{status}, 0, 'exit status 0');
    is($res->{out}, "exiting\n", 'exited from the callback');
    is($res->{err}, '', 'nothing on stderr');
};

subtest 'die at top level with requests in flight' => sub {
    my $res = run_child($child_setup . <<'CODE');
Uvent::Timer->once(0.3, sub { die "bye\n" }, $loop);
$loop->run;
CODE
    ok($res->{done}, 'child exited by itself');
    is($res->{status} & 127, 0, 'no signal');
    isnt($res->{status} >> 8, 0, 'non-zero exit status of an uncaught die');
    is($res->{err}, "bye\n", 'only the die message on stderr');
};

is_deeply(\@warnings, [], 'no warnings') or diag(explain \@warnings);
$srv->stop;
done_testing;
