package Uvent::Test::Certs;

# Throw-away PKI for the TLS tests, made at test time (nothing is
# committed) inside a temp dir removed at exit: in this process with
# IO::Socket::SSL::Utils (Net::SSLeay) when it can make EC keys, else with
# the `openssl` command.
#
#   my $why = Uvent::Test::Certs->missing;    # undef, or why none can be made
#   my $c = Uvent::Test::Certs->new;          # backend => 'perl' or 'openssl' to choose
#   $c->ca_cert; $c->server_cert; $c->server_key; $c->expired_cert; ...
#   $c->backend;                              # which one made them
#   $c->encrypted_key('client', 'secret');    # client_key, encrypted with that passphrase
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
use Time::Local ();

my @NAMES = qw(server expired wrong_name self_signed client client2 untrusted_client);

for my $name ('ca', 'other_ca', @NAMES) {
    no strict 'refs';
    *{"${name}_cert"} = sub { $_[0]{"${name}_cert"} };
    *{"${name}_key"}  = sub { $_[0]{"${name}_key"} };
}

sub dir     { $_[0]{dir} }
sub backend { $_[0]{backend} }

# The openssl command (PATH, then /usr/bin and /usr/local/bin), or undef.
sub openssl_command {
    for my $d ((split /:/, $ENV{PATH} // ''), '/usr/bin', '/usr/local/bin') {
        return "$d/openssl" if length $d && -f "$d/openssl" && -x _;
    }
    return undef;
}

# Why the in-process backend cannot be used (undef when it can).
sub perl_missing {
    return 'IO::Socket::SSL (IO::Socket::SSL::Utils) is not installed'
        unless eval { require IO::Socket::SSL::Utils; 1 };
    return 'this Net::SSLeay cannot make EC keys' unless defined &IO::Socket::SSL::Utils::KEY_create_ec;
    return undef;
}

# Why no certificates can be made here (undef when they can).
sub missing {
    my $why = perl_missing() // return undef;
    return undef if openssl_command();
    return "neither the openssl command nor IO::Socket::SSL is installed ($why)";
}

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
    my $backend = $opts{backend} // (defined perl_missing() ? 'openssl' : 'perl');
    my $self = bless { backend => $backend }, $class;
    my $dir = $self->{dir} = File::Temp::tempdir('uvent-certs-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    if ($backend eq 'perl') {
        my $why = perl_missing();
        Carp::croak("Uvent::Test::Certs: $why") if $why;
        return $self->_perl_pki;
    }
    Carp::croak("Uvent::Test::Certs: unknown backend '$backend'") if $backend ne 'openssl';
    $self->{openssl} = openssl_command()
        // Carp::croak('Uvent::Test::Certs: the openssl command is not installed');

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

# A copy of NAME's key encrypted with PASSPHRASE (AES-128), in a new file.
sub encrypted_key {
    my ($self, $name, $pass) = @_;
    my $in  = $self->{"${name}_key"} // Carp::croak("Uvent::Test::Certs: no key '$name'");
    my $out = "$self->{dir}/$name.encrypted.key";
    if ($self->{backend} eq 'perl') {
        my $key = IO::Socket::SSL::Utils::PEM_file2key($in);
        my $pem = Net::SSLeay::PEM_get_string_PrivateKey($key, $pass,
            Net::SSLeay::EVP_get_cipherbyname('aes-128-cbc'))
            or Carp::croak('Uvent::Test::Certs: cannot encrypt the key');
        _write($out, $pem);
    } else {
        $self->_openssl('ec', '-in', $in, '-aes128', '-passout', "pass:$pass", '-out', $out);
    }
    return $out;
}

# --- internals ----------------------------------------------------------------

# The same PKI with IO::Socket::SSL::Utils: same names, subjects, SANs,
# usages and dates as the openssl configuration above.
sub _perl_pki {
    my $self = shift;
    my $dir  = $self->{dir};
    my $now  = time;
    my $serial = 0x1000;
    my %made;
    my $make = sub {
        my ($name, %a) = @_;
        my $issuer = delete $a{issuer};
        my ($cert, $key) = IO::Socket::SSL::Utils::CERT_create(
            serial      => $serial++,
            key         => IO::Socket::SSL::Utils::KEY_create_ec('prime256v1'),
            not_before  => $now - 3600,
            not_after   => $now + 86400,
            ($issuer ? (issuer => $made{$issuer}) : ()),
            %a,
        );
        $made{$name} = [ $cert, $key ];
        IO::Socket::SSL::Utils::PEM_cert2file($cert, "$dir/$name.pem");
        IO::Socket::SSL::Utils::PEM_key2file($key, "$dir/$name.key");
        $self->{"${name}_cert"} = "$dir/$name.pem";
        $self->{"${name}_key"}  = "$dir/$name.key";
    };
    my @local = (subjectAltNames => [ [ DNS => 'localhost' ], [ IP => '127.0.0.1' ], [ IP => '::1' ] ]);
    # keyEncipherment is for RSA key exchange; these are EC keys
    my %server = (purpose => 'server,-keyEncipherment', issuer => 'ca');
    my %client = (purpose => 'client,-keyEncipherment', issuer => 'ca');
    $make->('ca',       subject => { commonName => 'Uvent Test CA' },       CA => 1, purpose => 'CA');
    $make->('other_ca', subject => { commonName => 'Uvent Other Test CA' }, CA => 1, purpose => 'CA');
    $make->('self_signed', subject => { commonName => 'localhost' }, purpose => 'server,-keyEncipherment',
        subjectAltNames => [ [ DNS => 'localhost' ], [ IP => '127.0.0.1' ] ]);
    $make->('server',  subject => { commonName => 'localhost' }, %server, @local);
    $make->('expired', subject => { commonName => 'localhost' }, %server, @local,
        not_before => Time::Local::timegm(0, 0, 0, 1, 0, 2020),
        not_after  => Time::Local::timegm(0, 0, 0, 2, 0, 2020));
    $make->('wrong_name', subject => { commonName => 'wrong.example' }, %server,
        subjectAltNames => [ [ DNS => 'wrong.example' ] ]);
    $make->('client',  subject => { commonName => 'uvent-client-1' }, %client);
    $make->('client2', subject => { commonName => 'uvent-client-2' }, %client);
    $make->('untrusted_client', subject => { commonName => 'uvent-untrusted-client' }, %client,
        issuer => 'other_ca');
    for (values %made) {
        IO::Socket::SSL::Utils::CERT_free($_->[0]);
        IO::Socket::SSL::Utils::KEY_free($_->[1]);
    }
    return $self;
}

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
        exec($self->{openssl}, @args) or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    return if $? == 0;
    my $status = $? >> 8 == 127 ? 'could not run (is openssl installed?)' : "failed ($?)";
    open my $fh, '<', $log;
    my $err = $fh ? do { local $/; <$fh> } : '';
    Carp::croak("Uvent::Test::Certs: openssl @args[0..1] $status:\n$err");
}

1;
