use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use lib 't/lib';
use Uvent;
use Uvent::HTTP qw(http_get http_request);
use Uvent::Test::Server;
use Uvent::Test::Util qw(extended_testing run_until run_for wait_all start_req fetch ecode body hdr response_ok rss_kb);

# ---- helpers: every loop run is bounded by a deadline ----

my $srv  = Uvent::Test::Server->new;
my $loop = Uvent::Loop->new;
my $url  = $srv->url('/ok');
my $refused = do {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp') or die $!;
    my $p = $s->sockport;
    close $s;
    "http://127.0.0.1:$p/";
};

sub count_fds {
    opendir my $dh, '/proc/self/fd' or return undef;
    my $n = grep { !/^\.\.?$/ } readdir $dh;
    closedir $dh;
    return $n;
}

# ---- Test::LeakTrace: every block runs requests to completion (bounded by
# their own timeouts, so a plain $loop->run cannot hang) ----

subtest 'no leaked SVs (Test::LeakTrace)' => sub {
    my $have = eval { require Test::LeakTrace; 1 };
    plan skip_all => 'Test::LeakTrace not installed' unless $have;
    my $no_leaks_ok = \&Test::LeakTrace::no_leaks_ok;

    $no_leaks_ok->(sub {
        my $r = Uvent::HTTP::Request->new({
            uri => $url, method => 'POST', headers => [ 'X-A' => 1, 'X-A' => 2 ], body => 'x' x 100,
            timeout => 1, connect_timeout => 0.5, response_callback => sub { },
        });
        my @x = ($r->uri, $r->method, $r->headers, $r->body, $r->timeout, $r->connect_timeout);
    }, 'Request object create/accessors/destroy');

    my $vpool = Uvent::HTTP::Pool->new({}, $loop);
    $no_leaks_ok->(sub {
        for my $bad ({ uri => 'ftp://x/' }, { uri => 'not a url' }, { uri => 'http:///x' },
                     { uri => $url, headers => { 'X' => "a\r\nb" } }, { uri => $url, headers => [ "X\n" => 1 ] },
                     { uri => $url, method => 'G T' }, { uri => $url, body => [] }, { uri => $url, response_callback => 1 }, {}) {
            eval { $vpool->request({ response_callback => sub { }, %$bad }) };
            eval { $vpool->request(Uvent::HTTP::Request->new({ response_callback => sub { }, %$bad })) };
        }
        $@ = q{};
    }, 'bad arguments croak without leaking');

    $no_leaks_ok->(sub {
        my $n = 0;
        my $t = Uvent::Timer->new($loop);
        $t->start(0.001, 0, sub { $n++ });
        Uvent::Timer->once(0.001, sub { $n++ }, $loop);
        $loop->run;
        $t->stop;
    }, 'timers');

    $no_leaks_ok->(sub {
        my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
        my @keep;
        for my $u ($url, $srv->url('/chunked?trailers=1'), $srv->url('/echo')) {
            $pool->request({
                uri => $u, timeout => 5, headers => { 'X-Test' => 1 },
                response_callback => sub {
                    my ($req, $resp, $err) = @_;
                    push @keep, $req->uri, $resp->code, $resp->message, $resp->http_version, $resp->headers,
                        $resp->header_list, $resp->header('X-Conn'), $resp->body, $resp->trailers, $resp->keep_alive;
                },
            });
        }
        $loop->run;
        my @info = ($pool->size, $pool->nbusy, $pool->nqueued, $pool->idle_timeout, $pool->max_connections, $pool->loop);
        undef $pool;
        $loop->run;
    }, 'pool with requests run to completion, then destroyed');

    $no_leaks_ok->(sub {
        my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
        my @keep;
        for my $u ($refused, $srv->url('/drop'), $srv->url('/garbage')) {
            $pool->request({ uri => $u, timeout => 5, response_callback => sub {
                my ($req, $resp, $err) = @_;
                push @keep, "$err", $err->code, $err->errno, $err->message, $resp->code;
            } });
        }
        $pool->request({ uri => $srv->url('/stall'), timeout => 0.05, response_callback => sub { push @keep, $_[2]->code } });
        $loop->run;
        undef $pool;
        $loop->run;
    }, 'error paths');

    $no_leaks_ok->(sub {
        my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 1 }, $loop);
        my $n = 0;
        my $req = Uvent::HTTP::Request->new({ uri => $url, timeout => 5, response_callback => sub { $n++ } });
        my $client = $pool->request($req);
        my @c = ($client->destination, $client->busy, $client->requests_served, $client->pool, $client->loop);
        my $queued = Uvent::HTTP::Request->new({ uri => $url, timeout => 5, response_callback => sub { $n++ } });
        $pool->request($queued);
        $queued->cancel;
        $loop->run;
        $pool->request($req);    # sent again
        $loop->run;
        my $stall = Uvent::HTTP::Request->new({ uri => $srv->url('/stall'), timeout => 5, response_callback => sub { $n++ } });
        $pool->request($stall);
        $pool->shutdown;
        $loop->run;
        undef $client;
        undef $pool;
        $loop->run;
    }, 'client objects, resend, cancel, shutdown');

    $no_leaks_ok->(sub {
        my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
        $pool->request({ uri => $srv->url('/sleep?s=0.05'), timeout => 5, response_callback => sub { } });
        undef $pool;    # dropped while in flight
        $loop->run;
    }, 'pool dropped with a request in flight');

    $no_leaks_ok->(sub {
        my $l = Uvent::Loop->new;
        my $p = Uvent::HTTP::Pool->instance($l);
        http_request({ uri => $url, timeout => 5, response_callback => sub { } }, $l);
        $l->run;
    }, 'loop with its instance pool');

    $no_leaks_ok->(sub {
        my $resp = http_get($url);
        my ($r2, $err) = http_get($refused);
    }, 'sync requests');
};

# ---- memory and file descriptors over many requests ----

# Run $n requests for /ok through $pool, at most 100 at a time. Returns failures.
sub run_requests {
    my ($pool, $n) = @_;
    my ($fail, $left) = (0, $n);
    while ($left > 0) {
        my $batch = $left > 100 ? 100 : $left;
        my $done = 0;
        for (1 .. $batch) {
            $pool->request({
                uri => $url, timeout => 10,
                response_callback => sub { $done++; $fail++ if $_[2] || $_[1]->body ne 'ok' },
            });
        }
        unless (run_until($loop, sub { $done >= $batch }, 30)) { $fail += $batch - $done; last }
        $left -= $batch;
    }
    return $fail;
}

my $many = extended_testing() ? 3000 : 1000;
subtest "memory stays flat over $many requests" => sub {
    plan skip_all => 'no /proc/self/status' unless defined rss_kb();
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 10 }, $loop);
    is(run_requests($pool, 500), 0, '500 warm-up requests succeeded');
    my $rss0 = rss_kb();
    my $t0   = time;
    is(run_requests($pool, $many), 0, "$many requests succeeded");
    my $rss1 = rss_kb();
    note(sprintf "$many requests in %.2f s; RSS %d kB -> %d kB", time - $t0, $rss0, $rss1);
    cmp_ok($rss1 - $rss0, '<', 2048, 'RSS grew by less than 2 MB');
    cmp_ok($pool->size, '<=', 10, 'at most max_connections open');
    is_deeply([ $pool->nbusy, $pool->nqueued ], [ 0, 0 ], 'nothing busy or queued');
    $pool->shutdown;
    $loop->run;
};

subtest 'file descriptors return to baseline' => sub {
    plan skip_all => 'no /proc/self/fd' unless defined count_fds();
    # warm up everything lazily created on first use (loop backend, resolver threads)
    {
        my $p = Uvent::HTTP::Pool->new({}, $loop);
        run_requests($p, 5);
        $p->shutdown;
        $loop->run;
    }
    my $base = count_fds();

    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 10 }, $loop);
    my $done = 0;
    $pool->request({ uri => $srv->url('/sleep?s=0.1'), timeout => 5, response_callback => sub { $done++ } }) for 1 .. 10;
    ok(run_until($loop, sub { $done >= 10 }, 10), '10 concurrent requests completed');
    is($pool->size, 10, '10 idle connections');
    cmp_ok(count_fds(), '>=', $base + 10, 'they hold file descriptors');
    $pool->shutdown;
    ok(run_until($loop, sub { $pool->size == 0 }, 2), 'shut down');
    $loop->run;
    is(count_fds(), $base, 'back to baseline after shutdown');

    $done = 0;
    $pool->request({ uri => $srv->url('/sleep?s=0.1'), timeout => 5, response_callback => sub { $done++ } }) for 1 .. 5;
    ok(run_until($loop, sub { $done >= 5 }, 10), '5 more requests on the same pool');
    undef $pool;
    $loop->run;
    is(count_fds(), $base, 'back to baseline after dropping the pool');

    my $p2 = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    $done = 0;
    my @uris = (($refused) x 5, ($srv->url('/drop')) x 5, ($srv->url('/reset')) x 3, ($srv->url('/garbage')) x 3);
    $p2->request({ uri => $_, timeout => 5, response_callback => sub { $done++ } }) for @uris;
    $p2->request({ uri => $srv->url('/stall'), timeout => 0.2, response_callback => sub { $done++ } }) for 1 .. 3;
    ok(run_until($loop, sub { $done >= @uris + 3 }, 10), 'failing requests completed');
    $loop->run;
    is(count_fds(), $base, 'failed connections leave no descriptors behind');
    undef $p2;
    $loop->run;
    is(count_fds(), $base, 'still at baseline');
};

$srv->stop;
done_testing;
