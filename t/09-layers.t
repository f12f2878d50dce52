# The core's layers (src/README.md): every source file is in a layer folder
# that src/Makefile and Makefile.PL build, and is listed in MANIFEST; and no
# file includes a header of a layer it may not use. The include check is
# also run on made-up lines, so a rule that could never fail is noticed.
use strict;
use warnings;
use Test::More;
use File::Find ();

sub slurp { my ($f) = @_; open my $fh, '<', $f or die "$f: $!"; local $/; return scalar <$fh> }

my $mk = slurp('src/Makefile');
my %var;
while ($mk =~ /^([A-Z_]+)\s*=\s*(.*)$/mg) { $var{$1} = $2 }
my @layers = split ' ', $var{LAYERS} // '';
ok(@layers, "src/Makefile names its layers: @layers");
my %built = map { ($_ => 1) } map { split ' ', $var{uc $_} // '' } @layers;

my @sources;
File::Find::find({ no_chdir => 1, wanted => sub {
    $File::Find::prune = 1, return if -d && m{^src/build};
    push @sources, $_ if -f && /\.[ch]\z/;
} }, 'src');
@sources = sort @sources;

my %is_layer = map { ($_ => 1) } @layers;
my %manifest = map { /^(\S+)/ ? ($1 => 1) : () } split /\n/, slurp('MANIFEST');
for my $file (@sources) {
    (my $rel = $file) =~ s{^src/}{};
    ok($manifest{$file}, "MANIFEST lists $file");
    if ($rel =~ m{^([^/]+)/}) {
        ok($is_layer{$1}, "$file is in a layer src/Makefile builds");
    } else {
        like($rel, qr/\A(?:uvh|internal)\.h\z/, "$file: only the public and the internal header sit at the top of src/");
    }
    next unless $rel =~ /\A(.+)\.c\z/;
    ok($built{$1}, "src/Makefile compiles $file");
}

my ($pl_layers) = slurp('Makefile.PL') =~ /my \@core_layers = qw\(([^)]*)\)/;
is($pl_layers // '', "@layers", "Makefile.PL builds the same folders as src/Makefile");

# What each folder may include from the others: its own folder, lower
# ones, and `uvh` for the public header src/uvh.h (which includes libuv,
# so the codec may not). client/, the top, may include anything; manager/
# (the worker scoreboard) stands beside it on the loop alone.
my %may_use = (
    base => [qw(base)],
    loop => [qw(base loop uvh)],
    net  => [qw(base net uvh)],
    http => [qw(base http)],
    # the server: beside client/, never using it
    server => [qw(base loop net http server uvh)],
    # the worker scoreboard: over the loop, and counting the server's requests
    manager => [qw(base loop net http server manager uvh)],
);

# The forbidden includes among lines of $file: a quoted header of a
# folder the file's folder may not use.
sub forbidden {
    my ($layer, @lines) = @_;
    my $allowed = $may_use{$layer} or return;
    my %ok = map { ($_ => 1) } @$allowed;
    my @bad;
    for (@lines) {
        next unless /^\s*#\s*include\s*"([^"]+)"/;
        my $h = $1;
        if ($h =~ m{^([^/]+)/}) { push @bad, $h unless $ok{$1} }
        elsif ($h eq 'llhttp.h') { push @bad, $h unless $layer eq 'http' }
        elsif (!($h eq 'uvh.h' && $ok{uvh})) { push @bad, $h }
    }
    return @bad;
}

for my $layer (sort keys %may_use) {
    my @bad = forbidden($layer, '#include "client/pool.h"', '  # include "internal.h"');
    is("@bad", 'client/pool.h internal.h', "the check refuses client/pool.h and internal.h in $layer/");
}
is(join(' ', forbidden('http', '#include "uvh.h"', '#include "net/tls.h"', '#include "base/buf.h"')),
   'uvh.h net/tls.h', 'the check refuses uvh.h (libuv) and net/ in http/, allows base/');
# the codec and the layers under it name no libuv or OpenSSL header either
for my $file (grep { m{^src/(?:base|http)/} } @sources) {
    my @sys = grep { /^\s*#\s*include\s*<(uv|openssl)[.\/]/ } split /\n/, slurp($file);
    is("@sys", '', "$file includes no libuv or OpenSSL header");
}

for my $file (@sources) {
    my ($layer) = $file =~ m{^src/([^/]+)/} or next;
    my @bad = forbidden($layer, split /\n/, slurp($file));
    is("@bad", '', "$file includes only what $layer/ may use");
}

# xs/ is the only code that touches Perl, and croaks through its one helper
# (UVX_CROAK, which names the user's line); src/ never includes perl.h
for my $file (@sources) {
    my @perl = grep { /^\s*#\s*include\s*[<"](?:perl|EXTERN|XSUB)\.h[>"]/ } split /\n/, slurp($file);
    is("@perl", '', "$file includes no Perl header");
}
my @xs = sort(glob('xs/*.xs'), glob('xs/*.xsh'), glob('xs/*.h'));
ok(@xs, 'the XS files are found');
for my $file (@xs) {
    my @bare = grep { /(?<![\w])croak\(/ } split /\n/, slurp($file);
    is("@bare", '', "$file croaks only through UVX_CROAK");
}

done_testing;
