# tools/bundle-llhttp, which `make dist` runs: it copies the llhttp sources
# this build uses (as Makefile.PL found them) into a distribution directory
# with llhttp's MIT license and lists them in its MANIFEST, and refuses
# clearly when the build uses a system libllhttp (no sources to copy).
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);

open my $mk, '<', 'Makefile' or plan skip_all => 'no Makefile (run perl Makefile.PL first)';
my %macro = map { /^(UVENT_LLHTTP_(?:SRC|INC)) = ?(.*)$/ ? ($1 => $2) : () } <$mk>;
my ($src, $inc) = @macro{qw(UVENT_LLHTTP_SRC UVENT_LLHTTP_INC)};
plan skip_all => 'this build uses a system libllhttp: no sources to bundle' unless $src;

sub slurp { my ($f) = @_; open my $fh, '<', $f or return undef; local $/; return scalar <$fh> }

# runs the tool; returns (exit status, output)
sub bundle {
    my @args = @_;
    my $pid = open(my $out, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT or die "dup: $!";
        exec $^X, 'tools/bundle-llhttp', @args or die "exec: $!";
    }
    my $text = do { local $/; <$out> } // '';
    close $out;
    return ($?, $text);
}

my $dist = tempdir('uvent-bundle-XXXXXX', TMPDIR => 1, CLEANUP => 1);
open my $m, '>', "$dist/MANIFEST" or die "$dist/MANIFEST: $!";
print $m "MANIFEST\n";
close $m;

my ($status, $out) = bundle($src, $inc, $dist);
is($status, 0, "bundles $src") or diag($out);
for (['llhttp.c', $src], ['api.c', $src], ['http.c', $src], ['llhttp.h', $inc]) {
    my ($name, $from) = @$_;
    my $copy = slurp("$dist/llhttp/$name");
    ok(defined $copy && $copy eq slurp("$from/$name"), "llhttp/$name is a copy of $from/$name");
}
my $license = slurp("$dist/llhttp/LICENSE-MIT") // '';
like($license, qr/^Copyright .*\S/m, 'LICENSE-MIT has the copyright line');
like($license, qr/Permission is hereby granted, free of charge/, 'LICENSE-MIT has the MIT terms');
like(slurp("$dist/llhttp/README") // '', qr/llhttp \d+\.\d+\.\d+/, 'llhttp/README names the version');
my $manifest = slurp("$dist/MANIFEST");
like($manifest, qr{^llhttp/\Q$_\E\s}m, "MANIFEST lists llhttp/$_") for qw(llhttp.c api.c http.c llhttp.h LICENSE-MIT README);

($status, $out) = bundle($src, $inc, $dist);
is($status, 0, 'bundling again over the same directory works');
my @lines = grep { m{^llhttp/llhttp\.c\s} } split /\n/, slurp("$dist/MANIFEST");
is(scalar @lines, 1, 'and lists each file once');

($status, $out) = bundle('', '/usr/include', $dist);
isnt($status, 0, 'with a system libllhttp (no sources) it fails');
like($out, qr/LLHTTP_SRC/, 'and says how to name the sources');

done_testing;
