# Lifetime of Uvent::HTTP::Server and its requests across the boundary:
# the server freed from inside its own request_callback, a request kept
# past its server, a request object freed unanswered (500), a dying
# stop_callback, global destruction with a server running and a request
# held, and no leaked SVs over request cycles (Test::LeakTrace).
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

done_testing;
