# AnyEvent::HTTP on EV, persistent keep-alive connections.
# https: one AnyEvent::TLS context (Net::SSLeay) verifying against CA_FILE;
# close mode: persistent => 0 ("Connection: close"). AnyEvent::TLS keeps no
# client sessions, so every new connection is a full handshake.
use strict;
use warnings;
use FindBin;
require "$FindBin::Bin/common.pl";
use EV;
use AnyEvent;
use AnyEvent::HTTP;
our ($URL, $CONCURRENCY, $SECONDS, $MAX, $LEN, $CA, $CLOSE);

# A context object, not a hash: a hash would build (and load the CA) per connection.
my @tls;
if ($CA) {
    require AnyEvent::TLS;
    @tls = (tls_ctx => AnyEvent::TLS->new(verify => 1, verify_peername => 'https', ca_file => $CA));
}

$AnyEvent::HTTP::MAX_PER_HOST = $CONCURRENCY;
my ($started, $done, $errors, $bytes) = (0, 0, 0, 0);
my $cv = AE::cv;
my $get;
$get = sub {
    $started++;
    $cv->begin;
    http_get $URL, persistent => !$CLOSE, keepalive => !$CLOSE, @tls, sub {
        my ($body, $hdr) = @_;
        $done++;
        if ($hdr->{Status} != 200 || length($body) != $LEN) { $errors++ } else { $bytes += $LEN }
        $get->() if main::bench_more($started);
        $cv->end;
    };
};
main::bench_start();
$get->() for 1 .. $CONCURRENCY;
$cv->recv;
main::bench_report($done, $errors, $bytes);
