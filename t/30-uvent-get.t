# bin/uvent-get: fetch and load output formats, -o, --json-output, error exits,
# redirects, and request bodies with curl's options.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use File::Temp qw(tempdir);
use JSON::PP;
use Digest::MD5 ();
use POSIX ();
use Uvent::Test::Server;

my $srv = Uvent::Test::Server->new;
# blib's directories as -I: cheaper than -Mblib in each of the many start-ups
die "t/30-uvent-get.t: no blib/ (run make first)\n" unless -d 'blib/arch' && -d 'blib/lib';
our @BLIB = ('-Iblib/arch', '-Iblib/lib');
our @cmd = ($^X, @BLIB, 'bin/uvent-get');

# run uvent-get with stdout and stderr captured (stdout is not a terminal here)
sub run_get { finish_get(start_get(@_)) }

# start_get starts it, finish_get waits for it: several can run at once
sub start_get {
    my $dir = tempdir(CLEANUP => 1);
    my $pid = fork // die;
    if (!$pid) {
        open STDOUT, '>', "$dir/out" or die;
        open STDERR, '>', "$dir/err" or die;
        exec @cmd, @_;
        POSIX::_exit(127);
    }
    return [ $pid, $dir ];
}

sub finish_get {
    my ($pid, $dir) = @{ $_[0] };
    waitpid $pid, 0;
    my $status = $? >> 8;
    my %r = (status => $status);
    for my $f (qw(out err)) {
        open my $fh, '<', "$dir/$f" or die;
        local $/;
        $r{$f} = <$fh>;
    }
    return \%r;
}

subtest 'fetch mode: one line per URL, in order' => sub {
    my $r = run_get($srv->url('/ok'), $srv->url('/big?size=1000'), $srv->url('/status/404'));
    is($r->{status}, 0, 'exit 0: every request got a response');
    my @lines = split /\n/, $r->{out};
    is(scalar @lines, 3, 'three lines');
    like($lines[0], qr{^200\s+2 B\s+[\d.]+ ms\s+\Q@{[$srv->url('/ok')]}\E$}, 'status, size, time, URL');
    like($lines[1], qr{^200\s+1000 B\s}, 'size of the second');
    like($lines[2], qr{^404\s}, 'an HTTP error status is printed, not a failure');
    is($r->{err}, '', 'nothing on stderr');
};

subtest 'fetch mode: a failed request gives exit 1 and names the error' => sub {
    my $r = run_get($srv->url('/ok'), 'http://127.0.0.1:1/');
    is($r->{status}, 1, 'exit 1');
    like($r->{out}, qr{^ERR\s+connect\s.*127\.0\.0\.1:1/.*connection refused}m, 'error code and message');
};

subtest 'fetch mode: -o saves bodies' => sub {
    my $dir = tempdir(CLEANUP => 1);
    my $r = run_get('-o', $dir, $srv->url('/big?size=5000'), $srv->url('/big?size=7'), $srv->url('/'));
    is($r->{status}, 0, 'exit 0');
    is(-s "$dir/big", 5000, 'first body saved under the path name');
    is(-s "$dir/big.1", 7, 'a repeated name gets a suffix');
    ok(-f "$dir/index.html", '/ is saved as index.html');
    open my $fh, '<', "$dir/big" or die;
    my $body = do { local $/; <$fh> };
    is($body, substr('0123456789' x 500, 0, 5000), 'content is the body');
    like($r->{out}, qr{-> \Q$dir\E/big$}m, 'output names the file');
};

subtest 'fetch mode: --json' => sub {
    my $r = run_get('--json-output', $srv->url('/ok'), 'http://127.0.0.1:1/');
    my $j = decode_json($r->{out});
    is($j->{mode}, 'fetch', 'mode');
    is($j->{failed}, 1, 'one failed');
    is($j->{results}[0]{status}, 200, 'first status');
    is($j->{results}[0]{size}, 2, 'first size');
    is($j->{results}[1]{error}, 'connect', 'second error code');
};

subtest 'load mode: -n/-c and the report' => sub {
    $srv->reset_stats;
    my $before = $srv->connections;
    my $r = run_get('-n', 300, '-c', 4, $srv->url('/ok'));
    is($r->{status}, 0, 'exit 0');
    like($r->{out}, qr/^requests:\s+300 in [\d.]+ s, [\d.]+ req\/s, 0 errors$/m, 'requests line');
    like($r->{out}, qr/^status:\s+200=300$/m, 'status line');
    like($r->{out}, qr/^latency:\s+p50 [\d.]+ ms\s+p90 [\d.]+ ms\s+p99 [\d.]+ ms\s+max [\d.]+ ms$/m, 'latency line');
    like($r->{out}, qr/^connections: 4 opened for 300 requests \(reuse 98\.7%\)$/m, 'reuse line');
    like($r->{out}, qr/^transfer:\s+600 body bytes/m, 'bytes');
    like($r->{out}, qr/^client CPU:\s+[\d.]+ us\/request/m, 'cpu line');
    unlike($r->{out}, qr/\r/, 'no progress line when stdout is not a terminal');
    is($srv->requests, 300, 'the server saw exactly 300 requests');
    is($srv->connections - $before, 4, 'on 4 connections');
};

subtest 'load mode: --json and errors by code' => sub {
    my $r = run_get('-n', 20, '-c', 2, '--json-output', '-t', 0.2, $srv->url('/ok'), $srv->url('/stall'));
    is($r->{status}, 1, 'exit 1 when requests failed');
    my $j = decode_json($r->{out});
    is($j->{requests}, 20, 'requests');
    is($j->{errors}, 10, 'half failed');
    is($j->{errors_by_code}{timeout}, 10, 'by code');
    is($j->{statuses}{200}, 10, 'the others succeeded');
    ok($j->{latency_ms}{p99} >= $j->{latency_ms}{p50}, 'percentiles ordered');
    ok(exists $j->{$_}, "field $_") for qw(requests_per_sec connections_opened reuse_ratio bytes_per_sec cpu_us_per_request seconds);
};

subtest 'load mode: --duration bounds the run' => sub {
    # a slow route, so the run does not spend two cores for its duration
    my $r = run_get('--duration', 0.5, '-c', 2, '--json-output', $srv->url('/sleep?s=0.02'));
    is($r->{status}, 0, 'exit 0');
    my $j = decode_json($r->{out});
    ok($j->{requests} > 4, "sent requests ($j->{requests})");
    ok($j->{seconds} < 3, 'stopped after about the duration');
};

subtest 'https: --cacert, -k, TLS handshakes in load mode' => sub {
    require Uvent::Test::Certs;
    my $why = Uvent::Test::Server->tls_missing // Uvent::Test::Certs->missing;
    plan skip_all => $why if $why;
    my $certs = Uvent::Test::Certs->new;
    my $tls = Uvent::Test::Server->new(tls => { cert_file => $certs->server_cert, key_file => $certs->server_key });
    # four separate clients, run at once
    my @runs = map { start_get(@$_) } [ $tls->url('/ok') ], [ '--cacert', $certs->ca_cert, $tls->url('/ok') ],
        [ '-k', $tls->url('/ok') ],
        [ '--cacert', $certs->ca_cert, '-n', 20, '-c', 2, '--max-requests-per-connection', 1, '--json-output', $tls->url('/ok') ];
    my $r = finish_get(shift @runs);
    is($r->{status}, 1, 'unverifiable certificate: exit 1');
    like($r->{out}, qr/ERR\s+tls.*unknown issuer/, 'the tls error is shown');
    $r = finish_get(shift @runs);
    is($r->{status}, 0, '--cacert: exit 0');
    like($r->{out}, qr/^200\s/m, '--cacert: fetched');
    $r = finish_get(shift @runs);
    is($r->{status}, 0, '-k: exit 0 without verification');
    $r = finish_get(shift @runs);
    is($r->{status}, 0, 'load mode over TLS: exit 0');
    my $j = decode_json($r->{out});
    is($j->{requests}, 20, '20 requests');
    is($j->{connections_opened}, 20, 'a new connection for each');
    cmp_ok($j->{tls_handshakes}, '<=', 2, 'full handshakes only for the first two, opened together');
    is($j->{tls_handshakes} + $j->{tls_resumed}, 20, 'every later connection resumed a session');
};

subtest 'usage errors exit 2 with a message' => sub {
    my @runs;    # all at once: each is a perl start-up
    for my $case (
        [[], qr/no URL given/],
        [['--bogus', $srv->url('/')], qr/unknown option/i],
        [['ftp://x/'], qr/not an http:\/\/ or https:\/\/ URL/],
        [['--cacert', '/nonexistent/ca.pem', 'https://127.0.0.1:1/'], qr{cannot load ca_file '/nonexistent/ca.pem'}],
        [['--key', '/tmp/k.pem', 'https://127.0.0.1:1/'], qr/--key needs --cert/],
        [['--tls-min', 'TLSv1.0', 'https://127.0.0.1:1/'], qr/min_version/],
        [['-n', 'abc', $srv->url('/')], qr/invalid|number/i],
        [['-n', 0, $srv->url('/')], qr/--requests must be >= 1/],
        [['-H', 'NoColon', $srv->url('/')], qr/bad header/],
        [['-H', "X: a\rb", $srv->url('/')], qr/header 'X'/],
        [['-X', 'G T', $srv->url('/')], qr/invalid method/],
        [['-o', '/nonexistent/dir', $srv->url('/')], qr/does not exist/],
        [['-n', 5, '-o', '/tmp', $srv->url('/')], qr/fetch mode only/],
    ) {
        push @runs, [ $case, start_get(@{ $case->[0] }) ];
    }
    for my $run (@runs) {
        my (($args, $re), $r) = (@{ $run->[0] }, finish_get($run->[1]));
        is($r->{status}, 2, "exit 2: @$args");
        like($r->{err}, $re, 'message');
    }
    my $before = $srv->requests;
    run_get('-H', "X: a\rb", $srv->url('/ok'));
    is($srv->requests, $before, 'nothing sent on a usage error');
};

subtest 'progress line on a terminal' => sub {
    plan skip_all => 'script(1) not available' unless -x '/usr/bin/script';
    my $cmd = join ' ', map { "'$_'" } @cmd, '--duration', 0.7, '-c', 2, $srv->url('/sleep?s=0.02');
    my $out = `/usr/bin/script -qec "$cmd" /dev/null`;
    like($out, qr{\r\d+/- done\s+\d+ req/s\s+errors 0}, 'progress: requests done, rate, errors');
    like($out, qr/\rrequests:\s+\d+ in/, "then the progress line is cleared and the report follows");
};

subtest '--help and --version' => sub {
    my $r = run_get('--help');
    is($r->{status}, 0, 'help exits 0');
    like($r->{out}, qr/^Usage: uvent-get/, 'usage text');
    $r = run_get('--version');
    like($r->{out}, qr/^uvent-get \d/, 'version');
};

subtest '--read-timeout' => sub {
    my $r = run_get('--read-timeout', '0.3', $srv->url('/stall'));
    is($r->{status}, 1, 'a stalled server: exit 1');
    like($r->{out}, qr{^ERR\s+timeout\s.*read timeout}m, 'the read timeout, named');
    $r = run_get('--read-timeout', '0.5', $srv->url('/drip?n=3&delay=0.2'));
    is($r->{status}, 0, 'a trickling one under the limit: exit 0');
    $r = run_get('--read-timeout', '-1', $srv->url('/ok'));
    is($r->{status}, 2, 'a negative read timeout is a usage error');
};

subtest '--resolve and --local-address' => sub {
    my $port = $srv->port;
    my $r = run_get('--resolve', "uvent-get.test:$port:127.0.0.1", "http://uvent-get.test:$port/ok");
    is($r->{status}, 0, '--resolve: a name that does not exist is reached at the address given');
    like($r->{out}, qr{^200\s}m, '  with its response');
    $r = run_get('--resolve', 'nonsense', $srv->url('/ok'));
    is($r->{status}, 2, 'a malformed --resolve is a usage error');
    like($r->{err}, qr/bad --resolve 'nonsense'/, '  naming it');
    my $dir = tempdir(CLEANUP => 1);
    $r = run_get('--local-address', '127.0.0.2', '-o', $dir, $srv->url('/peer'));
    is($r->{status}, 0, '--local-address 127.0.0.2');
    open my $fh, '<', "$dir/peer" or die "no body saved: $!";
    like(scalar(<$fh>), qr/\A127\.0\.0\.2\b/, '  the server saw the request come from 127.0.0.2');
    $r = run_get('--local-address', 'not-an-ip', $srv->url('/ok'));
    is($r->{status}, 2, 'a bad --local-address is a usage error');
};

subtest '--proxy and --env-proxy' => sub {
    require Uvent::Test::Socks5;
    my $s5 = Uvent::Test::Socks5->new(scheme => 'socks5h');
    my $r = run_get('--proxy', $s5->url, $srv->url_host('proxied.test', '/ok'));
    is($r->{status}, 0, '--proxy socks5h://: a name only the proxy resolves is reached');
    is($s5->connections, 1, '  through the proxy');
    is($s5->log->[0]{addr}, 'proxied.test', '  which was given the name');
    $r = run_get('--proxy', 'ftp://127.0.0.1:1', $srv->url('/ok'));
    is($r->{status}, 2, 'a proxy URL of another scheme is a usage error');
    like($r->{err}, qr/proxy/, '  naming the proxy');
    {
        local $ENV{http_proxy} = $s5->url;
        local $ENV{no_proxy};
        local $ENV{NO_PROXY};
        $r = run_get($srv->url_host('env-proxied.test', '/ok'));
        is($s5->connections, 1, 'without --env-proxy the environment is not read');
        $r = run_get('--env-proxy', $srv->url_host('env-proxied.test', '/ok'));
        is($r->{status}, 0, '--env-proxy: http_proxy is used');
        is($s5->connections, 2, '  through the proxy');
        local $ENV{no_proxy} = '127.0.0.1';
        $r = run_get('--env-proxy', $srv->url('/ok'));
        is($r->{status}, 0, '  and no_proxy is honoured: 127.0.0.1 is reached directly');
        is($s5->connections, 2, '  not through the proxy');
    }
};

sub hv_of { my ($e, $n) = @_; [ map { $_->[1] } grep { lc $_->[0] eq lc $n } @{ $e->{headers} } ] }

subtest '-L (the default), --no-location, --max-redirs' => sub {
    my $chain = $srv->url('/redirect?code=302&to=' . '/redirect%3Fcode%3D301%26to%3D/ok');
    my $r = run_get($chain);
    is($r->{status}, 0, 'exit 0');
    like($r->{out}, qr{^200 .*\(2 redirects to \Q@{[ $srv->url('/ok') ]}\E\)$}m, 'followed by default, and said so');
    $r = run_get('-L', '--json-output', $chain);
    my $j = decode_json($r->{out});
    is($j->{results}[0]{redirects}, 2, '--json-output: redirects');
    is($j->{results}[0]{final_url}, $srv->url('/ok'), '--json-output: final_url');
    $r = run_get('--no-location', $chain);
    like($r->{out}, qr/^302 /m, '--no-location: the 302');
    $r = run_get('--max-redirs', 1, $chain);
    is($r->{status}, 1, '--max-redirs 1: exit 1');
    like($r->{out}, qr/^ERR\s+redirection_limit/m, 'redirection_limit');
};

subtest 'file bodies stream from disk: --data-binary @FILE, -d @FILE, -T, -F NAME=@FILE' => sub {
    my $dir = tempdir(CLEANUP => 1);
    # 30 MiB, written and summed block by block (the test need not hold it either)
    my ($all, $stripped) = (Digest::MD5->new, Digest::MD5->new);
    open my $fh, '>:raw', "$dir/big.bin" or die;
    for my $i (1 .. 30 * 1024) {
        my $block = Digest::MD5::md5("block $i") x 64;
        print $fh $block;
        $all->add($block);
        $block =~ tr/\r\n//d;
        $stripped->add($block);
    }
    close $fh or die;
    my ($md5, $stripped_md5) = ($all->hexdigest, $stripped->hexdigest);
    # uvent-get run by a wrapper that reports its peak memory as it exits
    open my $w, '>', "$dir/hwm.pl" or die;
    print $w q{END { open my $f, '<', '/proc/self/status'; print STDERR grep /VmHWM/, <$f> } do './bin/uvent-get'; die $@ if $@;};
    close $w;
    local @cmd = ($^X, @BLIB, "$dir/hwm.pl");
    for my $case ([ ['--data-binary', "\@$dir/big.bin", $srv->url('/upload')], 'POST', '/upload', $md5 ],
                  [ ['-d', "\@$dir/big.bin", $srv->url('/upload')], 'POST', '/upload', $stripped_md5 ],
                  [ ['--data-file', "$dir/big.bin", $srv->url('/upload')], 'POST', '/upload', $md5 ],
                  [ ['-T', "$dir/big.bin", $srv->url('/')], 'PUT', '/big.bin', $md5 ],
                  [ ['--upload-file', "$dir/big.bin", $srv->url('/upload')], 'PUT', '/upload', $md5 ],
                  [ ['-F', "f=\@$dir/big.bin", $srv->url('/multipart')], 'POST', '/multipart', undef ]) {
        my ($args, $method, $target, $want) = @$case;
        $srv->reset_stats;
        my $r = run_get('-t', 60, @$args);
        is($r->{status}, 0, "@$args[0,1]: exit 0") or diag($r->{err});
        my ($e) = @{ $srv->log };
        is($e->{method}, $method, "@$args[0,1]: $method");
        is($e->{target}, $target, "@$args[0,1]: to $target");
        is($e->{body_md5}, $want, "@$args[0,1]: the server received the file byte for byte") if defined $want;
        my ($kb) = $r->{err} =~ /VmHWM:\s+(\d+)/;
        ok(defined $kb && $kb < 30_000, "@$args[0,1]: the 30 MiB file was never in memory (peak " . ($kb // '?') . ' kB)');
    }
    my $r = run_get('-T', "$dir/nope", $srv->url('/'));
    is($r->{status}, 2, '-T with a missing file: exit 2');
    like($r->{err}, qr/cannot read --upload-file '[^']*nope': No such file/, 'naming it');
};

subtest '-d/--data, --data-binary, --json and -F send bodies as curl does' => sub {
    my $dir = tempdir(CLEANUP => 1);
    open my $fh, '>:raw', "$dir/f.txt" or die;
    print $fh "line1\r\nline2\n";
    close $fh;
    my $body_of = sub {
        my ($e) = grep { $_->{target} eq '/upload' } @{ $srv->log };
        $srv->reset_stats;
        return $e;
    };
    $srv->reset_stats;
    my $r = run_get('-d', 'a=1', '--data', 'b=2', '-d', "\@$dir/f.txt", $srv->url('/upload'));
    is($r->{status}, 0, '-d: exit 0');
    my $e = $body_of->();
    is($e->{method}, 'POST', '-d posts');
    is($e->{body_md5}, Digest::MD5::md5_hex('a=1&b=2&line1line2'), 'joined with &, @FILE without CR and LF');
    is_deeply(hv_of($e, 'Content-Type'), ['application/x-www-form-urlencoded'], 'form Content-Type');
    run_get('--data-binary', "\@$dir/f.txt", '-X', 'PUT', '-H', 'Content-Type: text/plain', $srv->url('/upload'));
    $e = $body_of->();
    is($e->{method}, 'PUT', '-X wins');
    is($e->{body_md5}, Digest::MD5::md5_hex("line1\r\nline2\n"), '--data-binary @FILE: the file as it is');
    is_deeply(hv_of($e, 'Content-Type'), ['text/plain'], "-H's Content-Type wins");
    run_get('--json', '{"a":', '--json', '1}', $srv->url('/upload'));
    $e = $body_of->();
    is($e->{body_md5}, Digest::MD5::md5_hex('{"a":1}'), '--json: concatenated');
    is_deeply([ hv_of($e, 'Content-Type'), hv_of($e, 'Accept') ], [ ['application/json'], ['application/json'] ],
        '--json: Content-Type and Accept');
    $r = run_get('-F', 'title=hello', '-F', "doc=\@$dir/f.txt;type=text/plain;filename=x.txt", $srv->url('/multipart'));
    is($r->{status}, 0, '-F: exit 0');
    my ($m) = grep { $_->{target} eq '/multipart' } @{ $srv->log };
    is($m->{method}, 'POST', '-F posts');
    like((hv_of($m, 'Content-Type'))->[0], qr/\Amultipart\/form-data; boundary=/, 'multipart');
    my $out = tempdir(CLEANUP => 1);
    $r = run_get('-F', 'title=hello', '-F', "doc=\@$dir/f.txt;type=text/plain;filename=x.txt", '-o', $out,
        $srv->url('/multipart'));
    is($r->{status}, 0, 'again, saving the answer');
    my $parts = do { open my $in, '<', "$out/multipart" or die "$out/multipart: $!"; local $/; decode_json(<$in>)->{parts} };
    is_deeply([ map { $_->{headers} } @$parts ], [ ['Content-Disposition: form-data; name="title"'],
        [ 'Content-Disposition: form-data; name="doc"; filename="x.txt"', 'Content-Type: text/plain' ] ],
        '-F: a field and a file with its type and name');
    is_deeply([ map { $_->{content} } @$parts ], [ 'hello', "line1\r\nline2\n" ], '-F: their contents');
    my @runs;
    for my $case (
        [[ '--json', $srv->url('/ok') ], qr/--json takes the JSON to send.*--json-output/],
        [[ '-F', 'a=1', '-d', 'b', $srv->url('/ok') ], qr/use only one of/],
        [[ '-F', 'novalue', $srv->url('/ok') ], qr/bad --form/],
        [[ '-F', 'f=@/nonexistent', $srv->url('/ok') ], qr/cannot read --form file/],
        [[ '-d', '@/nonexistent', $srv->url('/ok') ], qr/cannot read --data/],
        [[ '--max-redirs', -1, $srv->url('/ok') ], qr/--max-redirs must be >= 0/],
    ) {
        push @runs, [ $case, start_get(@{ $case->[0] }) ];
    }
    for my $run (@runs) {
        my (($args, $re), $res) = (@{ $run->[0] }, finish_get($run->[1]));
        is($res->{status}, 2, "exit 2: @$args");
        like($res->{err}, $re, 'message');
    }
};

done_testing;
