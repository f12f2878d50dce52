use strict;
use warnings;
use Test::More;
use Digest::MD5 qw(md5_hex);
use File::Temp qw(tempdir);
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Certs;
use Uvent::Test::Nginx;
use Uvent::Test::Util qw(run_until wait_all start_req response_ok ecode body hdr rss_kb);

# Streamed request bodies: from a code ref, a filehandle and pushed with
# send_chunk/send_final_chunk, chunked or with a Content-Length, over TCP
# and TLS; each checked byte for byte by the server (the length and MD5 it
# received). Then the errors (a dying code ref, a failed read, a body
# longer or shorter than its Content-Length), an early 413 during a 100 MB
# upload, no retry and no 307 replay for a body that cannot be sent twice,
# multipart files streamed from disk, and nginx.

my $loop = Uvent::Loop->new;
my $srv  = Uvent::Test::Server->new;
my $dir  = tempdir(CLEANUP => 1);

sub fetch {
    my ($pool, %p) = @_;
    my $r = start_req($pool, %p);
    wait_all($loop, $r);
    is($r->{calls}, 1, "exactly one callback ($p{uri})");
    return $r;
}

# pieces of different sizes, so a piece boundary bug shows in the digest
sub pieces { my ($n) = @_; return map { join '', map { chr(($_ * 7 + $n) % 256) } 1 .. (100 + $_ * 997 % 5000) } 1 .. $n }

sub code_ref { my @p = @_; return sub { @p ? shift @p : '' } }

sub last_req { my ($s) = @_; my $log = $s->log; return $log->[-1] }
sub req_header {
    my ($e, $name) = @_;
    my ($h) = grep { lc $_->[0] eq lc $name } @{ $e->{headers} };
    return $h ? $h->[1] : undef;
}

sub file_with {
    my ($name, $data) = @_;
    open my $fh, '>:raw', "$dir/$name" or die $!;
    print $fh $data;
    close $fh;
    return "$dir/$name";
}

my $pool = Uvent::HTTP::Pool->new({}, $loop);

subtest 'code ref, chunked (no Content-Length)' => sub {
    my @p   = pieces(40);
    my $all = join '', @p;
    my $calls = 0;
    my @left = @p;
    my $r = fetch($pool, uri => $srv->url('/upload'), method => 'PUT',
        body => sub { $calls++; @left ? shift @left : undef });
    response_ok($r, 'upload');
    is(body($r), length($all) . ' ' . md5_hex($all), 'the server received every byte, in order');
    my $e = last_req($srv);
    is(req_header($e, 'Transfer-Encoding'), 'chunked', 'sent with chunked encoding');
    is(req_header($e, 'Content-Length'), undef, 'and no Content-Length');
    is($calls, @p + 1, 'the code ref was called once per piece, then once for the end');
};

subtest 'code ref with a Content-Length' => sub {
    my @p   = pieces(25);
    my $all = join '', @p;
    my $r = fetch($pool, uri => $srv->url('/upload'), method => 'POST', body => code_ref(@p),
        headers => ['Content-Length' => length $all]);
    response_ok($r, 'upload');
    is(body($r), length($all) . ' ' . md5_hex($all), 'the server received every byte');
    my $e = last_req($srv);
    is(req_header($e, 'Transfer-Encoding'), undef, 'no chunked encoding');
    is(req_header($e, 'Content-Length'), length $all, 'the given Content-Length');
};

subtest 'filehandle, chunked and with a Content-Length' => sub {
    my $data = join '', pieces(60);    # several 64 KiB reads
    my $path = file_with('up.bin', $data);
    open my $fh, '<:raw', $path or die $!;
    my $r = fetch($pool, uri => $srv->url('/upload'), method => 'PUT', body => $fh);
    response_ok($r, 'chunked');
    is(body($r), length($data) . ' ' . md5_hex($data), 'the server received the file');
    is(req_header(last_req($srv), 'Transfer-Encoding'), 'chunked', 'chunked');
    open $fh, '<:raw', $path or die $!;
    $r = fetch($pool, uri => $srv->url('/upload'), method => 'PUT', body => $fh,
        headers => { 'Content-Length' => -s $path });
    response_ok($r, 'Content-Length');
    is(body($r), length($data) . ' ' . md5_hex($data), 'the server received the file');
    is(req_header(last_req($srv), 'Transfer-Encoding'), undef, 'not chunked');
    # an empty file: the last chunk alone
    open $fh, '<:raw', file_with('empty', '') or die $!;
    $r = fetch($pool, uri => $srv->url('/upload'), method => 'PUT', body => $fh);
    is(body($r), '0 ' . md5_hex(''), 'an empty file: an empty chunked body');
};

subtest 'pushed: send_chunk and send_final_chunk' => sub {
    my @p   = pieces(10);
    my $all = join('', @p) . 'tail';
    my $r = { calls => 0 };
    my $req = Uvent::HTTP::Request->new({ uri => $srv->url('/upload'), method => 'POST', chunked => 1,
        response_callback => sub { $r->{calls}++; @$r{qw(request response error)} = @_ } });
    $pool->request($req);
    ok($req->send_chunk(shift @p), 'the first piece taken at once (still queued or connecting)');
    # the rest from timers: the socket drains between them
    my $t = Uvent::Timer->new($loop);
    $t->start(0.001, 0.001, sub {
        if (@p) { $req->send_chunk(shift @p) } else { $req->send_final_chunk('tail'); $t->stop }
    });
    wait_all($loop, $r);
    is($r->{calls}, 1, 'one callback');
    response_ok($r, 'push');
    is(body($r), length($all) . ' ' . md5_hex($all), 'the server received every pushed byte');
    is(req_header(last_req($srv), 'Transfer-Encoding'), 'chunked', 'chunked');
    ok(!$req->send_chunk('late'), 'a piece after the request completed is dropped (false)');
    my $fresh = Uvent::HTTP::Request->new({ uri => $srv->url('/upload'), chunked => 1 });
    eval { $fresh->send_chunk('x') };
    like($@, qr/send_chunk: the request has not been submitted/, 'send_chunk before request() croaks');
    # a string body with chunked => 1
    $r = fetch($pool, uri => $srv->url('/upload'), method => 'PUT', body => 'hello', chunked => 1);
    is(body($r), '5 ' . md5_hex('hello'), 'a string body sent chunked');
    is(req_header(last_req($srv), 'Transfer-Encoding'), 'chunked', 'chunked');
    # send_chunk on a request whose body is not pushed
    my $q = Uvent::HTTP::Request->new({ uri => $srv->url('/sleep?s=0.3'), method => 'PUT', body => 'x',
        response_callback => sub { } });
    $pool->request($q);
    eval { $q->send_chunk('y') };
    like($@, qr/send_chunk: the request has no streamed body/, 'send_chunk on a string body croaks');
    ok(run_until($loop, sub { !$q->active }, 5), 'that request still completes');
};

subtest 'errors: a dying code ref, a failed read, a wrong length' => sub {
    my $closed = $pool->stats->{connections_closed};
    my $r = fetch($pool, uri => $srv->url('/upload'), method => 'PUT', body => sub { die "no more data\n" });
    is(ecode($r), 'request_body', 'a dying code ref: request_body');
    like($r->{error}->message, qr/the 'body' code ref died: no more data/, 'the message names the problem');
    is($pool->stats->{connections_closed}, $closed + 1, 'the connection was discarded');
    my $n = 0;
    $r = fetch($pool, uri => $srv->url('/upload'), method => 'PUT', body => sub { die "late\n" if ++$n > 3; 'x' x 1000 });
    is(ecode($r), 'request_body', 'dying after three pieces: request_body');
    opendir my $dh, $dir or die;
    open my $dirfh, '<', $dir or die "open dir: $!";
    $r = fetch($pool, uri => $srv->url('/upload'), method => 'PUT', body => $dirfh);
    is(ecode($r), 'request_body', 'a read error: request_body');
    like($r->{error}->message, qr/reading the 'body' filehandle failed: Is a directory/, 'naming the read error');
    $r = fetch($pool, uri => $srv->url('/upload'), method => 'PUT', body => code_ref('x' x 10, 'y' x 10),
        headers => ['Content-Length' => 15]);
    is(ecode($r), 'request_body', 'longer than its Content-Length');
    like($r->{error}->message, qr/the body is longer than its Content-Length/, 'says so');
    $r = fetch($pool, uri => $srv->url('/upload'), method => 'PUT', body => code_ref('x' x 10),
        headers => ['Content-Length' => 15]);
    is(ecode($r), 'request_body', 'shorter than its Content-Length');
    like($r->{error}->message, qr/the body ended after 10 bytes, short of its Content-Length of 15/, 'says so');
    $r = fetch($pool, uri => $srv->url('/upload'), method => 'PUT', body => sub { "\x{263a}" });
    is(ecode($r), 'request_body', 'a wide character in a piece');
    like($r->{error}->message, qr/Wide character in a piece of the 'body'/, 'says so');
    eval { $pool->request({ uri => $srv->url('/upload'), body => [], response_callback => sub { } }) };
    like($@, qr/'body' must be a string, a filehandle or a CODE reference, got a reference to ARRAY/, 'a bad body croaks');
    eval { $pool->request({ uri => $srv->url('/upload'), body => sub { '' }, chunked => 1,
        headers => ['Content-Length' => 3], response_callback => sub { } }) };
    like($@, qr/'Content-Length' cannot be sent with chunked => 1/, 'chunked and a Content-Length croak');
    $r = fetch($pool, uri => $srv->url('/upload'), method => 'PUT', body => code_ref('fine'));
    is(body($r), '4 ' . md5_hex('fine'), 'the pool works on afterwards');
};

subtest 'an early 413 during a 100 MB upload' => sub {
    my $rss0  = rss_kb();
    my $piece = 'u' x 65536;
    my ($calls, $sent) = (0, 0);
    my $total = 100 * 1024 * 1024;
    my $closed = $pool->stats->{connections_closed};
    my $r = fetch($pool, uri => $srv->url('/early-413'), method => 'PUT', timeout => 30,
        headers => ['Content-Length' => $total],
        body => sub { $calls++; return '' if $sent >= $total; $sent += length $piece; $piece });
    ok(!$r->{error}, 'no error') or diag($r->{error});
    is($r->{response}->code, 413, 'the 413 is delivered');
    is($r->{response}->body, "refused 413\n", 'with its body');
    # the pump lets the loop poll between bursts, so the 413 (sent before
    # the server read any body) is seen within a few of them
    ok($sent < 16 * 1024 * 1024, "the upload was abandoned early ($sent of $total bytes given)");
    is($pool->stats->{connections_closed}, $closed + 1, 'the connection was discarded');
    ok(run_until($loop, sub { @{ $srv->refused } }, 10), 'the server saw the client close');
    my $rss = rss_kb();
    ok($rss - $rss0 < 50_000, 'memory stayed bounded (' . ($rss - $rss0) . ' KiB more)') if defined $rss0;
    my $next = fetch($pool, uri => $srv->url('/upload'), method => 'PUT', body => code_ref('after'));
    is(body($next), '5 ' . md5_hex('after'), 'the next request runs (on another connection)');
};

subtest 'no retry for a streamed body on a stale keep-alive connection' => sub {
    my $p = Uvent::HTTP::Pool->new({ max_connections => 1 }, $loop);
    # /drop-second: the server closes the connection after reading the next request
    my $r = fetch($p, uri => $srv->url('/drop-second'));
    response_ok($r, 'first');
    $r = fetch($p, uri => $srv->url('/upload'), method => 'PUT', body => 'string');
    response_ok($r, 'a string body is sent again');
    ok($r->{response}->retried, 'it was retried');
    $r = fetch($p, uri => $srv->url('/drop-second'));
    my $retried = $p->stats->{retried};
    $r = fetch($p, uri => $srv->url('/upload'), method => 'PUT', body => code_ref('streamed'));
    is(ecode($r), 'connection_closed', 'a streamed body: the failure is reported, not retried');
    is($p->stats->{retried}, $retried, 'no retry counted');
};

subtest 'a 307 or 308 with a streamed body ends the chain' => sub {
    for my $code (307, 308) {
        my $to = $srv->url('/upload');
        my $r = fetch($pool, uri => $srv->url("/redirect?code=$code&to=$to"), method => 'PUT', body => code_ref('once'));
        ok(!$r->{error}, "$code: no error") or diag($r->{error});
        is($r->{response}->code, $code, "$code: the redirect is the response");
        $r = fetch($pool, uri => $srv->url("/redirect?code=$code&to=$to"), method => 'PUT', body => 'again');
        is(body($r), '5 ' . md5_hex('again'), "$code: a string body is followed and sent again");
    }
    my $to = $srv->url('/ok');
    my $r = fetch($pool, uri => $srv->url("/redirect?code=303&to=$to"), method => 'POST', body => code_ref('x'));
    is($r->{response}->code, 200, '303: followed as a GET without the body');
};

subtest 'multipart: a 20 MB file streamed from disk' => sub {
    my $block = join '', map { chr } 0 .. 255;
    my $data  = $block x (20 * 4096);    # 20 MiB
    my $path  = file_with('form.bin', $data);
    my $md5   = md5_hex($data);
    undef $data;
    my $rss0 = rss_kb();
    my $r = fetch($pool, uri => $srv->url('/multipart'), timeout => 60,
        form => [ note => 'hi', file => { file => $path } ]);
    response_ok($r, 'multipart');
    my $got = Uvent::HTTP::Pool::_json_coder()->decode(body($r));
    is($got->{parts}[1]{length}, 20 * 1024 * 1024, 'the file part arrived whole');
    is($got->{parts}[1]{md5}, $md5, 'byte for byte');
    is($got->{parts}[0]{content}, 'hi', 'the text part too');
    is(req_header(last_req($srv), 'Content-Length'), last_req($srv)->{body_length}, 'sent with its Content-Length');
    my $rss = rss_kb();
    ok($rss - $rss0 < 10_000, 'the file was not read into memory (' . ($rss - $rss0) . ' KiB more)') if defined $rss0;
    # a 307 sends the form again, read afresh from disk
    my $to = $srv->url('/multipart');
    $r = fetch($pool, uri => $srv->url("/redirect?code=307&to=$to"), timeout => 60,
        form => [ file => { file => file_with('small', 'abc') } ]);
    $got = Uvent::HTTP::Pool::_json_coder()->decode(body($r));
    is($got->{parts}[0]{content}, 'abc', 'a 307 sends the multipart body again');
};

subtest 'no leaked SVs (Test::LeakTrace)' => sub {
    plan skip_all => 'Test::LeakTrace not installed' unless eval { require Test::LeakTrace; 1 };
    my $path = file_with('leak.bin', 'L' x 200_000);
    my $warm = sub {
        my @done;
        my @p = ('a' x 1000) x 3;
        open my $fh, '<:raw', $path or die $!;
        $pool->request({ uri => $srv->url('/upload'), method => 'PUT', body => sub { shift @p },
            response_callback => sub { push @done, 1 } });
        $pool->request({ uri => $srv->url('/upload'), method => 'PUT', body => $fh, response_callback => sub { push @done, 1 } });
        $pool->request({ uri => $srv->url('/upload'), method => 'PUT', body => sub { die "x\n" },
            response_callback => sub { push @done, 1 } });
        my $req = Uvent::HTTP::Request->new({ uri => $srv->url('/upload'), method => 'PUT', chunked => 1,
            headers => [Expect => '100-continue'], continue_callback => sub { },
            response_callback => sub { push @done, 1 } });
        $pool->request($req);
        $req->send_chunk('abc');
        $req->send_final_chunk('d');
        $pool->request({ uri => $srv->url('/multipart'), form => [ f => { file => $path } ],
            response_callback => sub { push @done, 1 } });
        run_until($loop, sub { @done == 5 }, 10);
    };
    $warm->();
    Test::LeakTrace::no_leaks_ok(sub { $warm->() }, 'code ref, filehandle, a dying code ref, pushed with 100-continue, multipart file');
};

SKIP: {
    my $why = Uvent::Test::Server->tls_missing // Uvent::Test::Certs->missing;
    skip $why, 1 if $why;
    subtest 'over TLS' => sub {
        my $certs = Uvent::Test::Certs->new;
        my $tls = Uvent::Test::Server->new(tls => { cert_file => $certs->server_cert, key_file => $certs->server_key });
        my $p = Uvent::HTTP::Pool->new({ tls => { ca_file => $certs->ca_cert } }, $loop);
        my @pc  = pieces(50);
        my $all = join '', @pc;
        my $r = fetch($p, uri => $tls->url('/upload'), method => 'PUT', body => code_ref(@pc));
        is(body($r), length($all) . ' ' . md5_hex($all), 'code ref, chunked');
        $r = fetch($p, uri => $tls->url('/upload'), method => 'PUT', body => code_ref(@pc),
            headers => ['Content-Length' => length $all]);
        is(body($r), length($all) . ' ' . md5_hex($all), 'code ref, Content-Length');
        open my $fh, '<:raw', file_with('tls.bin', $all) or die $!;
        $r = fetch($p, uri => $tls->url('/upload'), method => 'PUT', body => $fh);
        is(body($r), length($all) . ' ' . md5_hex($all), 'filehandle');
        my $res = { calls => 0 };
        my $req = Uvent::HTTP::Request->new({ uri => $tls->url('/upload'), method => 'PUT', chunked => 1,
            response_callback => sub { $res->{calls}++; $res->{response} = $_[1]; $res->{error} = $_[2] } });
        $p->request($req);
        my @left = @pc;
        my $t = Uvent::Timer->new($loop);
        $t->start(0.001, 0.001, sub { if (@left) { $req->send_chunk(shift @left) } else { $req->send_final_chunk; $t->stop } });
        wait_all($loop, $res);
        is(body($res), length($all) . ' ' . md5_hex($all), 'pushed');
        $r = fetch($p, uri => $tls->url('/upload'), method => 'PUT', body => sub { die "tls boom\n" });
        is(ecode($r), 'request_body', 'a dying code ref over TLS');
    };
}

SKIP: {
    my $why = Uvent::Test::Nginx->missing;
    skip $why, 1 if $why;
    subtest 'nginx: a chunked upload' => sub {
        my $ng = Uvent::Test::Nginx->new;
        my @pc  = pieces(30);
        my $all = join '', @pc;
        my $r = fetch($pool, uri => $ng->url('/upload'), method => 'POST', body => code_ref(@pc));
        response_ok($r, 'nginx');
        is(body($r), length($all) . "\n", 'nginx received the whole de-chunked body');
        my $req = Uvent::HTTP::Request->new({ uri => $ng->url('/upload'), method => 'POST', chunked => 1,
            response_callback => sub { $r->{calls}++; $r->{response} = $_[1]; $r->{error} = $_[2] } });
        $r = { calls => 0 };
        $pool->request($req);
        $req->send_chunk('abc');
        $req->send_final_chunk('de');
        wait_all($loop, $r);
        is(body($r), "5\n", 'pushed, through nginx');
        $ng->stop;
    };
}

done_testing;
