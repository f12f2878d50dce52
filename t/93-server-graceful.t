# graceful_stop with 100 requests in flight (each answered later from a
# timer): none is lost, each response says Connection: close, the
# stop_callback runs once after the last, and nothing listens afterwards;
# the termination_timeout closes a request never answered; an idle
# kept-alive connection is closed at once, and one accepted but not yet
# used gets its request answered (or closed after read_timeout).
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Uvent;
use Uvent::HTTP::Server;
use Time::HiRes ();
use Uvent::Test::Util qw(run_until);
use Uvent::Test::Serve qw(serve);

my $loop = Uvent::Loop->new;
my ($stopped, $seen) = (0, 0);
my ($server, $port) = serve($loop, termination_timeout => 10, stop_callback => sub { $stopped++ },
    handler => sub {
        my ($req) = @_;
        $seen++;
        return if $req->path eq '/never';
        Uvent::Timer->once(0.1 + rand(0.2), sub { $req->respond({ body => 'done ' . $req->query }) }, $loop);
    });

my $pool = Uvent::HTTP::Pool->new({ max_connections => 100 }, $loop);
my %got;
for my $n (1 .. 100) {
    $pool->request({ uri => "http://127.0.0.1:$port/x?$n", timeout => 20, response_callback => sub {
        my (undef, $resp, $err) = @_;
        $got{$n} = $err ? "error: $err" : $resp->code . ' ' . $resp->body . ' ' . ($resp->header('Connection') // '');
    } });
}
ok(run_until($loop, sub { $seen == 100 }, 20), 'the server has all 100 requests');
$server->graceful_stop;
is($stopped, 0, 'stop_callback does not run from graceful_stop');
ok(run_until($loop, sub { $stopped }, 20), 'stop_callback runs');
is(scalar(grep { $got{$_} eq "200 done $_ close" } 1 .. 100), 100, 'all 100 answered, each with Connection: close')
    or diag(join "\n", map { "$_: " . ($got{$_} // 'nothing') } grep { ($got{$_} // '') ne "200 done $_ close" } 1 .. 100);
is($stopped, 1, 'once');
ok(!$server->running && !$server->listeners, 'no longer running or listening');
my $after;
$pool->request({ uri => "http://127.0.0.1:$port/", response_callback => sub { $after = $_[2] ? $_[2]->code : 'answered' } });
run_until($loop, sub { defined $after });
is($after, 'connect', 'a new request cannot connect');

# the termination timeout closes what is never answered (the request is
# kept: a request object freed unanswered would get a 500)
my @held;
my ($s2, $p2) = serve($loop, termination_timeout => 0.3, stop_callback => sub { $stopped++ },
    handler => sub { my ($req) = @_; $seen++; push @held, $req; $req->drop_callback(sub { $stopped += 10 }) });
my $never;
$seen = 0;
$pool->request({ uri => "http://127.0.0.1:$p2/never", retry => 0, response_callback => sub { $never = $_[2] ? $_[2]->code : 'answered' } });
run_until($loop, sub { $seen == 1 });
$stopped = 0;
$s2->graceful_stop;
ok(run_until($loop, sub { $stopped && defined $never }, 10), 'termination_timeout ends it');
is($stopped, 11, 'the unanswered request was dropped (drop_callback), then stop_callback');
is($never, 'connection_closed', 'its client sees the connection closed');

# graceful_stop with connections that carry no request: one kept alive
# after a response closes at once; one accepted whose request has not come
# yet gets it answered (closing it would fail a request on its way, as
# under a restart with clients connecting); one that never sends closes
# at read_timeout, well before termination_timeout.
{
    use IO::Socket::INET;
    my $done = 0;
    my ($s3, $p3) = serve($loop, read_timeout => 0.5, idle_timeout => 60, termination_timeout => 20,
        stop_callback => sub { $done = 1 },
        handler => sub { $_[0]->respond({ body => 'ok ' . $_[0]->path }) });
    my $connect = sub { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p3, Blocking => 0) };
    my ($used, $fresh, $silent) = map { $connect->() } 1 .. 3;
    my $read = sub {    # what has arrived, without blocking; undef once closed
        my ($sock) = @_;
        my $n = sysread($sock, my $buf, 65536);
        return defined $n ? ($n ? $buf : undef) : '';
    };
    syswrite $used, "GET /first HTTP/1.1\r\nHost: t\r\n\r\n";
    my $answer = '';
    ok(run_until($loop, sub { $answer .= $read->($used) // ''; $answer =~ /ok \/first\z/ }, 5), 'a kept-alive connection is answered');
    ok(run_until($loop, sub { $s3->connection_count == 3 }, 5), 'three connections open');
    my $t0 = Time::HiRes::time();
    $s3->graceful_stop;
    my $gone;
    ok(run_until($loop, sub { $gone = !defined $read->($used) }, 5), 'the idle kept-alive one is closed at once');
    syswrite $fresh, "GET /late HTTP/1.1\r\nHost: t\r\n\r\n";
    my $late = '';
    ok(run_until($loop, sub { my $r = $read->($fresh); $late .= $r if defined $r; !defined $r }, 5), 'the unused one answers, then closes');
    like($late, qr{\AHTTP/1\.1 200 .*^Connection: close\r\n.*ok /late\z}ms, 'its request, sent after graceful_stop, gets its answer with Connection: close');
    close $fresh;    # as its client would (the server lingers for that)
    ok(run_until($loop, sub { !defined $read->($silent) }, 10), 'the silent one is closed');
    my $took = Time::HiRes::time() - $t0;
    cmp_ok($took, '<', 3, sprintf('at read_timeout 0.5 s, not idle_timeout 60 or termination_timeout 20 (%.2f s after graceful_stop)', $took));
    ok(run_until($loop, sub { $done }, 10), 'the stop completes');
}
done_testing;
