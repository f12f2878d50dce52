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

# After a request completed at $at, run the loop until the pool is empty;
# returns how long after the response that happened (undef if it did not within $limit).
sub time_to_empty {
    my ($pool, $at, $limit) = @_;
    my $gone;
    run_until($loop, sub { $gone //= time if $pool->size == 0; defined $gone }, $limit);
    return defined $gone ? $gone - $at : undef;
}

subtest 'pool idle timeout closes idle connections' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 0.3 }, $loop);
    is($pool->idle_timeout, 0.3, 'idle_timeout 0.3');
    my $r = fetch($loop, $pool, uri => $srv->url('/ok'));
    response_ok($r, 'GET /ok');
    is($pool->size, 1, 'connection kept after the response');
    run_for($loop, 0.1);
    is($pool->size, 1, 'still there 0.1 s later');
    my $dt = time_to_empty($pool, $r->{at}, 3);
    ok(defined $dt, 'idle connection closed');
    cmp_ok($dt // 99, '>=', 0.2,  'not before ~0.3 s');
    cmp_ok($dt // 99, '<',  1.5,  'within ~0.3 s (generous margin)');
    is($pool->nbusy, 0, 'nbusy 0');

    my $r2 = fetch($loop, $pool, uri => $srv->url('/ok'));
    response_ok($r2, 'next request');
    is($srv->connections, 2, 'it needed a new connection');
};

subtest 'idle_timeout setter' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    $pool->idle_timeout(0.2);
    is($pool->idle_timeout, 0.2, 'set to 0.2');
    my $r = fetch($loop, $pool, uri => $srv->url('/ok'));
    response_ok($r, 'GET /ok');
    my $dt = time_to_empty($pool, $r->{at}, 3);
    ok(defined $dt, 'closed after the new idle timeout');
    cmp_ok($dt // 99, '<', 1.5, 'promptly');
};

subtest 'idle timeout 0 keeps connections forever' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 0 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/ok'));
    response_ok($r, 'GET /ok');
    run_for($loop, 0.6);
    is($pool->size, 1, 'still open after 0.6 s');
    my $r2 = fetch($loop, $pool, uri => $srv->url('/ok'));
    response_ok($r2, 'second request');
    is(hdr($r2, 'X-Conn'), hdr($r, 'X-Conn'), 'reused');
    is($srv->connections, 1, 'one connection');
};

for my $case (
    [ '/idle-close?after=0.2',  'server closes the idle connection' ],
    [ '/idle-reset?after=0.2',  'server resets the idle connection' ],
    [ '/unsolicited?after=0.2', 'server sends unsolicited bytes on the idle connection' ],
) {
    my ($path, $name) = @$case;
    subtest $name => sub {
        $srv->reset_stats;
        my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
        my $r = fetch($loop, $pool, uri => $srv->url($path));
        response_ok($r, $path);
        is($pool->size, 1, 'connection kept after the response');
        my $dt = time_to_empty($pool, $r->{at}, 3);
        ok(defined $dt, 'the pool dropped the connection while the loop ran a timer');
        cmp_ok($dt // 0, '>=', 0.1, 'only once the server acted (~0.2 s)');
        is($pool->nbusy, 0, 'nbusy 0');

        my $r2 = fetch($loop, $pool, uri => $srv->url('/ok'));
        response_ok($r2, 'next request works');
        is(body($r2), 'ok', 'body ok');
        isnt(hdr($r2, 'X-Conn'), hdr($r, 'X-Conn'), 'on a new connection');
        is($srv->connections, 2, 'server accepted a second connection');
    };
}

subtest 'server-side idle_close option' => sub {
    my $s2   = Uvent::Test::Server->new(idle_close => 0.3);
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $s2->url('/ok'));
    response_ok($r, 'GET /ok');
    my $dt = time_to_empty($pool, $r->{at}, 3);
    ok(defined $dt, 'connection closed by the server is dropped');
    cmp_ok($dt // 0, '>=', 0.15, 'after ~0.3 s');
    my $r2 = fetch($loop, $pool, uri => $s2->url('/ok'));
    response_ok($r2, 'next request');
    is($s2->connections, 2, 'two connections');
    $s2->stop;
};

subtest 'Keep-Alive: timeout=1 lowers the idle limit' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/keepalive-timeout?t=1'));
    response_ok($r, 'keepalive-timeout');
    like(hdr($r, 'Keep-Alive') // '', qr/timeout=1\b/, 'Keep-Alive header');
    ok($r->{response} && $r->{response}->keep_alive, 'keep_alive');
    my $dt = time_to_empty($pool, $r->{at}, 2);
    ok(defined $dt, 'connection closed');
    cmp_ok($dt // 99, '<', 0.99, 'by the client, before the server\'s 1 s');
};

subtest 'Keep-Alive: timeout=5 keeps the connection usable' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/keepalive-timeout?t=5'));
    response_ok($r, 'keepalive-timeout');
    run_for($loop, 0.5);
    is($pool->size, 1, 'still open after 0.5 s');
    my $r2 = fetch($loop, $pool, uri => $srv->url('/ok'));
    response_ok($r2, 'second request');
    is(hdr($r2, 'X-Conn'), hdr($r, 'X-Conn'), 'reused');
    is($srv->connections, 1, 'one connection');

    # the smaller of pool timeout and Keep-Alive wins
    my $p2 = Uvent::HTTP::Pool->new({ timeout => 0.3 }, $loop);
    my $r3 = fetch($loop, $p2, uri => $srv->url('/keepalive-timeout?t=5'));
    response_ok($r3, 'with pool timeout 0.3');
    my $dt = time_to_empty($p2, $r3->{at}, 3);
    ok(defined $dt, 'closed');
    cmp_ok($dt // 99, '<', 1.5, 'by the pool timeout, not the 5 s Keep-Alive');
};

subtest 'Keep-Alive: max=0 is not reused' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/keepalive-max0'));
    response_ok($r, 'keepalive-max0');
    ok(run_until($loop, sub { $pool->size == 0 }, 1), 'connection not kept');
    my $r2 = fetch($loop, $pool, uri => $srv->url('/ok'));
    response_ok($r2, 'next request');
    isnt(hdr($r2, 'X-Conn'), hdr($r, 'X-Conn'), 'on a new connection');
    is($srv->connections, 2, 'two connections');
};

subtest 'HTTP/1.0 response closes' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/http10'));
    response_ok($r, 'http10');
    my $resp = $r->{response};
    is($resp && $resp->http_version, '1.0', 'http_version 1.0');
    ok($resp && !$resp->keep_alive, 'keep_alive false');
    my $body = body($r) // '';
    ok(length $body, 'has a body');
    is(length $body, hdr($r, 'Content-Length'), 'body length matches Content-Length');
    ok(run_until($loop, sub { $pool->size == 0 }, 2), 'connection not kept');
    my $r2 = fetch($loop, $pool, uri => $srv->url('/http10'));
    response_ok($r2, 'second');
    is($srv->connections, 2, 'two connections');
};

subtest 'HTTP/1.0 with Connection: keep-alive is reused' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/http10-keepalive'));
    response_ok($r, 'first');
    is($r->{response} && $r->{response}->http_version, '1.0', 'http_version 1.0');
    ok($r->{response} && $r->{response}->keep_alive, 'keep_alive true');
    is($pool->size, 1, 'kept');
    my $r2 = fetch($loop, $pool, uri => $srv->url('/http10-keepalive'));
    response_ok($r2, 'second');
    is(hdr($r2, 'X-Conn'), hdr($r, 'X-Conn'), 'same connection');
    is(hdr($r2, 'X-Seq'), 2, 'second request on it');
    is($srv->connections, 1, 'one connection');
};

$srv->stop;
done_testing;
