# LWP::UserAgent (synchronous, keep_alive connection cache).
# https: LWP::Protocol::https, ssl_opts SSL_ca_file + verify_hostname; close
# mode: keep_alive 0 ("Connection: close"), and one IO::Socket::SSL context for
# all connections (main::bench_ssl_context) so sessions can resume.
use strict;
use warnings;
use FindBin;
require "$FindBin::Bin/common.pl";
use LWP::UserAgent;
our ($URL, $CONCURRENCY, $SECONDS, $MAX, $LEN, $CA, $CLOSE);

my %ssl;
if ($CA) {
    require IO::Socket::SSL;
    %ssl = (ssl_opts => { verify_hostname => 1, SSL_ca_file => $CA,
        $CLOSE ? (SSL_reuse_ctx => main::bench_ssl_context()) : () });
}
my $ua = LWP::UserAgent->new(keep_alive => $CLOSE ? 0 : 1, %ssl);
my ($done, $errors, $bytes) = (0, 0, 0);
main::bench_start();
while (main::bench_more($done)) {
    my $res = $ua->get($URL);
    $done++;
    if ($res->code != 200 || length($res->content) != $LEN) { $errors++ } else { $bytes += $LEN }
}
main::bench_report($done, $errors, $bytes);
