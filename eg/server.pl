#!/usr/bin/env perl
# A small HTTP/1.1 keep-alive server on 127.0.0.1, to try the README's Tour
# and the SYNOPSIS of each module against (they use http://127.0.0.1:8080/):
#
#   perl eg/server.pl              # serves http://127.0.0.1:8080/ until Ctrl-C
#   perl eg/server.pl 0 60         # any free port, for at most 60 s
#
# The first line it prints names the address. Every request gets a 200
# text/plain answer saying what was asked, e.g. "POST /upload: 5 body
# bytes"; a path starting with /slow is answered after 0.5 s. One process
# per connection; a connection idle for 30 s is closed.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use POSIX ();

my ($port, $seconds) = @ARGV;
$port //= 8080;
my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port, Listen => 128, ReuseAddr => 1)
    or die "eg/server.pl: cannot listen on 127.0.0.1:$port: $@\n";
$| = 1;
print 'listening on http://127.0.0.1:', $listen->sockport, "/\n";

$SIG{CHLD} = 'IGNORE';
# the connection processes go when the server does
$SIG{$_} = sub { kill 'TERM', -$$; POSIX::_exit(0) } for qw(INT TERM ALRM);
POSIX::setpgid(0, 0);
alarm $seconds if $seconds;

while (1) {
    my $c = $listen->accept or next;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        $SIG{$_} = 'DEFAULT' for qw(INT TERM ALRM);
        close $listen;
        serve($c);
        POSIX::_exit(0);
    }
    close $c;
}

sub serve {
    my ($c) = @_;
    my $sel = IO::Select->new($c);
    my $buf = '';
    while (1) {
        if ($buf =~ s/\A(.*?)\r\n\r\n//s) {
            my ($line, @headers) = split /\r\n/, $1;
            my ($method, $target, $version) = split / /, $line // '';
            my %h = map { /\A([^:]+):\s*(.*)\z/ ? (lc $1 => $2) : () } @headers;
            return reply($c, 501, "chunked request bodies are not supported here\n", 1)
                if ($h{'transfer-encoding'} // '') =~ /chunked/i;
            my $len = $h{'content-length'} // 0;
            while (length $buf < $len) {
                return unless $sel->can_read(30) && sysread($c, $buf, 65536, length $buf);
            }
            my $body = substr $buf, 0, $len, '';
            select(undef, undef, undef, 0.5) if ($target // '') =~ m{\A/slow};
            my $close = ($h{connection} // '') =~ /close/i || ($version // '') ne 'HTTP/1.1';
            reply($c, 200, "$method $target: " . length($body) . " body bytes\n", $close);
            return if $close;
            next;
        }
        return unless $sel->can_read(30) && sysread($c, $buf, 65536, length $buf);
    }
}

sub reply {
    my ($c, $code, $body, $close) = @_;
    my $reason = $code == 200 ? 'OK' : 'Not Implemented';
    syswrite $c, "HTTP/1.1 $code $reason\r\nContent-Type: text/plain\r\nContent-Length: " . length($body) . "\r\n"
        . ($close ? "Connection: close\r\n" : '') . "\r\n$body";
}
