# Net::Async::HTTP on IO::Async, keep-alive (and its default pipelining).
# https: IO::Async::SSL (IO::Socket::SSL) with SSL_ca_file, peer and host name
# verified; close mode: "Connection: close" on every request, no pipelining,
# and one IO::Socket::SSL context for all connections (main::bench_ssl_context)
# so sessions can resume.
use strict;
use warnings;
use FindBin;
require "$FindBin::Bin/common.pl";
use IO::Async::Loop;
use Net::Async::HTTP;
use URI;
use HTTP::Request;
our ($URL, $CONCURRENCY, $SECONDS, $MAX, $LEN, $CA, $CLOSE);

my $loop = IO::Async::Loop->new;
my @ssl;
if ($CA) {
    require IO::Async::SSL;
    require IO::Socket::SSL;
    @ssl = (SSL_ca_file => $CA, SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_PEER(), SSL_verifycn_scheme => 'http',
        $CLOSE ? (SSL_reuse_ctx => main::bench_ssl_context()) : ());
}
my $http = Net::Async::HTTP->new(max_connections_per_host => $CONCURRENCY, $CLOSE ? (pipeline => 0) : (), @ssl);
$loop->add($http);
my $uri = URI->new($URL);
my ($started, $done, $errors, $bytes) = (0, 0, 0, 0);
my $get;
$get = sub {
    $started++;
    $http->do_request(
        $CLOSE ? (request => HTTP::Request->new(GET => $uri, ['Connection' => 'close'])) : (uri => $uri),
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
