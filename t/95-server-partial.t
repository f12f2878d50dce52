# Streaming request bodies: route_callback runs when the head has
# arrived; enable_partial there sends the body to partial_callback piece
# by piece (with pause/resume for back-pressure), then request_callback
# runs with an empty body; an answer in route_callback skips the body; a
# dying route or partial callback gives a 500.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use File::Temp ();
use Uvent;
use Uvent::HTTP::Server;
use Uvent::Test::Util qw(run_until);
use Uvent::Test::Serve qw(serve client raw_exchange split_responses);

my $loop = Uvent::Loop->new;
my (%bytes, %pieces, $paused, @body_at_end);
my ($server, $port) = serve($loop, max_body_size => 5_000_000,
    route_callback => sub {
        my ($req) = @_;
        return $req->respond({ code => 401, body => 'no' }) if $req->path eq '/deny';
        die "route died\n" if $req->path eq '/route-die';
        $req->enable_partial if $req->path =~ m{^/up};
    },
    partial_callback => sub {
        my ($req, $chunk) = @_;
        die "partial died\n" if $req->path eq '/up-die';
        $bytes{ $req->path } += length $chunk;
        if (!$pieces{ $req->path }++) {
            # back-pressure: no reading for a while after the first piece
            $req->pause;
            $paused++;
            Uvent::Timer->once(0.05, sub { $req->resume }, $loop);
        }
    },
    handler => sub {
        my ($req) = @_;
        push @body_at_end, length $req->body;
        $req->respond({ body => ($bytes{ $req->path } // 'buffered ' . length $req->body) . ' in ' . ($pieces{ $req->path } // 0) });
    });

my ($fh, $file) = File::Temp::tempfile('uvent-partial-XXXXXX', TMPDIR => 1, UNLINK => 1);
print $fh 'p' x 2_000_000;
close $fh;

SKIP: {
    skip 'curl is not installed', 5 unless grep { -x "$_/curl" } split /:/, $ENV{PATH};
    my $out = client($loop, sub { scalar qx(curl -sS --data-binary \@$file http://127.0.0.1:$port/up1 2>&1) });
    like($out, qr/^2000000 in (\d+)$/, 'a 2 MB upload by Content-Length comes to partial_callback whole');
    my ($n) = $out =~ / in (\d+)$/;
    cmp_ok($n // 0, '>', 1, "in pieces ($n)");
    is($body_at_end[-1], 0, 'request_callback then has an empty body');
    $out = client($loop, sub { scalar qx(curl -sS -H 'Transfer-Encoding: chunked' --data-binary \@$file http://127.0.0.1:$port/up2 2>&1) });
    like($out, qr/^2000000 in \d+$/, 'a chunked upload too');
    $out = client($loop, sub { scalar qx(curl -sS -v -H 'Expect: 100-continue' --expect100-timeout 10 --data-binary \@$file http://127.0.0.1:$port/deny 2>&1) });
    ok($out =~ /< HTTP\/1\.1 401/ && $out !~ /< HTTP\/1\.1 100/, 'an answer in route_callback comes before the body (no 100 Continue)');
}
ok($paused, 'pause and resume ran');

my $out = client($loop, sub { raw_exchange($port, "POST /other HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc") });
like($out // '', qr/buffered 3 in 0\z/, 'without enable_partial the body is buffered as before');

for my $path ('/route-die', '/up-die') {
    my ($died, $c) = (undef, Uvent::Test::Serve::client_start(sub { raw_exchange($port, "POST $path HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc") }));
    eval { $loop->run; 1 } or $died = $@;
    my @r = split_responses(Uvent::Test::Serve::client_wait($loop, $c) // '');
    ok(@r == 1 && $r[0][0] == 500 && $r[0][1]{connection} eq 'close', "$path: 500 and a close");
    like($died // '', qr/died/, "$path: the exception propagates out of \$loop->run");
}

$server->stop;
done_testing;
