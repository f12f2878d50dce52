use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Socks5;
use Uvent::Test::Proxy;
use Uvent::Test::Certs;
use Uvent::Test::Util qw(wait_all start_req response_ok ecode body);

# SOCKS5 proxies: Debian's microsocks with and without credentials, and
# the suite's own SOCKS5 server (Uvent::Test::Socks5) for the address type
# the client sends (socks5 an address, socks5h the name), every failure
# reply, refused methods and credentials, garbage and a stalled handshake;
# TLS through the tunnel verified against the target's name; connections
# never shared across proxies, credentials or with direct ones.

my $loop = Uvent::Loop->new;
my $srv  = Uvent::Test::Server->new;
my $NO_MICROSOCKS = Uvent::Test::Proxy->missing('microsocks');
my $NO_TLS = Uvent::Test::Server->tls_missing // Uvent::Test::Certs->missing;

sub emsg { my $r = shift; $r->{error} ? $r->{error}->message : '' }

sub get {
    my ($pool, %p) = @_;
    my $r = start_req($pool, %p);
    wait_all($loop, $r);
    is($r->{calls}, 1, "exactly one callback for $p{uri}" . (defined $p{proxy} ? " through $p{proxy}" : ''));
    return $r;
}

sub target_of { my $r = shift; my $b = body($r) // ''; $b =~ /"target":"([^"]*)"/ ? $1 : '' }

SKIP: {
    skip $NO_MICROSOCKS, 1 if $NO_MICROSOCKS;
    subtest 'microsocks without credentials: socks5 and socks5h' => sub {
        my $ms = Uvent::Test::Proxy->microsocks;
        my $pool = Uvent::HTTP::Pool->new({}, $loop);
        for my $scheme (qw(socks5 socks5h)) {
            (my $proxy = $ms->url) =~ s/\Asocks5/$scheme/;
            my $r = get($pool, uri => $srv->url_host('localhost', '/echo'), proxy => $proxy);
            response_ok($r, "http:// through $scheme");
            is(target_of($r), '/echo', '... the origin-form target (the tunnel carries a plain request)');
        }
        $srv->reset_stats;
    };

    subtest 'microsocks with -u/-P: credentials checked' => sub {
        my $ms = Uvent::Test::Proxy->microsocks(user => 'alice', pass => 's3cret');
        my $pool = Uvent::HTTP::Pool->new({}, $loop);
        my $r = get($pool, uri => $srv->url('/echo'), proxy => $ms->url('alice:s3cret'));
        response_ok($r, 'good credentials');
        $r = get($pool, uri => $srv->url('/echo'), proxy => $ms->url('alice:wrong'));
        is(ecode($r), 'proxy', 'wrong password: proxy error');
        like(emsg($r), qr/proxy 127\.0\.0\.1:\d+: the proxy refused the user name and password/, '... saying so');
        unlike(emsg($r), qr/wrong/, '... without showing the password');
        $r = get($pool, uri => $srv->url('/echo'), proxy => $ms->url);
        is(ecode($r), 'proxy', 'no credentials: proxy error');
        like(emsg($r), qr/requires authentication/, '... the proxy requires authentication');
    };
}

subtest 'socks5 sends the address, socks5h the name; credentials decoded' => sub {
    my $s5 = Uvent::Test::Socks5->new(auth => 'us@r:p:ss');
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $r = get($pool, uri => $srv->url_host('localhost', '/echo'), proxy => $s5->url('us%40r:p%3Ass'));
    response_ok($r, 'socks5 through our server');
    (my $h = $s5->url('us%40r:p%3Ass')) =~ s/\Asocks5/socks5h/;
    $r = get($pool, uri => $srv->url_host('localhost', '/echo'), proxy => $h);
    response_ok($r, 'socks5h through our server');
    my @log = @{ $s5->log };
    is(scalar @log, 2, 'two connections through the proxy (one per proxy URL)');
    ok($log[0]{atyp} == 1 || $log[0]{atyp} == 4, "socks5: an address type (ATYP $log[0]{atyp})");
    like($log[0]{addr}, qr/\A(?:127\.0\.0\.1|::1)\z/, "... the address of localhost ($log[0]{addr})");
    is($log[1]{atyp}, 3, 'socks5h: the name type (ATYP 3)');
    is($log[1]{addr}, 'localhost', '... the name itself');
    is($log[0]{port}, $srv->port, 'the target port');
    is_deeply([ @{ $log[0] }{qw(user pass)} ], ['us@r', 'p:ss'], 'credentials percent-decoded (RFC 1929)');
    is_deeply($log[0]{methods}, [0, 2], 'methods offered: none and username/password');
    is($log[0]{cmd}, 1, 'CONNECT');

    $s5 = Uvent::Test::Socks5->new;
    $r = get($pool, uri => $srv->url('/echo'), proxy => $s5->url);
    response_ok($r, 'an IP literal target through socks5');
    is_deeply([ @{ $s5->log->[0] }{qw(atyp addr)} ], [1, '127.0.0.1'], '... sent as ATYP 1 without a lookup');
    is_deeply($s5->log->[0]{methods}, [0], 'without credentials only "none" is offered');
};

subtest "socks5: the target is looked up through the pool's resolver" => sub {
    my $s5 = Uvent::Test::Socks5->new;
    my $port = $srv->port;
    my $pool = Uvent::HTTP::Pool->new({ resolve => { "socks-target.test:$port" => ['127.0.0.1'] } }, $loop);
    my $r = get($pool, uri => "http://socks-target.test:$port/echo", proxy => $s5->url);
    response_ok($r, "a name only the pool's resolve option knows");
    is_deeply([ @{ $s5->log->[0] }{qw(atyp addr)} ], [1, '127.0.0.1'], '... sent as the address resolve gave');
    $s5 = Uvent::Test::Socks5->new;
    $pool = Uvent::HTTP::Pool->new({ family => 4, resolve => { "socks-target.test:$port" => ['::1', '127.0.0.1'] } }, $loop);
    $r = get($pool, uri => "http://socks-target.test:$port/echo", proxy => $s5->url);
    response_ok($r, 'family => 4, the name resolving to ::1 first');
    is_deeply([ @{ $s5->log->[0] // {} }{qw(atyp addr)} ], [1, '127.0.0.1'], '... the proxy is sent its IPv4 address');
    $pool = Uvent::HTTP::Pool->new({ max_connections => 2 }, $loop);
    my @r;
    for my $i (0, 1) {
        $pool->request({ uri => $srv->url_host('localhost', '/sleep?s=0.2'), proxy => $s5->url,
            response_callback => sub { $r[$i] = $_[2] // 'ok' } });
    }
    $loop->run;
    is_deeply(\@r, ['ok', 'ok'], 'two connections at once through socks5 to localhost');
    my $st = $pool->stats;
    is($st->{dns_lookups} + $st->{dns_cache_hits} + $st->{dns_shared}, 2, 'both lookups went through the resolver');
    is($st->{dns_lookups}, 1, '... which looked the name up once');
};

subtest 'every SOCKS5 failure reply is a proxy error naming the reason' => sub {
    my %words = (1 => 'general SOCKS server failure', 2 => 'connection not allowed by ruleset',
        3 => 'network unreachable', 4 => 'host unreachable', 5 => 'connection refused', 6 => 'TTL expired',
        7 => 'command not supported', 8 => 'address type not supported', 9 => 'unassigned reply code');
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $before = $srv->requests;
    for my $code (sort { $a <=> $b } keys %words) {
        my $s5 = Uvent::Test::Socks5->new(reply => $code);
        my $r = get($pool, uri => $srv->url('/echo'), proxy => $s5->url);
        is(ecode($r), 'proxy', "reply $code: proxy error");
        like(emsg($r), qr/\Qproxy 127.0.0.1:${\ $s5->port}: the proxy could not connect to the target: $words{$code} (SOCKS5 reply $code)\E/,
            "... $words{$code}");
    }
    is($pool->stats->{errors}{proxy}, 9, 'counted as proxy errors');
    is($srv->requests, $before, 'nothing reached the target');
};

subtest 'refused methods, garbage, a closed or stalled handshake' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my @cases = (
        [ { method => 0xff }, 'u:p', qr/accepts none of the authentication methods offered/, 'no acceptable method' ],
        [ { auth => 'u:right' }, 'u:wrong', qr/refused the user name and password/, 'credentials refused' ],
        [ { auth => 'u:p' }, undef, qr/requires a user name and password \(give user:password\@ in the proxy URL\)/, 'credentials wanted, none given' ],
        [ { greeting_reply => "HTTP/1.1 400 Bad\r\n" }, undef, qr/does not speak SOCKS5/, 'an HTTP server, not SOCKS5' ],
        [ { reply_bytes => "\x05\x00\x07\x01" . ("\0" x 6) }, undef, qr/malformed CONNECT reply \(reserved byte 7\)/, 'a malformed reply' ],
        [ { reply_bytes => "\x05\x00" }, undef, qr/the proxy closed the connection during the SOCKS5 handshake/, 'a reply cut short' ],
    );
    for my $c (@cases) {
        my ($opts, $ui, $re, $name) = @$c;
        my $s5 = Uvent::Test::Socks5->new(%$opts);
        my $r = get($pool, uri => $srv->url('/echo'), proxy => $s5->url($ui));
        is(ecode($r), 'proxy', "$name: proxy error");
        like(emsg($r), $re, "... $name");
    }
    for my $step ('greeting', 'connect') {
        my $s5 = Uvent::Test::Socks5->new(stall => $step);
        my $r = get($pool, uri => $srv->url('/echo'), proxy => $s5->url, connect_timeout => 0.3, timeout => 5);
        is(ecode($r), 'connect_timeout', "stalled at the $step: connect_timeout");
        like(emsg($r), qr/proxy 127\.0\.0\.1:\d+: SOCKS5 handshake waiting for the \Q${\ ($step eq 'greeting' ? 'method' : 'CONNECT') }\E reply, not finished within 0\.3 s/,
            '... naming the proxy step');
    }
    my $r = get($pool, uri => $srv->url('/echo'), proxy => 'socks5://127.0.0.1:1');
    is(ecode($r), 'connect', 'proxy down: connect error');
    like(emsg($r), qr/proxy 127\.0\.0\.1:1: connection refused/, '... naming the proxy');
    $r = get($pool, uri => $srv->url_host('no-such-host.invalid', '/'), proxy => Uvent::Test::Socks5->new->url);
    is(ecode($r), 'resolve', 'socks5: the client resolves the target, and that can fail');
    like(emsg($r), qr/could not resolve host 'no-such-host\.invalid' for the SOCKS5 proxy 127\.0\.0\.1:\d+/, '... saying so');
};

SKIP: {
    skip $NO_TLS, 1 if $NO_TLS;
    subtest 'TLS through the tunnel: SNI and verification against the target' => sub {
        my $certs = Uvent::Test::Certs->new;
        my $tls = Uvent::Test::Server->new(tls => { cert_file => $certs->server_cert, key_file => $certs->server_key });
        my $s5 = Uvent::Test::Socks5->new(scheme => 'socks5h');
        my $pool = Uvent::HTTP::Pool->new({ tls => { ca_file => $certs->ca_cert } }, $loop);
        my $r = get($pool, uri => $tls->url_host('localhost', '/echo'), proxy => $s5->url);
        response_ok($r, 'https://localhost through socks5h');
        # the proxy is reached as 127.0.0.1, which the certificate names too;
        # the target's name is not in it
        (my $named = $s5->url) =~ s/127\.0\.0\.1/localhost/;
        $r = get($pool, uri => "https://target.invalid:${\ $tls->port}/echo", proxy => $named);
        is(ecode($r), 'tls', 'a name the certificate does not carry fails, though the proxy\'s would match');
        like(emsg($r), qr/target\.invalid/, '... the message names the target');
        is($s5->log->[-1]{addr}, 'target.invalid', 'the proxy was asked for the target by name');
    };
}

subtest 'connections are not mixed across proxies, credentials or with direct ones' => sub {
    my ($a, $b) = (Uvent::Test::Socks5->new(auth => 'x:1'), Uvent::Test::Socks5->new(auth => 'x:1'));
    my $pool = Uvent::HTTP::Pool->new({ proxy => $a->url('x:1') }, $loop);
    $srv->reset_stats;
    my $before = $srv->connections;
    response_ok(get($pool, uri => $srv->url('/echo')), "through A (the pool's default) #$_") for 1 .. 2;
    response_ok(get($pool, uri => $srv->url('/echo'), proxy => $b->url('x:1')), 'through B');
    response_ok(get($pool, uri => $srv->url('/echo'), proxy => undef), 'direct (proxy => undef)');
    response_ok(get($pool, uri => $srv->url('/echo'), proxy => ''), "direct (proxy => '')");
    response_ok(get($pool, uri => $srv->url('/echo'), proxy => $a->url('x:1')), 'through A again, named by the request');
    is($a->connections, 1, 'A: one connection, kept alive for its three requests');
    is($b->connections, 1, 'B: its own connection');
    is($srv->connections - $before, 3, 'the target saw three connections: through A, through B, direct');
    my $r = get($pool, uri => $srv->url('/echo'), proxy => $a->url('x:2'));
    is(ecode($r), 'proxy', 'other credentials on A: a new connection (refused by A)');
    is($a->connections, 2, '... A saw it');
    is($pool->stats($srv->url('/'))->{requests}, 3, "stats(\$url) counts the pool's route (through A with x:1)");
};

subtest 'no leaked SVs through a proxy, and for a refused proxy URL (Test::LeakTrace)' => sub {
    plan skip_all => 'Test::LeakTrace not installed' unless eval { require Test::LeakTrace; 1 };
    my $s5 = Uvent::Test::Socks5->new;
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $url = $srv->url('/echo');
    my $proxy = $s5->url;
    # warm up: the destination and its first connection are the pool's, not a leak
    my $r = start_req($pool, uri => $url, proxy => $proxy);
    wait_all($loop, $r);
    Test::LeakTrace::no_leaks_ok(sub {
        for (1 .. 3) {
            my $done;
            $pool->request({ uri => $url, proxy => $proxy, timeout => 5, response_callback => sub { $done = 1 } });
            $loop->run;
        }
        eval { $pool->request({ uri => $url, proxy => 'socks4://x:1' }) };
        eval { $pool->request({ uri => $url, proxy => [] }) };
    }, 'requests through SOCKS5 and refused proxy values');
};

done_testing;
