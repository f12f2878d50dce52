# Uvent::HTTP::Server on a unix socket (a location's path): raw requests
# over IO::Socket::UNIX (two on one kept-alive connection; peer_address ''
# and peer_port 0), curl --unix-socket, TLS over the unix socket, the
# listeners' { path }, a stale socket file replaced, a busy path, a file in
# the way and a too-long path refused with their reasons, path with host or
# port or reuse_port refused, and the socket file removed at stop and when
# the server object goes (not by a forked child's stop).
use strict;
use warnings;
use Test::More;
use File::Temp ();
use IO::Socket::UNIX ();
use IO::Select ();
use Time::HiRes ();
use POSIX ();
use lib 't/lib';
use Uvent;
use Uvent::HTTP::Server;
use Uvent::Test::Serve qw(client split_responses);

my $dir = File::Temp::tempdir('uvent-unix-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $path = "$dir/http.sock";
my $loop = Uvent::Loop->new;
my @log;
my $handler = sub {
    my ($req) = @_;
    push @log, { peer_address => $req->peer_address, peer_port => $req->peer_port, secure => $req->is_secure };
    $req->respond({ code => 200, body => $req->method . ' ' . $req->uri . ' ' . length($req->body) . ($req->is_secure ? ' secure' : '') });
};

# Send bytes over the unix socket, read until the server closes (bounded).
sub unix_exchange {
    my ($p, $bytes) = @_;
    my $s = IO::Socket::UNIX->new(Peer => $p) or return "connect: $!";
    syswrite $s, $bytes;
    my ($got, $deadline, $sel) = ('', Time::HiRes::time() + 10, IO::Select->new($s));
    while (Time::HiRes::time() < $deadline) {
        next unless $sel->can_read(0.2);
        my $n = sysread $s, $got, 65536, length $got;
        last unless $n;
    }
    return $got;
}

my $server = Uvent::HTTP::Server->new({ locations => [ { path => $path } ], request_callback => $handler }, $loop);
ok(!-e $path, 'nothing is made before run');
$server->run;
ok(-S $path, 'run makes the socket file');
is_deeply([ $server->listeners ], [ { path => $path, tls => '' } ], 'listeners: { path, tls }');
is($server->sockaddr->{path}, $path, 'sockaddr: the path');

my $out = client($loop, sub {
    unix_exchange($path, "GET /one HTTP/1.1\r\nHost: x\r\n\r\nPOST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        . "Connection: close\r\n\r\nabc")
});
my @r = split_responses($out // '');
is(scalar @r, 2, 'two requests on one unix connection: two responses');
is_deeply([ map { $_->[2] } @r ], [ 'GET /one 0', 'POST /two 3' ], 'each answered in order, the body read');
is($r[0][1]{connection}, undef, 'the first kept the connection alive');
is($log[0]{peer_address}, '', "peer_address of an unnamed unix client: ''");
is($log[0]{peer_port}, 0, 'peer_port 0');

SKIP: {
    my $curl = grep { -x "$_/curl" } split /:/, $ENV{PATH};
    skip 'curl is not installed', 2 unless $curl;
    skip 'this curl has no --unix-socket (7.40 and later)', 2 unless qx(curl --help all 2>&1) =~ /--unix-socket/;
    @log = ();
    $out = client($loop, sub { scalar qx(curl -sS --unix-socket $path http://localhost/a http://localhost/b 2>&1) });
    is($out, 'GET /a 0GET /b 0', 'curl --unix-socket: two requests');
    is(scalar @log, 2, 'the server saw both');
}

# a second server on a path being listened on
my $busy = Uvent::HTTP::Server->new({ locations => [ { path => $path } ], request_callback => $handler }, $loop);
eval { $busy->run };
like($@, qr{cannot listen on unix socket \Q$path\E: a server is already listening there}, 'a busy path is refused');
ok(-S $path, 'and the first server keeps its file');
undef $busy;
ok(-S $path, 'the refused server going away leaves the file alone');

# a forked child stopping its copy of the server leaves the parent's file
{
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        $server->stop;        # at once, before the child's loop ran
        undef $server;
        POSIX::_exit(0);
    }
    waitpid $pid, 0;
}
ok(-S $path, "a forked child's stop leaves the socket file");
$out = client($loop, sub { unix_exchange($path, "GET /still HTTP/1.1\r\nConnection: close\r\n\r\n") });
like($out // '', qr{GET /still 0\z}, 'and the parent still serves there');

$server->stop;
ok(!-e $path, 'stop removes the socket file');

# a stale socket: bound by a process that is gone (nobody listens)
{
    my $s = IO::Socket::UNIX->new(Local => $path, Listen => 1) or die "stale socket: $!";
    close $s;
}
ok(-S $path, 'a stale socket file is there');
$server = Uvent::HTTP::Server->new({ locations => [ { path => $path } ], request_callback => $handler }, $loop);
eval { $server->run };
is($@, '', 'a stale socket file is replaced');
$out = client($loop, sub { unix_exchange($path, "GET /again HTTP/1.1\r\nConnection: close\r\n\r\n") });
like($out // '', qr{GET /again 0\z}, 'and the new server answers there');
undef $server;
ok(!-e $path, 'the server object going away removes the file');

# a file that is not a socket
{ open my $f, '>', $path or die; close $f }
$server = Uvent::HTTP::Server->new({ locations => [ { path => $path } ], request_callback => $handler }, $loop);
eval { $server->run };
like($@, qr{cannot listen on unix socket \Q$path\E: a file that is not a socket is in the way}, 'a plain file in the way is refused');
ok(-f $path, 'and left alone');
unlink $path;

my $long = "$dir/" . ('x' x 120);
$server = Uvent::HTTP::Server->new({ locations => [ { path => $long } ], request_callback => $handler }, $loop);
eval { $server->run };
like($@, qr{cannot listen on unix socket .*: the path is too long for a unix socket \(\d+ bytes, at most \d+\)},
    'a path too long for sun_path names the length and the limit');

for my $bad ([ host => '127.0.0.1' ], [ port => 8080 ], [ reuse_port => 1 ]) {
    eval { Uvent::HTTP::Server->new({ locations => [ { path => $path, @$bad } ], request_callback => $handler }, $loop) };
    like($@, qr{locations->\[0\] has a path \(a unix socket\) and '$bad->[0]'}, "path with $bad->[0] croaks");
}
eval { Uvent::HTTP::Server->new({ locations => [ { path => '' } ], request_callback => $handler }, $loop) };
like($@, qr{locations->\[0\]\{path\} must be a file path}, 'an empty path croaks');

# TLS over the unix socket: the same engine over the stream
SKIP: {
    require Uvent::Test::Certs;
    my $why = Uvent::Test::Certs->missing;
    skip "no certificates: $why", 3 if $why;
    skip 'IO::Socket::SSL is not installed', 3 unless eval { require IO::Socket::SSL; 1 };
    my $certs = Uvent::Test::Certs->new;
    $server = Uvent::HTTP::Server->new({
        locations => [ { path => $path, tls => { cert_file => $certs->server_cert, key_file => $certs->server_key } } ],
        request_callback => $handler,
    }, $loop);
    $server->run;
    is($server->sockaddr->{tls}, 1, 'a TLS unix listener');
    my $ca = $certs->ca_cert;
    $out = client($loop, sub {
        my $s = IO::Socket::UNIX->new(Peer => $path) or return "connect: $!";
        IO::Socket::SSL->start_SSL($s, SSL_ca_file => $ca, SSL_verifycn_name => 'localhost',
            SSL_verifycn_scheme => 'http', SSL_hostname => 'localhost') or return "tls: " . IO::Socket::SSL::errstr();
        print $s "GET /tls HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        local $/;
        my $got = <$s>;
        return $got;
    });
    like($out // '', qr{\AHTTP/1\.1 200 OK\r\n.*GET /tls 0 secure\z}s, 'https over the unix socket, verified against the CA');
    $server->stop;
    ok(!-e $path, 'its file is removed at stop');
}

done_testing;
