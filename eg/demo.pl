#!/usr/bin/env perl
# Demo: 24 concurrent requests through one Uvent pool (max_connections 4)
# against a small HTTP/1.1 server started here on 127.0.0.1, then a
# timeout and a refused connection, the pool inside AnyEvent's loop, then HTTPS against a TLS server with a
# certificate made here (verification, a private CA, session resumption),
# printing what happened.
#
#   perl -Mblib eg/demo.pl
use strict;
use warnings;
use IO::Socket::INET;
use File::Temp ();
use POSIX ();
use Time::HiRes qw(time);
use Uvent;

# --- an embedded keep-alive server: one forked process per connection ---
my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 64, ReuseAddr => 1)
    or die "listen: $!";
my $port = $listen->sockport;
my $server_pid = fork // die "fork: $!";
if (!$server_pid) {
    $SIG{CHLD} = 'IGNORE';
    my $conn_no = 0;
    alarm 60;    # never outlive the demo by much
    while (my $c = $listen->accept) {
        $conn_no++;
        next if fork;    # parent goes back to accept
        my $buf = '';
        while (sysread($c, $buf, 65536, length $buf)) {
            while ($buf =~ s/\A(.*?)\r\n\r\n//s) {
                my ($path) = $1 =~ m{\A\S+ (\S+)};
                select(undef, undef, undef, 0.5) if $path =~ /slow/;
                my $body = "hello from connection $conn_no, you asked for $path\n";
                syswrite $c, "HTTP/1.1 200 OK\r\nContent-Length: " . length($body) . "\r\n\r\n$body";
            }
        }
        exit 0;
    }
    exit 0;
}
close $listen;

# --- the client ---
my $loop  = Uvent::Loop->default;
my $pool  = Uvent::HTTP::Pool->new({ timeout => 5, max_connections => 4 }, $loop);
my $start = time;
my (%by_connection, $ok, $queued);

for my $i (1 .. 24) {
    my $client = $pool->request({
        uri               => "http://127.0.0.1:$port/item/$i",
        response_callback => sub {
            my ($request, $response, $error) = @_;
            die "request $i failed: $error\n" if $error;
            $ok++;
            my ($conn) = $response->body =~ /connection (\d+)/;
            $by_connection{$conn}++;
        },
    });
    $queued++ unless $client;
}
printf "submitted 24 requests: %d running on %d connections, %d queued (nbusy=%d nqueued=%d)\n",
    24 - $queued, $pool->size, $queued, $pool->nbusy, $pool->nqueued;
$loop->run;
printf "%d responses in %.1f ms; requests per connection: %s\n", $ok, (time - $start) * 1000,
    join(', ', map {"#$_: $by_connection{$_}"} sort { $a <=> $b } keys %by_connection);
printf "after run: size=%d (idle keep-alive connections) nbusy=%d nqueued=%d\n",
    $pool->size, $pool->nbusy, $pool->nqueued;

$pool->request({
    uri               => "http://127.0.0.1:$port/slow",
    timeout           => 0.2,
    response_callback => sub { my (undef, undef, $error) = @_; print "slow request: ", $error->code, " ($error)\n" },
});
$pool->request({
    uri               => "http://127.0.0.1:1/",
    response_callback => sub { my (undef, undef, $error) = @_; printf "port 1: %s, errno %s\n", $error->code, $error->errno },
});
$loop->run;

# --- the same pool inside another event loop: AnyEvent (on EV when installed) ---
if (eval { require AnyEvent; require Uvent::Loop::AnyEvent; 1 }) {
    my $adapter = Uvent::Loop::AnyEvent->attach($loop);
    my $cv = AnyEvent->condvar;
    my ($ticks, $done) = (0, 0);
    my $tick = AnyEvent->timer(after => 0.002, interval => 0.002, cb => sub { $ticks++ });
    for my $i (1 .. 12) {
        $cv->begin;
        $pool->request({ uri => "http://127.0.0.1:$port/item/$i", response_callback => sub { $done++ unless $_[2]; $cv->end } });
    }
    $cv->recv;
    printf "inside AnyEvent (%s): %d responses while its own timer ticked %d times, no \$loop->run\n",
        AnyEvent::detect(), $done, $ticks;
    $adapter->detach;
} else {
    print "AnyEvent part skipped: it needs AnyEvent (.ci/install-deps)\n";
}

eval { $pool->request({ uri => "http://127.0.0.1:$port/", headers => { 'X-Bad' => "a\r\nInjected: 1" } }) };
print "bad header refused before sending: $@";

kill 'TERM', $server_pid;
waitpid $server_pid, 0;

# --- HTTPS: a throw-away self-signed certificate and a TLS server ---
if (!eval { require IO::Socket::SSL; require IO::Socket::SSL::Utils; 1 }) {
    print "https part skipped: it needs IO::Socket::SSL (.ci/install-deps)\n";
    exit 0;
}
my $dir = File::Temp::tempdir('uvent-demo-XXXXXX', TMPDIR => 1, CLEANUP => 1);
{
    my ($cert, $key) = IO::Socket::SSL::Utils::CERT_create(
        subject         => { commonName => 'localhost' },
        subjectAltNames => [ [ DNS => 'localhost' ], [ IP => '127.0.0.1' ] ],
        not_after       => time + 86400,
        purpose         => 'server',
        key             => defined &IO::Socket::SSL::Utils::KEY_create_ec
            ? IO::Socket::SSL::Utils::KEY_create_ec('prime256v1') : IO::Socket::SSL::Utils::KEY_create_rsa(2048),
    );
    IO::Socket::SSL::Utils::PEM_cert2file($cert, "$dir/cert.pem");
    IO::Socket::SSL::Utils::PEM_key2file($key, "$dir/key.pem");
}
# one context for every connection process, so session tickets resume anywhere
my $ctx = IO::Socket::SSL::SSL_Context->new(SSL_server => 1, SSL_cert_file => "$dir/cert.pem",
    SSL_key_file => "$dir/key.pem") or die "TLS context: " . IO::Socket::SSL::errstr() . "\n";
my $tls_listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 64, ReuseAddr => 1)
    or die "listen: $!";
my $tls_port = $tls_listen->sockport;
my $tls_pid = fork // die "fork: $!";
if (!$tls_pid) {
    $SIG{CHLD} = 'IGNORE';
    alarm 60;
    while (my $c = $tls_listen->accept) {
        next if fork;
        IO::Socket::SSL->start_SSL($c, SSL_server => 1, SSL_reuse_ctx => $ctx) or POSIX::_exit(0);
        my $resumed = $c->get_session_reused ? 'resumed' : 'full';
        my $buf = '';
        while (sysread($c, $buf, 65536, length $buf)) {
            while ($buf =~ s/\A(.*?)\r\n\r\n//s) {
                my $body = "hello over TLS ($resumed handshake)\n";
                syswrite $c, "HTTP/1.1 200 OK\r\nContent-Length: " . length($body) . "\r\n\r\n$body";
            }
        }
        POSIX::_exit(0);
    }
    POSIX::_exit(0);
}
close $tls_listen;

my $https = "https://localhost:$tls_port/";
$pool->request({ uri => $https, response_callback => sub {
    my (undef, undef, $error) = @_;
    print "https with the system trust store: ", $error->code, " ($error)\n";
} });
$loop->run;

# a private CA (here the self-signed certificate itself), and a new
# connection per request to show session resumption
my $tls_pool = Uvent::HTTP::Pool->new({ tls => { ca_file => "$dir/cert.pem" }, max_requests_per_connection => 1 }, $loop);
for my $i (1 .. 4) {
    $tls_pool->request({ uri => $https, response_callback => sub {
        my (undef, $response, $error) = @_;
        print "https request $i: ", $error ? "failed: $error\n" : $response->code . ' ' . $response->body;
    } });
    $loop->run;    # one after the other: each new connection can resume the last session
}
my $st = $tls_pool->stats;
printf "TLS handshakes: %d full, %d resumed, over %d connections\n", $st->{tls_handshakes}, $st->{tls_resumed},
    $st->{connections_opened};

kill 'TERM', $tls_pid;
waitpid $tls_pid, 0;
