# AnyEvent::HTTP on EV, persistent keep-alive connections.
use strict;
use warnings;
use FindBin;
require "$FindBin::Bin/common.pl";
use EV;
use AnyEvent;
use AnyEvent::HTTP;
our ($URL, $CONCURRENCY, $SECONDS, $MAX, $LEN);

$AnyEvent::HTTP::MAX_PER_HOST = $CONCURRENCY;
my ($started, $done, $errors, $bytes) = (0, 0, 0, 0);
my $cv = AE::cv;
my $get;
$get = sub {
    $started++;
    $cv->begin;
    http_get $URL, persistent => 1, keepalive => 1, sub {
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
