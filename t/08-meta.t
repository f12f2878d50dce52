# The distribution's metadata, as Makefile.PL wrote it to MYMETA.json: the
# perl and toolchain versions, every module the code and tests load listed
# as a prerequisite (or a recommendation, for the optional ones), resources,
# every package provided with its version; and the installed script's shebang.
use strict;
use warnings;
use Test::More;
use File::Find ();
use JSON::PP ();

-f 'MYMETA.json' or plan skip_all => 'no MYMETA.json (run perl Makefile.PL first)';
my $meta = do { local $/; open my $fh, '<', 'MYMETA.json' or die "MYMETA.json: $!"; JSON::PP::decode_json(<$fh>) };
my $p = $meta->{prereqs};

is($p->{runtime}{requires}{perl}, '5.014', 'perl 5.014 or later (mg_findext, croak_sv, s///r)');
is($p->{configure}{requires}{'ExtUtils::MakeMaker'}, '6.64', 'configure requires ExtUtils::MakeMaker 6.64 (TEST_REQUIRES)');
like($meta->{resources}{repository}{url} // '', qr{^https://}, 'a repository');
like($meta->{resources}{bugtracker}{web} // '', qr{^https://}, 'a bug tracker');
is_deeply($meta->{license}, ['perl_5'], 'license perl_5');
ok(-f 'LICENSE', 'a LICENSE file');

# every module loaded by lib/, bin/, eg/, t/ and t/lib is a prerequisite of
# the phase that loads it; the optional ones are recommended
my %listed;
for my $phase (qw(runtime test)) {
    for my $rel (qw(requires recommends)) {
        $listed{$phase}{$_} = 1 for keys %{ $p->{$phase}{$rel} || {} };
    }
}
$listed{test}{$_} = 1 for keys %{ $listed{runtime} };
my %files = (runtime => ['bin/uvent-get'], test => ['eg/demo.pl']);
File::Find::find({ no_chdir => 1, wanted => sub { push @{ $files{runtime} }, $_ if /\.pm\z/ } }, 'lib');
File::Find::find({ no_chdir => 1, wanted => sub { push @{ $files{test} }, $_ if /\.(?:t|pm)\z/ } }, 't');
my %ours = map { $_ => 1 } keys %{ $meta->{provides} || {} };
for my $phase (qw(runtime test)) {
    my %used;
    for my $file (@{ $files{$phase} }) {
        open my $fh, '<', $file or die "$file: $!";
        while (<$fh>) {
            last if /^__END__$/;
            next if /^\s*#/;
            $used{$1}{$file} = 1 while /(?:^|[;{]|\beval\s*\{)\s*(?:use|require)\s+([A-Z][\w:]*)/g;
        }
    }
    for my $module (sort keys %used) {
        next if $ours{$module} || $module =~ /^Uvent::Test::/;
        ok($listed{$phase}{$module}, "$phase prerequisite: $module (" . join(', ', sort keys %{ $used{$module} }) . ')');
    }
}

# provides: every package under lib/, at the distribution's version
my %packages;
File::Find::find({ no_chdir => 1, wanted => sub {
    return unless /\.pm\z/;
    open my $fh, '<', $_ or die "$_: $!";
    while (my $line = <$fh>) { $packages{$1} = $_ if $line =~ /^package\s+([\w:]+)\s*;/ }
} }, 'lib');
for my $pkg (sort keys %packages) {
    my $got = $meta->{provides}{$pkg} || {};
    is("$got->{file} $got->{version}", "$packages{$pkg} $meta->{version}", "provides $pkg");
}

# MakeMaker rewrites a #!perl line into the installing perl's
open my $script, '<', 'bin/uvent-get' or die "bin/uvent-get: $!";
is(scalar <$script>, "#!perl\n", 'bin/uvent-get starts with #!perl, for MakeMaker to rewrite');

done_testing;
