use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use Scalar::Util qw(refaddr weaken);
use IO::Socket::INET;
use lib 't/lib';
use Uvent;
use Uvent::HTTP qw(http_request http_get http_request_sync);
use Uvent::Test::Server;
use Uvent::Test::Util qw(run_until run_for wait_all start_req fetch ecode body hdr response_ok);

# ---- helpers: every loop run is bounded by a deadline ----

my $srv  = Uvent::Test::Server->new;
my $port = $srv->port;

subtest 'one instance pool per loop' => sub {
    my $default = Uvent::Loop->default;
    my $p0 = Uvent::HTTP::Pool->instance;
    isa_ok($p0, 'Uvent::HTTP::Pool');
    is(refaddr($p0->loop), refaddr($default), 'instance() belongs to the default loop');
    is(refaddr(Uvent::HTTP::Pool->instance), refaddr($p0), 'instance() twice: same pool');
    is(refaddr(Uvent::HTTP::Pool->instance($default)), refaddr($p0), 'instance(default loop): same pool');
    is(refaddr(Uvent::HTTP::Pool::instance()), refaddr($p0), 'function form: same pool');

    my $l1 = Uvent::Loop->new;
    my $l2 = Uvent::Loop->new;
    my $p1 = Uvent::HTTP::Pool->instance($l1);
    my $p2 = Uvent::HTTP::Pool->instance($l2);
    is(refaddr($p1->loop), refaddr($l1), 'instance($loop) belongs to $loop');
    is(refaddr(Uvent::HTTP::Pool->instance($l1)), refaddr($p1), 'same loop: same pool');
    is(refaddr(Uvent::HTTP::Pool::instance($l1)), refaddr($p1), 'function form with a loop: same pool');
    isnt(refaddr($p1), refaddr($p2), 'different loops: different pools');
    isnt(refaddr($p1), refaddr($p0), 'and not the default one');

    # the instance outlives the caller's reference while its loop lives
    my $addr = refaddr($p1);
    undef $p1;
    is(refaddr(Uvent::HTTP::Pool->instance($l1)), $addr, 'instance kept by its loop');
};

subtest 'a dropped loop takes its instance pool along' => sub {
    my ($wl, $wp);
    {
        my $l = Uvent::Loop->new;
        my $p = Uvent::HTTP::Pool->instance($l);
        my $r = fetch($l, $p, uri => $srv->url('/ok'));
        response_ok($r, 'request on the instance pool');
        is($p->size, 1, 'an idle connection in it');
        weaken($wl = $l);
        weaken($wp = $p);
    }
    ok(!defined $wp, 'instance pool freed with its loop');
    ok(!defined $wl, 'loop freed (no cycle through its instance pool)');

    {
        my $l = Uvent::Loop->new;
        Uvent::HTTP::Pool->instance($l);
        weaken($wl = $l);
    }
    ok(!defined $wl, 'loop with an unused instance pool freed too');
};

subtest 'a pool without a loop argument uses the default loop' => sub {
    my $p = Uvent::HTTP::Pool->new({});
    is(refaddr($p->loop), refaddr(Uvent::Loop->default), 'default loop');
};

subtest 'http_request uses the instance pool of the given loop' => sub {
    $srv->reset_stats;
    my $loop = Uvent::Loop->new;
    my @got;
    my $ret = http_request({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub { push @got, [@_] } }, $loop);
    my $inst = Uvent::HTTP::Pool->instance($loop);
    is($inst->nbusy, 1, 'instance pool of that loop runs it');
    ok(run_until($loop, sub { @got }), 'completed');
    run_for($loop, 0.05);
    is(scalar @got, 1, 'one callback');
    my (undef, $resp, $err) = @{ $got[0] || [] };
    ok(!$err, 'no error');
    is($resp && $resp->body, 'ok', 'body');
    is($inst->size, 1, 'connection kept in the instance pool');

    # a Request object works too, and reuses the connection
    my @got2;
    my $req = Uvent::HTTP::Request->new({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub { push @got2, [@_] } });
    http_request($req, $loop);
    ok(run_until($loop, sub { @got2 }), 'request object completed');
    is($got2[0] && $got2[0][1]->header('X-Conn'), $resp && $resp->header('X-Conn'), 'same connection');
    is($srv->connections, 1, 'one connection');
};

subtest 'http_request without a loop uses the default loop' => sub {
    my $loop = Uvent::Loop->default;
    my $n = 0;
    my ($resp, $err);
    http_request({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub { $n++; (undef, $resp, $err) = @_ } });
    is(Uvent::HTTP::Pool->instance->nbusy, 1, 'default instance pool runs it');
    ok(run_until($loop, sub { $n }), 'completed on the default loop');
    is($resp && $resp->body, 'ok', 'body');
};

subtest 'http_get async' => sub {
    my $loop = Uvent::Loop->new;
    my @got;
    http_get($srv->url('/ok'), sub { push @got, [@_] }, $loop);
    ok(run_until($loop, sub { @got }), 'completed');
    run_for($loop, 0.05);
    is(scalar @got, 1, 'one callback');
    my ($req, $resp, $err) = @{ $got[0] || [] };
    isa_ok($req, 'Uvent::HTTP::Request', 'first argument');
    isa_ok($resp, 'Uvent::HTTP::Response', 'second argument');
    ok(!$err, 'no error');
    is($resp && $resp->body, 'ok', 'body');

    my @got_d;
    http_get($srv->url('/ok'), sub { push @got_d, [@_] });
    ok(run_until(Uvent::Loop->default, sub { @got_d }), 'on the default loop without a loop argument');
    is($got_d[0] && $got_d[0][1]->body, 'ok', 'body');
};

subtest 'http_get sync' => sub {
    my $resp = http_get($srv->url('/ok'));
    isa_ok($resp, 'Uvent::HTTP::Response', 'scalar context');
    is($resp && $resp->body, 'ok', 'body');

    my ($r2, $err) = http_get($srv->url('/echo?x=1'));
    isa_ok($r2, 'Uvent::HTTP::Response', 'list context: response');
    is($err, undef, 'list context: no error');
    like($r2 ? $r2->body : '', qr{/echo\?x=1}, 'echo body');

    my $refused = do {
        my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0) or die $!;
        my $p = $s->sockport;
        close $s;
        $p;
    };
    my ($r3, $e3) = http_get("http://127.0.0.1:$refused/");
    ok($e3, 'list context: error');
    is($e3 && $e3->code, 'connect', 'error code connect');
    is($r3 && $r3->code, 0, 'response code 0');

    my $r4 = http_get("http://127.0.0.1:$refused/");
    is($r4, undef, 'scalar context: undef on error');
};

subtest 'http_request_sync' => sub {
    my ($resp, $err) = http_request_sync({ uri => $srv->url('/echo'), method => 'POST', body => 'abc', timeout => 5 });
    ok(!$err, 'no error') or diag("$err");
    like($resp ? $resp->body : '', qr/"body"\s*:\s*"abc"/, 'body echoed');
    like($resp ? $resp->body : '', qr/"POST"/, 'method POST');

    my $r2 = http_request_sync({ uri => $srv->url('/ok'), timeout => 5 });
    isa_ok($r2, 'Uvent::HTTP::Response', 'scalar context');
    is($r2 && $r2->body, 'ok', 'body');

    my ($r3, $e3) = http_request_sync({ uri => $srv->url('/stall'), timeout => 0.3 });
    is($e3 && $e3->code, 'timeout', 'timeout reported');
};

subtest 'sync calls run on a private loop' => sub {
    my $loop = Uvent::Loop->default;
    my $fired = 0;
    my $t = Uvent::Timer->once(0.01, sub { $fired++ }, $loop);
    my $resp = http_get($srv->url('/sleep?s=0.2'));
    is($resp && $resp->code, 200, 'sync request done');
    is($fired, 0, q{the default loop did not run meanwhile});
    run_until($loop, sub { $fired }, 2);
    is($fired, 1, 'default loop timer fires on its own run');
};

subtest 'sync call from inside a loop callback' => sub {
    my $loop = Uvent::Loop->new;
    my ($inner, $inner_err);
    Uvent::Timer->once(0.01, sub { $inner = eval { http_get($srv->url('/ok')) }; $inner_err = $@ }, $loop);
    ok(run_until($loop, sub { $inner || $inner_err }, 10), 'timer ran');
    is($inner_err, '', 'no croak') or diag($inner_err);
    is($inner && $inner->body, 'ok', 'sync request inside an async callback works');
};

subtest 'nested sync call croaks' => sub {
    $srv->reset_stats;
    my ($inner_ok, $inner_err, $cb_calls) = (undef, undef, 0);
    my ($resp, $err) = eval {
        http_request_sync({
            uri               => $srv->url('/ok'),
            timeout           => 5,
            response_callback => sub {
                $cb_calls++;
                $inner_ok  = eval { http_get($srv->url('/ok?nested=1')); 1 };
                $inner_err = $@;
            },
        });
    };
    is($@, '', 'outer sync call returned normally');
    is($cb_calls, 1, 'its callback ran once');
    ok(!$inner_ok, 'nested sync call croaked');
    ok(length($inner_err // ''), 'with a message') and note("nested: $inner_err");
    is($resp && $resp->body, 'ok', 'outer response intact');
    ok(!grep({ $_->{target} =~ /nested/ } @{ $srv->log }), 'nested request never sent');

    # a die inside it propagates out of the sync call
    my $r = eval { http_request_sync({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub { http_get($srv->url('/ok?nested=2')) } }); 1 };
    ok(!$r, 'uncaught nested croak propagates out of the outer sync call');
    ok(length $@, 'with the croak message');

    # and sync calls work again afterwards
    my $after = http_get($srv->url('/ok'));
    is($after && $after->body, 'ok', 'sync works after that');
};

$srv->stop;
done_testing;
