use strict;
use warnings;
use Test::More;
use Digest::MD5 qw(md5_hex);
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Certs;
use Uvent::Test::Nginx;
use Uvent::Test::Util qw(run_until wait_all start_req response_ok ecode body);

# Expect: 100-continue: the body waits for the 100 (continue_callback runs
# first), for a final response (the body is never sent, the connection is
# discarded), or for expect_timeout (then it goes anyway).

my $loop = Uvent::Loop->new;
my $srv  = Uvent::Test::Server->new;
my $EXPECT = ['Expect' => '100-continue'];

sub fetch {
    my ($pool, %p) = @_;
    my $r = start_req($pool, %p);
    wait_all($loop, $r);
    is($r->{calls}, 1, "exactly one callback ($p{uri})");
    return $r;
}

my $pool = Uvent::HTTP::Pool->new({}, $loop);

subtest 'a server that sends 100 Continue' => sub {
    my @events;
    my $r = fetch($pool, uri => $srv->url('/upload'), method => 'PUT', body => 'hello there', headers => $EXPECT,
        continue_callback => sub { push @events, ['continue', ref $_[0]] });
    response_ok($r, 'string body');
    is(body($r), '11 ' . md5_hex('hello there'), 'the body arrived after the 100');
    is_deeply(\@events, [['continue', 'Uvent::HTTP::Request']], 'continue_callback ran once, with the request');
    @events = ();
    my @p = ('a' x 5000, 'b' x 7000);
    $r = fetch($pool, uri => $srv->url('/upload'), method => 'PUT', headers => $EXPECT,
        body => sub { push @events, 'pull'; @p ? shift @p : '' },
        continue_callback => sub { push @events, 'continue' });
    is(body($r), '12000 ' . md5_hex('a' x 5000 . 'b' x 7000), 'a code ref body after the 100');
    is($events[0], 'continue', 'the code ref was first called after the 100');
    # the body pushed from continue_callback itself
    my $req;
    $r = { calls => 0 };
    $req = Uvent::HTTP::Request->new({ uri => $srv->url('/upload'), method => 'POST', chunked => 1, headers => $EXPECT,
        continue_callback => sub { $_[0]->send_chunk('from '); $_[0]->send_final_chunk('continue') },
        response_callback => sub { $r->{calls}++; $r->{response} = $_[1]; $r->{error} = $_[2] } });
    $pool->request($req);
    wait_all($loop, $r);
    is(body($r), '13 ' . md5_hex('from continue'), 'pushed from continue_callback');
    # a form through the redirect step keeps it
    my $ran = 0;
    $r = fetch($pool, uri => $srv->url('/upload'), form => [a => 1], headers => $EXPECT, continue_callback => sub { $ran++ });
    is(body($r), '3 ' . md5_hex('a=1'), 'a form');
    is($ran, 1, 'continue_callback ran for it');
};

subtest 'an immediate 417: the body is never sent' => sub {
    for my $kind ('string', 'code ref') {
        my ($pulled, $continued) = (0, 0);
        my $before = @{ $srv->refused };
        my $closed = $pool->stats->{connections_closed};
        my $r = fetch($pool, uri => $srv->url('/expect-417'), method => 'PUT', headers => $EXPECT,
            expect_timeout => 5, continue_callback => sub { $continued++ },
            body => $kind eq 'string' ? 'x' x 100_000 : sub { $pulled++; 'x' x 1000 });
        ok(!$r->{error}, "$kind: no error") or diag($r->{error});
        is($r->{response}->code, 417, "$kind: the 417 is delivered");
        is($continued, 0, "$kind: continue_callback did not run");
        is($pulled, 0, "$kind: the code ref was never called") if $kind eq 'code ref';
        is($pool->stats->{connections_closed}, $closed + 1, "$kind: the connection was discarded");
        ok(run_until($loop, sub { @{ $srv->refused } > $before }, 10), "$kind: the server saw the close");
        is(($srv->refused->[-1] || {})->{body_bytes}, 0, "$kind: the server received no byte of the body");
    }
};

subtest 'a silent server: the body goes after expect_timeout' => sub {
    my $p = Uvent::HTTP::Pool->new({ expect_timeout => 0.5 }, $loop);
    my $r = fetch($p, uri => $srv->url('/expect-silent'), method => 'PUT', body => 'late body', headers => $EXPECT);
    response_ok($r, 'silent');
    is(body($r), '9 ' . md5_hex('late body'), 'the body arrived');
    my $e = $srv->log->[-1];
    ok($e->{t} - $e->{head_t} >= 0.4, 'it waited for the pool\'s expect_timeout (0.5 s) first');
    $r = fetch($p, uri => $srv->url('/expect-silent'), method => 'PUT', body => sub { state_once() }, headers => $EXPECT,
        expect_timeout => 0.3);
    is(body($r), '4 ' . md5_hex('once'), 'a code ref body, with its own expect_timeout');
    $e = $srv->log->[-1];
    ok($e->{t} - $e->{head_t} >= 0.25, 'after the request\'s expect_timeout');
    $r = fetch($p, uri => $srv->url('/upload'), method => 'PUT', body => 'plain');
    is(body($r), '5 ' . md5_hex('plain'), 'without Expect the body goes at once');
};

my $once = 0;
sub state_once { return $once++ ? '' : 'once' }

subtest 'bad parameters croak' => sub {
    eval { $pool->request({ uri => $srv->url('/upload'), expect_timeout => -1, response_callback => sub { } }) };
    like($@, qr/'expect_timeout' must be a finite number of seconds >= 0/, 'a negative expect_timeout');
    eval { $pool->request({ uri => $srv->url('/upload'), continue_callback => 'x', response_callback => sub { } }) };
    like($@, qr/'continue_callback' must be a CODE reference/, 'a continue_callback that is not code');
    eval { Uvent::HTTP::Pool->new({ expect_timeout => 'soon' }, $loop) };
    like($@, qr/expect_timeout/, 'the pool checks its expect_timeout');
};

subtest 'a dying continue_callback is rethrown by run; the request completes once' => sub {
    my $r = start_req($pool, uri => $srv->url('/upload'), method => 'PUT', body => 'abc', headers => $EXPECT,
        continue_callback => sub { die "continue died\n" });
    my $ok = eval { $loop->run; 1 };
    like($@, qr/continue died/, 'run rethrows') unless $ok;
    ok(!$ok, 'run died');
    wait_all($loop, $r);
    is($r->{calls}, 1, 'one callback');
    is(body($r), '3 ' . md5_hex('abc'), 'and the body was still sent');
};

SKIP: {
    my $why = Uvent::Test::Server->tls_missing // Uvent::Test::Certs->missing;
    skip $why, 1 if $why;
    subtest 'over TLS' => sub {
        my $certs = Uvent::Test::Certs->new;
        my $tls = Uvent::Test::Server->new(tls => { cert_file => $certs->server_cert, key_file => $certs->server_key });
        my $p = Uvent::HTTP::Pool->new({ tls => { ca_file => $certs->ca_cert } }, $loop);
        my $ran = 0;
        # chr($_ % 251) for 1 .. 600_000, made from one period
        my $big = substr((join '', map { chr($_ % 251) } 1 .. 251) x (600_000 / 251 + 1), 0, 600_000);
        my $r = fetch($p, uri => $tls->url('/upload'), method => 'PUT', body => $big, headers => $EXPECT,
            continue_callback => sub { $ran++ });
        is(body($r), length($big) . ' ' . md5_hex($big), 'a large string body after the 100');
        is($ran, 1, 'continue_callback ran');
        $r = fetch($p, uri => $tls->url('/expect-417'), method => 'PUT', body => $big, headers => $EXPECT);
        is($r->{response} && $r->{response}->code, 417, '417 over TLS');
    };
}

SKIP: {
    my $why = Uvent::Test::Nginx->missing;
    skip $why, 1 if $why;
    subtest 'nginx answers 100 when a body is expected' => sub {
        my $ng = Uvent::Test::Nginx->new;
        my $ran = 0;
        my $r = fetch($pool, uri => $ng->url('/upload'), method => 'POST', body => 'x' x 1000, headers => $EXPECT,
            expect_timeout => 10, continue_callback => sub { $ran++ });
        response_ok($r, 'nginx');
        is(body($r), "1000\n", 'nginx received the body');
        is($ran, 1, 'continue_callback ran: nginx sent the 100');
        $ng->stop;
    };
}

done_testing;
