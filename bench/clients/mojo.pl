# Mojo::UserAgent, non-blocking, keep-alive connection cache sized to the concurrency.
use strict;
use warnings;
use FindBin;
require "$FindBin::Bin/common.pl";
use Mojo::UserAgent;
use Mojo::IOLoop;
our ($URL, $CONCURRENCY, $SECONDS, $MAX, $LEN);

my $ua = Mojo::UserAgent->new(max_connections => $CONCURRENCY);
my ($started, $done, $errors, $bytes) = (0, 0, 0, 0);
my $get;
$get = sub {
    $started++;
    $ua->get($URL => sub {
        my (undef, $tx) = @_;
        $done++;
        my $res = $tx->res;
        if ($tx->error || ($res->code // 0) != 200 || length($res->body) != $LEN) { $errors++ } else { $bytes += $LEN }
        if (main::bench_more($started)) { $get->() }
        elsif ($done == $started) { Mojo::IOLoop->stop }
    });
};
main::bench_start();
$get->() for 1 .. $CONCURRENCY;
Mojo::IOLoop->start;
main::bench_report($done, $errors, $bytes);
