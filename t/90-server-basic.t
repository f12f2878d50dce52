# Uvent::HTTP::Server against clients nobody here wrote (curl, HTTP::Tiny,
# LWP) and our own pool: keep-alive (the same client port for two
# requests), HTTP/1.0, HEAD, uploads (Content-Length and chunked),
# pipelining over a raw socket (10 requests in one write, answered in
# order), a handler answering 200 ms later from a timer, a proxy-like
# handler calling http_request on the same loop, and a dying handler (500,
# the exception out of $loop->run, the server serving on).
use strict;
use warnings;
use Test::More;
use File::Temp ();
use lib 't/lib';
use Uvent;
use Uvent::HTTP::Server;
use Uvent::Test::Util qw(run_until);
use Uvent::Test::Serve qw(serve client raw_exchange split_responses);

my $loop = Uvent::Loop->new;
my $port;
my %drain;    # what /drain and /hints saw

# /drain's next piece, once the socket took the last (only the drain callback holds $req)
sub drain_step {
    my ($req) = @_;
    $drain{calls}++;
    $drain{queued} += $req->queued_bytes;
    if ($drain{calls} == 5) {
        $req->send_final_chunk("end");
        $drain{after_final} = eval { $req->drain_callback(sub { }); 1 } ? 'no croak' : $@;
        return;
    }
    $req->send_chunk("piece $drain{calls};");
    $req->drain_callback(sub { drain_step($_[0]) });
}

my ($server, $port_, $log) = serve($loop,
    handler => sub {
        my ($req) = @_;
        if ($req->path eq '/later') {
            Uvent::Timer->once(0.2, sub {
                $req->respond({ code => 200, body => 'later ' . $req->query });
            }, $loop);
            return;
        }
        if ($req->path eq '/stream') {
            $req->respond_start({ code => 200, headers => [ 'Content-Type' => 'text/plain' ] });
            $req->send_chunk("part $_;") for 1 .. 3;
            my $n = 3;
            my $t; $t = Uvent::Timer->new($loop)->start(0.02, 0.02, sub {
                return $req->send_chunk('part ' . ++$n . ';') if $n < 6;
                $t->stop; undef $t;
                $req->send_final_chunk('end');
            });
            return;
        }
        if ($req->path eq '/drain') {
            %drain = (calls => 0, queued => 0);
            $drain{before} = eval { $req->drain_callback(sub { }); 1 } ? 'no croak' : $@;
            $req->respond_start({ code => 200 });
            $drain{not_code} = eval { $req->drain_callback('sub'); 1 } ? 'no croak' : $@;
            $req->send_chunk('piece 0;');
            $drain{armed} = $req->drain_callback(sub { drain_step($_[0]) });
            $drain{sync} = $drain{calls};    # 0: never from inside drain_callback
            return;
        }
        if ($req->path eq '/hints') {
            if ($req->http_version eq '1.0') {
                $drain{hint10} = eval { $req->send_informational(103, []); 1 } ? 'no croak' : $@;
                return $req->respond({ code => 200, body => 'final' });
            }
            $drain{hint} = $req->send_informational(103, [ Link => '</s.css>; rel=preload' ]);
            $drain{hint101} = eval { $req->send_informational(101, []); 1 } ? 'no croak' : $@;
            $req->respond({ code => 200, body => 'final' });
            $drain{hint_late} = eval { $req->send_informational(103, []); 1 } ? 'no croak' : $@;
            return;
        }
        if ($req->path eq '/die') {
            die "handler died on purpose\n";
        }
        if ($req->path eq '/proxy') {
            # a handler that is a client of the same server, on the same loop
            Uvent::HTTP::Pool->instance($loop)->request({
                uri => "http://127.0.0.1:$port/inner",
                response_callback => sub {
                    my (undef, $resp, $err) = @_;
                    $req->respond({ code => 200, body => $err ? "error $err" : 'via proxy: ' . $resp->body });
                },
            });
            return;
        }
        $req->respond({ code => 201, message => 'Made', headers => { 'Content-Type' => 'text/plain', 'X-Two' => [ 'a', 'b' ] },
                        body => $req->method . ' ' . $req->uri . ' ' . length($req->body) });
    });
$port = $port_;
ok($port, "listening on 127.0.0.1:$port");
my $base = "http://127.0.0.1:$port";
is_deeply([ map { $_->{port} } $server->listeners ], [$port], 'listeners tells the port chosen for 0');

# ---- curl
SKIP: {
    skip 'curl is not installed', 11 unless grep { -x "$_/curl" } split /:/, $ENV{PATH};
    @$log = ();
    my $out = client($loop, sub { scalar qx(curl -sS -i $base/a $base/b 2>&1) });
    is(scalar(() = $out =~ m{HTTP/1\.1 201 Made\r$}mg), 2, 'curl: two responses');
    like($out, qr{^X-Two: a\r\nX-Two: b\r$}m, 'a repeated header from an arrayref value');
    like($out, qr{^Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r$}m, 'a Date');
    ok(@$log == 2 && $log->[0]{peer_port} == $log->[1]{peer_port}, 'curl kept the connection alive (one client port for both)');

    @$log = ();
    $out = client($loop, sub { scalar qx(curl -sS -i --http1.0 $base/old 2>&1) });
    like($out, qr{^Connection: close\r$}m, 'curl --http1.0: Connection: close');
    is($log->[0]{version}, '1.0', 'the request was HTTP/1.0');

    $out = client($loop, sub { scalar qx(curl -sS -I $base/head 2>&1) });
    like($out, qr{^Content-Length: 12\r$}m, 'curl -I: HEAD has the length of the body a GET gets');

    my ($fh, $file) = File::Temp::tempfile('uvent-up-XXXXXX', TMPDIR => 1, UNLINK => 1);
    print $fh 'x' x 100_000;
    close $fh;
    @$log = ();
    $out = client($loop, sub { scalar qx(curl -sS --data-binary \@$file $base/up 2>&1) });
    is(length($log->[0]{body} // ''), 100_000, 'curl: a 100 kB upload by Content-Length');
    @$log = ();
    $out = client($loop, sub { scalar qx(printf 'chunk' | curl -sS -H 'Transfer-Encoding: chunked' --data-binary \@- $base/chunked 2>&1) });
    is($log->[0]{body}, 'chunk', 'curl: a chunked upload');
    # curl waits up to --expect100-timeout for the 100 before sending the body
    @$log = ();
    $out = client($loop, sub { scalar qx(curl -sS -v -H 'Expect: 100-continue' --expect100-timeout 15 --data-binary \@$file $base/expect 2>&1) });
    like($out // '', qr{^< HTTP/1\.1 100 Continue\r?$}m, 'curl with Expect: 100-continue gets a 100');
    is(length($log->[0]{body} // ''), 100_000, 'and then sends the body');
}

# ---- streamed responses
{
    my $want = join('', map { "part $_;" } 1 .. 6) . 'end';
    my $got;
    Uvent::HTTP::Pool->instance($loop)->request({ uri => "$base/stream",
        response_callback => sub { $got = $_[2] ? "error $_[2]" : ($_[1]->header('Transfer-Encoding') // '') . ' ' . $_[1]->body } });
    run_until($loop, sub { defined $got });
    is($got, "chunked $want", 'respond_start, send_chunk (from a timer too), send_final_chunk: a chunked body');
    my $out = client($loop, sub { raw_exchange($port, "GET /stream HTTP/1.0\r\n\r\n") });
    like($out // '', qr/\r\nConnection: close\r\n\r\n\Q$want\E\z/, 'to HTTP/1.0: unframed, up to the close');
    $out = client($loop, sub { raw_exchange($port, "GET /stream HTTP/1.1\r\n\r\nGET /after-stream HTTP/1.1\r\nConnection: close\r\n\r\n") });
    like($out // '', qr/0\r\n\r\nHTTP\/1\.1 201 Made\r\n.*GET \/after-stream 0\z/s, 'a pipelined request behind a streamed response waits for its end');
}

{
    my $out = client($loop, sub { raw_exchange($port, "GET /drain HTTP/1.1\r\n\r\nGET /after-drain HTTP/1.1\r\nConnection: close\r\n\r\n") });
    like($out // '', qr/\r\n\r\n8\r\npiece 0;\r\n8\r\npiece 1;\r\n.*8\r\npiece 4;\r\n3\r\nend\r\n0\r\n\r\nHTTP\/1\.1 201 Made\r\n.*GET \/after-drain 0\z/s,
        'drain_callback paces a streamed body, one piece a drain, and the next request follows');
    like($drain{before}, qr/drain_callback: no streamed response was started/, 'drain_callback before respond_start croaks');
    like($drain{not_code}, qr/drain_callback: the callback must be a CODE reference/, 'and with a callback that is no CODE ref');
    like($drain{after_final}, qr/drain_callback: the response is complete already/, 'and after send_final_chunk');
    is($drain{armed}, 1, 'drain_callback returns 1 on an open connection');
    is($drain{sync}, 0, 'its callback never runs from inside drain_callback');
    is($drain{calls}, 5, 'it ran once per time asked');
    is($drain{queued}, 0, 'queued_bytes is 0 whenever it runs');
    $out = client($loop, sub { raw_exchange($port, "GET /hints HTTP/1.1\r\nConnection: close\r\n\r\n") });
    like($out // '', qr/\AHTTP\/1\.1 103 Early Hints\r\nLink: <\/s\.css>; rel=preload\r\n\r\nHTTP\/1\.1 200 OK\r\n.*\r\n\r\nfinal\z/s,
        'send_informational: a 103 with its headers, then the final response');
    is($drain{hint}, 1, 'it returns 1');
    like($drain{hint101}, qr/send_informational: code must be a status from 100 to 199 but 101/, '101 croaks');
    like($drain{hint_late}, qr/send_informational: the final response began already/, 'and after the final response');
    $out = client($loop, sub { raw_exchange($port, "GET /hints HTTP/1.0\r\n\r\n") });
    like($out // '', qr/\AHTTP\/1\.1 200 OK\r\n/, 'an HTTP/1.0 client gets only the final response');
    like($drain{hint10}, qr/send_informational: an HTTP\/1\.0 client takes no 1xx response/, 'send_informational to it croaks');
}

# ---- HTTP::Tiny
SKIP: {
    skip 'HTTP::Tiny is not installed', 3 unless eval { require HTTP::Tiny; 1 };
    @$log = ();
    my $out = client($loop, sub {
        my $h = HTTP::Tiny->new(keep_alive => 1);
        my $r1 = $h->get("$base/t1");
        my $r2 = $h->post("$base/t2", { content => 'abc' });
        return "$r1->{status} $r1->{content}|$r2->{status} $r2->{content}";
    });
    is($out, '201 GET /t1 0|201 POST /t2 3', 'HTTP::Tiny: GET and POST');
    ok(@$log == 2 && $log->[0]{peer_port} == $log->[1]{peer_port}, 'HTTP::Tiny kept the connection alive');
    is($log->[1]{headers}{'content-length'}, 3, 'the headers hash has lowercase names');
}

# ---- LWP
SKIP: {
    skip 'LWP::UserAgent is not installed', 1 unless eval { require LWP::UserAgent; 1 };
    my $out = client($loop, sub {
        my $r = LWP::UserAgent->new->get("$base/lwp?x=1", 'X-Test' => 'yes');
        return $r->code . ' ' . $r->decoded_content;
    });
    is($out, '201 GET /lwp?x=1 0', 'LWP::UserAgent: GET with a query');
}

# ---- our own pool, on the same loop
{
    my $pool = Uvent::HTTP::Pool->new({ max_connections => 4 }, $loop);
    my @got;
    for my $n (1 .. 20) {
        $pool->request({ uri => "$base/pool?n=$n", response_callback => sub { push @got, $_[1]->code . ' ' . $_[1]->body } });
    }
    run_until($loop, sub { @got == 20 });
    is_deeply([ sort @got ], [ sort map { "201 GET /pool?n=$_ 0" } 1 .. 20 ], 'our pool: 20 requests over 4 connections');
}

# ---- pipelining
{
    my $bytes = join '', map { "GET /p$_ HTTP/1.1\r\nHost: x\r\n" . ($_ == 10 ? "Connection: close\r\n" : '') . "\r\n" } 1 .. 10;
    my $out = client($loop, sub { raw_exchange($port, $bytes) });
    my @r = split_responses($out // '');
    is_deeply([ map { $_->[2] } @r ], [ map { "GET /p$_ 0" } 1 .. 10 ], 'ten pipelined requests in one write, answered in order');
    is($r[-1][1]{connection}, 'close', 'the last (Connection: close) says so');
}

# ---- a handler answering later
{
    my $bytes = "GET /later?q=1 HTTP/1.1\r\n\r\nGET /now HTTP/1.1\r\nConnection: close\r\n\r\n";
    my $out = client($loop, sub { raw_exchange($port, $bytes) });
    my @r = split_responses($out // '');
    is_deeply([ map { $_->[2] } @r ], [ 'later q=1', 'GET /now 0' ], 'an answer 200 ms later from a timer, and the request behind it after it');
}

# ---- proxy-like handler
{
    my $out = client($loop, sub { raw_exchange($port, "GET /proxy HTTP/1.1\r\nConnection: close\r\n\r\n") });
    my @r = split_responses($out // '');
    is($r[0][2], 'via proxy: GET /inner 0', 'a handler calling http_request on the same loop answers from its callback');
}

# ---- a dying handler
{
    my $c = Uvent::Test::Serve::client_start(sub { raw_exchange($port, "GET /die HTTP/1.1\r\n\r\nGET /after HTTP/1.1\r\n\r\n") });
    my $died;
    my $ok = eval { $loop->run; 1 };
    $died = $@ unless $ok;
    like($died // '', qr/^handler died on purpose/, 'the exception propagates out of $loop->run');
    my $out = Uvent::Test::Serve::client_wait($loop, $c);
    my @r = split_responses($out // '');
    is(scalar @r, 1, 'one response: the connection closed after it');
    is($r[0][0], 500, 'a 500 for the died handler');
    is($r[0][1]{connection}, 'close', 'saying Connection: close');
    $out = client($loop, sub { raw_exchange($port, "GET /still HTTP/1.1\r\nConnection: close\r\n\r\n") });
    like($out // '', qr/GET \/still 0\z/, 'the server keeps serving');
}

$server->stop;
ok(!$server->running && !$server->listeners, 'stopped: no listener');
run_until($loop, sub { 0 }, 0.1);
done_testing;
