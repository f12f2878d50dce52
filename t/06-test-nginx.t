#!/usr/bin/perl
# Self-test of t/lib/Uvent/Test/Nginx.pm using raw sockets only.
use strict;
use warnings;
use lib 't/lib';

use Digest::MD5 qw(md5_hex);
use IO::Select;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);

use Uvent::Test::Nginx;

my $no_nginx = Uvent::Test::Nginx->missing;
plan skip_all => $no_nginx if $no_nginx;

# --- minimal raw client (nginx answers these with Content-Length) -----------------
sub connect_to {
    my $port = shift;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 3)
        or die "connect $port: $@";
    return { s => $s, buf => '' };
}

sub send_all {
    my ($c, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite $c->{s}, $data, length($data) - $off, $off;
        die "write: $!" unless defined $n;
        $off += $n;
    }
}

# >0 bytes read, 0 on EOF/error, undef on timeout.
sub fill {
    my ($c, $timeout) = @_;
    $timeout = 0 if $timeout < 0;
    return undef unless IO::Select->new($c->{s})->can_read($timeout);
    return sysread($c->{s}, $c->{buf}, 65536, length $c->{buf}) // 0;
}

sub response {
    my ($c, %o) = @_;
    my $deadline = time + ($o{timeout} // 5);
    until ($c->{buf} =~ /\r\n\r\n/) {
        return undef unless fill($c, $deadline - time);
    }
    $c->{buf} =~ s/\A(.*?)\r\n\r\n//s;
    my $head = $1;
    my ($line, @lines) = split /\r\n/, $head;
    my ($status) = $line =~ m{\AHTTP/1\.[01] (\d{3})} or return undef;
    my %h = map { /\A([^:]+):\s*(.*)\z/ ? (lc $1 => $2) : () } @lines;
    my $len = $o{head} || $status == 204 || $status == 304 ? 0 : $h{'content-length'} // 0;
    while (length $c->{buf} < $len) {
        return undef unless fill($c, $deadline - time);
    }
    return { status => $status, h => \%h, head => $head, body => substr($c->{buf}, 0, $len, '') };
}

sub get {
    my ($c, $path, %o) = @_;
    send_all($c, "GET $path HTTP/1.1\r\nHost: localhost\r\n\r\n");
    return response($c, %o);
}

# nginx processes whose command line mentions $dir (pgrep -f, /proc fallback).
sub nginx_procs {
    my $dir = shift;
    if (-x '/usr/bin/pgrep' || -x '/bin/pgrep') {
        open my $ph, '-|', 'pgrep', '-f', '--', $dir or die "pgrep: $!";
        my @p = map { /(\d+)/ ? $1 : () } <$ph>;
        close $ph;
        return @p;
    }
    my @p;
    for my $f (glob '/proc/[0-9]*/cmdline') {
        open my $fh, '<', $f or next;
        local $/;
        my $cmd = <$fh> // next;
        push @p, $f =~ m{/proc/(\d+)/} if index($cmd, $dir) >= 0 && $f ne "/proc/$$/cmdline";
    }
    return @p;
}

# ---------------------------------------------------------------------------

my $t0 = time;
my $ng = Uvent::Test::Nginx->new(keepalive_timeout => 75, keepalive_requests => 10000);
ok $ng->port > 0, 'nginx started on a port';
ok time - $t0 < 5, 'startup is bounded';
is $ng->url('/x'), 'http://127.0.0.1:' . $ng->port . '/x', 'url';
my $dir = $ng->dir;
ok scalar(nginx_procs($dir)), 'nginx process is running';

# --- static files and keep-alive -----------------------------------------------------
{
    my $c = connect_to($ng->port);
    my $r = get($c, '/hello.txt');
    is $r->{status}, 200, 'hello.txt status';
    is $r->{body}, 'Hello, World!', 'hello.txt content';
    is $r->{h}{'content-length'}, 13, 'hello.txt Content-Length';
    is $r->{body}, $ng->file_content('hello.txt'), 'file_content matches';
    is $r->{h}{'x-conn-req'}, 1, 'X-Conn-Req 1 on the first request';
    my $conn = $r->{h}{'x-conn'};
    ok $conn, 'X-Conn present';

    $r = get($c, '/hello.txt');
    is $r->{body}, 'Hello, World!', 'second request on the same socket';
    is $r->{h}{'x-conn-req'}, 2, 'X-Conn-Req 2: connection reused';
    is $r->{h}{'x-conn'}, $conn, 'same X-Conn';

    for my $f (qw(4k.bin 64k.bin 1m.bin)) {
        $r = get($c, "/$f");
        is length $r->{body}, length $ng->file_content($f), "$f length";
        is md5_hex($r->{body}), $ng->file_md5($f), "$f content";
    }
    is length $ng->file_content('/1m.bin'), 1048576, 'file_content accepts a leading slash';

    $r = get($c, '/status/204');
    is $r->{status}, 204, '/status/204';
    is $r->{h}{'x-conn'}, $conn, '204 carries X-Conn (add_header always)';

    $r = get($c, '/redirect');
    is $r->{status}, 302, '/redirect';
    like $r->{h}{location}, qr{/hello\.txt\z}, 'redirect Location';

    $r = get($c, '/missing');
    is $r->{status}, 404, '404 for a missing file';
    ok $r->{h}{'x-conn-req'} > 1, '404 carries X-Conn-Req';
}

# --- upload: the answer only comes once the body has been read -----------------------
{
    # byte ($_ * 31 + ($_ >> 10)) & 255 for 0 .. 1048575, 1 KiB at a time (a
    # list of a million strings costs far more than the string)
    my $body = '';
    $body .= pack 'C*', map { ($_ * 31 + ($_ >> 10)) & 255 } $_ * 1024 .. $_ * 1024 + 1023 for 0 .. 1023;
    my $c = connect_to($ng->port);
    send_all($c, "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1048576\r\n\r\n");
    send_all($c, substr $body, 0, 524288);
    is fill($c, 0.5), undef, 'no answer while half the body is missing';
    send_all($c, substr $body, 524288);
    my $r = response($c);
    is $r->{status}, 200, 'upload status';
    is $r->{body}, "1048576\n", 'upload returns the length';
    is $r->{h}{'x-conn-req'}, 1, 'upload X-Conn-Req';

    my $r2 = get($c, '/hello.txt');
    is $r2->{h}{'x-conn-req'}, 2, 'connection reusable after the upload';
    is scalar(() = $r->{head} =~ /^X-Conn:/mig), 1, 'single X-Conn (upstream copy hidden)';
    is scalar(() = $r->{head} =~ /^X-Conn-Req:/mig), 1, 'single X-Conn-Req';
}

# --- a second instance is independent ------------------------------------------------------
{
    my $ng2 = Uvent::Test::Nginx->new(keepalive_timeout => 1);
    isnt $ng2->port, $ng->port, 'second instance on another port';
    my $r = get(connect_to($ng2->port), '/hello.txt');
    is $r->{body}, 'Hello, World!', 'second instance serves';
    my $dir2 = $ng2->dir;
    undef $ng2;    # DESTROY stops it
    is_deeply [ nginx_procs($dir2) ], [], 'DESTROY stops nginx';
}

# --- stop -------------------------------------------------------------------------------------
{
    my ($pid, $port) = ($ng->pid, $ng->port);
    $t0 = time;
    $ng->stop;
    ok time - $t0 < 5, 'stop is bounded';
    is_deeply [ nginx_procs($dir) ], [], 'no nginx process left (pgrep -f)';
    ok !kill(0, $pid), 'nginx pid is gone';
    ok !IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 1),
        'port closed after stop';
    $ng->stop;    # idempotent
}

done_testing;
