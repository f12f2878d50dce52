# Uvent::HTTP::Server with TLS per location: curl with --cacert, with and
# without --cert against verify_client optional and require (the verified
# client certificate's subject, issuer and, asked for, PEM reach the
# request), an untrusted client
# certificate refused, our own pool over https, and a plain HTTP request to
# the TLS port closed without an HTTP answer.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Uvent;
use Uvent::HTTP::Server;
use Uvent::Test::Certs;
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
done_testing;
