# Transparent decompression: Accept-Encoding as sent, every coding decoded
# (gzip, deflate zlib-wrapped and raw, br and zstd when built in and the
# test server can make them), chunked and not, the decoded flag and the
# headers removed, decompress => 0 and a user's Accept-Encoding, corrupt
# streams, a gzip bomb against max_body_size with memory bounded, bodies
# that must not be decoded, and max_header_count. Against the test server
# and a private nginx with gzip on.
use strict;
use warnings;
use Test::More;
use Digest::MD5 qw(md5_hex);
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Nginx;
use Uvent::Test::Util qw(run_until fetch ecode body hdr response_ok rss_kb);
use JSON::PP ();
use Compress::Raw::Zlib ();

my @decoders = Uvent::decoders();
is_deeply([ @decoders[0, 1] ], [qw(gzip deflate)], "Uvent::decoders: @decoders");
ok(!(grep { !/\A(?:gzip|deflate|br|zstd)\z/ } @decoders), 'and nothing else');
is_deeply([ Uvent->decoders ], \@decoders, 'Uvent->decoders is the same');
my %built = map { $_ => 1 } @decoders;

my $srv = Uvent::Test::Server->new(raw => {
    'no-content'   => "HTTP/1.1 204 No Content\r\nContent-Encoding: gzip\r\n\r\n",
    'not-modified' => "HTTP/1.1 304 Not Modified\r\nContent-Encoding: gzip\r\nContent-Length: 25\r\n\r\n",
    'empty'        => "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n",
});
my $loop = Uvent::Loop->new;

# First, while the process is small: its peak RSS is what the bomb cost.
subtest 'a 10 GB gzip bomb stops at max_body_size' => sub {
    my $pool = Uvent::HTTP::Pool->new({ max_body_size => 8 * 1024 * 1024 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/gzip-bomb?mb=10240'), timeout => 30);
    is(ecode($r), 'too_large', 'too_large');
    like("$r->{error}", qr/max_body_size \(8388608 bytes\) once decoded from gzip \(the limit counts decoded bytes\)/,
         'the message names the limit and that it counts decoded bytes');
    my ($peak) = do { open my $fh, '<', '/proc/self/status'; map { /^VmHWM:\s+(\d+)/ ? $1 : () } <$fh> };
    my $rss = rss_kb();
    ok(defined $rss && $rss < 50 * 1024, "RSS under 50 MB ($rss kB)");
    ok(!defined $peak || $peak < 50 * 1024, 'and so was the peak (' . ($peak // '?') . ' kB)');
    ok(run_until($loop, sub { $pool->size == 0 }, 5), 'the connection is discarded');
};

my $pool = Uvent::HTTP::Pool->new({}, $loop);

subtest 'Accept-Encoding' => sub {
    my $want = join ', ', @decoders;
    my $sent = sub {
        my ($p, %req) = @_;
        my $r = fetch($loop, $p, uri => $srv->url('/echo'), %req);
        my $echo = JSON::PP->new->decode(body($r) // '{}');
        return join ' | ', map { $_->[1] } grep { lc $_->[0] eq 'accept-encoding' } @{ $echo->{headers} || [] };
    };
    is($sent->($pool), $want, "sent by default: $want");
    is($sent->($pool, decompress => 0), '', 'decompress => 0: none');
    is($sent->($pool, decompress => 1), $want, 'decompress => 1: sent');
    is($sent->($pool, headers => [ 'Accept-Encoding' => 'identity' ]), 'identity', "a user's own is sent alone");
    my $off = Uvent::HTTP::Pool->new({ decompress => 0 }, $loop);
    is($sent->($off), '', 'a pool with decompress => 0: none');
    is($sent->($off, decompress => 1), $want, 'unless the request asks for it');
    my $req = Uvent::HTTP::Request->new({ uri => $srv->url('/echo') });
    for ([$off, ''], [$pool, $want], [$off, '']) {
        my ($p, $w) = @$_;
        my $got;
        $req->response_callback(sub { my $e = JSON::PP->new->decode($_[1]->body);
            $got = join ' | ', map { $_->[1] } grep { lc $_->[0] eq 'accept-encoding' } @{ $e->{headers} } });
        $p->request($req);
        run_until($loop, sub { defined $got }, 5);
        is($got, $w, 'one request object follows the pool it is sent on: ' . ($w || 'none'));
    }
};

my @codings = ('gzip', 'deflate-zlib', 'deflate-raw', 'br', 'zstd');
sub why_not {
    my ($coding) = @_;
    (my $name = $coding) =~ s/-.*//;
    return "this Uvent was built without $name" unless $built{$name};
    return Uvent::Test::Server->encoder_missing($name);
}

subtest 'every coding, chunked and not' => sub {
    my $text = Uvent::Test::Server::encoded_text(100000);
    for my $coding (@codings) {
        (my $name = $coding) =~ s/-.*//;
        SKIP: {
            my $why = why_not($coding);
            skip $why, 16 if $why;
            for my $chunked (0, 1) {
                my $how = "$coding" . ($chunked ? ', chunked' : ', with Content-Length');
                my $r = fetch($loop, $pool, uri => $srv->url("/encoded?coding=$coding&chunked=$chunked&size=100000"));
                response_ok($r, $how);
                my $res = $r->{response} or next;
                ok(body($r) eq $text, "$how: the body is decoded (" . length(body($r)) . ' bytes)');
                is($res->decoded, $name, "$how: decoded is '$name'");
                ok(!defined $res->header('Content-Encoding') && !exists $res->headers->{'content-encoding'},
                   "$how: Content-Encoding is removed");
                ok(!defined $res->header('Content-Length'), "$how: Content-Length is removed");
                is($res->header('X-Decoded-Length'), 100000, "$how: the other headers stay");
            }
        }
    }
    my $a = fetch($loop, $pool, uri => $srv->url('/encoded?coding=gzip'));
    my $b = fetch($loop, $pool, uri => $srv->url('/encoded?coding=gzip&chunked=1'));
    is(hdr($b, 'X-Conn'), hdr($a, 'X-Conn'), 'a decoded response leaves its connection reusable');
};

subtest 'left alone' => sub {
    my $text = Uvent::Test::Server::encoded_text(5000);
    my $r = fetch($loop, $pool, uri => $srv->url('/encoded?coding=gzip&size=5000'), decompress => 0);
    response_ok($r, 'decompress => 0');
    is($r->{response}->decoded, '', 'decoded is the empty string');
    is(hdr($r, 'Content-Encoding'), 'gzip', 'Content-Encoding stays');
    is(hdr($r, 'Content-Length'), length body($r), 'Content-Length stays');
    my ($inflate) = Compress::Raw::Zlib::Inflate->new(-WindowBits => 31);
    my $plain;
    $inflate->inflate(my $copy = body($r), $plain);
    ok(defined $plain && $plain eq $text, 'the body is the gzip the server sent');

    $r = fetch($loop, $pool, uri => $srv->url('/encoded?coding=gzip&size=5000'),
               headers => [ 'Accept-Encoding' => 'gzip' ]);
    response_ok($r, "a user's Accept-Encoding");
    ok(body($r) ne $text && hdr($r, 'Content-Encoding') eq 'gzip' && $r->{response}->decoded eq '',
       'the body is left as sent');

    my $off = Uvent::HTTP::Pool->new({ decompress => 0 }, $loop);
    $r = fetch($loop, $off, uri => $srv->url('/encoded?coding=gzip&size=5000'));
    ok(!$r->{error} && body($r) ne $text && $r->{response}->decoded eq '', 'a pool with decompress => 0');

    for my $raw (qw(no-content not-modified empty)) {
        $r = fetch($loop, $pool, uri => $srv->url("/raw/$raw"));
        ok(!$r->{error}, "$raw with Content-Encoding: gzip: no error") or diag($r->{error});
        ok(defined body($r) && body($r) eq '' && $r->{response}->decoded eq '' && hdr($r, 'Content-Encoding') eq 'gzip',
           "$raw: nothing to decode, the headers as sent");
        $pool->shutdown;    # the raw routes keep the connection
    }
    $r = fetch($loop, $pool, uri => $srv->url('/encoded?coding=gzip'), method => 'HEAD');
    ok(!$r->{error} && body($r) eq '' && hdr($r, 'Content-Encoding') eq 'gzip' && $r->{response}->decoded eq '',
       'HEAD: nothing decoded, the headers as sent');
};

subtest 'corrupt streams are protocol errors naming the coding' => sub {
    my %how = (
        gzip           => [qw(header checksum truncate trailing)],
        'deflate-zlib' => [qw(header checksum truncate trailing)],
        'deflate-raw'  => [qw(header truncate trailing)],
        br             => [qw(truncate trailing)],
        zstd           => [qw(header truncate trailing)],
    );
    for my $coding (@codings) {
        (my $name = $coding) =~ s/-.*//;
        SKIP: {
            my $why = why_not($coding);
            skip $why, 5 * @{ $how{$coding} } if $why;
            for my $corrupt (@{ $how{$coding} }) {
                for my $chunked (0, 1) {
                    my $r = fetch($loop, $pool,
                        uri => $srv->url("/encoded?coding=$coding&corrupt=$corrupt&chunked=$chunked&size=20000"));
                    is(ecode($r), 'protocol', "$coding, $corrupt" . ($chunked ? ', chunked' : '') . ': protocol');
                    like("$r->{error}", qr/corrupt \Q$name\E-encoded body: \S/, "names the coding: $r->{error}")
                        unless $chunked;
                }
            }
        }
    }
    ok(run_until($loop, sub { $pool->size == 0 }, 5), 'their connections are discarded');
};

subtest 'max_header_count' => sub {
    # /many-headers?n=N sends N headers and X-Conn, X-Seq, Content-Length
    my $r = fetch($loop, $pool, uri => $srv->url('/many-headers?n=990'));
    response_ok($r, '993 header lines by default');
    $r = fetch($loop, $pool, uri => $srv->url('/many-headers?n=998'));
    is(ecode($r), 'too_large', '1001 lines: too_large by default (1000)');
    like("$r->{error}", qr/more than max_header_count \(1000\) header and trailer lines; raise max_header_count/,
         'the message names the limit');
    $r = fetch($loop, $pool, uri => $srv->url('/many-headers?n=17'), max_header_count => 20);
    response_ok($r, '20 lines with max_header_count => 20');
    $r = fetch($loop, $pool, uri => $srv->url('/many-headers?n=18'), max_header_count => 20);
    is(ecode($r), 'too_large', '21 lines with max_header_count => 20: too_large');
    $r = fetch($loop, $pool, uri => $srv->url('/many-headers?n=1200'), max_header_count => 0);
    response_ok($r, 'max_header_count => 0: no limit');
    my $small = Uvent::HTTP::Pool->new({ max_header_count => 5 }, $loop);
    $r = fetch($loop, $small, uri => $srv->url('/many-headers?n=3'));
    is(ecode($r), 'too_large', 'a pool with max_header_count => 5');
    $r = fetch($loop, $small, uri => $srv->url('/many-headers?n=3'), max_header_count => 6);
    response_ok($r, 'a request overrides it');
    $r = fetch($loop, $pool, uri => $srv->url('/chunked?trailers=1'), max_header_count => 5);
    is(ecode($r), 'too_large', 'trailers count: 4 header lines and 2 trailers over 5');
    $r = fetch($loop, $pool, uri => $srv->url('/chunked?trailers=1'), max_header_count => 7);
    response_ok($r, 'and fit in 7');
};

subtest 'argument checks' => sub {
    for my $bad ([ { decompress => undef }, qr/'decompress' must be true or false, got undef/ ],
                 [ { decompress => [] }, qr/'decompress' must be true or false, got a reference to ARRAY/ ],
                 [ { max_header_count => 1.5 }, qr/'max_header_count' must be a whole number/ ],
                 [ { max_header_count => -1 }, qr/'max_header_count' must be a number >= 0/ ]) {
        eval { Uvent::HTTP::Pool->new($bad->[0], $loop) };
        like($@, $bad->[1], 'Pool->new croaks: ' . (split /\n/, $@)[0]);
    }
    my $calls = 0;
    for my $v (-1, 1.5, 'many') {
        eval { $pool->request({ uri => $srv->url('/ok'), max_header_count => $v, response_callback => sub { $calls++ } }) };
        like($@, qr/'max_header_count' must be a (?:whole )?number/, "request croaks for max_header_count $v");
    }
    is($calls, 0, 'and sends nothing');
};

SKIP: {
    require Uvent::Test::Certs;
    my $why = Uvent::Test::Server->tls_missing // Uvent::Test::Certs->missing;
    skip "TLS: $why", 1 if $why;
    subtest 'over TLS' => sub {
        my $certs = Uvent::Test::Certs->new;
        my $tls = Uvent::Test::Server->new(tls => { cert_file => $certs->server_cert, key_file => $certs->server_key });
        my $text = Uvent::Test::Server::encoded_text(300000);
        for my $chunked (0, 1) {
            my $r = fetch($loop, $pool, uri => $tls->url("/encoded?coding=gzip&size=300000&chunked=$chunked"),
                          tls => { ca_file => $certs->ca_cert });
            response_ok($r, 'https, gzip' . ($chunked ? ', chunked' : ''));
            ok(defined body($r) && body($r) eq $text && $r->{response}->decoded eq 'gzip', 'decoded');
        }
        my $r = fetch($loop, $pool, uri => $tls->url('/encoded?coding=gzip&corrupt=checksum'),
                      tls => { ca_file => $certs->ca_cert });
        is(ecode($r), 'protocol', 'a corrupt stream over TLS: protocol');
        $tls->stop;
    };
}

subtest 'uvent-get --compressed' => sub {
    my @get = ($^X, '-Mblib', 'bin/uvent-get');
    my ($gz, $plain) = ($srv->url('/encoded?coding=gzip&size=5000'), $srv->url('/ok'));
    my $out = `@get --compressed --json-output '$gz' '$plain'`;
    my $j = eval { JSON::PP->new->decode($out) } || {};
    is_deeply([ map { $_->{decoded} } @{ $j->{results} || [] } ], [ 'gzip', '' ], 'fetch --json-output: decoded per result')
        or diag($out);
    is($j->{results} && $j->{results}[0]{size}, 5000, 'the size is the decoded one');
    $out = `@get --json-output '$gz'`;
    $j = eval { JSON::PP->new->decode($out) } || {};
    ok($j->{results} && !exists $j->{results}[0]{decoded}, 'without --compressed no field');
    $out = `@get --compressed '$gz' '$plain'`;
    like($out, qr/^200\s+5000 B\s+gzip\s+\S+ ms\s+\Q$gz\E$/m, 'fetch: a column names the coding') or diag($out);
    like($out, qr/^200\s+2 B\s+-\s+\S+ ms\s+\Q$plain\E$/m, 'and - for a body sent as it is');
    $out = `@get -n 4 -c 2 --compressed --json-output '$gz'`;
    $j = eval { JSON::PP->new->decode($out) } || {};
    is_deeply($j->{decoded}, { gzip => 4 }, 'load --json-output: counts by coding') or diag($out);
    $out = `@get -n 2 --compressed '$plain'`;
    like($out, qr/^decoded:\s+none=2$/m, 'load: a decoded line');
};

SKIP: {
    my $why = Uvent::Test::Nginx->missing;
    skip "nginx: $why", 1 if $why;
    my $ng = Uvent::Test::Nginx->new;
    subtest 'nginx, gzip on' => sub {
        for my $file (qw(words.txt 1m.bin hello.txt)) {
            my $r = fetch($loop, $pool, uri => $ng->url("/gzip/$file"));
            response_ok($r, "/gzip/$file");
            ok(defined body($r) && md5_hex(body($r)) eq md5_hex($ng->file_content($file)),
               "$file: decoded to the file (" . length(body($r) // '') . ' bytes)');
            is($r->{response} && $r->{response}->decoded, 'gzip', "$file: decoded is gzip");
            ok(!defined hdr($r, 'Content-Encoding') && !defined hdr($r, 'Content-Length'),
               "$file: Content-Encoding and Content-Length removed");
        }
        my $r = fetch($loop, $pool, uri => $ng->url('/gzip/words.txt'), decompress => 0);
        ok(!$r->{error} && !defined hdr($r, 'Content-Encoding') && body($r) eq $ng->file_content('words.txt')
           && $r->{response}->decoded eq '', 'decompress => 0: nginx sends it as it is');
        $r = fetch($loop, $pool, uri => $ng->url('/gzip/words.txt'), headers => { 'Accept-Encoding' => 'gzip' });
        ok(!$r->{error} && hdr($r, 'Content-Encoding') eq 'gzip' && body($r) ne $ng->file_content('words.txt')
           && $r->{response}->decoded eq '', "a user's Accept-Encoding: the gzip as sent");
        $r = fetch($loop, $pool, uri => $ng->url('/gzip/words.txt'), method => 'HEAD');
        ok(!$r->{error} && body($r) eq '', 'HEAD');
        my @conn = map { hdr(fetch($loop, $pool, uri => $ng->url('/gzip/words.txt')), 'X-Conn') } 1 .. 2;
        ok(defined $conn[0] && $conn[0] eq $conn[1], 'the connection is reused after a decoded body')
            if defined $conn[0];
        $r = fetch($loop, $pool, uri => $ng->url('/gzip/words.txt'), max_body_size => 1000);
        is(ecode($r), 'too_large', 'max_body_size counts the decoded bytes');
    };
    $ng->stop;
}

$srv->stop;
done_testing;
