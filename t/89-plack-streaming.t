# Plack::Handler::Uvent in one process (--max-servers 0): a 50 MB file
# body to a client that reads slowly is sent one piece per drain (the
# worker's RSS stays far below the file's size, and a second client is
# answered meanwhile), a getline body is called one piece per drain, an
# app's Content-Length frames a streamed body, psgix.informational
# sends a 103 Early Hints before the final response, and psgix.io hands
# an upgraded connection over.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_RCVBUF);
use Digest::MD5;
use File::Temp qw(tempfile);
use Time::HiRes qw(time sleep);
use POSIX ();
use lib 't/lib';
use Uvent::Test::Serve qw(plack_server);

plan skip_all => 'needs /proc/PID/status (Linux) for the RSS' unless -r "/proc/$$/status";

my $SIZE = 50 * 1024 * 1024;
my ($tmp, $path) = tempfile(UNLINK => 1);
binmode $tmp;
my $md5 = Digest::MD5->new;
for my $i (1 .. $SIZE / 65536) {
    # every 64 KiB piece differs: a piece lost, doubled or reordered changes the MD5
    my $piece = pack('N', $i) x 16384;
    print {$tmp} $piece;
    $md5->add($piece);
}
close $tmp or die "close: $!";
my $want_md5 = $md5->hexdigest;
is(-s $path, $SIZE, 'a 50 MB file to serve');

my ($getlines, $closed) = (0, 0);
my $app = sub {
    my ($env) = @_;
    my $p = $env->{PATH_INFO};
    if ($p eq '/big') {
        open my $fh, '<:raw', $path or die "open $path: $!";
        return [ 200, [ 'Content-Type' => 'application/octet-stream' ], $fh ];
    }
    if ($p eq '/lines') {
        # 200 pieces of 64 KiB: an object with getline, counted
        my $n = 0;
        my $body = bless { next => sub { $getlines++; $n++ < 200 ? 'x' x 65536 : undef }, closed => \$closed }, 'Lines';
        return [ 200, [ 'Content-Type' => 'text/plain' ], $body ];
    }
    if ($p eq '/getlines') {
        return [ 200, [ 'Content-Type' => 'text/plain' ], ["$getlines $closed"] ];
    }
    if ($p eq '/sized') {
        open my $fh, '<', \"hello world" or die;
        return [ 200, [ 'Content-Type' => 'text/plain', 'Content-Length' => 11 ], $fh ];
    }
    if ($p eq '/ws') {
        # an upgrade: the app takes the socket, says 101, echoes one line in capitals, closes
        return [ 200, [], [ exists $env->{'psgix.io'} ? 'has psgix.io' : 'no psgix.io' ] ] if $env->{QUERY_STRING} eq 'peek';
        my $io = $env->{'psgix.io'} or return [ 400, [], ['no socket to take'] ];
        print {$io} "HTTP/1.1 101 Switching Protocols\r\nUpgrade: shout\r\nConnection: Upgrade\r\n\r\n";
        require IO::Select;
        my $line = IO::Select->new($io)->can_read(5) ? <$io> : "timeout\n";
        print {$io} uc $line;
        close $io;
        return [ 200, [], ['ignored'] ];
    }
    if ($p eq '/hints') {
        $env->{'psgix.informational'}->(103, [ Link => '</s.css>; rel=preload' ]);
        return [ 200, [ 'Content-Type' => 'text/plain' ], ['final'] ];
    }
    return [ 200, [ 'Content-Type' => 'text/plain' ], ['small'] ];
};

my ($pid, $port) = plack_server($app, max_servers => 0);
ok($port, "the server listens (port " . ($port // 'none') . ")") or BAIL_OUT('no server');

sub vm {
    my ($key) = @_;
    open my $fh, '<', "/proc/$pid/status" or return 0;
    while (<$fh>) { return $1 if /^$key:\s+(\d+) kB/ }
    return 0;
}

sub connect_to {
    my (%o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 5)
        or die "connect: $!";
    binmode $s;
    return $s;
}

# the whole response of a request sent with Connection: close
sub exchange {
    my ($request) = @_;
    my $s = connect_to();
    print {$s} $request;
    my $got = '';
    my $t0 = time;
    while (time - $t0 < 10) {
        my $n = sysread $s, $got, 65536, length $got;
        last unless $n;
    }
    return $got;
}

sub body_of {
    my ($raw) = @_;
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    return ($head, $body // '');
}

# a raw client with a small receive buffer that sends a request and reads the head
sub slow_client {
    my ($target) = @_;
    my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 65536);
    $s->connect(Socket::pack_sockaddr_in($port, Socket::inet_aton('127.0.0.1'))) or die "connect: $!";
    binmode $s;
    print {$s} "GET $target HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    return $s;
}

# read the rest as fast as it comes; (head, bytes, md5) of a chunked body
sub read_rest {
    my ($s, $buf) = @_;
    my $t0 = time;
    while (time - $t0 < 60) {
        my $n = sysread $s, $$buf, 1 << 20, length $$buf;
        last unless $n;
    }
    my ($head, $rest) = split /\r\n\r\n/, $$buf, 2;
    my $md = Digest::MD5->new;
    my $bytes = 0;
    while ($rest =~ /\G([0-9a-fA-F]+)\r\n/gc) {
        my $len = hex $1;
        last if $len == 0;
        my $p = pos $rest;
        $md->add(substr $rest, $p, $len);
        $bytes += $len;
        pos($rest) = $p + $len + 2;
    }
    return ($head, $bytes, $md->hexdigest);
}

my ($head, $body) = body_of(exchange("GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
is($body, 'small', 'a small response');
my $base = vm('VmRSS');
ok($base > 0, "the worker's RSS before: $base kB");

subtest 'a 50 MB file to a slow reader' => sub {
    my $s = slow_client('/big');
    my $buf = '';
    my ($fast, $slowest) = (0, 0);
    my $t0 = time;
    # 2 s reading 16 KiB every 20 ms (~800 KB/s): the server must wait for it
    while (time - $t0 < 2) {
        sysread $s, $buf, 16384, length $buf;
        sleep 0.02;
    }
    my $rss = vm('VmRSS');
    my $t1 = time;
    my (undef, $other) = body_of(exchange("GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    my $took = time - $t1;
    is($other, 'small', 'a second client is answered meanwhile');
    cmp_ok($took, '<', 1, sprintf('quickly (%.3f s)', $took));
    cmp_ok(length $buf, '<', $SIZE / 4, 'the slow reader had only part of it by then (' . length($buf) . ' bytes)');
    cmp_ok($rss - $base, '<', 16 * 1024, "the worker's RSS grew by " . ($rss - $base) . ' kB while sending, far below 50 MB');
    my ($h, $bytes, $got_md5) = read_rest($s, \$buf);
    like($h, qr/\AHTTP\/1\.1 200 OK\r\n/, 'a 200');
    like($h, qr/^Transfer-Encoding: chunked\r$/mi, 'chunked (the app gave no length)');
    is($bytes, $SIZE, 'all 50 MB arrived');
    is($got_md5, $want_md5, 'with the MD5 of the file');
    my $hwm = vm('VmHWM');
    cmp_ok($hwm - $base, '<', 16 * 1024, "the worker's peak RSS stayed " . ($hwm - $base) . ' kB above the start');
};

subtest 'a getline body is called one piece per drain' => sub {
    my $s = slow_client('/lines');
    my $buf = '';
    my $t0 = time;
    while (time - $t0 < 1) {
        sysread $s, $buf, 16384, length $buf;
        sleep 0.02;
    }
    my (undef, $count) = body_of(exchange("GET /getlines HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    ($count) = split / /, $count;
    # socket buffers (a few MB) take some pieces ahead; all 201 calls would mean no pacing
    cmp_ok($count, '<', 180, "getline was called $count times of 201 while the client read slowly");
    my ($h, $bytes) = read_rest($s, \$buf);
    is($bytes, 200 * 65536, 'then all of the body arrived');
    (undef, $count) = body_of(exchange("GET /getlines HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    is($count, '201 1', 'getline ran to its end (undef) once, and close was called');
};

subtest 'a client that goes away mid-body: the body is closed, not read on' => sub {
    my $s = slow_client('/lines');
    sysread $s, my $buf, 65536;
    close $s;
    my ($count, $t0) = ('', time);
    while (time - $t0 < 5) {
        (undef, $count) = body_of(exchange("GET /getlines HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        last if $count =~ / 2\z/;
        sleep 0.1;
    }
    my ($calls) = $count =~ /\A(\d+)/;
    like($count, qr/ 2\z/, 'close was called on the body');
    cmp_ok($calls - 201, '<', 180, 'before it was read to its end (' . ($calls - 201) . ' getline calls)');
};

subtest "the app's Content-Length frames a streamed body" => sub {
    my $s = connect_to();
    print {$s} "GET /sized HTTP/1.1\r\nHost: x\r\n\r\nGET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    my $got = '';
    my $t0 = time;
    while (time - $t0 < 10) {
        my $n = sysread $s, $got, 65536, length $got;
        last unless $n;
    }
    like($got, qr/\AHTTP\/1\.1 200 OK\r\n(?:[^\r]*\r\n)*?Content-Length: 11\r\n/, 'Content-Length: 11 as the app gave it');
    unlike($got, qr/Transfer-Encoding/i, 'not chunked');
    like($got, qr/\r\n\r\nhello worldHTTP\/1\.1 200 OK\r\n.*\r\n\r\nsmall\z/s, 'the body, then the next response on the same connection');
};

subtest 'psgix.informational: 103 Early Hints' => sub {
    my $got = exchange("GET /hints HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    like($got, qr/\AHTTP\/1\.1 103 Early Hints\r\nLink: <\/s\.css>; rel=preload\r\n\r\nHTTP\/1\.1 200 OK\r\n/,
        'the 103 with its Link header, then the 200');
    like($got, qr/\r\n\r\nfinal\z/, 'and its body');
    $got = exchange("GET /hints HTTP/1.0\r\nHost: x\r\n\r\n");
    like($got, qr/\AHTTP\/1\.1 200 OK\r\n/, 'an HTTP/1.0 client gets no 1xx, only the 200');
};

subtest 'psgix.io: an upgrade takes the socket' => sub {
    my $s = connect_to();
    print {$s} "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: shout\r\nConnection: Upgrade\r\n\r\n";
    my $got = '';
    my $t0 = time;
    while ($got !~ /\r\n\r\n/ && time - $t0 < 5) {
        last unless sysread $s, $got, 4096, length $got;
    }
    like($got, qr/\AHTTP\/1\.1 101 Switching Protocols\r\nUpgrade: shout\r\n/, 'the app wrote its own 101 on psgix.io');
    print {$s} "hello there\n";
    while (time - $t0 < 5) {
        last unless sysread $s, $got, 4096, length $got;
    }
    like($got, qr/\r\n\r\nHELLO THERE\n\z/, 'it spoke the new protocol, and the connection ended when the app closed it');
    unlike($got, qr/ignored|HTTP\/1\.1 200/, 'the server wrote nothing more on it');
    my (undef, $b) = body_of(exchange("GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    is($b, 'small', 'the server goes on with others');
    (undef, $b) = body_of(exchange("GET /ws?peek HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    is($b, 'no psgix.io', 'a request without Upgrade has no psgix.io');
    $got = exchange("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: shout\r\n\r\nGET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    like($got, qr/\AHTTP\/1\.1 400 .*no socket to take.*HTTP\/1\.1 200 OK\r\n.*small\z/s,
        'an upgrade with a request pipelined behind it gets no socket (undef), and both are answered');
    $got = exchange("GET /ws HTTP/1.0\r\nHost: x\r\nUpgrade: shout\r\n\r\n");
    like($got, qr/\AHTTP\/1\.1 400 /, 'nor does an HTTP/1.0 request');
};

kill 'TERM', $pid;
my $t0 = time;
my $done;
while (time - $t0 < 10) {
    last if $done = waitpid($pid, POSIX::WNOHANG()) == $pid;
    sleep 0.05;
}
ok($done, 'the server stops on TERM');
kill 'KILL', $pid unless $done;

done_testing;

package Lines;
sub getline { $_[0]{next}->() }
sub close { ${ $_[0]{closed} }++; 1 }
