# Uvent::HTTP::Pool driven by Mojo::IOLoop through Uvent::Loop::Mojo:
# uvent-pool.pl's requests and checks, with Mojo::IOLoop->start instead of
# $loop->run (it returns by itself after the last response). https and
# close mode as in uvent-pool.pl.
use strict;
use warnings;
use FindBin;
require "$FindBin::Bin/common.pl";
use Mojo::IOLoop;
use Uvent;
use Uvent::Loop::Mojo;
our ($URL, $CONCURRENCY, $SECONDS, $MAX, $LEN, $CA, $CLOSE);

my $loop = Uvent::Loop->default;
Uvent::Loop::Mojo->attach($loop);
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
Mojo::IOLoop->start;
main::bench_report($done, $errors, $bytes, host => ref Mojo::IOLoop->singleton->reactor);
