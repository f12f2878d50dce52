#!/usr/bin/perl
# Self-test of the TLS test harness (Uvent::Test::Certs, the TLS modes of
# Uvent::Test::Server and Uvent::Test::Nginx) using Perl's own TLS clients
# (HTTP::Tiny, IO::Socket::SSL) only: not the Uvent client.
use strict;
use warnings;
use lib 't/lib';

use Digest::MD5 qw(md5_hex);
use HTTP::Tiny;
use JSON::PP;
use Test::More;
use Time::HiRes qw(time);

use Uvent::Test::Certs;
use Uvent::Test::Nginx;
use Uvent::Test::Server;
use Uvent::Test::Util qw(extended_testing);

# What is missing for each part (undef: nothing); those parts skip.
my $OPENSSL = Uvent::Test::Certs::openssl_command();
my $NO_SSL  = Uvent::Test::Server->tls_missing;
my $NO_CERTS = Uvent::Test::Certs->missing;
my $NO_NGINX = Uvent::Test::Nginx->missing(tls => 1);

# ---------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------

our $CA;    # CA file the clients trust

# HTTP::Tiny verifying against our CA; %ssl adds client certificates.
sub ua {
    my (%ssl) = @_;
    return HTTP::Tiny->new(timeout => 5, verify_SSL => 1, SSL_options => { %ssl });
}

sub openssl {
    my $cmd = join ' ', map { "'$_'" } $OPENSSL, @_;
    my $out = `$cmd 2>&1`;
    return ($? == 0, $out);
}

# One request on a fresh TLS connection (Connection: close), read to EOF.
# %o: port, path, ssl (IO::Socket::SSL options, e.g. SSL_reuse_ctx).
sub tls_get {
    my (%o) = @_;
    my $s = IO::Socket::SSL->new(
        PeerAddr            => '127.0.0.1',
        PeerPort            => $o{port},
        Timeout             => 5,
        SSL_verifycn_scheme => 'http',
        SSL_verifycn_name   => 'localhost',
        SSL_session_key     => 'uvent-test',
        %{ $o{ssl} || {} },
    ) or return { error => "$IO::Socket::SSL::SSL_ERROR" || "$@" };
    my $req = "GET $o{path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    syswrite($s, $req) == length $req or return { error => "write: $!" };
    my ($data, $n) = ('');
    1 while $n = sysread $s, $data, 65536, length $data;
    my %r = (
        read_error    => defined $n ? '' : "$!",
        close_notify  => Net::SSLeay::get_shutdown($s->_get_ssl_object)
                         & Net::SSLeay::RECEIVED_SHUTDOWN() ? 1 : 0,
        client_reused => $s->get_session_reused ? 1 : 0,
        raw           => $data,
    );
    # A clean close keeps the session resumable (OpenSSL drops the sessions
    # of connections freed without close_notify).
    $s->close;
    if ($data =~ s/\AHTTP\/1\.[01] (\d{3})[^\r\n]*\r\n(.*?)\r\n\r\n//s) {
        $r{status} = $1;
        $r{h}      = { map { /\A([^:]+):\s*(.*)\z/ ? (lc $1 => $2) : () } split /\r\n/, $2 };
        $r{body}   = $data;
    }
    return \%r;
}

# A client context whose session cache survives between connections.
sub client_ctx {
    my (%ssl) = @_;
    return IO::Socket::SSL::SSL_Context->new(
        SSL_verify_mode        => IO::Socket::SSL::SSL_VERIFY_PEER(),
        SSL_session_cache_size => 4,
        %ssl,
    ) || die "client context: $IO::Socket::SSL::SSL_ERROR";
}

# Why certificate verification of a handshake with $port fails, as OpenSSL
# puts it (undef if it does not fail).
sub verify_error {
    my ($port) = @_;
    my $err;
    my $s = IO::Socket::SSL->new(
        PeerAddr            => '127.0.0.1',
        PeerPort            => $port,
        Timeout             => 5,
        SSL_ca_file         => $CA,
        SSL_verifycn_scheme => 'http',
        SSL_verifycn_name   => 'localhost',
        SSL_verify_callback => sub {
            my ($ok, $store) = @_;
            $err //= Net::SSLeay::X509_verify_cert_error_string(
                Net::SSLeay::X509_STORE_CTX_get_error($store)) unless $ok;
            return $ok;
        },
    );
    return $s ? undef : $err // "$IO::Socket::SSL::SSL_ERROR";
}

# ---------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------

# Both backends make the same PKI; each is checked when it can run here.
sub check_certs {
    my ($c) = @_;
    my @pairs = qw(ca other_ca server expired wrong_name self_signed client client2 untrusted_client);
    ok -d $c->dir, 'dir exists';
    for my $p (@pairs) {
        my ($cert, $key) = ("${p}_cert", "${p}_key");
        ok -s $c->$cert && -s $c->$key, "$p: cert and key exist";
        like scalar(do { local (@ARGV, $/) = $c->$key; <> }), qr/-----BEGIN PRIVATE KEY-----/,
            "$p: key is unencrypted";
    }

    SKIP: {
        skip 'the openssl command is not installed (it inspects the certificates)', 15 unless $OPENSSL;
        my $CA = $c->ca_cert;
        my ($ok, $out) = openssl('verify', '-CAfile', $CA, '-purpose', 'sslserver', $c->server_cert);
        ok $ok, 'server cert verifies against the CA' or diag $out;

        ($ok, $out) = openssl('x509', '-noout', '-ext', 'subjectAltName', '-in', $c->server_cert);
        like $out, qr/DNS:localhost/, 'server SAN: localhost';
        like $out, qr/IP Address:127\.0\.0\.1/, 'server SAN: 127.0.0.1';
        like $out, qr/IP Address:0:0:0:0:0:0:0:1\b/, 'server SAN: ::1';

        ($ok, $out) = openssl('verify', '-CAfile', $CA, $c->expired_cert);
        ok !$ok, 'expired cert fails verification';
        like $out, qr/expired/, '... because it has expired';

        ($ok, $out) = openssl('x509', '-noout', '-ext', 'subjectAltName', '-in', $c->wrong_name_cert);
        my @names = $out =~ /((?:DNS|IP Address):[^,\s]+)/g;
        is_deeply \@names, ['DNS:wrong.example'], 'wrong_name cert names only wrong.example';
        ($ok, $out) = openssl('verify', '-CAfile', $CA, $c->wrong_name_cert);
        ok $ok, '... and is signed by the CA' or diag $out;

        ($ok, $out) = openssl('verify', '-CAfile', $CA, $c->self_signed_cert);
        ok !$ok, 'self-signed cert fails against the CA';
        ($ok, $out) = openssl('verify', '-CAfile', $c->self_signed_cert, $c->self_signed_cert);
        ok $ok, '... and verifies against itself' or diag $out;

        for my $p (qw(client client2)) {
            my $cert = "${p}_cert";
            ($ok, $out) = openssl('verify', '-CAfile', $CA, '-purpose', 'sslclient', $c->$cert);
            ok $ok, "$p cert verifies for clientAuth" or diag $out;
        }
        ($ok, $out) = openssl('x509', '-noout', '-subject', '-in', $c->client2_cert);
        like $out, qr/CN\s*=\s*uvent-client-2/, 'client2 CN';

        ($ok, $out) = openssl('verify', '-CAfile', $CA, $c->untrusted_client_cert);
        ok !$ok, 'untrusted client cert fails against the CA';
        ($ok, $out) = openssl('verify', '-CAfile', $c->other_ca_cert, '-purpose', 'sslclient',
            $c->untrusted_client_cert);
        ok $ok, '... and verifies against other_ca' or diag $out;
    }
}

for my $backend (qw(perl openssl)) {
    subtest "certificates made by the $backend backend" => sub {
        my $why = $backend eq 'perl' ? Uvent::Test::Certs::perl_missing()
                : $OPENSSL           ? undef : 'the openssl command is not installed';
        plan skip_all => $why if $why;
        my $t0 = time;
        my $c = Uvent::Test::Certs->new(backend => $backend);
        note sprintf 'certificates generated in %.2f s', time - $t0;
        is $c->backend, $backend, 'backend';
        check_certs($c);
        my $enc = $c->encrypted_key('client', 'secret');
        like scalar(do { local (@ARGV, $/) = $enc; <> }), qr/ENCRYPTED/, 'encrypted_key: an encrypted key';
    };
}

# The TLS servers and clients below need IO::Socket::SSL, hence certificates
# can be made (its perl backend).
$NO_SSL //= $NO_CERTS;
my $c = $NO_SSL ? undef : Uvent::Test::Certs->new;
$CA = $c && $c->ca_cert;

# ---------------------------------------------------------------------------
# Uvent::Test::Server in TLS mode
# ---------------------------------------------------------------------------

my %server_tls = $c ? (cert_file => $c->server_cert, key_file => $c->server_key) : ();

subtest 'plain mode unchanged' => sub {
    my $srv = Uvent::Test::Server->new;
    like $srv->url('/ok'), qr{\Ahttp://127\.0\.0\.1:\d+/ok\z}, 'http url';
    my $r = HTTP::Tiny->new(timeout => 5)->get($srv->url('/ok'));
    is $r->{status}, 200, 'plain request';
    ok !exists $r->{headers}{'x-tls-resumed'}, 'no TLS headers';
    ok !exists $srv->log->[0]{tls_resumed}, 'no TLS log fields';
};

subtest 'routes over TLS' => sub {
    plan skip_all => $NO_SSL if $NO_SSL;
    my $srv = Uvent::Test::Server->new(tls => \%server_tls);
    my $port = $srv->port;
    is $srv->url('/echo'), "https://127.0.0.1:$port/echo", 'url is https';
    is $srv->url_host('localhost', '/ok'), "https://localhost:$port/ok", 'url_host';

    my $ua = ua(SSL_ca_file => $CA);
    my $r = $ua->get($srv->url('/echo'));
    is $r->{status}, 200, '/echo over verified TLS' or diag $r->{content};
    is eval { decode_json($r->{content})->{method} }, 'GET', 'echo body';
    is $r->{headers}{'x-tls-resumed'}, 0, 'X-TLS-Resumed: 0';
    like $r->{headers}{'x-tls-protocol'}, qr/\ATLSv1\.[23]\z/, 'X-TLS-Protocol';
    ok !exists $r->{headers}{'x-client-cn'}, 'no X-Client-CN without a client cert';

    # large bodies: 3 MB down, 2 MB up under EXTENDED_TESTING, a tenth by default
    my $size = extended_testing() ? 3_000_000 : 300_000;
    $r = $ua->get($srv->url("/big?size=$size"));
    is $r->{headers}{'x-conn'}, 1, 'keep-alive over TLS: same connection';
    is $r->{headers}{'x-seq'}, 2, '... second request';
    ok $r->{content} eq substr('0123456789' x ($size / 10 + 1), 0, $size), "$size-byte body intact";

    my $up = join '', map { chr(($_ * 7) % 256) } 1 .. $size * 2 / 3;
    $r = $ua->post($srv->url('/upload'), { content => $up });
    is $r->{content}, length($up) . ' ' . md5_hex($up), length($up) . '-byte upload intact';

    $r = $ua->get($srv->url('/chunked?split=1'));
    is $r->{content}, 'hello world', 'byte-by-byte chunked response';

    $r = ua(SSL_ca_file => $CA)->get($srv->url_host('localhost', '/ok'));
    is $r->{status}, 200, 'verified by the name localhost' or diag $r->{content};

    $r = ua()->get($srv->url('/ok'));
    is $r->{status}, 599, 'refused when the CA is not trusted';

    ok $srv->wait_for(sub { @{ $_[0]->log } >= 5 }, 5), 'requests logged';
    # The server child logs a refused handshake only after the client has
    # given up, so wait for that entry rather than read the log at once.
    ok $srv->wait_for(sub { grep { defined $_->{tls_error} } @{ $_[0]->tls_log } }, 5),
        'the refused handshake is logged';
    my $e = $srv->log->[0];
    is $e->{tls_resumed}, 0, 'log: tls_resumed';
    like $e->{tls_protocol}, qr/\ATLSv1\.[23]\z/, 'log: tls_protocol';
    my $tls = $srv->tls_log;
    ok @$tls >= 3, 'tls_log has the handshakes';
    ok +(grep { defined $_->{tls_error} } @$tls), 'the refused handshake is logged as tls_error';

    # close_notify on graceful close, none on reset
    $r = tls_get(port => $port, path => '/ok', ssl => { SSL_ca_file => $CA });
    is $r->{status}, 200, 'raw TLS client';
    ok $r->{close_notify}, 'graceful close sends close_notify';
    $r = tls_get(port => $port, path => '/reset', ssl => { SSL_ca_file => $CA });
    ok !$r->{close_notify}, '/reset sends no close_notify';
    ok $r->{read_error}, "... and resets ($r->{read_error})";
};

subtest 'bad server certificates are refused by the client' => sub {
    plan skip_all => $NO_SSL if $NO_SSL;
    for my $case (
        [ expired     => qr/expired/ ],
        [ wrong_name  => qr/hostname verification failed/ ],
        [ self_signed => qr/self.signed certificate/ ],
    ) {
        my ($name, $why) = @$case;
        my ($cert, $key) = ("${name}_cert", "${name}_key");
        my $srv = Uvent::Test::Server->new(tls => { cert_file => $c->$cert, key_file => $c->$key });
        my $r = ua(SSL_ca_file => $CA)->get($srv->url_host('localhost', '/ok'));
        is $r->{status}, 599, "$name: refused by HTTP::Tiny";
        like verify_error($srv->port), $why, "$name: reason";
    }
};

subtest 'session resumption across connections' => sub {
    plan skip_all => $NO_SSL if $NO_SSL;
    my $srv = Uvent::Test::Server->new(tls => \%server_tls);
    for my $v (qw(TLSv1_2 TLSv1_3)) {
        my $ctx = client_ctx(SSL_ca_file => $CA, SSL_version => $v);
        my @r = map { tls_get(port => $srv->port, path => '/ok', ssl => { SSL_reuse_ctx => $ctx }) } 1 .. 2;
        (my $proto = $v) =~ tr/_/./;
        is $r[0]{h}{'x-tls-protocol'}, $proto, "$v: protocol";
        is $r[0]{h}{'x-tls-resumed'}, 0, "$v: first connection is a full handshake";
        is $r[1]{h}{'x-tls-resumed'}, 1, "$v: second one resumes";
        ok $r[1]{client_reused}, "$v: the client agrees";
        isnt $r[0]{h}{'x-conn'}, $r[1]{h}{'x-conn'}, "$v: in another connection child";
    }
    ok $srv->wait_for(sub { @{ $_[0]->log } >= 4 }, 5), 'logged';
    is_deeply [ map { $_->{tls_resumed} } @{ $srv->log } ], [ 0, 1, 0, 1 ], 'log: tls_resumed';
    is_deeply [ map { $_->{tls_resumed} } @{ $srv->tls_log } ], [ 0, 1, 0, 1 ], 'tls_log: tls_resumed';
};

subtest 'client certificates' => sub {
    plan skip_all => $NO_SSL if $NO_SSL;
    my $srv = Uvent::Test::Server->new(tls => { %server_tls, ca_file => $CA, verify_client => 1 });

    my $r = ua(SSL_ca_file => $CA)->get($srv->url('/ok'));
    is $r->{status}, 599, 'no client cert: refused';
    ok $srv->wait_for(sub { grep { defined $_->{tls_error} } @{ $_[0]->tls_log } }, 5),
        'handshake failure logged';
    like +(grep { defined $_->{tls_error} } @{ $srv->tls_log })[0]{tls_error}, qr/certificate/i,
        '... as a certificate problem';

    for my $p ([ client => 'uvent-client-1' ], [ client2 => 'uvent-client-2' ]) {
        my ($cert, $key) = ("$p->[0]_cert", "$p->[0]_key");
        $r = ua(SSL_ca_file => $CA, SSL_cert_file => $c->$cert, SSL_key_file => $c->$key)
            ->get($srv->url('/ok'));
        is $r->{status}, 200, "$p->[0]: accepted" or diag $r->{content};
        is $r->{headers}{'x-client-cn'}, $p->[1], "$p->[0]: X-Client-CN";
    }
    ok $srv->wait_for(sub { @{ $_[0]->log } >= 2 }, 5), 'logged';
    is_deeply [ map { $_->{client_cn} } @{ $srv->log } ], [ 'uvent-client-1', 'uvent-client-2' ],
        'log: client_cn';

    $r = ua(SSL_ca_file => $CA, SSL_cert_file => $c->untrusted_client_cert,
        SSL_key_file => $c->untrusted_client_key)->get($srv->url('/ok'));
    is $r->{status}, 599, 'untrusted client cert: refused';

    # The client identity survives resumption.
    my $ctx = client_ctx(SSL_ca_file => $CA, SSL_cert_file => $c->client_cert,
        SSL_key_file => $c->client_key);
    my @r = map { tls_get(port => $srv->port, path => '/ok', ssl => { SSL_reuse_ctx => $ctx }) } 1 .. 2;
    is $r[1]{h}{'x-tls-resumed'}, 1, 'resumed with a client cert';
    is $r[1]{h}{'x-client-cn'}, 'uvent-client-1', '... X-Client-CN still set';
};

subtest 'tls_handshake_delay' => sub {
    plan skip_all => $NO_SSL if $NO_SSL;
    my $srv = Uvent::Test::Server->new(tls => \%server_tls, tls_handshake_delay => 0.8);
    my $t = time;
    my $s = IO::Socket::SSL->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port, Timeout => 0.2,
        SSL_ca_file => $CA, SSL_verifycn_name => 'localhost');
    my $took = time - $t;
    ok !$s, 'impatient client: handshake times out';
    cmp_ok $took, '<', 0.6, sprintf '... before the server starts it (%.2f s)', $took;
    $t = time;
    my $r = ua(SSL_ca_file => $CA)->get($srv->url('/ok'));
    is $r->{status}, 200, 'patient client: served';
    cmp_ok time - $t, '>=', 0.75, '... after the delay';
};

# ---------------------------------------------------------------------------
# Uvent::Test::Nginx with tls
# ---------------------------------------------------------------------------

subtest 'nginx https' => sub {
    plan skip_all => $NO_SSL if $NO_SSL;
    plan skip_all => $NO_NGINX if $NO_NGINX;
    my $ng = Uvent::Test::Nginx->new(tls => { %server_tls, client_ca_file => $CA });
    ok $ng->https_port && $ng->https_client_port, 'https ports';
    is $ng->https_url('/x'), 'https://127.0.0.1:' . $ng->https_port . '/x', 'https_url';
    is $ng->https_url('/x', 'localhost'), 'https://localhost:' . $ng->https_port . '/x',
        'https_url with host';

    my $ua = ua(SSL_ca_file => $CA);
    my $r = $ua->get($ng->https_url('/hello.txt', 'localhost'));
    is $r->{status}, 200, 'hello.txt over verified TLS' or diag $r->{content};
    is $r->{content}, 'Hello, World!', '... content';
    is $r->{headers}{'x-session-reused'}, '.', 'X-Session-Reused: . (new session)';
    like $r->{headers}{'x-tls-protocol'}, qr/\ATLSv1\.[23]\z/, 'X-TLS-Protocol';
    ok $r->{headers}{'x-conn'}, 'X-Conn as on the plain server';

    $r = $ua->get($ng->https_url('/1m.bin'));
    is md5_hex($r->{content}), $ng->file_md5('1m.bin'), '1m.bin intact';
    is $r->{headers}{'x-session-reused'}, '.', '... headers on static files';

    my $up = 'u' x 100_000;
    $r = $ua->post($ng->https_url('/upload'), { content => $up });
    is $r->{content}, length($up) . "\n", '/upload over TLS';
    like $r->{headers}{'x-tls-protocol'}, qr/TLSv1/, '... with the TLS headers';

    $r = HTTP::Tiny->new(timeout => 5)->get($ng->url('/hello.txt'));
    is $r->{status}, 200, 'plain port still served';
    ok !exists $r->{headers}{'x-session-reused'}, '... without TLS headers';

    for my $v (qw(TLSv1_2 TLSv1_3)) {
        my $ctx = client_ctx(SSL_ca_file => $CA, SSL_version => $v);
        my @r = map { tls_get(port => $ng->https_port, path => '/hello.txt', ssl => { SSL_reuse_ctx => $ctx }) } 1 .. 2;
        (my $proto = $v) =~ tr/_/./;
        is $r[0]{h}{'x-tls-protocol'}, $proto, "$v: protocol";
        is $r[0]{h}{'x-session-reused'}, '.', "$v: first connection new";
        is $r[1]{h}{'x-session-reused'}, 'r', "$v: second one resumed";
    }

    # client certificate server
    $r = $ua->get($ng->https_client_url('/hello.txt'));
    is $r->{status}, 400, 'client port without a cert: 400';
    like $r->{content}, qr/No required SSL certificate was sent/, '... no certificate';
    is $r->{headers}{'x-client-verify'}, 'NONE', '... X-Client-Verify: NONE';

    $r = ua(SSL_ca_file => $CA, SSL_cert_file => $c->client_cert, SSL_key_file => $c->client_key)
        ->get($ng->https_client_url('/hello.txt', 'localhost'));
    is $r->{status}, 200, 'client port with a cert: 200' or diag $r->{content};
    is $r->{content}, 'Hello, World!', '... content';
    is $r->{headers}{'x-client-verify'}, 'SUCCESS', '... X-Client-Verify: SUCCESS';
    like $r->{headers}{'x-client-dn'}, qr/CN=uvent-client-1/, '... X-Client-DN';

    $r = ua(SSL_ca_file => $CA, SSL_cert_file => $c->untrusted_client_cert,
        SSL_key_file => $c->untrusted_client_key)->get($ng->https_client_url('/hello.txt'));
    is $r->{status}, 400, 'untrusted client cert: 400';
    like $r->{content}, qr/The SSL certificate error/, '... certificate error';
    like $r->{headers}{'x-client-verify'}, qr/\AFAILED/, '... X-Client-Verify: FAILED';

    $ng->stop;
};

done_testing;
