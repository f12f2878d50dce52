# HTTP::Tiny (synchronous, keep_alive => 1).
# https: verify_SSL with SSL_ca_file (IO::Socket::SSL); close mode: keep_alive 0
# ("Connection: close"), and one IO::Socket::SSL context for all connections
# (main::bench_ssl_context) so sessions can resume.
use strict;
use warnings;
use FindBin;
require "$FindBin::Bin/common.pl";
use HTTP::Tiny;
our ($URL, $CONCURRENCY, $SECONDS, $MAX, $LEN, $CA, $CLOSE);

my %ssl;
if ($CA) {
    require IO::Socket::SSL;
    %ssl = (verify_SSL => 1, SSL_options => { SSL_ca_file => $CA,
        $CLOSE ? (SSL_reuse_ctx => main::bench_ssl_context()) : () });
}
my $http = HTTP::Tiny->new(keep_alive => !$CLOSE, %ssl);
my ($done, $errors, $bytes) = (0, 0, 0);
main::bench_start();
while (main::bench_more($done)) {
    my $res = $http->get($URL);
    $done++;
    if ($res->{status} != 200 || length($res->{content}) != $LEN) { $errors++ } else { $bytes += $LEN }
}
main::bench_report($done, $errors, $bytes);
