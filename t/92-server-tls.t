# Uvent::HTTP::Server with TLS per location: curl with --cacert, with and
# without --cert against verify_client optional and require (the verified
# client certificate's subject, issuer and, asked for, PEM reach the
# request), an untrusted client certificate refused, our own pool over
# https (a streamed body paced by drain_callback too), and a plain HTTP
# request to the TLS port closed without an HTTP answer; ca_path (a hashed
# directory), the system store when neither ca_file nor ca_path is given,
# ciphers, graceful_stop during a handshake (the connection then waits
# read_timeout for its request), and the clear errors for bad TLS settings.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Uvent;
use Uvent::HTTP::Server;
use Uvent::Test::Certs;
use File::Copy ();
use POSIX ();
use Time::HiRes ();
use File::Temp ();
use Uvent::Test::Util qw(run_until);
use Uvent::Test::Serve qw(client raw_exchange);
use File::Temp ();

if (my $why = Uvent::Test::Certs->missing) { plan skip_all => "no certificates: $why" }
my $certs = Uvent::Test::Certs->new;
my $loop = Uvent::Loop->new;
my %tls = (cert_file => $certs->server_cert, key_file => $certs->server_key, ca_file => $certs->ca_cert);
my @seen;
my $server = Uvent::HTTP::Server->new({
    locations => [
        { host => '127.0.0.1', port => 0, tls => { %tls, verify_client => 'optional' } },
        { host => '127.0.0.1', port => 0, tls => { %tls, verify_client => 'require' } },
        { host => '127.0.0.1', port => 0 },
    ],
    request_callback => sub {
        my ($req) = @_;
        if ($req->path eq '/detach') {
            my $io = eval { $req->detach };
            return $req->respond({ body => $io ? 'handed over' : "refused: $@" });
        }
        if ($req->path eq '/drain') {
            # 4 MB in 64 KiB pieces, each once the last is with the socket (over TLS)
            $req->respond_start({ code => 200 });
            my $n = 0;
            my $step;
            $step = sub {
                if (++$n > 64) { undef $step; return $req->send_final_chunk }
                $req->send_chunk(chr(64 + $n % 26) x 65536);
                $req->drain_callback(sub { $step->() }) or undef $step;
            };
            $step->();
            return;
        }
        my $cert = $req->client_certificate;
        push @seen, { secure => $req->is_secure, cert => $cert, with_pem => $req->client_certificate(pem => 1),
            bad_option => (eval { $req->client_certificate(der => 1); 1 } ? '' : $@) };
        $req->respond({ body => ($req->is_secure ? 'secure' : 'plain') . ($cert ? " $cert->{subject}" : '') });
    },
}, $loop);
$server->run;
my ($opt, $req, $plain) = $server->listeners;
ok($opt->{tls} && $req->{tls} && !$plain->{tls}, 'two TLS listeners and a plain one');

my $pool = Uvent::HTTP::Pool->new({ tls => { ca_file => $certs->ca_cert } }, $loop);
my $got;
$pool->request({ uri => "https://127.0.0.1:$opt->{port}/", response_callback => sub { $got = $_[2] ? "error $_[2]" : $_[1]->body } });
run_until($loop, sub { defined $got });
is($got, 'secure', 'our pool over https: is_secure, no client certificate');
is($seen[-1]{with_pem}, undef, 'client_certificate(pem => 1) without a certificate: undef');
like($seen[-1]{bad_option}, qr/client_certificate: unknown option 'der' \(known: pem\)/, 'an unknown option croaks');
undef $got;
$pool->request({ uri => "https://127.0.0.1:$opt->{port}/detach", response_callback => sub { $got = $_[2] ? "error $_[2]" : $_[1]->body } });
run_until($loop, sub { defined $got });
like($got, qr/\Arefused: Uvent::HTTP::ServerRequest->detach: a TLS connection cannot be handed over/, 'detach is refused over TLS (and the request answered)');
undef $got;
$pool->request({ uri => "https://127.0.0.1:$opt->{port}/drain",
    response_callback => sub { $got = $_[2] ? "error $_[2]" : $_[1]->body } });
run_until($loop, sub { defined $got }, 20);
is(length($got // ''), 64 * 65536, 'drain_callback paces a streamed body over TLS: all 4 MB arrive');
is($got, join('', map { chr(64 + $_ % 26) x 65536 } 1 .. 64), 'in order');

SKIP: {
    skip 'curl is not installed', 9 unless grep { -x "$_/curl" } split /:/, $ENV{PATH};
    my $ca = $certs->ca_cert;
    my ($cert, $key) = ($certs->client_cert, $certs->client_key);
    my $out = client($loop, sub { scalar qx(curl -sS --cacert $ca https://127.0.0.1:$opt->{port}/ 2>&1) });
    is($out, 'secure', 'curl --cacert, verify_client optional, no certificate');
    $out = client($loop, sub { scalar qx(curl -sS --cacert $ca --cert $cert --key $key https://127.0.0.1:$opt->{port}/ 2>&1) });
    is($out, 'secure CN=uvent-client-1', 'curl --cert: the verified subject reaches the request');
    is($seen[-1]{cert}{issuer}, 'CN=Uvent Test CA', 'and its issuer');
    ok(!exists $seen[-1]{cert}{pem}, 'no pem unless asked');
    my $pem = $seen[-1]{with_pem}{pem} // '';
    like($pem, qr{\A-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n\z}, 'client_certificate(pem => 1): the PEM of it');
    my ($file_pem) = do { open my $f, '<', $cert or die "$cert: $!"; local $/; <$f> } =~ /(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n)/s;
    is($pem, $file_pem, "... the same certificate as the client's file");
    is($seen[-1]{with_pem}{subject}, 'CN=uvent-client-1', '... next to the subject');
    SKIP: {
        my $openssl = Uvent::Test::Certs->openssl_command;
        skip 'no openssl command to parse it', 1 unless $openssl;
        my ($fh, $tmp) = File::Temp::tempfile('uvent-pem-XXXXXX', TMPDIR => 1, UNLINK => 1);
        print $fh $pem;
        close $fh;
        like(scalar qx($openssl x509 -noout -subject -in $tmp 2>&1), qr/CN\s*=\s*uvent-client-1/, 'the PEM parses (openssl x509)');
    }
    $out = client($loop, sub { qx(curl -sS --cacert $ca https://127.0.0.1:$req->{port}/ 2>&1); $? >> 8 });
    isnt($out, 0, 'verify_client require: curl without a certificate fails');
    my ($ucert, $ukey) = ($certs->untrusted_client_cert, $certs->untrusted_client_key);
    $out = client($loop, sub { qx(curl -sS --cacert $ca --cert $ucert --key $ukey https://127.0.0.1:$req->{port}/ 2>&1); $? >> 8 });
    isnt($out, 0, 'verify_client require: a certificate from another CA fails');
}

my $out = client($loop, sub { raw_exchange($opt->{port}, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", limit => 5) });
unlike($out // '', qr/^HTTP/, 'plain HTTP to the TLS port: no HTTP answer');
ok(defined $out && length($out) < 100, 'and the connection closes (at most a TLS alert)');
$out = client($loop, sub { raw_exchange($plain->{port}, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n") });
like($out // '', qr/plain\z/, 'the plain location next to them answers');

$server->stop;

# ---- ca_path, the system store, ciphers
SKIP: {
    skip 'curl is not installed', 6 unless grep { -x "$_/curl" } split /:/, $ENV{PATH};
    my ($c_rehash) = grep { -x } map { "$_/c_rehash" } split /:/, $ENV{PATH};
    my $ca = $certs->ca_cert;
    my ($cert, $key) = ($certs->client_cert, $certs->client_key);
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    my $s2 = Uvent::HTTP::Server->new({
        locations => [
            { host => '127.0.0.1', port => 0, tls => { %tls, ca_file => undef, verify_client => 'require' } },
            { host => '127.0.0.1', port => 0, tls => { %tls, ciphers => 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256' } },
        ],
        request_callback => sub { my $c = $_[0]->client_certificate; $_[0]->respond({ body => $c ? $c->{subject} : 'none' }) },
    }, $loop);
    $s2->run;
    my ($system, $ciphers) = $s2->listeners;
    my $rc = client($loop, sub { qx(curl -sS --cacert $ca --cert $cert --key $key https://127.0.0.1:$system->{port}/ 2>&1); $? >> 8 });
    isnt($rc, 0, 'verify_client require without ca_file or ca_path: the system store, which does not trust our test CA');
    my $out = client($loop, sub { scalar qx(curl -sS --tls-max 1.2 --cacert $ca --ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256 https://127.0.0.1:$ciphers->{port}/ 2>&1) });
    is($out, 'none', 'ciphers: a TLS 1.2 client offering one of them is served');
    $rc = client($loop, sub { qx(curl -sS --tls-max 1.2 --cacert $ca --ciphers ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384 https://127.0.0.1:$ciphers->{port}/ 2>&1); $? >> 8 });
    isnt($rc, 0, 'ciphers: a TLS 1.2 client offering none of them is refused');
    $s2->stop;
    skip 'c_rehash is not installed', 3 unless $c_rehash;
    File::Copy::copy($ca, "$dir/ca.pem") or die "copy: $!";
    system("$c_rehash $dir >/dev/null 2>&1");
    my $s3 = Uvent::HTTP::Server->new({
        locations => [ { host => '127.0.0.1', port => 0, tls => { %tls, ca_file => undef, ca_path => $dir, verify_client => 'require' } } ],
        request_callback => sub { my $c = $_[0]->client_certificate; $_[0]->respond({ body => $c ? $c->{subject} : 'none' }) },
    }, $loop);
    $s3->run;
    my ($byp) = $s3->listeners;
    $out = client($loop, sub { scalar qx(curl -sS --cacert $ca --cert $cert --key $key https://127.0.0.1:$byp->{port}/ 2>&1) });
    is($out, 'CN=uvent-client-1', 'ca_path: a client certificate from a CA in the hashed directory is verified');
    my ($ucert, $ukey) = ($certs->untrusted_client_cert, $certs->untrusted_client_key);
    $rc = client($loop, sub { qx(curl -sS --cacert $ca --cert $ucert --key $ukey https://127.0.0.1:$byp->{port}/ 2>&1); $? >> 8 });
    isnt($rc, 0, 'ca_path: one from another CA is refused');
    $out = client($loop, sub { scalar qx(curl -sS -v --cacert $ca https://127.0.0.1:$byp->{port}/ 2>&1) });
    like($out, qr/Request CERT/i, 'and the server asks the client for a certificate');
    $s3->stop;
}

# ---- graceful_stop with a TLS connection still in its handshake: once
# it is done, the connection (no request yet) waits read_timeout, as a
# plain unused one does, not idle_timeout
SKIP: {
    skip 'IO::Socket::SSL is not installed (the client that shakes hands late)', 3 unless eval { require IO::Socket::SSL; 1 };
    use IO::Socket::INET;
    my $done = 0;
    my $s4 = Uvent::HTTP::Server->new({
        locations => [ { host => '127.0.0.1', port => 0, tls => { %tls } } ],
        read_timeout => 0.5, idle_timeout => 60, termination_timeout => 20,
        stop_callback => sub { $done = 1 },
        request_callback => sub { $_[0]->respond({ body => 'ok' }) },
    }, $loop);
    $s4->run;
    my ($l4) = $s4->listeners;
    pipe(my $go_r, my $go_w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        # connect, wait for the word, shake hands, then hold the connection until the server closes it
        close $go_w;
        alarm 15;
        my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $l4->{port}) or POSIX::_exit(1);
        sysread($go_r, my $word, 1);
        IO::Socket::SSL->start_SSL($sock, SSL_ca_file => $certs->ca_cert, SSL_hostname => 'localhost') or POSIX::_exit(2);
        sysread($sock, my $buf, 100);
        POSIX::_exit(0);
    }
    close $go_r;
    ok(run_until($loop, sub { $s4->connection_count == 1 }, 5), 'a TLS connection accepted, its handshake not begun');
    my $t0 = Time::HiRes::time();
    $s4->graceful_stop;
    syswrite $go_w, 'x';
    close $go_w;
    ok(run_until($loop, sub { $done }, 25), 'the stop completes');
    my $took = Time::HiRes::time() - $t0;
    cmp_ok($took, '<', 5, sprintf('the connection went at read_timeout 0.5 s after its handshake, not idle_timeout 60 or termination_timeout 20 (%.2f s)', $took));
    kill 'KILL', $pid;
    waitpid $pid, 0;
}

# ---- bad TLS settings: errors that name them
my $bad = sub {
    my (%t) = @_;
    my $s = eval { my $x = Uvent::HTTP::Server->new({ locations => [ { port => 0, tls => { %tls, %t } } ], request_callback => sub { } }, $loop); $x->run; $x };
    $s->stop if $s;
    return $@;
};
like($bad->(ciphers => 'NO-SUCH-CIPHER'), qr/ciphers 'NO-SUCH-CIPHER': no usable cipher/, 'an unusable cipher list is named');
like($bad->(ca_file => '/nonexistent/ca.pem'), qr/cannot load ca_file '\/nonexistent\/ca.pem'/, 'a missing ca_file is named');
like($bad->(ciphers => {}), qr/tls\}\{ciphers\} must be a string, got/, 'a reference as a cipher list is refused');
like($bad->(ca_path => "a\0b"), qr/tls\}\{ca_path\} must be a string/, 'a NUL in a path is refused');
done_testing;
