# HTTP::Tiny (synchronous, keep_alive => 1).
use strict;
use warnings;
use FindBin;
require "$FindBin::Bin/common.pl";
use HTTP::Tiny;
our ($URL, $CONCURRENCY, $SECONDS, $MAX, $LEN);

my $http = HTTP::Tiny->new(keep_alive => 1);
my ($done, $errors, $bytes) = (0, 0, 0);
main::bench_start();
while (main::bench_more($done)) {
    my $res = $http->get($URL);
    $done++;
    if ($res->{status} != 200 || length($res->{content}) != $LEN) { $errors++ } else { $bytes += $LEN }
}
main::bench_report($done, $errors, $bytes);
