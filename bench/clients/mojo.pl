# Mojo::UserAgent, non-blocking, keep-alive connection cache sized to the concurrency.
# https: ca => CA_FILE (IO::Socket::SSL, peer and host name verified); close
# mode: max_connections 0 (nothing kept alive), and one IO::Socket::SSL context
# for all connections in tls_options (main::bench_ssl_context) so sessions can resume.
use strict;
use warnings;
use FindBin;
require "$FindBin::Bin/common.pl";
use Mojo::UserAgent;
use Mojo::IOLoop;
our ($URL, $CONCURRENCY, $SECONDS, $MAX, $LEN, $CA, $CLOSE);

my $ua = Mojo::UserAgent->new(max_connections => $CLOSE ? 0 : $CONCURRENCY);
if ($CA) {
    require IO::Socket::SSL;
    $ua->ca($CA);
    $ua->tls_options({
        SSL_verify_mode     => IO::Socket::SSL::SSL_VERIFY_PEER(),
        SSL_verifycn_scheme => 'http',
        $CLOSE ? (SSL_reuse_ctx => main::bench_ssl_context()) : (),
    });
}
my ($started, $done, $errors, $bytes) = (0, 0, 0, 0);
my $get;
$get = sub {
    $started++;
    $ua->get($URL => sub {
        my (undef, $tx) = @_;
        $done++;
        my $res = $tx->res;
        if ($tx->error || ($res->code // 0) != 200 || length($res->body) != $LEN) { $errors++ } else { $bytes += $LEN }
        if (main::bench_more($started)) { $get->() }
        elsif ($done == $started) { Mojo::IOLoop->stop }
    });
};
main::bench_start();
$get->() for 1 .. $CONCURRENCY;
Mojo::IOLoop->start;
main::bench_report($done, $errors, $bytes);
