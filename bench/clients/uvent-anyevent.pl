# Uvent::HTTP::Pool driven by AnyEvent on EV through Uvent::Loop::AnyEvent:
# uvent-pool.pl's requests and checks, with AnyEvent's condvar instead of
# $loop->run. https and close mode as in uvent-pool.pl.
use strict;
use warnings;
use FindBin;
require "$FindBin::Bin/common.pl";
use EV;          # before AnyEvent, so that AnyEvent picks EV
use AnyEvent;
use Uvent;
use Uvent::Loop::AnyEvent;
our ($URL, $CONCURRENCY, $SECONDS, $MAX, $LEN, $CA, $CLOSE);

my $loop = Uvent::Loop->default;
Uvent::Loop::AnyEvent->attach($loop);
my $pool = Uvent::HTTP::Pool->new({
    max_connections => $CONCURRENCY,
    $CLOSE ? (max_requests_per_connection => 1) : (),
    $CA ? (tls => { ca_file => $CA }) : (),
}, $loop);
my $cv = AnyEvent->condvar;
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
    } elsif ($done == $started) {
        $cv->send;
    }
};
main::bench_start();
for (1 .. $CONCURRENCY) {
    $started++;
    $pool->request({ uri => $URL, response_callback => $on_response });
}
$cv->recv;
main::bench_report($done, $errors, $bytes, host => AnyEvent::detect());
