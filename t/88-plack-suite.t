# Plack's own server conformance suite (Plack::Test::Suite, Debian's
# libplack-perl) against Plack::Handler::Uvent: in single-process mode
# (--max-servers 0) and under Uvent::HTTP::Manager with two workers.
use strict;
use warnings;
use Test::More;

BEGIN {
    eval { require Plack::Test::Suite; require Test::TCP; 1 }
        or plan skip_all => "Plack::Test::Suite is not installed (Debian: libplack-perl): $@";
}

for my $mode ([ 'single process' => max_servers => 0 ], [ 'two workers' => workers => 2 ]) {
    my ($name, @opts) = @$mode;
    subtest "Plack::Test::Suite, $name" => sub {
        local $SIG{ALRM} = sub { die "the suite took over 120 s\n" };
        alarm 120;
        Plack::Test::Suite->run_server_tests('Uvent', undef, undef, @opts);
        alarm 0;
    };
}

done_testing;
