# Uvent::HTTP::Pool driven by IO::Async through Uvent::Loop::IOAsync:
# uvent-pool.pl's requests and checks, with $ioa->run instead of $loop->run.
# https and close mode as in uvent-pool.pl.
use strict;
use warnings;
use FindBin;
require "$FindBin::Bin/common.pl";
use IO::Async::Loop;
use Uvent;
use Uvent::Loop::IOAsync;

my $ioa = IO::Async::Loop->new;
my $loop = Uvent::Loop->default;
Uvent::Loop::IOAsync->attach($ioa, $loop);
my $report = main::bench_uvent_pool($loop, sub { $ioa->stop });
$ioa->run;
$report->(host => ref $ioa);
