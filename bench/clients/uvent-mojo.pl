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

my $loop = Uvent::Loop->default;
Uvent::Loop::Mojo->attach($loop);
my $report = main::bench_uvent_pool($loop);   # start returns by itself after the last response
Mojo::IOLoop->start;
$report->(host => ref Mojo::IOLoop->singleton->reactor);
