use strict;
use warnings;
use Test::More;
use File::Find ();
use File::Spec ();
use B ();
use Pod::Checker ();

# POD checks for every module under lib/:
#  - syntax: Test::Pod's all_pod_files_ok when it is installed, and always
#    Pod::Checker (core), so the syntax is checked even without Test::Pod;
#  - NAME: "Module - abstract" (Makefile.PL takes the abstract from Uvent.pm);
#  - coverage: every public sub of a package (XS or Perl) is documented as
#    an =head2 or =item in the POD of that package's file.
# Only the Test::Pod part skips, when it is not installed.

my $lib = 'lib';

my @files;
File::Find::find({ no_chdir => 1, wanted => sub { push @files, $_ if /\.pm\z/ && -f $_ } }, $lib);
@files = sort @files;
ok(scalar @files, "found modules under $lib/") or BAIL_OUT("no modules under $lib/");

# ---- syntax -----------------------------------------------------------------

subtest 'Test::Pod' => sub {
    plan skip_all => 'Test::Pod 1.22 is not installed: POD syntax is checked with Pod::Checker only'
        unless eval { require Test::Pod; Test::Pod->VERSION(1.22); 1 };
    Test::Pod::all_pod_files_ok(@files);
};

for my $file (@files) {
    my $out = '';
    open my $fh, '>', \$out or die "in-memory handle: $!";
    my $checker = Pod::Checker->new(-warnings => 1);
    $checker->parse_from_file($file, $fh);
    close $fh;
    my $errors = $checker->num_errors;
    ok($errors == 0, "$file: Pod::Checker finds no errors")
        or diag($errors < 0 ? "$file has no POD" : $out);
}

# ---- a simple POD reader ----------------------------------------------------

# Returns the =head1 NAME paragraph and the names documented by =head2/=item.
sub read_pod {
    my ($file) = @_;
    open my $fh, '<', $file or die "open $file: $!";
    my (@commands, $in_pod, $name_section, $name_text);
    while (my $line = <$fh>) {
        if ($line =~ /^=(\w+)/) {
            my $cmd = $1;
            $in_pod = $cmd ne 'cut';
            next unless $in_pod;
            chomp(my $text = $line);
            $text =~ s/^=\w+\s*//;
            push @commands, [ $cmd, $text ];
            if ($cmd eq 'head1') {
                $name_section = $text eq 'NAME';
            }
            next;
        }
        next unless $in_pod;
        if ($name_section && !defined $name_text && $line =~ /\S/) {
            chomp($name_text = $line);
        }
    }
    my %documented;
    for my $c (@commands) {
        my ($cmd, $text) = @$c;
        next unless $cmd eq 'head2' || $cmd eq 'item';
        $text =~ s/[A-Z]<+\s*//g;    # open formatting codes: C<, C<< ...
        $text =~ s/\s*>+//g;
        # "name", "$obj->name(...)", "Class->name", "Class::name"
        if ($text =~ /^\s*(?:[\$\w:]+?(?:->|::))?(\w+)/) {
            $documented{$1} = 1;
        }
    }
    return ($name_text, \%documented);
}

# ---- NAME and coverage ------------------------------------------------------

my %OPTIONAL = (
    'Uvent::Loop::AnyEvent' => 'AnyEvent', 'Uvent::Loop::Mojo' => 'Mojo::IOLoop',
    'Uvent::Loop::IOAsync' => 'IO::Async::Loop', 'Uvent::Future' => 'Future',
);

my %SKIP = map { $_ => 1 } qw(
    DESTROY import unimport BEGIN END INIT CHECK UNITCHECK AUTOLOAD
    CLONE CLONE_SKIP bootstrap dl_load_flags
);

sub public_subs {
    my ($pkg) = @_;
    no strict 'refs';
    my @subs;
    for my $name (sort keys %{"${pkg}::"}) {
        next unless $name =~ /\A[A-Za-z]\w*\z/;    # also skips overload entries "(..."
        next if $SKIP{$name};
        next unless defined &{"${pkg}::$name"};
        # skip subs imported from another package (the XS and closure subs
        # of this package have their glob in this package)
        my $gv = B::svref_2object(\&{"${pkg}::$name"})->GV;
        next if $gv->isa('B::GV') && $gv->STASH->NAME ne $pkg;
        push @subs, $name;
    }
    return @subs;
}

for my $file (@files) {
    my $rel = File::Spec->abs2rel($file, $lib);
    (my $pkg = $rel) =~ s/\.pm\z//;
    $pkg = join '::', File::Spec->splitdir($pkg);

    my ($name_text, $documented) = read_pod($file);
    like($name_text // '', qr/\A\Q$pkg\E - \S/, "$file: =head1 NAME is '$pkg - abstract'");

    my $loaded = eval { require Uvent; (my $f = "$pkg.pm") =~ s{::}{/}g; require $f; 1 };
    my $error = $@;
    # an adapter or Uvent::Future needs its (optional) event loop or module
    if (!$loaded && (my $need = $OPTIONAL{$pkg})) {
        if (!eval "require $need; 1") {
            SKIP: { skip "$pkg needs $need, which is not installed (or does not load)", 1 }
            next;
        }
    }
    ok($loaded, "$pkg loads") or do { diag($error); next };

    # a subclass documents the public methods it inherits from Uvent's base classes too
    my %seen;
    my @subs = grep { !$seen{$_}++ } public_subs($pkg), map { public_subs($_) } do { no strict 'refs'; grep { /^Uvent::/ } @{"${pkg}::ISA"} };
    ok(scalar @subs, "$pkg has public subs");
    my @missing = grep { !$documented->{$_} } @subs;
    ok(!@missing, "$pkg: every public sub is documented as =head2 or =item")
        or diag("$pkg: not documented: @missing");
}

done_testing;
