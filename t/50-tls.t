use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use Digest::MD5 qw(md5_hex);
use lib 't/lib';
use Uvent;
use Uvent::Test::Certs;
use Uvent::Test::Server;
use Uvent::Test::Nginx;
use Uvent::Test::Util qw(extended_testing run_until run_for wait_all start_req response_ok ecode body hdr);

# HTTPS: verification outcomes, settings, client certificates, pooling by
# TLS identity, keep-alive, session resumption, large bodies, idle closes
# and handshake timeouts, against our TLS test server and nginx. Without
# nginx the parts against it skip; the rest needs IO::Socket::SSL (the TLS
# test server, and certificates made with it).

my $no_tls = Uvent::Test::Server->tls_missing // Uvent::Test::Certs->missing;
plan skip_all => $no_tls if $no_tls;
my $NO_NGINX = Uvent::Test::Nginx->missing(tls => 1);

my @warnings;
$SIG{__WARN__} = sub { push @warnings, $_[0] };

my $certs = Uvent::Test::Certs->new;
my $loop  = Uvent::Loop->new;
my $CA    = $certs->ca_cert;

sub emsg { my $r = shift; $r->{error} ? $r->{error}->message : '' }

sub fetch {
    my ($pool, %p) = @_;
    my $r = start_req($pool, %p);
    wait_all($loop, $r);
    is($r->{calls}, 1, "exactly one callback for $p{uri}");
    return $r;
}

sub tls_server {
    my (%tls) = @_;
    my $delay = delete $tls{handshake_delay};
    return Uvent::Test::Server->new(
        tls => { cert_file => $certs->server_cert, key_file => $certs->server_key, %tls },
        defined $delay ? (tls_handshake_delay => $delay) : ());
}

my $srv = tls_server();
my $ng  = $NO_NGINX ? undef : Uvent::Test::Nginx->new(tls => {
    cert_file => $certs->server_cert, key_file => $certs->server_key, client_ca_file => $CA });

subtest 'verified with ca_file, by address and by name' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $r = fetch($pool, uri => $srv->url('/echo'), tls => { ca_file => $CA });
    response_ok($r, 'https by IP');
    like(body($r), qr/"method":"GET"/, 'the request went through TLS to the server');
    is(hdr($r, 'X-TLS-Protocol'), 'TLSv1.3', 'TLS 1.3 negotiated');
    $r = fetch($pool, uri => $srv->url_host('localhost', '/ok'), tls => { ca_file => $CA });
    response_ok($r, 'https by name');
    is($pool->stats->{tls_handshakes}, 2, 'two full handshakes (two destinations)');
};

subtest 'verification failures say why, and send nothing' => sub {
    my %case = (
        expired     => [ $certs->expired_cert,     $certs->expired_key,     qr/certificate has expired/ ],
        self_signed => [ $certs->self_signed_cert, $certs->self_signed_key, qr/self-signed/ ],
        wrong_name  => [ $certs->wrong_name_cert,  $certs->wrong_name_key,  qr/hostname mismatch.*'localhost'/ ],
    );
    for my $name (sort keys %case) {
        my ($cert, $key, $why) = @{ $case{$name} };
        my $s = Uvent::Test::Server->new(tls => { cert_file => $cert, key_file => $key });
        my $pool = Uvent::HTTP::Pool->new({}, $loop);
        my $uri = $s->url_host('localhost', '/ok');
        my $r = fetch($pool, uri => $uri, tls => { ca_file => $CA });
        is(ecode($r), 'tls', "$name: error code tls");
        like(emsg($r), $why, "$name: the message says why");
        like(emsg($r), qr/\Q$uri\E/, "$name: the message names the destination");
        is($s->requests, 0, "$name: no request reached the server");
        $r = fetch($pool, uri => $uri, tls => { verify => 0 });
        response_ok($r, "$name: verify => 0 accepts it");
    }

    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $r = fetch($pool, uri => $srv->url('/ok'), tls => { ca_file => $certs->other_ca_cert });
    is(ecode($r), 'tls', 'untrusted issuer: error code tls');
    like(emsg($r), qr/unknown issuer/, 'untrusted issuer: says so');
    $r = fetch($pool, uri => $srv->url('/ok'));
    like(emsg($r), qr/unknown issuer/, 'the system store does not trust the test CA');
    # Perl's own booleans, as from `verify => !$insecure`
    $r = fetch($pool, uri => $srv->url('/ok'), tls => { verify => !1 });
    response_ok($r, 'verify => !1 turns the check off');
    $r = fetch($pool, uri => $srv->url('/ok'), tls => { verify => !0 });
    like(emsg($r), qr/unknown issuer/, 'verify => !0 keeps it on');

    my $wrong = Uvent::Test::Server->new(tls => { cert_file => $certs->wrong_name_cert, key_file => $certs->wrong_name_key });
    $r = fetch($pool, uri => $wrong->url('/ok'), tls => { ca_file => $CA });
    like(emsg($r), qr/IP address mismatch.*127\.0\.0\.1/, 'an IP literal is checked against the certificate');
    $r = fetch($pool, uri => $wrong->url('/ok'), tls => { ca_file => $CA, server_name => 'wrong.example' });
    response_ok($r, 'server_name names the certificate: verified (and sent as SNI)');

    SKIP: {
        skip $NO_NGINX, 3 unless $ng;
        (my $uri = $ng->url('/hello.txt')) =~ s/^http:/https:/;
        $r = fetch($pool, uri => $uri, tls => { ca_file => $CA });
        is(ecode($r), 'tls', 'a plain HTTP server: error code tls');
        like(emsg($r), qr/does not speak TLS|handshake failed/, 'a plain HTTP server: handshake failure');
    }

    my $v12 = tls_server(version => 'TLSv1_2');
    $r = fetch($pool, uri => $v12->url('/ok'), tls => { ca_file => $CA, min_version => 'TLSv1.3' });
    is(ecode($r), 'tls', 'min_version TLSv1.3 against a TLS 1.2 server: refused');
    like(emsg($r), qr/handshake failed: \S/, 'the handshake failure is named');
    $r = fetch($pool, uri => $v12->url('/ok'), tls => { ca_file => $CA });
    response_ok($r, 'TLS 1.2 by default');
    is(hdr($r, 'X-TLS-Protocol'), 'TLSv1.2', 'TLS 1.2 negotiated');
};

subtest 'bad settings croak before anything is sent' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    # a passphrase-protected key must fail at once, never prompt on the terminal
    my $encrypted_key = $certs->encrypted_key('client', 'secret');
    my $uri = $srv->url('/ok');
    my $before = $srv->connections;
    my @bad = (
        [ { ca_flie => 'x' },                  qr/unknown tls key 'ca_flie'/ ],
        [ 'yes',                               qr/'tls' must be a hashref/ ],
        [ { min_version => 'TLSv1.1' },        qr/'min_version' must be 'TLSv1.2' or 'TLSv1.3'/ ],
        # a value from a config file must not turn the check off (or on) by accident
        [ { verify => '' },                    qr/tls 'verify' must be 0 or 1, got ''/ ],
        [ { verify => 'no' },                  qr/tls 'verify' must be 0 or 1, got 'no'/ ],
        [ { verify => 2 },                     qr/tls 'verify' must be 0 or 1, got '2'/ ],
        # the core takes C strings: a NUL would cut the name checked
        [ { server_name => "localhost\0.other.example" }, qr/server_name must be a non-empty string without control/ ],
        [ { ca_file => "$CA\0ignored" },       qr/ca_file must be a non-empty string without control/ ],
        [ { ca_file => '/nonexistent/ca.pem' }, qr{cannot load ca_file '/nonexistent/ca.pem': No such file} ],
        [ { key_file => $certs->client_key },  qr/key_file .* without cert_file/ ],
        [ { cert_file => $certs->client_cert, key_file => $certs->client2_key }, qr/does not match/ ],
        [ { ciphers => 'NOPE' },               qr/no usable cipher/ ],
        [ { ca_file => [] },                   qr/must be a plain value/ ],
        [ { server_name => "a\r\nb" },         qr/control characters/ ],
        [ { server_name => 'a' x 256 },       qr/server_name is longer than 255 characters/ ],
        [ { cert_file => $certs->client_cert, key_file => $encrypted_key }, qr/key_file '.*' is encrypted/ ],
    );
    for my $case (@bad) {
        my ($tls, $re) = @$case;
        my $called = 0;
        eval { $pool->request({ uri => $uri, tls => $tls, response_callback => sub { $called++ } }) };
        like($@, $re, "croaks: $re");
        like($@, qr/at \Q$0\E line/, 'names the caller');
        is($called, 0, 'no callback');
    }
    run_for($loop, 0.1);
    is($srv->connections, $before, 'no connection was made');
    is($pool->size, 0, 'pool holds no connection');
    eval { Uvent::HTTP::Pool->new({ tls => { ca_file => '/nonexistent/ca.pem' } }, $loop) };
    like($@, qr{Uvent::HTTP::Pool->new: cannot load ca_file}, 'Pool->new checks its default settings');
    eval { Uvent::HTTP::Pool->new({ tls => { verify => 1, bogus => 1 } }, $loop) };
    like($@, qr/unknown tls key 'bogus'/, 'Pool->new: unknown tls key');
};

subtest 'pool defaults, request settings key by key' => sub {
    my $need = tls_server(verify_client => 1, ca_file => $CA);
    my $pool = Uvent::HTTP::Pool->new({ tls => { ca_file => $CA } }, $loop);
    my $r = fetch($pool, uri => $srv->url('/ok'));
    response_ok($r, 'the pool default ca_file is used');
    $r = fetch($pool, uri => $need->url('/ok'),
        tls => { cert_file => $certs->client_cert, key_file => $certs->client_key });
    response_ok($r, 'request adds a client certificate, keeps the pool ca_file');
    is(hdr($r, 'X-Client-CN'), 'uvent-client-1', 'the server saw the client certificate');
    $r = fetch($pool, uri => $srv->url('/ok'), tls => { verify => 0, ca_file => undef });
    response_ok($r, 'undef leaves a key to the pool');
    my $with_cert = Uvent::HTTP::Pool->new({ tls => { ca_file => $CA, cert_file => $certs->client_cert,
                                                      key_file => $certs->client_key } }, $loop);
    eval { $with_cert->request({ uri => $srv->url('/ok'), tls => { key_file => $certs->client2_key } }) };
    like($@, qr/key_file .* given without cert_file/, "a request's key_file never pairs with the pool's cert_file");
    my $client = $pool->request({ uri => $srv->url_host('localhost', '/ok'), response_callback => sub { } });
    is($client->destination, 'https://localhost:' . $srv->port, 'a connection names its destination without settings');
    $loop->run;
    $r = fetch($pool, uri => $srv->url('/ok'), tls => { server_name => 'localhost.' });
    response_ok($r, 'a fully qualified name (trailing dot) is verified as the name');
};

subtest 'Uvent::HTTP shortcuts speak https' => sub {
    require Uvent::HTTP;
    my ($res, $err) = Uvent::HTTP::http_request_sync({ uri => $srv->url('/ok'), tls => { ca_file => $CA } });
    is($res && $res->code, 200, 'http_request_sync with tls settings');
    ($res, $err) = Uvent::HTTP::http_get($srv->url('/ok'));
    is($err && $err->code, 'tls', 'http_get verifies against the system store');
};

subtest 'client certificates: required, given, missing, two identities' => sub {
    my $need = tls_server(verify_client => 1, ca_file => $CA);
    my $pool = Uvent::HTTP::Pool->new({ tls => { ca_file => $CA } }, $loop);
    my $r = fetch($pool, uri => $need->url('/ok'));
    is(ecode($r), 'tls', 'no client certificate: error code tls');
    like(emsg($r), qr/client certificate/, 'the message says a client certificate is wanted');
    $r = fetch($pool, uri => $need->url('/ok'),
        tls => { cert_file => $certs->untrusted_client_cert, key_file => $certs->untrusted_client_key });
    is(ecode($r), 'tls', 'an untrusted client certificate: error code tls');
    like(emsg($r), qr/client certificate/, 'the message says the client certificate was the problem');

    SKIP: {
    skip $NO_NGINX, 19 unless $ng;
    $r = fetch($pool, uri => $ng->https_client_url('/hello.txt'));
    is($r->{response} && $r->{response}->code, 400, 'nginx without a client certificate: 400');
    my %id;
    for my $who ([ client => $certs->client_cert, $certs->client_key ],
                 [ client2 => $certs->client2_cert, $certs->client2_key ],
                 [ client => $certs->client_cert, $certs->client_key ]) {
        my ($name, $cert, $key) = @$who;
        $r = fetch($pool, uri => $ng->https_client_url('/hello.txt'), tls => { cert_file => $cert, key_file => $key });
        response_ok($r, "nginx with $name");
        is(hdr($r, 'X-Client-Verify'), 'SUCCESS', "$name verified by nginx");
        push @{ $id{$name} }, hdr($r, 'X-Conn');
        like(hdr($r, 'X-Client-DN'), qr/CN=uvent-client-@{[ $name eq 'client' ? 1 : 2 ]}/, "$name: its own DN");
    }
    isnt($id{client}[0], $id{client2}[0], 'two client certificates: two connections');
    is($id{client}[1], $id{client}[0], 'the same certificate again: its connection is reused');
    }
};

subtest 'keep-alive, session resumption, stats' => sub {
    SKIP: {
    skip $NO_NGINX, 41 unless $ng;
    my $pool = Uvent::HTTP::Pool->new({ tls => { ca_file => $CA } }, $loop);
    my $uri = $ng->https_url('/hello.txt', 'localhost');
    my @conn;
    for (1 .. 5) {
        my $r = fetch($pool, uri => $uri);
        response_ok($r, "keep-alive request $_");
        push @conn, hdr($r, 'X-Conn');
    }
    is(scalar(keys %{ { map { $_ => 1 } @conn } }), 1, 'five requests, one TLS connection');
    my $st = $pool->stats($uri);
    is($st->{tls_handshakes}, 1, 'one handshake');
    is($st->{reused}, 4, 'four reuses');

    # a new connection per request: each resumes the session of the last
    my $fresh = Uvent::HTTP::Pool->new({ tls => { ca_file => $CA }, max_requests_per_connection => 1 }, $loop);
    my @reused;
    for (1 .. 4) {
        my $r = fetch($fresh, uri => $uri);
        response_ok($r, "new connection $_");
        push @reused, hdr($r, 'X-Session-Reused');
    }
    is($reused[0], '.', 'the first connection: a full handshake (nginx $ssl_session_reused)');
    is_deeply([ @reused[1 .. 3] ], [ ('r') x 3 ], 'every later connection resumed');
    is($fresh->stats->{tls_handshakes}, 1, 'stats: one full handshake');
    is($fresh->stats->{tls_resumed}, 3, 'stats: three resumed');
    is($fresh->stats($uri)->{tls_resumed}, 3, 'per-destination stats too');

    # connections opened together: TLS 1.3 tickets are used once each, so
    # the destination keeps several and no connection goes without one
    my $many = Uvent::HTTP::Pool->new({ tls => { ca_file => $CA }, max_requests_per_connection => 1,
                                        max_connections => 4 }, $loop);
    my @r = map { start_req($many, uri => $uri) } 1 .. 60;
    ok(wait_all($loop, @r), '60 requests, 4 connections at a time');
    is(scalar(grep { !$_->{error} } @r), 60, 'all answered');
    # (a connection takes its session when its TCP connect is done, so one
    # of the first four may already find one)
    my ($full, $resumed) = @{ $many->stats }{qw(tls_handshakes tls_resumed)};
    cmp_ok($full, '<=', 4, "full handshakes only for the first four at most ($full)");
    is($full + $resumed, 60, 'every other connection resumed');
    is(scalar(grep { (hdr($_, 'X-Session-Reused') // '') eq 'r' } @r), $resumed, 'nginx agrees');
    is($pool->stats($uri, { verify => 0 }), undef, 'other settings: another destination, never used');
    }

    # TLS 1.2: session tickets of the older protocol
    my $v12 = tls_server(version => 'TLSv1_2');
    my $p12 = Uvent::HTTP::Pool->new({ tls => { ca_file => $CA }, max_requests_per_connection => 1 }, $loop);
    my @res = map { fetch($p12, uri => $v12->url('/ok')) } 1 .. 3;
    is(hdr($res[0], 'X-TLS-Protocol'), 'TLSv1.2', 'TLS 1.2');
    is_deeply([ map { hdr($_, 'X-TLS-Resumed') } @res ], [ 0, 1, 1 ], 'TLS 1.2 sessions resume');
    is($p12->stats->{tls_resumed}, 2, 'stats count them');
};

subtest 'large bodies both ways' => sub {
    my $pool = Uvent::HTTP::Pool->new({ tls => { ca_file => $CA } }, $loop);
    # chr(($_ * 7) % 256) for 1 .. 1024 * 1024, made from one period (a list
    # of a million strings costs far more than the string)
    my $up = (join '', map { chr(($_ * 7) % 256) } 1 .. 256) x 4096;
    my $r;
    SKIP: {
    skip $NO_NGINX, 8 unless $ng;
    $r = fetch($pool, uri => $ng->https_url('/1m.bin'), timeout => 20);
    response_ok($r, '1 MB download from nginx');
    is(md5_hex(body($r) // ''), $ng->file_md5('1m.bin'), 'the body is intact');
    $r = fetch($pool, uri => $ng->https_url('/upload'), method => 'POST', body => $up, timeout => 20);
    response_ok($r, '1 MB upload to nginx');
    is(body($r), length($up) . "\n", 'nginx received every byte');
    }
    $r = fetch($pool, uri => $srv->url('/upload'), method => 'POST', body => $up, timeout => 20);
    is(body($r), length($up) . ' ' . md5_hex($up), '1 MB upload to the test server, checksum matches');
    $r = fetch($pool, uri => $srv->url('/big?size=3000000'), timeout => 20);
    is(length(body($r) // ''), 3_000_000, '3 MB download from the test server');
};

subtest 'the server closes idle connections; close-delimited bodies' => sub {
    my $pool = Uvent::HTTP::Pool->new({ tls => { ca_file => $CA } }, $loop);
    my $r = fetch($pool, uri => $srv->url('/idle-close?after=0.2'));
    response_ok($r, 'response before the idle close');
    is($pool->size, 1, 'kept alive');
    ok(run_until($loop, sub { $pool->size == 0 }, 5), 'the close_notify and FIN close the idle connection');
    is($pool->stats->{idle_closed_peer}, 1, 'counted as closed by the server');
    $r = fetch($pool, uri => $srv->url('/ok'));
    response_ok($r, 'the next request gets a new connection');

    $r = fetch($pool, uri => $srv->url('/close-delimited'));
    response_ok($r, 'close-delimited body ended by close_notify');
    is(body($r), 'close-delimited body', 'the whole body');
};

subtest 'connect_timeout covers the TLS handshake' => sub {
    my $slow = tls_server(handshake_delay => 3);
    my $pool = Uvent::HTTP::Pool->new({ tls => { ca_file => $CA } }, $loop);
    my $t0 = time;
    my $r = fetch($pool, uri => $slow->url('/ok'), connect_timeout => 0.3, timeout => 5);
    is(ecode($r), 'connect_timeout', 'error code connect_timeout');
    like(emsg($r), qr/TLS handshake not finished within 0\.3 s/, 'the message says the handshake did not finish');
    cmp_ok(time - $t0, '<', 2, 'reported at the deadline, not later');
    is($pool->size, 0, 'the connection is gone');
};

# A one-connection TLS server that reports, through a pipe, each request
# it answered and how the connection ended: with the client's close_notify
# or without. Bounded: it gives up after 20 s.
sub notify_server {
    my (%ssl) = @_;
    require IO::Socket::SSL;
    my $listen = IO::Socket::SSL->new(%ssl,
        LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 4, ReuseAddr => 1,
        SSL_server => 1, SSL_cert_file => $certs->server_cert, SSL_key_file => $certs->server_key,
    ) or die "listen: $IO::Socket::SSL::SSL_ERROR";
    pipe(my $rd, my $wr) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $rd;
        $SIG{ALRM} = sub { POSIX::_exit(0) };
        alarm 20;
        my $c = $listen->accept or POSIX::_exit(1);
        my ($buf, $n) = ('', 0);
        while (1) {
            my $got = sysread($c, $buf, 65536, length $buf);
            if (!$got) {
                my $shut = Net::SSLeay::get_shutdown($c->_get_ssl_object);
                syswrite($wr, "eof close_notify=" . ($shut & 2 ? 1 : 0) . "\n");
                last;
            }
            while ($buf =~ s/\A.*?\r\n\r\n//s) {
                $n++;
                syswrite($c, "HTTP/1.1 200 OK\r\nContent-Length: " . length($n) . "\r\n\r\n$n");
                syswrite($wr, "request $n\n");
            }
        }
        POSIX::_exit(0);
    }
    close $wr;
    my $port = $listen->sockport;
    close $listen;
    return ($pid, $rd, "https://127.0.0.1:$port/");
}

sub read_line_within {
    my ($fh, $secs) = @_;
    my $sel = IO::Select->new($fh);
    return $sel->can_read($secs) ? scalar <$fh> : undef;
}

subtest 'close_notify: sent on a graceful close, never from a forked child' => sub {
    require IO::Select;
    require POSIX;
    my ($pid, $events, $uri) = notify_server();
    my $pool = Uvent::HTTP::Pool->new({ tls => { ca_file => $CA } }, $loop);
    my $r = fetch($pool, uri => $uri);
    is(body($r), '1', 'first request');
    is(read_line_within($events, 5), "request 1\n", 'server answered it');

    # a child inherits the idle connection and drops it: not a word to the server
    my $child = fork // die "fork: $!";
    if (!$child) {
        $pool->size;    # the first use in the child drops what it inherited
        POSIX::_exit(0);
    }
    waitpid $child, 0;
    is(read_line_within($events, 0.5), undef, 'the child closed nothing the server could see');
    $r = fetch($pool, uri => $uri);
    is(body($r), '2', 'the parent goes on using the same connection');
    is($pool->stats->{connections_opened}, 1, 'still one connection');
    is(read_line_within($events, 5), "request 2\n", 'server answered on the same connection');

    undef $pool;    # graceful: the idle connection closes
    run_for($loop, 0.1);
    is(read_line_within($events, 5), "eof close_notify=1\n", 'the graceful close sent close_notify');
    waitpid $pid, 0;

    # the alert record is longest with CBC ciphers: it must go out whole
    ($pid, $events, $uri) = notify_server(SSL_version => 'TLSv1_2');
    $pool = Uvent::HTTP::Pool->new({ tls => { ca_file => $CA, ciphers => 'ECDHE-ECDSA-AES256-SHA384' } }, $loop);
    $r = fetch($pool, uri => $uri);
    is(body($r), '1', 'TLS 1.2 with a CBC cipher');
    is(read_line_within($events, 5), "request 1\n", 'server answered it');
    undef $pool;
    run_for($loop, 0.1);
    is(read_line_within($events, 5), "eof close_notify=1\n", 'its close_notify arrived whole');
    waitpid $pid, 0;
};

subtest 'no leaks: many TLS connections, memory and descriptors come back' => sub {
    plan skip_all => $NO_NGINX if $NO_NGINX;
    my $uri = $ng->https_url('/4k.bin');
    my $n = extended_testing() ? 300 : 100;    # requests per round
    my $round = sub {
        my $pool = Uvent::HTTP::Pool->new({ tls => { ca_file => $CA }, max_requests_per_connection => 2,
                                            max_connections => 8 }, $loop);
        my @r = map { start_req($pool, uri => $uri) } 1 .. $n;
        ok(wait_all($loop, @r), "$n requests completed");
        is(scalar(grep { !$_->{error} && length(body($_)) == 4096 } @r), $n, "all $n answered in full");
        ok($pool->stats->{connections_opened} >= $n / 2, 'at least ' . $n / 2 . ' TLS connections');
        # start_req's record holds its request, whose callback holds the
        # record: a cycle of the test's making (a request keeps its callback
        # so it can be submitted again), broken here so only Uvent's memory counts
        delete $_->{request} for @r;
        return $pool;
    };
    my $fds = sub { opendir my $d, '/proc/self/fd' or return -1; my $n = () = readdir $d; $n };
    undef(my $warm = $round->());
    run_for($loop, 0.1);
    my ($rss0, $fd0) = (Uvent::Test::Util::rss_kb(), $fds->());
    for (1 .. 3) { undef(my $p = $round->()); run_for($loop, 0.05) }
    my ($rss1, $fd1) = (Uvent::Test::Util::rss_kb(), $fds->());
    is($fd1, $fd0, 'descriptors back to where they were');
    cmp_ok($rss1 - $rss0, '<', 2048, "RSS grew by less than 2 MB over " . 3 * $n . " more requests ($rss0 -> $rss1 KB)");
};

$ng->stop if $ng;
is_deeply(\@warnings, [], 'no warnings') or diag(explain(\@warnings));
done_testing;
