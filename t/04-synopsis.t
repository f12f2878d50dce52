# Every SYNOPSIS in lib/ and the README's Tour run as written against a
# local server and print what they should.
#
# The examples talk to http://127.0.0.1:8080/, which `perl eg/server.pl`
# serves; this test starts eg/server.pl on a free port instead and rewrites
# "127.0.0.1:8080" to it, and changes nothing else. (127.0.0.1:1 is left
# alone: nothing listens there.) A SYNOPSIS is the run of code paragraphs
# at the start of its section: a text paragraph ends it, so a snippet with
# placeholders (your own host, your own certificate files) goes after one
# that says so, and is not run. The Tour is the first ```perl block under
# "## Tour".
use strict;
use warnings;
use Test::More;
use File::Find ();
use File::Temp ();
use IO::Select;
use POSIX ();
use Time::HiRes ();

# eg/server.pl on a free port, for at most 120 s
my $srv_pid = open(my $srv_out, '-|', $^X, 'eg/server.pl', 0, 120) // die "eg/server.pl: $!";
my ($port) = IO::Select->new($srv_out)->can_read(10) && <$srv_out> =~ m{127\.0\.0\.1:(\d+)/};
ok($port, 'eg/server.pl listens') or BAIL_OUT('eg/server.pl did not start');

# What each program must print (in any order, and more is fine).
my $U = qr{http://127\.0\.0\.1:\d+};
my %expect = (
    'README.md' => [
        qr/^size=1 busy=1 queued=0$/m,
        qr{^200 text/plain$}m,
        qr{^POST /x\?y=1: 7 body bytes$}m,
        qr{^http_request: GET /: 0 body bytes$}m,
        qr{^http_get: 200$}m,
        qr{^synchronous: 200 OK$}m,
    ],
    'lib/Uvent.pm' => [
        qr/^200 OK, \d+ bytes$/m,
        map { qr{^$U/\?n=$_: 200$}m } 1 .. 10,
    ],
    'lib/Uvent/Loop.pm' => [ qr/^status: 200$/m, qr/^took about \d+ ms$/m, qr/^tick$/m ],
    'lib/Uvent/Timer.pm' => [ qr/^a quarter second later$/m, qr/^tick 0\ntick 1\ntick 2$/m ],
    'lib/Uvent/Error.pm' => [ qr/^failed: /m, qr/^code: connect$/m, qr/^errno: ECONNREFUSED$/m ],
    'lib/Uvent/HTTP.pm' => [ qr{^GET /: 0 body bytes$}m, qr/^got 200$/m, qr/^second done$/m ],
    'lib/Uvent/HTTP/Pool.pm' => [
        qr{^request 1 runs on $U$}m, qr{^request 2 runs on $U$}m, qr/^request 5 is queued$/m,
        qr/^open: 2, busy: 2, queued: 3$/m,
        (map { qr{^$U/\?n=$_: 200, \d+ bytes$}m } 1 .. 5),
        qr/^5 callbacks, 2 idle connection\(s\) kept$/m,
        qr/^POST: 200$/m,
    ],
    'lib/Uvent/HTTP/Request.pm' => [ qr/^stored: 200$/m, qr/^failed: .*cancel/m ],
    'lib/Uvent/HTTP/Response.pm' => [
        qr/^200 OK$/m, qr{^HTTP/1\.1$}m, qr{^Content-Type: text/plain$}m, qr/^connection reused$/m,
    ],
    'lib/Uvent/Loop/Adapter.pm' => [ qr/^driven by: AnyEvent \(.*Uvent::Loop::AnyEvent\)$/m, qr/^runs by itself again$/m ],
    'lib/Uvent/Loop/AnyEvent.pm' => [ qr/^AnyEvent: got 200$/m ],
    'lib/Uvent/Loop/Mojo.pm' => [ (map { qr/^Mojo: $_ got 200$/m } 1 .. 3), qr/^Mojo::IOLoop returned, [1-3] keep-alive connection\(s\) open$/m ],
    'lib/Uvent/Loop/IOAsync.pm' => [ qr/^IO::Async: got 200$/m ],
    'lib/Uvent/Future.pm' => [ qr/^needs_all: 200 200 200$/m, qr/^failed \(http\): connect$/m ],
    'lib/Uvent/HTTP/Server.pm' => [ qr{^hi /there$}m ],
    'lib/Uvent/HTTP/Manager.pm' => [ qr/^worker \d+ started\nworker \d+ started$/m ],
    'lib/Plack/Handler/Uvent.pm' => [ qr{^hello from /psgi$}m ],
    'lib/Uvent/HTTP/ServerRequest.pm' => [ qr{^GET /p q=1$}m ],
    'lib/Uvent/HTTP/Client.pm' => [ qr{^$U$}m, qr/^busy$/m, qr/^queued$/m, qr/^served 2, idle in the pool$/m ],
);

sub synopsis {
    my ($file) = @_;
    open my $fh, '<', $file or die "$file: $!";
    my $pod = do { local $/; <$fh> };
    my ($section) = $pod =~ /^=head1 SYNOPSIS\n(.*?)^=(?:head|cut)/ms or return undef;
    my @code;
    $section =~ s/\A\s*\n//;
    for my $para (grep { /\S/ } split /\n[ \t]*\n/, $section) {
        last unless $para =~ /\A[ \t]/;    # a text paragraph ends the program
        push @code, $para;
    }
    return unindent(join "\n\n", @code);
}

sub tour {
    open my $fh, '<', 'README.md' or die "README.md: $!";
    my $md = do { local $/; <$fh> };
    my ($code) = $md =~ /^## Tour\n.*?^```perl\n(.*?)^```$/ms;
    return $code;
}

sub unindent {
    my ($code) = @_;
    my ($indent) = sort { length $a <=> length $b } $code =~ /^([ \t]*)\S/mg;
    $code =~ s/^\Q$indent\E//mg if defined $indent;
    return $code;
}

# Runs $code in a new perl with blib, for at most 30 s: (exit status, output).
sub run_code {
    my ($code) = @_;
    my ($fh, $file) = File::Temp::tempfile('uvent-synopsis-XXXXXX', SUFFIX => '.pl', TMPDIR => 1, UNLINK => 1);
    print $fh $code;
    close $fh;
    my $pid = open(my $out, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        exec($^X, '-Mblib', $file) or POSIX::_exit(127);
    }
    my ($buf, $deadline) = ('', Time::HiRes::time() + 30);
    my $sel = IO::Select->new($out);
    while (Time::HiRes::time() < $deadline) {
        next unless $sel->can_read(0.5);
        last unless sysread $out, $buf, 65536, length $buf;
    }
    kill 'KILL', $pid if Time::HiRes::time() >= $deadline;
    close $out;
    return ($?, $buf);
}

my @files;
File::Find::find({ no_chdir => 1, wanted => sub { push @files, $_ if /\.pm\z/ } }, 'lib');
@files = sort @files;
is_deeply([ sort grep { m{^lib/} } keys %expect ], \@files, 'every module under lib/ has its expected output here');

for my $file ('README.md', @files) {
    subtest $file => sub {
        my $code = $file eq 'README.md' ? tour() : synopsis($file);
        ok(defined $code && length $code, $file eq 'README.md' ? 'the Tour found' : 'a SYNOPSIS found') or return;
        # the adapters' and futures' examples need their (optional) event loop
        my @missing = grep { !eval "require $_; 1" } $code =~ /^\s*use\s+([A-Z][\w:]*)/mg;
        plan skip_all => "needs @missing, not installed" if @missing;
        unlike($code, qr/^\s*\.\.\.|\{\s*\.\.\.\s*\}/m, 'no ... placeholders');
        my @hosts = $code =~ m{https?://([^/"'\s]+)}g;
        is_deeply([ grep { !/\A127\.0\.0\.1:(?:8080|1)\z/ } @hosts ], [], 'only 127.0.0.1:8080 (and :1) is used');
        (my $run = $code) =~ s/127\.0\.0\.1:8080\b/127.0.0.1:$port/g;
        my ($status, $out) = run_code("use strict;\nuse warnings;\n#line 1 \"$file SYNOPSIS\"\n$run");
        is($status, 0, 'runs and exits 0') or diag($out);
        unlike($out, qr/warn|line \d+\.$/mi, 'no warnings or dying messages') or diag($out);
        like($out, $_, "prints $_") for @{ $expect{$file} };
    };
}

kill 'TERM', $srv_pid;
close $srv_out;
is($? & 127, 0, 'eg/server.pl stopped by SIGTERM exits cleanly');

done_testing;
