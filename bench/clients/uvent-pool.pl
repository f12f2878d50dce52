# Uvent through Uvent::HTTP::Pool directly, as a user script would.
# https: tls => { ca_file }; close mode: max_requests_per_connection 1
# (sessions are resumed per destination by the pool itself).
use strict;
use warnings;
use FindBin;
require "$FindBin::Bin/common.pl";
use Uvent;
our ($URL, $CONCURRENCY, $SECONDS, $MAX, $LEN, $CA, $CLOSE);

my $loop = Uvent::Loop->default;
my $pool = Uvent::HTTP::Pool->new({
    max_connections => $CONCURRENCY,
    $CLOSE ? (max_requests_per_connection => 1) : (),
    $CA ? (tls => { ca_file => $CA }) : (),
}, $loop);
my ($started, $done, $errors, $bytes) = (0, 0, 0, 0);
my $on_response;
$on_response = sub {
    my ($request, $response, $error) = @_;
    $done++;
    if ($error || $response->code != 200 || length($response->body) != $LEN) { $errors++ }
    else { $bytes += $LEN }
    if (main::bench_more($started)) {
        $started++;
        $pool->request({ uri => $URL, response_callback => $on_response });
    }
};
main::bench_start();
for (1 .. $CONCURRENCY) {
    $started++;
    $pool->request({ uri => $URL, response_callback => $on_response });
}
$loop->run;
main::bench_report($done, $errors, $bytes);
