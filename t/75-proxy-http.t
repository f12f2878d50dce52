use strict;
use warnings;
use Test::More;
use MIME::Base64 ();
use Sys::Hostname ();
use Socket ();
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Socks5;
use Uvent::Test::Proxy;
use Uvent::Test::Certs;
use Uvent::Test::Util qw(wait_all start_req response_ok ecode body hdr);

# HTTP proxies: http:// targets in absolute form with Proxy-Authorization
# (against the test server acting as the proxy, which shows what it got, and
# Debian's tinyproxy), https:// targets through CONNECT (tinyproxy plain and
# with BasicAuth, and a CONNECT proxy of the suite's own for the answers
# tinyproxy will not give), CONNECT refused (403, 407), a proxy down or
# stalled, TLS verified against the target's name, connections never mixed
# across proxies or with direct ones, and the croaks for bad proxy URLs.

my $loop = Uvent::Loop->new;
my $srv  = Uvent::Test::Server->new;
my $NO_TINYPROXY = Uvent::Test::Proxy->missing('tinyproxy');
my $NO_TLS = Uvent::Test::Server->tls_missing // Uvent::Test::Certs->missing;
my ($certs, $tls);
unless ($NO_TLS) {
    $certs = Uvent::Test::Certs->new;
    $tls = Uvent::Test::Server->new(tls => { cert_file => $certs->server_cert, key_file => $certs->server_key });
}

sub emsg { my $r = shift; $r->{error} ? $r->{error}->message : '' }
sub json_field { my ($r, $f) = @_; my $b = body($r) // ''; $b =~ /"$f":"([^"]*)"/ ? $1 : undef }
sub header_seen {
    my ($r, $name) = @_;
    my $b = body($r) // '';
    my @v = $b =~ /\["\Q$name\E","([^"]*)"\]/gi;
    return @v;
}

sub get {
    my ($pool, %p) = @_;
    my $r = start_req($pool, %p);
    wait_all($loop, $r);
    is($r->{calls}, 1, "exactly one callback for $p{uri}");
    return $r;
}

subtest 'http:// through an HTTP proxy: absolute form, Proxy-Authorization, keep-alive' => sub {
    # the test server plays the proxy: it answers absolute-form requests and echoes them
    my $px = Uvent::Test::Server->new;
    my $pool = Uvent::HTTP::Pool->new({ proxy => 'http://alice:p%40ss@127.0.0.1:' . $px->port }, $loop);
    my $client;
    my $r = start_req($pool, uri => 'http://Target.Example:8080/echo?x=1');
    wait_all($loop, $r);
    response_ok($r, 'through the proxy');
    is(json_field($r, 'target'), 'http://target.example:8080/echo?x=1', 'absolute-form request target');
    is_deeply([ header_seen($r, 'Host') ], ['target.example:8080'], 'Host names the target');
    is_deeply([ header_seen($r, 'Proxy-Authorization') ], ['Basic ' . MIME::Base64::encode_base64('alice:p@ss', '')],
        'Proxy-Authorization: Basic from the percent-decoded userinfo');
    my ($ae) = header_seen($r, 'Accept-Encoding');
    like($ae // '', qr/\Agzip, deflate\b/, 'Accept-Encoding, as on a direct request');
    $r = get($pool, uri => 'http://target.example:8080/echo');
    response_ok($r, 'again');
    is($px->connections, 1, 'one connection to the proxy, kept alive');
    is($pool->stats->{reused}, 1, '... reused');
    $r = get($pool, uri => 'http://target.example/echo', headers => { 'Proxy-Authorization' => 'Basic eDp5' });
    is(json_field($r, 'target'), 'http://target.example/echo', 'no :80 in the absolute form');
    is_deeply([ header_seen($r, 'Proxy-Authorization') ], ['Basic eDp5'], "the user's own Proxy-Authorization instead of ours");
    is($px->connections, 2, 'another target through the same proxy: a route, and a connection, of its own');
    $r = get($pool, uri => $px->url('/echo'), proxy => undef);
    is(json_field($r, 'target'), '/echo', 'proxy => undef: direct, origin form');
    ok(!header_seen($r, 'Proxy-Authorization'), '... and no credentials for the proxy');
    is($px->connections, 3, '... on a connection of its own');
    $r = get($pool, uri => $px->url('/echo'));
    is(json_field($r, 'target'), 'http://127.0.0.1:' . $px->port . '/echo', 'the same URL through the proxy: absolute form again');
    is($px->connections, 4, '... not on the direct connection');
    $r = get($pool, uri => $px->url('/echo'), proxy => '');
    is(json_field($r, 'target'), '/echo', "proxy => '': direct again");
    is($px->connections, 4, '... on the direct connection kept alive');

    my $started = $pool->request({ uri => 'http://target.example/slow', response_callback => sub {} });
    is($started && $started->destination, 'http://target.example:80', '$client->destination names the target, not the proxy');
    $pool->shutdown;
};

SKIP: {
    skip $NO_TINYPROXY, 3 if $NO_TINYPROXY;

    subtest 'tinyproxy: http:// and a CONNECT tunnel to https://' => sub {
        my $tp = Uvent::Test::Proxy->tinyproxy;
        my $pool = Uvent::HTTP::Pool->new({ proxy => $tp->url, $tls ? (tls => { ca_file => $certs->ca_cert }) : () }, $loop);
        my $r = get($pool, uri => $srv->url('/echo'));
        response_ok($r, 'http:// through tinyproxy');
        like($tp->log, qr{Request \(file descriptor \d+\): GET \Qhttp://127.0.0.1:${\ $srv->port}/echo\E HTTP/1\.1}, 'tinyproxy got the absolute form');
        SKIP: {
            skip $NO_TLS, 4 unless $tls;
            $r = get($pool, uri => $tls->url_host('localhost', '/echo'));
            response_ok($r, 'https:// through CONNECT');
            like($tp->log, qr/Request \(file descriptor \d+\): CONNECT localhost:${\ $tls->port}/, 'tinyproxy got CONNECT host:port');
            is(json_field($r, 'target'), '/echo', 'inside the tunnel: origin form');
            is($pool->stats->{tls_handshakes}, 1, 'TLS end to end with the target');
        }
    };

    subtest 'tinyproxy with BasicAuth; CONNECT refused by ConnectPort (403)' => sub {
        my $tp = Uvent::Test::Proxy->tinyproxy(auth => 'bob:hunter2');
        my $pool = Uvent::HTTP::Pool->new({ $tls ? (tls => { ca_file => $certs->ca_cert }) : () }, $loop);
        my $r = get($pool, uri => $srv->url('/echo'), proxy => $tp->url('bob:hunter2'));
        response_ok($r, 'http:// with good credentials');
        SKIP: {
            skip $NO_TLS, 7 unless $tls;
            $r = get($pool, uri => $tls->url('/echo'), proxy => $tp->url('bob:hunter2'));
            response_ok($r, 'https:// with good credentials');
            $r = get($pool, uri => $tls->url('/echo'), proxy => $tp->url);
            is(ecode($r), 'proxy', 'CONNECT without credentials: proxy error');
            like(emsg($r), qr/proxy 127\.0\.0\.1:\d+ answered CONNECT with 'HTTP\/1\.[01] 407 Proxy Authentication Required'/,
                '... with the status line (407)');
            $r = get($pool, uri => $tls->url('/echo'), proxy => $tp->url('bob:wrong'));
            is(ecode($r), 'proxy', 'CONNECT with wrong credentials: proxy error');
            like(emsg($r), qr/answered CONNECT with 'HTTP\/1\.[01] 40[17] /, '... with the status line (tinyproxy says 401)');
            unlike(emsg($r), qr/wrong/, '... and no password in it');
        }
        $r = get($pool, uri => $srv->url('/echo'), proxy => $tp->url);
        is($r->{response} && $r->{response}->code, 407, 'http:// without credentials: the proxy\'s 407 is the response');
        SKIP: {
            skip $NO_TLS, 4 unless $tls;
            my $strict = Uvent::Test::Proxy->tinyproxy(connect_ports => [1]);
            $pool = Uvent::HTTP::Pool->new({ tls => { ca_file => $certs->ca_cert } }, $loop);
            $r = get($pool, uri => $tls->url('/echo'), proxy => $strict->url);
            is(ecode($r), 'proxy', 'CONNECT to a port tinyproxy does not allow: proxy error');
            like(emsg($r), qr/answered CONNECT with 'HTTP\/1\.[01] 403 /, '... 403 in the message');
            is($pool->size, 0, '... the connection is closed');
            is($pool->stats->{errors}{proxy}, 1, 'a proxy error counted');
        }
    };

    subtest 'connections are not mixed across proxies or with direct ones (counted at the servers)' => sub {
        plan skip_all => $NO_TLS unless $tls;
        my ($a, $b) = (Uvent::Test::Proxy->tinyproxy, Uvent::Test::Proxy->tinyproxy);
        my $pool = Uvent::HTTP::Pool->new({ proxy => $a->url, tls => { ca_file => $certs->ca_cert } }, $loop);
        $tls->reset_stats;
        my $before = $tls->connections;
        response_ok(get($pool, uri => $tls->url('/echo')), "https:// through A #$_") for 1 .. 2;
        response_ok(get($pool, uri => $tls->url('/echo'), proxy => $b->url), 'through B');
        response_ok(get($pool, uri => $tls->url('/echo'), proxy => ''), 'direct');
        response_ok(get($pool, uri => $tls->url('/echo')), 'through A again');
        is($tls->connections - $before, 3, 'the target saw three connections (A, B, direct)');
        is($a->connections, 1, 'A: one tunnel, kept alive end to end for three requests');
        is($b->connections, 1, 'B: one');
    };
}

subtest "the suite's own CONNECT proxy: 407 with a body, garbage, a close, a stall" => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $px = Uvent::Test::Socks5->new(http => 1,
        connect_answer => "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 5\r\n\r\nnope!");
    my $before = $srv->requests;
    my $r = get($pool, uri => 'https://localhost:' . $srv->port . '/x', proxy => $px->url('u:p'));
    is(ecode($r), 'proxy', '407: proxy error');
    like(emsg($r), qr/\Qthe proxy refused or failed the tunnel (GET https:\/\/localhost:${\ $srv->port}\/x): proxy 127.0.0.1:${\ $px->port} answered CONNECT with 'HTTP\/1.1 407 Proxy Authentication Required'\E\z/,
        '... the whole message');
    my $seen = $px->log->[0];
    is($seen->{request}, 'CONNECT localhost:' . $srv->port . ' HTTP/1.1', 'CONNECT host:port HTTP/1.1');
    is($seen->{headers}{host}, 'localhost:' . $srv->port, 'with Host');
    is($seen->{headers}{'proxy-authorization'}, 'Basic ' . MIME::Base64::encode_base64('u:p', ''), 'and the credentials');
    is($pool->size, 0, 'the connection is closed');
    is($srv->requests, $before, 'nothing reached the target');
    my @cases = (
        [ "SSH-2.0-OpenSSH\r\n\r\n", qr/malformed answer to CONNECT/, 'not HTTP' ],
        [ "HTTP/1.1 200 OK\r\n", qr/proxy 127\.0\.0\.1:\d+: the proxy closed the connection before answering CONNECT/, 'a head cut short' ],
        [ "HTTP/1.1 502 Bad Gateway\r\n\r\n", qr/answered CONNECT with 'HTTP\/1\.1 502 Bad Gateway'/, '502' ],
        [ "HTTP/1.1 200 OK\r\n\r\nEXTRA", qr/the target sent 5 bytes before the request/, 'bytes behind the 200' ],
    );
    for my $c (@cases) {
        my ($answer, $re, $name) = @$c;
        $px = Uvent::Test::Socks5->new(http => 1, connect_answer => $answer);
        $r = get($pool, uri => 'https://localhost:1/', proxy => $px->url);
        is(ecode($r), 'proxy', "$name: proxy error");
        like(emsg($r), $re, "... $name");
    }
    $px = Uvent::Test::Socks5->new(http => 1, stall => 'connect');
    $r = get($pool, uri => 'https://localhost:1/', proxy => $px->url, connect_timeout => 0.3);
    is(ecode($r), 'connect_timeout', 'no answer to CONNECT: connect_timeout');
    like(emsg($r), qr/proxy 127\.0\.0\.1:\d+: no answer to CONNECT localhost:1, not finished within 0\.3 s/, '... naming the step');
    $r = get($pool, uri => 'https://localhost:1/', proxy => $px->url, connect_timeout => 0, timeout => 0.3);
    is(ecode($r), 'timeout', 'the total timeout covers the handshake too');
};

subtest 'proxy down or unknown' => sub {
    my $pool = Uvent::HTTP::Pool->new({ proxy => 'http://127.0.0.1:1' }, $loop);
    my $r = get($pool, uri => $srv->url('/echo'));
    is(ecode($r), 'connect', 'proxy down: connect error');
    like(emsg($r), qr/\Qcould not connect (GET ${\ $srv->url('\/echo')}): proxy 127.0.0.1:1: connection refused\E/, '... naming the proxy');
    $r = get($pool, uri => 'https://localhost:1/');
    like(emsg($r), qr/proxy 127\.0\.0\.1:1: connection refused/, '... https:// too');
    $r = get($pool, uri => $srv->url('/echo'), proxy => 'http://no-such-proxy.invalid:3128');
    is(ecode($r), 'resolve', 'a proxy name that does not resolve: resolve error');
    like(emsg($r), qr/could not resolve proxy host 'no-such-proxy\.invalid'/, '... naming the proxy');
};

SKIP: {
    skip $NO_TLS, 1 if $NO_TLS;
    subtest "the certificate is checked against the target's name, never the proxy's" => sub {
        my $pool = Uvent::HTTP::Pool->new({ tls => { ca_file => $certs->ca_cert } }, $loop);
        # every name this proxy is asked for is 127.0.0.1; the proxy is named
        # localhost, which the certificate carries; target.invalid is not in it
        my $px = Uvent::Test::Socks5->new(http => 1);
        (my $named = $px->url) =~ s/127\.0\.0\.1/localhost/;
        my $r = get($pool, uri => $tls->url_host('localhost', '/echo'), proxy => $named);
        response_ok($r, 'a target the certificate names');
        $r = get($pool, uri => 'https://target.invalid:' . $tls->port . '/echo', proxy => $named);
        is(ecode($r), 'tls', 'a target it does not name fails');
        like(emsg($r), qr/target\.invalid/, '... the message names the target');
        is($px->log->[-1]{request}, 'CONNECT target.invalid:' . $tls->port . ' HTTP/1.1', 'the tunnel went to target.invalid');
        SKIP: {
            my $host = lc Sys::Hostname::hostname();
            my $addr = gethostbyname($host);
            skip "this host's name ($host) does not resolve to 127.0.0.1", 2
                if $NO_TINYPROXY || !$addr || Socket::inet_ntoa($addr) ne '127.0.0.1' || $host eq 'localhost';
            my $tp = Uvent::Test::Proxy->tinyproxy;
            (my $tpn = $tp->url) =~ s/127\.0\.0\.1/localhost/;
            $r = get($pool, uri => "https://$host:" . $tls->port . '/echo', proxy => $tpn);
            is(ecode($r), 'tls', "tinyproxy: https://$host (not in the certificate) through proxy localhost (in it) fails");
        }
    };
}

SKIP: {
    skip $NO_TLS, 1 if $NO_TLS;
    subtest 'an https:// proxy (TLS to the proxy): http:// targets' => sub {
        # the TLS test server plays the proxy: it echoes the absolute form it got
        my $pool = Uvent::HTTP::Pool->new({ tls => { ca_file => $certs->ca_cert },
            proxy => 'https://carol:pw@localhost:' . $tls->port }, $loop);
        my $r = get($pool, uri => 'http://target.example/echo');
        response_ok($r, 'http:// through an https:// proxy');
        is(json_field($r, 'target'), 'http://target.example/echo', '... absolute form, over TLS');
        is_deeply([ header_seen($r, 'Proxy-Authorization') ], ['Basic ' . MIME::Base64::encode_base64('carol:pw', '')],
            '... with the credentials');
        like(hdr($r, 'X-TLS-Protocol') // '', qr/\ATLSv1\.[23]\z/, 'the proxy connection is TLS');
        $r = get($pool, uri => 'http://target.example/echo');
        is($pool->stats->{reused}, 1, 'kept alive');
        my $wrong = Uvent::Test::Server->new(tls => { cert_file => $certs->wrong_name_cert, key_file => $certs->wrong_name_key });
        $r = get($pool, uri => 'http://target.example/echo', proxy => 'https://localhost:' . $wrong->port);
        is(ecode($r), 'tls', "a proxy whose certificate does not name it: tls error");
        like(emsg($r), qr/certificate verify failed/, '... verification failed');
        ok(!eval { $pool->request({ uri => $tls->url('/'), response_callback => sub { fail('called') } }); 1 },
            'an https:// target through an https:// proxy croaks');
        like($@, qr/an https:\/\/ target through the https:\/\/ proxy localhost:\d+ is not supported \(TLS inside TLS\)/, '... saying why');
    };
}

subtest 'bad proxy values croak, naming the option; nothing is sent' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $before = $srv->requests;
    my @bad = (
        [ 'ftp://h:1', qr/invalid 'proxy' 'ftp:\/\/h:1': unsupported scheme \(use http:\/\/, https:\/\/, socks5:\/\/ or socks5h:\/\/\)/ ],
        [ 'http://h', qr/invalid 'proxy' 'http:\/\/h': no port/ ],
        [ 'http://:1', qr/no host/ ],
        [ 'http://h:1/path', qr/no path, query or fragment/ ],
        [ "http://h\r\n:1", qr/invalid 'proxy' 'http:\/\/h\\r\\n:1': it contains a space, a control character/ ],
        [ 'http://u:s%0d%0acret@h:1', qr/invalid 'proxy' 'http:\/\/\*\*\*\@h:1': its user name or password decodes to a control character/ ],
        [ 'proxy.example:3128', qr/it must be a URL such as http:\/\/host:port/ ],
        [ [], qr/'proxy' must be a proxy URL string \(or undef or '' to go direct\), not a reference/ ],
    );
    for my $b (@bad) {
        my ($v, $re) = @$b;
        ok(!eval { $pool->request({ uri => $srv->url('/echo'), proxy => $v, response_callback => sub { fail('called') } }); 1 },
            'refused: ' . (ref $v || $v =~ s/\r\n/\\r\\n/r));
        like($@, qr/\AUvent::HTTP::Pool->request: /, '... by request');
        like($@, $re, '... saying why');
    }
    ok(!eval { Uvent::HTTP::Pool->new({ proxy => 'socks4://h:1' }, $loop); 1 }, 'a bad pool default croaks at new');
    like($@, qr/\AUvent::HTTP::Pool->new: proxy: invalid proxy URL 'socks4:\/\/h:1': unsupported scheme/, '... naming it');
    ok(!eval { Uvent::HTTP::Pool->new({ proxy => {} }, $loop); 1 }, 'a reference as the pool default');
    like($@, qr/'proxy' must be a proxy URL string/, '... croaks');
    ok(!eval { Uvent::HTTP::Pool->new({ env_proxy => 'yes' }, $loop); 1 }, 'env_proxy must be 0 or 1');
    like($@, qr/'env_proxy' must be 0 or 1, got 'yes'/, '... says so');
    ok(!eval { Uvent::HTTP::Pool->new({ proxy => "http://u:secret\@h" }, $loop); 1 }, 'credentials');
    unlike($@, qr/secret/, '... are never shown');
    for my $v ('u:secret@proxy.example:3128', 'http:u:secret@proxy.example:3128', 'http:/u:secret@h:1') {
        ok(!eval { Uvent::HTTP::Pool->new({ proxy => $v }, $loop); 1 }, "credentials without '//': $v");
        unlike($@, qr/secret/, '... are not shown by new');
        ok(!eval { $pool->request({ uri => $srv->url('/echo'), proxy => $v, response_callback => sub { fail('called') } }); 1 },
            '... refused by request');
        unlike($@, qr/secret/, '... nor by request');
    }
    $loop->run;
    is($srv->requests, $before, 'nothing was sent');
    ok(eval { Uvent::HTTP::Pool->new({ proxy => '' }, $loop) && Uvent::HTTP::Pool->new({ proxy => undef }, $loop) },
        "proxy => '' or undef in the pool: no proxy");
};

done_testing;
