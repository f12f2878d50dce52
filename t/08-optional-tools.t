# How the test harness finds the optional tools it runs (nginx, openssl),
# so that a machine without them skips with a reason and UVENT_NGINX
# chooses the nginx: with stub executables in a temp dir, no tool is run.
use strict;
use warnings;
use Test::More;
use File::Temp ();
use lib 't/lib';
use Uvent::Test::Certs;
use Uvent::Test::Nginx;
use Uvent::Test::Proxy;

my $dir = File::Temp::tempdir('uvent-tools-XXXXXX', TMPDIR => 1, CLEANUP => 1);
sub stub {
    my ($path, $mode) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh "#!/bin/sh\nexit 0\n";
    close $fh;
    chmod $mode, $path or die "chmod $path: $!";
    return $path;
}
mkdir "$dir/$_" for qw(bin other);
my $nginx   = stub("$dir/bin/nginx", 0755);
my $openssl = stub("$dir/bin/openssl", 0755);
my $plain   = stub("$dir/other/nginx", 0644);

subtest 'nginx: UVENT_NGINX first' => sub {
    local $ENV{UVENT_NGINX} = $nginx;
    local $ENV{PATH} = '/nonexistent';
    is(Uvent::Test::Nginx::binary(), $nginx, 'UVENT_NGINX is used');
    is(Uvent::Test::Nginx->missing, undef, 'nothing missing');
    $ENV{UVENT_NGINX} = $plain;
    is(Uvent::Test::Nginx::binary(), undef, 'a UVENT_NGINX that is not executable is not used');
    like(Uvent::Test::Nginx->missing, qr/\AUVENT_NGINX=\Q$plain\E is not an executable file/, '... and the reason says so');
    $ENV{UVENT_NGINX} = "$dir/bin";
    is(Uvent::Test::Nginx::binary(), undef, 'nor a directory');
};

subtest 'nginx: PATH, then /usr/sbin and /usr/local/sbin' => sub {
    local $ENV{UVENT_NGINX};
    delete $ENV{UVENT_NGINX};
    local $ENV{PATH} = "$dir/other:$dir/bin:/nonexistent";
    is(Uvent::Test::Nginx::binary(), $nginx, 'the first executable nginx in PATH');
    $ENV{PATH} = "$dir/other";
    my ($sbin) = grep { -f && -x _ } '/usr/sbin/nginx', '/usr/local/sbin/nginx';
    is(Uvent::Test::Nginx::binary(), $sbin, 'outside PATH: ' . ($sbin // 'none in /usr/sbin or /usr/local/sbin'));
    SKIP: {
        skip 'nginx is installed in /usr/sbin or /usr/local/sbin', 1 if $sbin;
        like(Uvent::Test::Nginx->missing, qr/nginx not found in PATH, \/usr\/sbin or \/usr\/local\/sbin \(set UVENT_NGINX/,
            'none anywhere: the reason names the places and UVENT_NGINX');
    }
};

subtest 'certificates: the openssl command, or IO::Socket::SSL' => sub {
    local $ENV{PATH} = "$dir/other:$dir/bin";
    is(Uvent::Test::Certs::openssl_command(), $openssl, 'openssl found in PATH');
    my $perl_why = Uvent::Test::Certs::perl_missing();
    $ENV{PATH} = "$dir/other";
    my ($system) = grep { -f && -x _ } '/usr/bin/openssl', '/usr/local/bin/openssl';
    SKIP: {
        skip 'an openssl command is installed in /usr/bin or /usr/local/bin', 1 if $system;
        skip 'IO::Socket::SSL can make the certificates', 1 unless defined $perl_why;
        like(Uvent::Test::Certs->missing, qr/neither the openssl command nor IO::Socket::SSL/, 'neither: says so');
    }
    eval { Uvent::Test::Certs->new(backend => 'bogus') };
    like($@, qr/unknown backend 'bogus'/, 'an unknown backend croaks');
};

subtest 'proxies: UVENT_TINYPROXY / UVENT_MICROSOCKS, then PATH and the sbin directories' => sub {
    my $tp = stub("$dir/bin/tinyproxy", 0755);
    stub("$dir/other/microsocks", 0644);
    local $ENV{UVENT_TINYPROXY} = $tp;
    local $ENV{PATH} = '/nonexistent';
    is(Uvent::Test::Proxy::binary('tinyproxy'), $tp, 'UVENT_TINYPROXY is used');
    is(Uvent::Test::Proxy->missing('tinyproxy'), undef, '... nothing missing');
    $ENV{UVENT_TINYPROXY} = "$dir/other/microsocks";
    is(Uvent::Test::Proxy::binary('tinyproxy'), undef, 'a UVENT_TINYPROXY that is not executable is not used');
    delete $ENV{UVENT_TINYPROXY};
    local $ENV{UVENT_MICROSOCKS};
    delete $ENV{UVENT_MICROSOCKS};
    $ENV{PATH} = "$dir/other:$dir/bin";
    is(Uvent::Test::Proxy::binary('tinyproxy'), $tp, 'tinyproxy found in PATH');
    my ($system) = grep { -f && -x _ } map {"$_/microsocks"} '/usr/sbin', '/usr/local/sbin', '/usr/bin';
    is(Uvent::Test::Proxy::binary('microsocks'), $system, 'a microsocks that is not executable is skipped: '
        . ($system // 'none elsewhere'));
    SKIP: {
        skip 'microsocks is installed in /usr/sbin, /usr/local/sbin or /usr/bin', 1 if $system;
        like(Uvent::Test::Proxy->missing('microsocks'), qr/microsocks not found .*apt-get install microsocks; or set UVENT_MICROSOCKS/,
            'none anywhere: the reason names the package and UVENT_MICROSOCKS');
    }
};

done_testing;
