# eg/prefork.pl runs: it prints its address, its workers answer with
# their pid (not the master's), and its seconds argument stops it gracefully.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);

my $pid = open(my $out, '-|', $^X, '-Mblib', 'eg/prefork.pl', 0, 2) // die "fork: $!";
# the first worker's "ready" line may come before the master's address
my ($master, $port, @seen);
{
    local $SIG{ALRM} = sub { kill 'KILL', $pid };
    alarm 10;
    while (defined(my $line = <$out>)) {
        push @seen, $line;
        last if ($master, $port) = $line =~ m{^master (\d+) listening on http://127\.0\.0\.1:(\d+)/$};
    }
    alarm 0;
}
ok($port, 'it prints its address') or diag(@seen);
my $body = '';
if ($port) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5);
    if ($s) {
        print $s "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        local $/;
        $body = <$s> // '';
    }
}
like($body, qr{\AHTTP/1\.1 200 .*\r\n\r\nserved by worker (\d+)\n\z}s, 'a worker answers');
my ($worker) = $body =~ /served by worker (\d+)/;
isnt($worker // 0, $master // 0, 'not the master');
my $rest = do { local $/; local $SIG{ALRM} = sub { kill 'KILL', $pid }; alarm 10; my $r = <$out>; alarm 0; $r } // '';
close $out;
is($?, 0, 'it stops by itself after 2 s, cleanly (exit status 0, no signal)');
like($rest, qr/^stopped$/m, 'the master returns from run and says so');
my @ready = ((join '', @seen, $rest) =~ /^worker (\d+) ready$/mg);
ok(@ready >= 2, 'worker_init ran in each of the 2 start_servers workers') or diag(@seen, $rest);
ok(!grep({ $_ == ($master // 0) } @ready), 'worker_init runs in the workers, not the master');
done_testing;
