# LWP::UserAgent (synchronous, keep_alive connection cache).
use strict;
use warnings;
use FindBin;
require "$FindBin::Bin/common.pl";
use LWP::UserAgent;
our ($URL, $CONCURRENCY, $SECONDS, $MAX, $LEN);

my $ua = LWP::UserAgent->new(keep_alive => 1);
my ($done, $errors, $bytes) = (0, 0, 0);
main::bench_start();
while (main::bench_more($done)) {
    my $res = $ua->get($URL);
    $done++;
    if ($res->code != 200 || length($res->content) != $LEN) { $errors++ } else { $bytes += $LEN }
}
main::bench_report($done, $errors, $bytes);
