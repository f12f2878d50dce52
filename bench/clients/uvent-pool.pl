# Uvent through Uvent::HTTP::Pool directly, as a user script would.
# https: tls => { ca_file }; close mode: max_requests_per_connection 1
# (sessions are resumed per destination by the pool itself).
use strict;
use warnings;
use FindBin;
require "$FindBin::Bin/common.pl";
use Uvent;

my $loop = Uvent::Loop->default;
my $report = main::bench_uvent_pool($loop);
$loop->run;
$report->();
