package Uvent::Test::Certs;

# Throw-away PKI for the TLS tests, made with the `openssl` command at test
# time (nothing is committed) inside a temp dir removed at exit.
#
#   my $c = Uvent::Test::Certs->new;
#   $c->ca_cert; $c->server_cert; $c->server_key; $c->expired_cert; ...
#
# Everything is EC P-256 (fast to generate), keys are unencrypted PEM.
#
#   ca                 the CA trusted by the tests
#   other_ca           an unrelated CA; signs only untrusted_client
#   server             by ca; SAN DNS:localhost, IP:127.0.0.1, IP:::1
#   expired            by ca; same SANs, valid only in 2020
#   wrong_name         by ca; SAN DNS:wrong.example only
#   self_signed        self-signed; SAN DNS:localhost, IP:127.0.0.1
#   client, client2    by ca; CN uvent-client-1 / uvent-client-2, clientAuth
#   untrusted_client   by other_ca; CN uvent-untrusted-client, clientAuth
#
# Certificates valid "now" start an hour in the past, so a clock that
# steps back a little cannot make them not-yet-valid, and end in a day.

use strict;
use warnings;

use Carp ();
use File::Temp ();
use POSIX ();

my @NAMES = qw(server expired wrong_name self_signed client client2 untrusted_client);

for my $name ('ca', 'other_ca', @NAMES) {
    no strict 'refs';
    *{"${name}_cert"} = sub { $_[0]{"${name}_cert"} };
    *{"${name}_key"}  = sub { $_[0]{"${name}_key"} };
}

sub dir { $_[0]{dir} }

# One config for every command: it keeps the system openssl.cnf (and its
# default extensions) out of the results.  `openssl ca` is used for the
# CA-signed certificates because in OpenSSL 3.0 only it can set an
# arbitrary notBefore (x509 -req cannot backdate).
my $CONFIG = <<'CNF';
[req]
distinguished_name = req_dn
prompt             = no
[req_dn]
CN = unused

[ca]
default_ca = uvent_ca
[uvent_ca]
database        = $dir/index.txt
new_certs_dir   = $dir/newcerts
serial          = $dir/serial
default_md      = sha256
policy          = policy_any
unique_subject  = no
copy_extensions = none
email_in_dn     = no
[policy_any]
commonName = supplied

[ca_ext]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

[server_ext]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[wrong_name_ext]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:wrong.example
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid

[self_signed_ext]
subjectAltName         = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier   = hash

[client_ext]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
CNF

sub new {
    my ($class, %opts) = @_;
    my $self = bless {}, $class;
    my $dir = $self->{dir} = File::Temp::tempdir('uvent-certs-XXXXXX', TMPDIR => 1, CLEANUP => 1);

    mkdir "$dir/newcerts" or Carp::croak("mkdir $dir/newcerts: $!");
    _write("$dir/index.txt", '');
    _write("$dir/serial", "1000\n");
    (my $conf = $CONFIG) =~ s/\$dir/$dir/g;
    _write($self->{conf} = "$dir/openssl.cnf", $conf);

    my $fmt  = sub { POSIX::strftime('%Y%m%d%H%M%SZ', gmtime $_[0]) };
    my $from = $fmt->(time - 3600);
    my $to   = $fmt->(time + 86400);

    $self->_self_signed('ca',       '/CN=Uvent Test CA',       'ca_ext');
    $self->_self_signed('other_ca', '/CN=Uvent Other Test CA', 'ca_ext');
    $self->_self_signed('self_signed', '/CN=localhost',        'self_signed_ext');

    $self->_signed('ca', 'server',     '/CN=localhost',      'server_ext',     $from, $to);
    $self->_signed('ca', 'expired',    '/CN=localhost',      'server_ext',
        '20200101000000Z', '20200102000000Z');
    $self->_signed('ca', 'wrong_name', '/CN=wrong.example',  'wrong_name_ext', $from, $to);
    $self->_signed('ca', 'client',     '/CN=uvent-client-1', 'client_ext',     $from, $to);
    $self->_signed('ca', 'client2',    '/CN=uvent-client-2', 'client_ext',     $from, $to);
    $self->_signed('other_ca', 'untrusted_client', '/CN=uvent-untrusted-client', 'client_ext', $from, $to);
    return $self;
}

# --- internals ----------------------------------------------------------------

sub _write {
    my ($file, $data) = @_;
    open my $fh, '>', $file or Carp::croak("write $file: $!");
    print $fh $data;
    close $fh or Carp::croak("close $file: $!");
}

# New key plus a self-signed certificate (a CA or a lone server cert).
sub _self_signed {
    my ($self, $name, $subj, $ext) = @_;
    my $dir = $self->{dir};
    $self->_openssl('req', '-x509', '-new', '-config', $self->{conf}, '-extensions', $ext,
        '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-sha256',
        '-keyout', "$dir/$name.key", '-out', "$dir/$name.pem", '-subj', $subj, '-days', 2);
    $self->{"${name}_cert"} = "$dir/$name.pem";
    $self->{"${name}_key"}  = "$dir/$name.key";
}

# New key and CSR, then `openssl ca` signs it with explicit dates.
sub _signed {
    my ($self, $ca, $name, $subj, $ext, $from, $to) = @_;
    my $dir = $self->{dir};
    $self->_openssl('req', '-new', '-config', $self->{conf},
        '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', "$dir/$name.key", '-out', "$dir/$name.csr", '-subj', $subj);
    $self->_openssl('ca', '-batch', '-notext', '-config', $self->{conf}, '-extensions', $ext,
        '-cert', $self->{"${ca}_cert"}, '-keyfile', $self->{"${ca}_key"},
        '-startdate', $from, '-enddate', $to,
        '-in', "$dir/$name.csr", '-out', "$dir/$name.pem");
    $self->{"${name}_cert"} = "$dir/$name.pem";
    $self->{"${name}_key"}  = "$dir/$name.key";
}

# Run openssl with stdin from /dev/null and output captured; croak with
# its stderr on failure.
sub _openssl {
    my ($self, @args) = @_;
    my $log = "$self->{dir}/openssl.err";
    my $pid = fork;
    Carp::croak("fork: $!") unless defined $pid;
    if (!$pid) {
        open STDIN,  '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', $log;
        exec('openssl', @args) or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    return if $? == 0;
    my $status = $? >> 8 == 127 ? 'could not run (is openssl installed?)' : "failed ($?)";
    open my $fh, '<', $log;
    my $err = $fh ? do { local $/; <$fh> } : '';
    Carp::croak("Uvent::Test::Certs: openssl @args[0..1] $status:\n$err");
}

1;
