# Lifetime of Uvent::HTTP::Server and its requests across the boundary:
# the server freed from inside its own request_callback, a request kept
# past its server, a request object freed unanswered (500), a dying
# stop_callback, global destruction with a server running and a request
# held, a request kept by its drain_callback, and no leaked SVs over request cycles (Test::LeakTrace).
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Uvent;
use Uvent::HTTP::Server;
use Uvent::Test::Util qw(run_until);
use Uvent::Test::Serve qw(serve client raw_exchange split_responses);

my $loop = Uvent::Loop->new;

# ---- the server freed inside its own callback
{
    my ($kept, $ok);
    my ($server, $port);
    ($server, $port) = serve($loop, handler => sub {
        my ($req) = @_;
        $kept = $req;
        undef $server;                     # stops it: the connection closes
        $ok = $req->respond({ body => 'late' });
    });
    my $out = client($loop, sub { raw_exchange($port, "GET / HTTP/1.1\r\n\r\n") });
    is($out, '', 'freed inside its callback: the connection is closed, unanswered');
    is($ok, 0, 'respond then says the connection is gone');
    is($kept->path, '/', 'the request object outlives its server');
    ok(!$kept->is_active, 'and is no longer active');
}

# ---- a waiting drain_callback keeps its request alive, and lets it go once it ran
{
    require Scalar::Util;
    my ($weak, $ran);
    my ($server, $port) = serve($loop, handler => sub {
        my ($req) = @_;
        $req->respond_start({ code => 200 });
        $req->send_chunk('one;');
        # the only reference left is the callback's argument
        $req->drain_callback(sub { $ran++; $_[0]->send_final_chunk('two') });
        Scalar::Util::weaken($weak = $req);
    });
    my $out = client($loop, sub { raw_exchange($port, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n") });
    like($out // '', qr/4\r\none;\r\n3\r\ntwo\r\n0\r\n\r\n\z/, 'a request held only by its drain_callback is answered from it');
    is($ran, 1, 'the callback ran once');
    ok(!defined $weak, 'and the request object is freed after it');
    $server->stop;
}

# ---- a drain_callback waiting when the client goes away runs, and send_chunk says it is gone
{
    # a write after the client's reset raises SIGPIPE, which Uvent ignores
    # when it loads (the default action would end this process)
    is($SIG{PIPE}, 'IGNORE', 'SIGPIPE is ignored once Uvent is loaded');
    my ($ok, $ran) = (1, 0);
    my ($server, $port) = serve($loop, handler => sub {
        my ($req) = @_;
        $req->respond_start({ code => 200 });
        my $big = 'x' x (1 << 20);
        my $step;
        $step = sub {
            $ran++;
            return undef $step unless $ok = $_[0]->send_chunk($big);
            $_[0]->drain_callback($step) or undef $step;
        };
        $step->($req);
    });
    client($loop, sub {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port) or return;
        print {$s} "GET / HTTP/1.1\r\n\r\n";
        sysread $s, my $buf, 1000;
        close $s;
        1;
    });
    run_until($loop, sub { !$ok }, 5);
    ok(!$ok, 'a client gone mid-body: the drain callback runs and send_chunk returns false');
    cmp_ok($ran, '<', 100, "after $ran pieces");
    $server->stop;
}

# ---- a request object freed unanswered
{
    my ($server, $port) = serve($loop, handler => sub { });
    my @r = split_responses(client($loop, sub { raw_exchange($port, "GET / HTTP/1.1\r\n\r\n") }) // '');
    ok(@r == 1 && $r[0][0] == 500 && $r[0][1]{connection} eq 'close', 'a request freed unanswered gets 500 and a close');
    $server->stop;
}

# ---- a dying stop_callback
{
    my ($server) = serve($loop, stop_callback => sub { die "stop_callback died\n" });
    $server->graceful_stop;
    my $ok = eval { run_until($loop, sub { 0 }, 1); 1 };
    is($@, "stop_callback died\n", 'a dying stop_callback propagates out of the loop run');
}

# ---- global destruction with a server running and a request held
{
    my $code = <<'EOF';
use strict; use warnings; use Uvent; use Uvent::HTTP::Server; use IO::Socket::INET;
my $loop = Uvent::Loop->default;
our $held;
our $server = Uvent::HTTP::Server->new({ locations => [ { port => 0 } ], request_callback => sub { $held = $_[0]; $loop->stop } }, $loop);
$server->run;
my $port = $server->sockaddr->{port};
my $pid = fork // die;
if (!$pid) { my $s = IO::Socket::INET->new("127.0.0.1:$port") or exit 1; print $s "GET / HTTP/1.1\r\n\r\n"; sleep 2; exit 0 }
$loop->run;
print "held ", $held->path, "\n";
EOF
    my $out = `$^X -Mblib -e '$code' 2>&1`;
    is($?, 0, 'exit with a server running and a request held: status 0');
    is($out, "held /\n", 'and nothing on stderr');
}

# ---- no leaked SVs
SKIP: {
    skip 'Test::LeakTrace is not installed', 1 unless eval { require Test::LeakTrace; 1 };
    my ($server, $port) = serve($loop, log => undef, handler => sub {
        my ($req) = @_;
        my $h = $req->headers;
        $req->respond({ code => 200, headers => { 'X-A' => [ 1, 2 ] }, body => $req->method . $req->uri . ($h->{host} // '') });
    });
    my $pool = Uvent::HTTP::Pool->new($loop);
    my $cycle = sub {
        my $done = 0;
        $pool->request({ uri => "http://127.0.0.1:$port/x?y", response_callback => sub { $done++ } }) for 1 .. 5;
        run_until($loop, sub { $done == 5 });
    };
    $cycle->() for 1 .. 3;    # warm up: connections made, caches filled
    Test::LeakTrace::no_leaks_ok(sub { $cycle->() }, 'request cycles through the server leak no SV');
    $server->stop;
}

# ---- a forked child that stops its copy of the server before running its
# loop leaves the parent's listener alone (its handles are closed on an
# epoll instance of its own)
{
    my ($server, $port) = serve($loop, handler => sub { $_[0]->respond({ body => "parent $$" }) });
    my $before = client($loop, sub { raw_exchange($port, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n") });
    like($before // '', qr/parent $$\z/, 'the parent serves');
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        $server->stop;
        undef $server;
        require POSIX;
        POSIX::_exit(0);
    }
    waitpid $pid, 0;
    is($?, 0, 'the child stopped its copy and exited');
    my $after = client($loop, sub { raw_exchange($port, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", limit => 5) });
    like($after // '', qr/parent $$\z/, 'the parent still accepts and answers');
    $server->stop;
}

done_testing;
