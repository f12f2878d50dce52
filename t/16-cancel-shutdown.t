use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Util qw(run_until run_for wait_all start_req fetch ecode body hdr response_ok);

# ---- helpers: every loop run is bounded by a deadline ----

my $srv  = Uvent::Test::Server->new;
my $loop = Uvent::Loop->new;

# A Uvent::HTTP::Request object whose callback records into the returned hash.
sub new_req {
    my ($uri, %p) = @_;
    my $r = { calls => 0, uri => $uri };
    $r->{req} = Uvent::HTTP::Request->new({
        uri               => $uri,
        timeout           => 5,
        %p,
        response_callback => sub {
            my ($req, $resp, $err) = @_;
            fail("callback for $uri called more than once") if ++$r->{calls} > 1;
            @$r{qw(response error at)} = ($resp, $err, time);
        },
    });
    return $r;
}

subtest 'cancel a queued request' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 1 }, $loop);
    my $first = start_req($pool, uri => $srv->url('/sleep?s=0.3'));
    my $q     = new_req($srv->url('/ok?cancelled=1'));
    my $ret   = $pool->request($q->{req});
    is($ret, undef, 'second request queued');
    is($pool->nqueued, 1, 'nqueued 1');
    $q->{req}->cancel;
    is($q->{calls}, 1, 'callback ran inside cancel()');
    is(ecode($q), 'cancelled', 'error code cancelled');
    isa_ok($q->{response}, 'Uvent::HTTP::Response', 'callback got a response object');
    is($pool->nqueued, 0, 'left the queue');
    is($pool->nbusy, 1, 'first still running');
    ok(wait_all($loop, $first), 'first completed');
    response_ok($first, 'first');
    run_for($loop, 0.05);
    is($q->{calls}, 1, 'still exactly one callback for the cancelled request');
    is($srv->requests, 1, 'the cancelled request never reached the server');
    ok(!grep({ $_->{target} =~ /cancelled/ } @{ $srv->log }), 'not in the server log');

    # a cancelled (finished) request object can be sent again
    $q->{calls} = 0;
    ok(defined $pool->request($q->{req}), 'sent again: runs on the idle connection');
    ok(wait_all($loop, $q), 'completed');
    is($q->{calls}, 1, 'one callback');
    response_ok($q, 'resent request');
    is(body($q), 'ok', 'body');
};

subtest 'cancel a running request' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = new_req($srv->url('/stall'));
    ok(defined $pool->request($r->{req}), 'running');
    ok(run_until($loop, sub { $srv->requests >= 1 }, 3), 'server got the request');
    is($r->{calls}, 0, 'no callback yet');
    $r->{req}->cancel;
    is($r->{calls}, 1, 'callback ran inside cancel()');
    is(ecode($r), 'cancelled', 'error code cancelled');
    ok(run_until($loop, sub { $pool->size == 0 }, 2), 'its connection was discarded');
    is($pool->nbusy, 0, 'nbusy 0');
    run_for($loop, 0.05);
    is($r->{calls}, 1, q{no second callback});

    # cancelling again is a no-op
    eval { $r->{req}->cancel };
    is($@, '', 'cancelling a finished request does not croak');
    is($r->{calls}, 1, 'and does not call back again');

    my $ok = fetch($loop, $pool, uri => $srv->url('/ok'));
    response_ok($ok, 'pool still works');
};

subtest 'cancel right after submitting (still connecting)' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = new_req($srv->url('/ok'));
    $pool->request($r->{req});
    $r->{req}->cancel;
    is($r->{calls}, 1, 'callback ran inside cancel()');
    is(ecode($r), 'cancelled', 'cancelled');
    ok(run_until($loop, sub { $pool->size == 0 }, 2), 'connection discarded');
    run_for($loop, 0.1);
    is($r->{calls}, 1, 'no late callback');
    is_deeply([ $pool->nbusy, $pool->nqueued ], [ 0, 0 ], 'counters');
};

subtest 'cancel from a timer' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = new_req($srv->url('/stall'));
    $pool->request($r->{req});
    my $t = Uvent::Timer->once(0.15, sub { $r->{req}->cancel }, $loop);
    my $t0 = time;
    ok(run_until($loop, sub { $r->{calls} }, 3), 'called back');
    is(ecode($r), 'cancelled', 'cancelled');
    cmp_ok($r->{at} - $t0, '<', 1, 'at the timer, not at the request timeout');
};

subtest 'cancel of a finished request' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = new_req($srv->url('/ok'));
    $pool->request($r->{req});
    ok(wait_all($loop, $r), 'completed');
    response_ok($r, 'ok');
    eval { $r->{req}->cancel };
    is($@, '', 'cancel after completion does not croak');
    is($r->{calls}, 1, 'no extra callback');
    ok(!$r->{error}, 'result unchanged');
    is($pool->size, 1, 'idle connection untouched');
};

subtest 'shutdown cancels everything and closes connections' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 2 }, $loop);
    my @r = map { start_req($pool, uri => $srv->url("/stall?n=$_")) } 1 .. 3;
    is_deeply([ map { $_->{queued} } @r ], [ 0, 0, 1 ], 'two running, one queued');
    ok(run_until($loop, sub { $srv->requests >= 2 }, 3), 'server got the two running requests');
    is_deeply([ $pool->nbusy, $pool->nqueued, $pool->size ], [ 2, 1, 2 ], 'counters before shutdown');
    $pool->shutdown;
    ok(run_until($loop, sub { !grep { !$_->{calls} } @r }, 2), 'every request called back');
    is($_->{calls}, 1, "one callback for $_->{uri}") for @r;
    is(ecode($_), 'cancelled', "$_->{uri} cancelled") for @r;
    ok(run_until($loop, sub { $pool->size == 0 }, 2), 'size 0');
    is_deeply([ $pool->nbusy, $pool->nqueued ], [ 0, 0 ], 'nothing busy or queued');
    my $t0 = time;
    $loop->run;
    cmp_ok(time - $t0, '<', 0.5, 'loop has nothing left to do');
    is($srv->requests, 2, 'the queued request never reached the server');
};

subtest 'shutdown closes idle connections' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 2 }, $loop);
    my @r = map { start_req($pool, uri => $srv->url('/sleep?s=0.1')) } 1 .. 2;
    ok(wait_all($loop, @r), 'completed');
    is($pool->size, 2, 'two idle connections');
    $pool->shutdown;
    ok(run_until($loop, sub { $pool->size == 0 }, 2), 'closed by shutdown');
    is($_->{calls}, 1, 'finished requests not called back again') for @r;
};

$srv->stop;
done_testing;
