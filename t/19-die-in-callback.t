use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use lib 't/lib';
use Uvent;
use Uvent::HTTP qw(http_get http_request_sync);
use Uvent::Test::Server;
use Uvent::Test::Util qw(run_until run_for wait_all start_req fetch ecode body hdr response_ok);

my @warnings;
$SIG{__WARN__} = sub { push @warnings, $_[0] };

# ---- helpers: every loop run is bounded by a deadline ----

my $srv  = Uvent::Test::Server->new;
my $loop = Uvent::Loop->new;

# A request whose callback records its call, then dies with $exception (if given).
sub dying_req {
    my ($pool, $uri, $exception) = @_;
    my $r = { calls => 0, uri => $uri };
    $pool->request({
        uri               => $uri,
        timeout           => 5,
        response_callback => sub {
            my ($req, $resp, $err) = @_;
            fail("callback for $uri called more than once") if ++$r->{calls} > 1;
            @$r{qw(response error at)} = ($resp, $err, time);
            die $exception if defined $exception;
        },
    });
    return $r;
}

# Run the loop (bounded) expecting an exception; returns it ('' if none came).
sub run_catching {
    my ($loop, $cond) = @_;
    my $ok = eval { run_until($loop, $cond, 10); 1 };
    return $ok ? '' : $@;
}

subtest 'die in a timer callback' => sub {
    my ($later, $t0) = (0, time);
    my $t1 = Uvent::Timer->once(0.01, sub { die "timer boom\n" }, $loop);
    my $t2 = Uvent::Timer->once(0.3,  sub { $later++ }, $loop);
    my $ok = eval { $loop->run; 1 };
    ok(!$ok, 'run threw');
    is($@, "timer boom\n", 'the exception of the callback');
    cmp_ok(time - $t0, '<', 0.25, 'at once, not after the other timer');
    is($later, 0, 'other timer not fired yet');
    ok(run_until($loop, sub { $later }, 5), 'a later run continues: the other timer fires');
    is($later, 1, 'exactly once');
};

subtest 'die with a reference' => sub {
    my $t = Uvent::Timer->once(0.01, sub { die { code => 42 } }, $loop);
    eval { $loop->run };
    is(ref $@, 'HASH', 'exception is the hashref');
    is(ref $@ eq 'HASH' ? $@->{code} : undef, 42, 'intact');

    my $t2 = Uvent::Timer->once(0.01, sub { die bless { msg => 'obj' }, 'My::Exception' }, $loop);
    eval { $loop->run };
    isa_ok($@, 'My::Exception', 'blessed exception');
};

subtest 'die in a response callback' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r1 = dying_req($pool, $srv->url('/ok'), "boom1\n");
    my $r2 = dying_req($pool, $srv->url('/sleep?s=0.2'));
    my $r3 = dying_req($pool, $srv->url('/sleep?s=0.3'));
    my $ex = run_catching($loop, sub { $r1->{calls} && $r2->{calls} && $r3->{calls} });
    is($ex, "boom1\n", 'the exception came out of run');
    is($r1->{calls}, 1, 'dying callback ran once');
    is(body($r1), 'ok', 'it had its response');
    ok(wait_all($loop, $r2, $r3), 'the other requests complete on a later run');
    response_ok($r2, 'second');
    response_ok($r3, 'third');
    run_for($loop, 0.05);
    is($_->{calls}, 1, "one callback for $_->{uri}") for $r1, $r2, $r3;
    is_deeply([ $pool->nbusy, $pool->nqueued ], [ 0, 0 ], 'nothing busy or queued');
    cmp_ok($pool->size, '>=', 1, 'connections kept');
    cmp_ok($pool->size, '<=', 3, 'no more than were opened');
    my $again = fetch($loop, $pool, uri => $srv->url('/ok'));
    response_ok($again, 'pool works afterwards');
};

subtest 'die with requests queued behind' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 1 }, $loop);
    my $r1 = dying_req($pool, $srv->url('/ok?n=1'), "first dies\n");
    my $r2 = dying_req($pool, $srv->url('/ok?n=2'));
    my $r3 = dying_req($pool, $srv->url('/ok?n=3'));
    is($pool->nqueued, 2, 'two queued');
    my $ex = run_catching($loop, sub { $r1->{calls} && $r2->{calls} && $r3->{calls} });
    is($ex, "first dies\n", 'exception propagated');
    ok(wait_all($loop, $r2, $r3), 'queued requests still run');
    response_ok($r2, 'second');
    response_ok($r3, 'third');
    is_deeply([ map { hdr($_, 'X-Seq') } $r1, $r2, $r3 ], [ 1, 2, 3 ], 'all on one connection, in order');
    is_deeply([ $pool->nbusy, $pool->nqueued, $pool->size ], [ 0, 0, 1 ], 'counters');
};

subtest 'die in an error callback' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $r = dying_req($pool, $srv->url('/drop'), "error cb dies\n");
    my $ex = run_catching($loop, sub { $r->{calls} });
    is($ex, "error cb dies\n", 'exception propagated');
    is($r->{error} && $r->{error}->code, 'connection_closed', 'callback had the error');
    is_deeply([ $pool->nbusy, $pool->nqueued ], [ 0, 0 ], 'counters');
};

subtest 'two callbacks die' => sub {
    # Both may die in the same loop iteration: the first exception comes out
    # of run, a later one may only be reported as a warning. Neither is lost.
    my @w;
    local $SIG{__WARN__} = sub { push @w, $_[0] };
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my @r = map { dying_req($pool, $srv->url("/ok?d=$_"), "dies $_\n") } 1 .. 2;
    my @ex;
    for (1 .. 4) {
        my $ex = run_catching($loop, sub { !grep { !$_->{calls} } @r });
        push @ex, $ex if length $ex;
        last if !grep { !$_->{calls} } @r;
    }
    run_for($loop, 0.05);
    is($_->{calls}, 1, "one callback for $_->{uri}") for @r;
    cmp_ok(scalar @ex, '>=', 1, 'an exception propagated');
    ok(!grep({ !/^dies [12]\n\z/ } @ex), 'it is a callback\'s exception') or diag(explain \@ex);
    for my $i (1, 2) {
        ok(grep({ /dies $i/ } @ex, @w), "death $i was reported (exception or warning)");
    }
    ok(!grep({ !/dies [12]/ } @w), 'no unrelated warnings') or diag(explain \@w);
};

subtest 'die in the callback of a sync request' => sub {
    my $ok = eval {
        http_request_sync({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub { die "sync cb dies\n" } });
        1;
    };
    ok(!$ok, 'sync call threw');
    is($@, "sync cb dies\n", 'with the callback\'s exception');
    my $resp = http_get($srv->url('/ok'));
    is($resp && $resp->body, 'ok', 'sync calls work afterwards');
};

subtest 'the loop is fine afterwards' => sub {
    my $n = 0;
    my $t = Uvent::Timer->new($loop);
    $t->start(0.01, 0.01, sub { $t->stop if ++$n == 3 });
    ok(run_until($loop, sub { $n >= 3 }, 5), 'repeating timer ticks');
    my $t0 = time;
    $loop->run;
    cmp_ok(time - $t0, '<', 0.5, 'run returns when nothing is pending');
};

is_deeply(\@warnings, [], 'no warnings') or diag(explain \@warnings);
$srv->stop;
# The trampoline keeps the caller's $@ around every callback; an empty one
# (the usual) is restored without a copy, any other from its copy.
subtest '$@ is kept across a callback' => sub {
    for my $case (["earlier\n", 'a message'], ['', 'empty'], [undef, 'undef'], [0, 'a false number']) {
        my $l = Uvent::Loop->new;
        my $calls = 0;
        my $t = Uvent::Timer->once(0.001, sub { $calls++; eval { die "inner\n" }; 1 }, $l);
        $@ = $case->[0];
        $l->run;
        my $after = $@;
        is($calls, 1, "$case->[1]: the callback ran");
        is($after, $case->[0], "$case->[1]: \$@ as before the run");
    }
    my $l = Uvent::Loop->new;
    my $t1 = Uvent::Timer->once(0.001, sub { die "first\n" }, $l);
    my $t2 = Uvent::Timer->once(0.001, sub { }, $l);
    eval { 1 };
    ok(!eval { $l->run; 1 }, 'a callback that dies: run rethrows');
    is($@, "first\n", 'its exception');
};

done_testing;
