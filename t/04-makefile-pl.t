# Makefile.PL where pkg-config, libuv, OpenSSL, zlib or llhttp is missing: it says
# what to install on each system and exits 0 without writing a Makefile, so
# CPAN Testers report "NA" (not applicable), not "FAIL". Run on a copy of
# Makefile.PL in a scratch directory, with the environment hiding the library.
use strict;
use warnings;
use Test::More;
use Config;
use File::Copy ();
use File::Spec;
use File::Temp qw(tempdir);

my $perl = $^X =~ m{/} ? File::Spec->rel2abs($^X) : $Config{perlpath};
my $dir = tempdir('uvent-mkpl-XXXXXX', TMPDIR => 1, CLEANUP => 1);
File::Copy::copy('Makefile.PL', "$dir/Makefile.PL") or die "copy Makefile.PL: $!";

# runs Makefile.PL in $dir with %env; returns (exit status, output)
sub configure {
    my (%env) = @_;
    local %ENV = (%ENV, %env);
    delete $ENV{LLHTTP_SRC} unless exists $env{LLHTTP_SRC};
    my $pid = open(my $out, '-|') // die "fork: $!";
    if (!$pid) {
        chdir $dir or die "chdir $dir: $!";
        open STDERR, '>&', \*STDOUT or die "dup: $!";
        exec $perl, 'Makefile.PL' or die "exec $perl: $!";
    }
    my $text = do { local $/; <$out> } // '';
    close $out;
    return ($?, $text);
}

my %libuv = ('Debian/Ubuntu' => 'libuv1-dev', 'Fedora/RHEL' => 'libuv-devel', 'Alpine' => 'libuv-dev',
             'Arch' => 'libuv', 'macOS (Homebrew)' => 'libuv');
my %ssl = ('Debian/Ubuntu' => 'libssl-dev', 'Fedora/RHEL' => 'openssl-devel', 'Alpine' => 'openssl-dev',
           'Arch' => 'openssl', 'macOS (Homebrew)' => 'openssl@3');

for my $case (
    ['no pkg-config', { PATH => '/nonexistent' }, qr/pkg-config is not installed/],
    ['no libuv and no OpenSSL', { PKG_CONFIG_LIBDIR => '/nonexistent', PKG_CONFIG_PATH => '' },
     qr/pkg-config finds no libuv and no openssl/],
    ['no llhttp at LLHTTP_SRC', { LLHTTP_SRC => '/nonexistent' }, qr{LLHTTP_SRC=/nonexistent holds no llhttp\.c}],
) {
    my ($name, $env, $why) = @$case;
    # the llhttp case needs the libraries found as they were at configure time
    next if $env->{LLHTTP_SRC} && system('pkg-config --exists libuv openssl') != 0;
    unlink "$dir/Makefile";
    my ($status, $out) = configure(%$env);
    is($status, 0, "$name: Makefile.PL exits 0") or diag($out);
    ok(!-e "$dir/Makefile", "$name: no Makefile written");
    like($out, $why, "$name: says what is missing");
    for my $os (sort keys %libuv) {
        like($out, qr/^\s*\Q$os\E:\s+\S.*\s\Q$libuv{$os}\E\s.*\Q$ssl{$os}\E/m, "$name: names the $os packages");
    }
    like($out, qr/llhttp-devel/, "$name: names llhttp's packages when there is no bundled copy")
        if $name =~ /llhttp/;
}

# zlib (gzip and deflate decoding) is required: a pkg-config search path
# holding libuv and OpenSSL only
SKIP: {
    skip 'libuv or openssl unknown to pkg-config', 3 if system('pkg-config --exists libuv openssl') != 0;
    my $pc = tempdir('uvent-pc-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    for my $m (qw(libuv openssl libssl libcrypto)) {
        chomp(my $from = `pkg-config --variable=pcfiledir $m 2>/dev/null`);
        File::Copy::copy("$from/$m.pc", "$pc/$m.pc") if length $from && -f "$from/$m.pc";
    }
    unlink "$dir/Makefile";
    my ($status, $out) = configure(PKG_CONFIG_LIBDIR => $pc, PKG_CONFIG_PATH => '');
    is($status, 0, 'no zlib: Makefile.PL exits 0') or diag($out);
    like($out, qr/pkg-config finds no zlib\./, 'no zlib: says so');
    like($out, qr/^\s*Debian\/Ubuntu:\s.*\bzlib1g-dev\b/m, 'no zlib: names the Debian package');
}

done_testing;
