# Streamed downloads: partial_callback (the head, each piece of the body,
# the last call with is_done, then the response_callback), every framing,
# a decoded body, redirects, a die in the callback, a cancel in the middle
# of the body (the connection discarded), pause and resume with memory
# bounded and the read timeout held, a large download checked byte for
# byte with the process's memory bounded, and uvent-get -o streaming to
# disk.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Digest::MD5 ();
use File::Temp qw(tempdir);
use POSIX ();
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Util qw(run_until);
use Uvent::Test::Certs;

my $srv  = Uvent::Test::Server->new;
my $loop = Uvent::Loop->new;

# what /stream and /big send: the digit pattern in blocks of 65530 bytes
sub pattern_md5 {
    my ($size) = @_;
    my $md5 = Digest::MD5->new;
    my $block = '0123456789' x 6553;
    for (my $left = $size; $left > 0; $left -= length $block) {
        $md5->add($left >= length $block ? $block : substr($block, 0, $left));
    }
    return $md5->hexdigest;
}

sub status_kb {
    my ($field) = @_;
    open my $fh, '<', '/proc/self/status' or return undef;
    while (<$fh>) { return $1 if /^\Q$field\E:\s+(\d+)/ }
    return undef;
}

# Fetch with a partial_callback that records every call; returns what it saw.
sub stream_get {
    my ($pool, %p) = @_;
    my $on_piece = delete $p{on_piece};
    my $s = { calls => [], bytes => 0, md5 => Digest::MD5->new, done => 0, pieces => 0 };
    $pool->request({ timeout => 30, %p,
        partial_callback => sub {
            my ($req, $res, $err) = @_;
            my $piece = $res->body;
            if ($res->is_done) {
                push @{ $s->{calls} }, 'done';
                $s->{done_error} = $err;
                $s->{done_body} = $piece;
            } elsif (!length $piece) {
                push @{ $s->{calls} }, 'head';
                $s->{head_code} = $res->code;
                $s->{head_error} = $err;
                $s->{head_decoded} = $res->decoded;
            } else {
                push @{ $s->{calls} }, 'piece' if $s->{pieces}++ < 3;
                $s->{bytes} += length $piece;
                $s->{md5}->add($piece);
                $s->{piece_error} ||= $err;
                $s->{piece_done} ||= $res->is_done;
            }
            $on_piece->($req, $res, $s) if $on_piece && !$res->is_done;
        },
        response_callback => sub {
            my ($req, $res, $err) = @_;
            push @{ $s->{calls} }, 'response';
            $s->{responses}++;
            @$s{qw(response error final_body final_done streamed)} = ($res, $err, $res->body, $res->is_done, $res->streamed);
        } });
    run_until($loop, sub { $s->{responses} }, 60);
    $s->{digest} = $s->{md5}->hexdigest;
    return $s;
}

sub order_ok {
    my ($s, $name) = @_;
    my @c = @{ $s->{calls} };
    my $want = [ 'head', ('piece') x ($s->{pieces} < 3 ? $s->{pieces} : 3), 'done', 'response' ];
    is_deeply(\@c, $want, "$name: the head call, the pieces, the done call, then the response_callback")
        or diag("calls: @c");
}

subtest 'every framing, piece by piece' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    for my $case ([ cl => 300_000 ], [ chunked => 300_000 ], [ close => 300_000 ], [ cl => 1 ]) {
        my ($framing, $size) = @$case;
        my $s = stream_get($pool, uri => $srv->url("/stream?size=$size&framing=$framing"));
        my $name = "$framing, $size bytes";
        ok(!$s->{error}, "$name: no error") or diag($s->{error});
        order_ok($s, $name);
        is($s->{head_code}, 200, "$name: the head call has the status");
        ok(!$s->{piece_done} && !$s->{piece_error}, "$name: is_done false and no error while the pieces arrive");
        is($s->{bytes}, $size, "$name: the pieces add up to the body");
        is($s->{digest}, pattern_md5($size), "$name: and hold its bytes in order");
        ok(!defined $s->{done_error}, "$name: the done call has no error");
        ok($s->{final_done} && $s->{streamed} && $s->{final_body} eq '',
            "$name: the response_callback: is_done, streamed, the body empty (it was not accumulated)");
    }
    # a response with no body: the head call and the done call
    my $s = stream_get($pool, uri => $srv->url('/status/204'));
    is_deeply($s->{calls}, [qw(head done response)], '204: the head call, the done call, the response_callback');
    $s = stream_get($pool, uri => $srv->url('/stream?size=1000'), method => 'HEAD');
    is_deeply($s->{calls}, [qw(head done response)], 'HEAD: the same');
    # a failure before any head: no partial_callback call at all
    $s = stream_get($pool, uri => 'http://127.0.0.1:1/');
    is_deeply($s->{calls}, ['response'], 'a connect error: the response_callback alone');
    # is_done on a buffered response
    my $done;
    $pool->request({ uri => $srv->url('/ok'), response_callback => sub { $done = [ $_[1]->is_done, $_[1]->streamed, $_[1]->body ] } });
    run_until($loop, sub { $done }, 10);
    is_deeply($done, [ 1, "", "ok" ], "without partial_callback: is_done true, not streamed, the body whole") or diag explain $done;
};

subtest 'a decoded body streams its decoded pieces' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $text = Uvent::Test::Server::encoded_text(500_000);
    for my $q ('coding=gzip', 'coding=gzip&chunked=1', 'coding=deflate-zlib') {
        my $s = stream_get($pool, uri => $srv->url("/encoded?$q&size=500000"));
        ok(!$s->{error}, "$q: no error") or diag($s->{error});
        order_ok($s, $q);
        is($s->{head_decoded}, $q =~ /gzip/ ? 'gzip' : 'deflate', "$q: decoded is known at the head");
        is($s->{bytes}, length $text, "$q: the decoded pieces add up");
        is($s->{digest}, Digest::MD5::md5_hex($text), "$q: and are the decoded text");
    }
};

subtest 'redirects: only the final response streams' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $s = stream_get($pool, uri => $srv->url('/redirect?code=302&to=%2Fstream%3Fsize%3D100000'));
    ok(!$s->{error}, 'followed') or diag($s->{error});
    order_ok($s, 'after a 302');
    is($s->{head_code}, 200, 'the head call is the final response');
    is($s->{bytes}, 100_000, 'its body streamed');
    is(scalar @{ $s->{response}->redirects }, 1, 'one redirect');
    $s = stream_get($pool, uri => $srv->url('/redirect?code=302&to=%2Fok'), follow_redirect => 0);
    is_deeply($s->{calls}, ['response'], 'a redirect not followed is not streamed');
    like($s->{final_body}, qr/"method"/, 'its body is buffered');
};

subtest 'die in partial_callback' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my ($pieces, $responses, $err, $done_calls) = (0, 0, undef, 0);
    $pool->request({ uri => $srv->url('/stream?size=5000000'),
        partial_callback => sub {
            my ($req, $res) = @_;
            $done_calls++ if $res->is_done;
            die "boom in piece\n" if length $res->body && ++$pieces == 2;
        },
        response_callback => sub { $responses++; $err = $_[2] } });
    my $ok = eval { run_until($loop, sub { $responses }, 20); 1 };
    is($ok ? '' : $@, "boom in piece\n", 'run rethrows the exception');
    run_until($loop, sub { 0 }, 0.2);
    is($responses, 1, 'the response_callback ran once');
    is($err && $err->code, 'cancelled', 'with cancelled');
    like($err && $err->message, qr/the partial_callback died/, 'saying why');
    is($pieces, 2, 'no piece after the die');
    is($done_calls, 0, 'and no done call: a died partial_callback is not called again');
    my $st = $pool->stats;
    is($st->{connections_closed}, 1, 'the connection was discarded');
    is($pool->size, 0, 'none left idle');
    # a die in the last call: the response_callback still runs, once
    my ($calls, $res_err) = (0, 'none');
    $pool->request({ uri => $srv->url('/stream?size=1000'),
        partial_callback => sub { die "boom at the end\n" if $_[1]->is_done },
        response_callback => sub { $calls++; $res_err = $_[2] } });
    $ok = eval { run_until($loop, sub { $calls }, 20); 1 };
    is($ok ? '' : $@, "boom at the end\n", 'a die in the done call: run rethrows it');
    ok($calls == 1 && !defined $res_err, 'and the response_callback ran once, without an error');
    # the died one is forgotten: the same kind of request streams again
    my $s = stream_get($pool, uri => $srv->url('/stream?size=1000'));
    order_ok($s, 'the next request');
};

subtest 'cancel in the middle of the body discards the connection' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    $srv->reset_stats;
    my $s = stream_get($pool, uri => $srv->url('/stream?size=50000000'),
        on_piece => sub { my ($req, $res, $s) = @_; $req->cancel if $s->{pieces} == 2 });
    is($s->{error} && $s->{error}->code, 'cancelled', 'cancelled');
    ok($s->{bytes} < 50_000_000, "the body stopped ($s->{bytes} bytes)");
    is($s->{done_error} && $s->{done_error}->code, 'cancelled', 'the done call has the error');
    is($s->{responses}, 1, 'one response_callback');
    my $st = $pool->stats;
    is($st->{connections_closed}, 1, 'the connection was closed');
    is($pool->size, 0, 'not returned to idle');
    my $next = stream_get($pool, uri => $srv->url('/stream?size=1000'));
    ok(!$next->{error}, 'a next request');
    is($pool->stats->{connections_opened}, 2, 'runs on a new connection');
    ok($srv->wait_for(sub { $_[0]->connections >= 2 }, 5), 'the server saw two connections');
};

# Pause at a piece, resume from a timer; returns what happened around it.
sub paused_download {
    my ($pool, $size, $pause_for, %p) = @_;
    my %at;
    my $s = stream_get($pool, uri => $srv->url("/stream?size=$size"), max_body_size => 0, %p,
        on_piece => sub {
            my ($req, $res, $s) = @_;
            $at{max_rss} = status_kb('VmRSS') if ($s->{pieces} % 64) == 0 && (status_kb('VmRSS') // 0) > ($at{max_rss} // 0);
            $at{while_paused}++ if $req->paused;
            return unless $s->{pieces} == 10;
            $req->pause;
            $at{paused} = $req->paused;
            $at{bytes_at_pause} = $s->{bytes};
            Uvent::Timer->once($pause_for, sub {
                $at{bytes_at_resume} = $s->{bytes};
                $at{rss_at_resume} = status_kb('VmRSS');
                $req->resume;
                $at{paused_after_resume} = $req->paused;
            }, $loop);
        });
    return ($s, \%at);
}

subtest 'pause holds the body in the socket, read_timeout does not fire' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $size = 50_000_000;
    my ($s, $at) = paused_download($pool, $size, 1.5, read_timeout => 1);
    ok(!$s->{error}, 'paused 1.5 s with a 1 s read_timeout: no timeout') or diag($s->{error});
    ok($at->{paused} && !$at->{paused_after_resume}, 'paused, then resumed');
    is($at->{while_paused} // 0, 0, 'no piece after the one that paused');
    is($at->{bytes_at_resume}, $at->{bytes_at_pause}, "nothing arrived while paused ($at->{bytes_at_pause} bytes)");
    ok($at->{bytes_at_resume} < $size - 8_000_000,
        'the server had far more to send: it waited (back-pressure)');
    is($s->{bytes}, $size, 'after the resume the whole body arrived');
    is($s->{digest}, pattern_md5($size), 'byte for byte');
    my $st = $pool->stats;
    is($st->{reused} + 1, $st->{requests}, 'the connection stays reusable') if $st->{requests} > 1;
    ok(!$s->{response}->keep_alive || $pool->size == 1, 'kept alive after a paused download');
    # pause and resume do nothing on an inactive request
    my $r = Uvent::HTTP::Request->new({ uri => $srv->url('/ok') });
    $r->pause;
    $r->resume;
    ok(!$r->paused, 'pause and resume on a new request: no-ops');
    eval { Uvent::HTTP::Request::pause([]) };
    like($@, qr/pause: not a request object/, 'pause croaks for a non-request');
};

SKIP: {
    skip 'no /proc/self/status: the memory of a large download cannot be read here', 1
        unless defined status_kb('VmHWM');
    subtest 'a large download with pause and resume: memory bounded' => sub {
        # about a second here; the request's timeout (30 s) bounds it
        my $size = 200_000_000;
        my $pool = Uvent::HTTP::Pool->new({}, $loop);
        my $hwm0 = status_kb('VmHWM');
        my ($s, $at) = paused_download($pool, $size, 0.5);
        my $hwm1 = status_kb('VmHWM');
        ok(!$s->{error}, 'no error') or diag($s->{error});
        is($s->{bytes}, $size, 'every byte');
        is($s->{digest}, pattern_md5($size), 'the digest of the body');
        is($at->{bytes_at_resume}, $at->{bytes_at_pause}, 'paused at the tenth piece');
        ok($at->{rss_at_resume} < 30 * 1024, "RSS while paused: $at->{rss_at_resume} kB (< 30 MB)");
        ok(($at->{max_rss} // 0) < 30 * 1024, 'RSS during the download stayed under 30 MB (' . ($at->{max_rss} // '?') . ' kB)');
        ok($hwm1 < 30 * 1024, "peak RSS (VmHWM) $hwm1 kB < 30 MB");
        ok($hwm1 - $hwm0 < 8 * 1024, 'the peak grew by ' . ($hwm1 - $hwm0) . ' kB (< 8 MB) for the download');
    };
}

subtest 'uvent-get -o streams the body to disk' => sub {
    my $dir = tempdir(CLEANUP => 1);
    my $size = 30_000_000;
    my $pid = fork // die;
    if (!$pid) {
        open STDOUT, '>', "$dir/stdout" or die;
        open STDERR, '>', "$dir/stderr" or die;
        { no warnings 'exec'; exec $^X, '-Mblib', 'bin/uvent-get', '--progress', '-o', $dir, $srv->url("/stream?size=$size&framing=chunked") }
        POSIX::_exit(127);
    }
    waitpid $pid, 0;
    is($? >> 8, 0, 'exit status 0');
    my $file = "$dir/stream";
    is(-s $file, $size, 'the file has every byte');
    open my $fh, '<:raw', $file or die;
    is(Digest::MD5->new->addfile($fh)->hexdigest, pattern_md5($size), 'the exact bytes');
    open my $out, '<', "$dir/stdout" or die;
    like(do { local $/; <$out> }, qr/^200\s+$size B .* -> \Q$file\E$/m, 'the line names its size and file');
    open my $err, '<', "$dir/stderr" or die;
    my $progress = do { local $/; <$err> };
    like($progress, qr/\r\[#{30}\] 100%  28\.6 MiB of 28\.6 MiB  [\d.]+ [KMG]?i?B\/s  in \d+:\d\d\n\z/,
        '--progress: the bar, bytes, rate, and its last state at the end');
    # without --progress on a non-terminal: no bar
    $pid = fork // die;
    if (!$pid) {
        open STDOUT, '>', "$dir/stdout" or die;
        open STDERR, '>', "$dir/stderr" or die;
        { no warnings 'exec'; exec $^X, '-Mblib', 'bin/uvent-get', '-o', $dir, $srv->url('/stream?size=3000000') }
        POSIX::_exit(127);
    }
    waitpid $pid, 0;
    is(-s "$dir/stream", 3_000_000, 'a second run writes its file again');
    is(-s "$dir/stderr", 0, 'no progress bar when standard error is not a terminal');
    # on a terminal (util-linux script(1) gives it one): the bar by default for a large body, not with -s
    my ($script) = grep { -x "$_/script" } split /:/, $ENV{PATH} // '';
    SKIP: {
        skip 'no script(1) to run uvent-get on a terminal', 2 unless $script;
        my $url = $srv->url('/stream?size=3000000');
        my $on = `script -qec "$^X -Mblib bin/uvent-get -o $dir $url" /dev/null 2>&1`;
        like($on, qr/\[#{30}\] 100%  2\.9 MiB of 2\.9 MiB/, 'on a terminal: the bar, for a body over 1 MiB');
        my $off = `script -qec "$^X -Mblib bin/uvent-get -s -o $dir $url" /dev/null 2>&1`;
        unlike($off, qr/MiB of/, '-s: no bar');
    }
};

# last: TLS and Test::LeakTrace make the process bigger than the 30 MB above
subtest 'TLS: pieces, pause and resume' => sub {
    my $why = Uvent::Test::Server->tls_missing // Uvent::Test::Certs->missing;
    plan skip_all => $why if $why;
    my $certs = Uvent::Test::Certs->new;
    my $tls = Uvent::Test::Server->new(tls => { cert_file => $certs->server_cert, key_file => $certs->server_key });
    my $pool = Uvent::HTTP::Pool->new({ tls => { ca_file => $certs->ca_cert } }, $loop);
    my $size = 20_000_000;
    my %at;
    my $s = stream_get($pool, uri => $tls->url("/stream?size=$size&framing=chunked"), read_timeout => 1,
        on_piece => sub {
            my ($req, $res, $s) = @_;
            return unless $s->{pieces} == 10;
            $req->pause;
            Uvent::Timer->once(1.5, sub { $at{resume} = $s->{bytes}; $req->resume }, $loop);
            $at{pause} = $s->{bytes};
        });
    ok(!$s->{error}, 'no error, no read timeout while paused') or diag($s->{error});
    order_ok($s, 'TLS');
    ok($at{resume} - $at{pause} < 64 * 1024, 'while paused: at most the records already read ('
        . ($at{resume} - $at{pause}) . ' bytes)');
    is($s->{bytes}, $size, 'every byte');
    is($s->{digest}, pattern_md5($size), 'in order');
};

subtest 'no leaked SVs (Test::LeakTrace)' => sub {
    plan skip_all => 'Test::LeakTrace not installed' unless eval { require Test::LeakTrace; 1 };
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    stream_get($pool, uri => $srv->url('/stream?size=1000'));    # warm up: the connection, the first-use caches
    Test::LeakTrace::no_leaks_ok(sub {
        my @keep;
        for my $q ('size=300000', 'size=300000&framing=chunked') {
            my $done;
            $pool->request({ uri => $srv->url("/stream?$q"),
                partial_callback => sub { push @keep, $_[1]->body, $_[1]->is_done },
                response_callback => sub { $done = 1 } });
            $loop->run_once until $done;
        }
        my $done;
        $pool->request({ uri => $srv->url('/stream?size=300000'),
            partial_callback => sub { die "x\n" if length $_[1]->body },
            response_callback => sub { $done = 1 } });
        eval { $loop->run_once until $done };
        $@ = q{};
    }, 'streamed requests, their pieces and a died partial_callback leak nothing');
};

done_testing;
