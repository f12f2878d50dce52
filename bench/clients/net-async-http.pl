# Net::Async::HTTP on IO::Async, keep-alive (and its default pipelining).
use strict;
use warnings;
use FindBin;
require "$FindBin::Bin/common.pl";
use IO::Async::Loop;
use Net::Async::HTTP;
use URI;
our ($URL, $CONCURRENCY, $SECONDS, $MAX, $LEN);

my $loop = IO::Async::Loop->new;
my $http = Net::Async::HTTP->new(max_connections_per_host => $CONCURRENCY);
$loop->add($http);
my $uri = URI->new($URL);
my ($started, $done, $errors, $bytes) = (0, 0, 0, 0);
my $get;
$get = sub {
    $started++;
    $http->do_request(
        uri         => $uri,
        on_response => sub {
            my ($res) = @_;
            $done++;
            if ($res->code != 200 || length($res->content) != $LEN) { $errors++ } else { $bytes += $LEN }
            if (main::bench_more($started)) { $get->() } elsif ($done == $started) { $loop->stop }
        },
        on_error => sub {
            $done++;
            $errors++;
            if (main::bench_more($started)) { $get->() } elsif ($done == $started) { $loop->stop }
        },
    );
};
main::bench_start();
$get->() for 1 .. $CONCURRENCY;
$loop->run;
main::bench_report($done, $errors, $bytes);
