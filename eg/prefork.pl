#!/usr/bin/env perl
# A prefork HTTP server with Uvent::HTTP::Manager: the master binds
# 127.0.0.1:PORT and keeps 2 to 4 worker processes (one or two spare),
# each running its own Uvent loop and server; every request is answered
# with the pid of the worker that served it.
#
#   perl eg/prefork.pl                    # http://127.0.0.1:8080/ until Ctrl-C or TERM
#   perl eg/prefork.pl 0 10               # any free port, a graceful stop after 10 s
#
# The first line it prints names the address. Try `kill -HUP <master pid>`
# (every worker restarted, new ones first) or TTIN/TTOU (one more/less).
use strict;
use warnings;
use FindBin ();
# run from a build directory without -Mblib
use if -d "$FindBin::Bin/../blib/arch", lib => "$FindBin::Bin/../blib/lib", "$FindBin::Bin/../blib/arch";
use Uvent;
use Uvent::HTTP::Manager;

my ($port, $seconds) = @ARGV;
$port //= 8080;
$| = 1;

my $told;
my $mgr = Uvent::HTTP::Manager->new({
    server => { locations => [ { host => '127.0.0.1', port => $port } ], idle_timeout => 30 },
    start_servers => 2, min_servers => 2, max_servers => 4,
    min_spare_servers => 1, max_spare_servers => 2,
    check_interval => 1,
    # in each worker, before it accepts: per-process resources (database handles...) go here
    worker_init => sub { print "worker $$ ready\n" },
    spawn_callback => sub {
        my ($pid, $m) = @_;
        print "master $$ listening on http://127.0.0.1:" . ($m->sockaddrs)[0][1] . "/\n" unless $told++;
    },
    request_callback => sub {
        my ($req) = @_;
        $req->respond({ code => 200, headers => [ 'Content-Type' => 'text/plain' ], body => "served by worker $$\n" });
    },
});
$SIG{ALRM} = sub { $mgr->stop };    # graceful, as TERM
alarm $seconds if $seconds;
$mgr->run;
print "stopped\n";
