# Furl (synchronous, keep-alive by default).
# https: ssl_opts SSL_ca_file (IO::Socket::SSL, peer and host name verified);
# close mode: "Connection: close" on every request, and one IO::Socket::SSL
# context for all connections (main::bench_ssl_context) so sessions can resume.
use strict;
use warnings;
use FindBin;
require "$FindBin::Bin/common.pl";
use Furl;
our ($URL, $CONCURRENCY, $SECONDS, $MAX, $LEN, $CA, $CLOSE);

my %ssl;
if ($CA) {
    require IO::Socket::SSL;
    %ssl = (ssl_opts => { SSL_ca_file => $CA, SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_PEER(),
        SSL_verifycn_scheme => 'http',
        $CLOSE ? (SSL_reuse_ctx => main::bench_ssl_context()) : () });
}
my $furl = Furl->new(timeout => 10, %ssl, $CLOSE ? (headers => ['Connection' => 'close']) : ());
my ($done, $errors, $bytes) = (0, 0, 0);
main::bench_start();
while (main::bench_more($done)) {
    my $res = $furl->get($URL);
    $done++;
    if ($res->code != 200 || length($res->content) != $LEN) { $errors++ } else { $bytes += $LEN }
}
main::bench_report($done, $errors, $bytes);
