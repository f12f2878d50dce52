# One version: lib/Uvent.pm's $VERSION. Every other place that states it
# (the other modules, bin/uvent-get, the C core's UVH_VERSION) must agree.
use strict;
use warnings;
use Test::More;
use ExtUtils::MakeMaker ();
use File::Find ();

my $version = MM->parse_version('lib/Uvent.pm');
like($version, qr/\A\d+\.\d+\z/, "lib/Uvent.pm states a version ($version)");

my @files = ('bin/uvent-get');
File::Find::find({ no_chdir => 1, wanted => sub { push @files, $_ if /\.pm\z/ } }, 'lib');
for my $file (sort @files) {
    is(MM->parse_version($file), $version, "$file says $version");
}

open my $h, '<', 'src/uvh.h' or die "src/uvh.h: $!";
my ($core) = map { /^#define UVH_VERSION "([^"]*)"/ ? $1 : () } <$h>;
is($core, $version, "src/uvh.h UVH_VERSION says $version");

require Uvent;
is(Uvent::core_version(), $version, 'the built core reports it too (Uvent::core_version)');

done_testing;
