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

my $loop = Uvent::Loop->default;
Uvent::Loop::AnyEvent->attach($loop);
my $cv = AnyEvent->condvar;
my $report = main::bench_uvent_pool($loop, sub { $cv->send });
$cv->recv;
$report->(host => AnyEvent::detect());
