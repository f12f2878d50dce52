# Shared by the benchmark clients: arguments, the stop rule, the report.
# Every client is run as: CLIENT URL CONCURRENCY SECONDS MAX_REQUESTS EXPECTED_BODY_LENGTH
# and prints one JSON line: {requests, errors, bytes, seconds, cpu}.
use strict;
use warnings;
use Time::HiRes ();
use JSON::PP ();

our ($URL, $CONCURRENCY, $SECONDS, $MAX, $LEN) = @ARGV;
die "usage: $0 URL CONCURRENCY SECONDS MAX_REQUESTS BODY_LENGTH\n" unless defined $LEN;
our ($T0, @CPU0);

sub bench_start { @CPU0 = times; $T0 = Time::HiRes::time }

# true while another request may start
sub bench_more { my ($started) = @_; $started < $MAX && Time::HiRes::time - $T0 < $SECONDS }

sub bench_report {
    my ($requests, $errors, $bytes, %extra) = @_;
    my $elapsed = Time::HiRes::time - $T0;
    my @cpu = times;
    print JSON::PP->new->canonical->encode({
        requests => $requests, errors => $errors, bytes => $bytes, seconds => $elapsed,
        cpu => ($cpu[0] - $CPU0[0]) + ($cpu[1] - $CPU0[1]), %extra,
    }), "\n";
}

1;
