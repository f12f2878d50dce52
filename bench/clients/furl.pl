# Furl (synchronous, keep-alive by default).
use strict;
use warnings;
use FindBin;
require "$FindBin::Bin/common.pl";
use Furl;
our ($URL, $CONCURRENCY, $SECONDS, $MAX, $LEN);

my $furl = Furl->new(timeout => 10);
my ($done, $errors, $bytes) = (0, 0, 0);
main::bench_start();
while (main::bench_more($done)) {
    my $res = $furl->get($URL);
    $done++;
    if ($res->code != 200 || length($res->content) != $LEN) { $errors++ } else { $bytes += $LEN }
}
main::bench_report($done, $errors, $bytes);
