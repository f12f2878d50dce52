#!/usr/bin/env perl
# A small HTTP/1.1 server on 127.0.0.1, built on Uvent::HTTP::Server, to try
# the README's Tour and the SYNOPSIS of each module against (they use
# http://127.0.0.1:8080/):
#
#   perl eg/server.pl              # serves http://127.0.0.1:8080/ until Ctrl-C
#   perl eg/server.pl 0 60         # any free port, for at most 60 s
#
# The first line it prints names the address. Every request gets a 200
# text/plain answer saying what was asked, e.g. "POST /upload: 5 body
# bytes" (chunked uploads too); a path starting with /slow is answered
# after 0.5 s from a timer, while other requests are served meanwhile. One
# process, one event loop; a connection idle for 30 s is closed. SIGINT,
# SIGTERM or the end of the seconds stop it gracefully: requests in flight
# are answered first.
use strict;
use warnings;
use FindBin ();
# run from a build directory without -Mblib
use if -d "$FindBin::Bin/../blib/arch", lib => "$FindBin::Bin/../blib/lib", "$FindBin::Bin/../blib/arch";
use Uvent;
use Uvent::HTTP::Server;
use Time::HiRes ();

my ($port, $seconds) = @ARGV;
$port //= 8080;
my $loop = Uvent::Loop->default;
my %pending;    # the /slow requests' timers, until they answer

my $server = Uvent::HTTP::Server->new({
    locations        => [ { host => '127.0.0.1', port => $port } ],
    idle_timeout     => 30,
    request_callback => sub {
        my ($req) = @_;
        my $text = $req->method . ' ' . $req->uri . ': ' . length($req->body) . " body bytes\n";
        my $answer = sub { $req->respond({ code => 200, headers => [ 'Content-Type' => 'text/plain' ], body => $text }) };
        return $answer->() unless $req->path =~ m{\A/slow};
        my $timer;
        $timer = Uvent::Timer->once(0.5, sub { delete $pending{$timer}; $answer->() }, $loop);
        $pending{$timer} = $timer;
    },
}, $loop);
eval { $server->run; 1 } or die "eg/server.pl: $@";
$| = 1;
my ($address) = $server->listeners;
print "listening on http://127.0.0.1:$address->{port}/\n";

# Perl runs a signal's handler when Perl code next runs: the tick below
# gives it that chance while the loop waits.
my $stop_asked;
$SIG{$_} = sub { $stop_asked = 1 } for qw(INT TERM);
my $deadline = $seconds ? Time::HiRes::time() + $seconds : 0;
my $tick = Uvent::Timer->new($loop);
$tick->start(0.1, 0.1, sub {
    return unless $stop_asked || ($deadline && Time::HiRes::time() >= $deadline);
    $tick->stop;
    $server->stop_callback(sub { %pending = () });
    $server->graceful_stop;
});
$loop->run;
