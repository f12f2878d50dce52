# Memory case: N requests through one pool at concurrency C, RSS sampled
# (https: CA_FILE is the CA the server certificate is verified against).
# Prints JSON: requests, every, samples [[done, kb]], rss_after_warmup_kb, rss_end_kb, growth_kb.
use strict;
use warnings;
use JSON::PP;
use Uvent;

my ($url, $conc, $total, $ca) = @ARGV;
die "usage: memory.pl URL CONCURRENCY REQUESTS [CA_FILE]\n" unless $total;
my $every = int($total / 20) || 1;

sub rss_kb {
    open my $fh, '<', '/proc/self/status' or return 0;
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+)/ }
    return 0;
}

my $loop = Uvent::Loop->default;
my $pool = Uvent::HTTP::Pool->new({ max_connections => $conc, $ca ? (tls => { ca_file => $ca }) : () }, $loop);
my ($started, $done, $errors) = (0, 0, 0);
my @samples;
my $cb;
$cb = sub {
    my (undef, $res, $err) = @_;
    $done++;
    $errors++ if $err || $res->code != 200;
    push @samples, [$done, rss_kb()] if $done % $every == 0;
    if ($started < $total) {
        $started++;
        $pool->request({ uri => $url, response_callback => $cb });
    }
};
for (1 .. $conc) { $started++; $pool->request({ uri => $url, response_callback => $cb }) }
$loop->run;
# warm-up: the first quarter of the run
my ($warm) = grep { $_->[0] >= $total / 4 } @samples;
my $end = $samples[-1];
print encode_json({ requests => $done, errors => $errors, every => $every, samples => \@samples,
    rss_after_warmup_kb => $warm->[1], rss_end_kb => $end->[1], growth_kb => $end->[1] - $warm->[1] }), "\n";
