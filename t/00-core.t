# Runs the C core's own tests (t/c/test_*.c, built by `make` into
# src/build/) and reports each of their TAP lines as one of ours.
# UVENT_VALGRIND=1 runs them under valgrind, failing on any error or leak.
use strict;
use warnings;
use Test::More;

my @tests = sort glob('src/build/test_*');
@tests = grep { -x && !/\.[co]$/ } @tests;
plan skip_all => 'C tests not built (run make first)' unless @tests;

# UVENT_VALGRIND without valgrind: the C tests still run, the valgrind
# check is reported as skipped.
my ($valgrind) = grep { -f && -x _ } map { "$_/valgrind" } grep { length } split /:/, $ENV{PATH} // '';
if ($ENV{UVENT_VALGRIND} && !$valgrind) {
    SKIP: { skip 'UVENT_VALGRIND is set but valgrind is not installed: the C tests run without it', 1 }
}
my @valgrind = $ENV{UVENT_VALGRIND} && $valgrind
    ? ($valgrind, '-q', '--error-exitcode=97', '--leak-check=full', '--child-silent-after-fork=yes',
       '--show-leak-kinds=definite,indirect,possible', '--errors-for-leak-kinds=definite,indirect,possible')
    : ();

for my $bin (@tests) {
    (my $name = $bin) =~ s{.*/}{};
    subtest $name => sub {
        my $out = `@valgrind $bin 2>&1`;
        my $status = $? >> 8;
        plan skip_all => $1 if $status == 0 && $out =~ /^1\.\.0 # SKIP (.*)$/m;
        my ($planned) = $out =~ /^1\.\.(\d+)$/m;
        my $seen = 0;
        for my $line (split /\n/, $out) {
            if ($line =~ /^(not )?ok \d+ - (.*)$/) {
                $seen++;
                ok(!$1, $2);
            } elsif ($line =~ /^#/ || $line =~ /^==\d+==/) {
                diag($line);
            }
        }
        ok(defined $planned && $planned == $seen, "$name ran its whole plan ($seen of " . ($planned // '?') . ')');
        is($status, 0, "$name exit status" . (@valgrind ? ' under valgrind' : ''));
    };
}

done_testing;
