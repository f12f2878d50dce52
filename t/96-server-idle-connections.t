# 10,000 idle connections (2,000 without EXTENDED_TESTING) held open by a test client (a child process)
# while other requests are still answered; then they all close. The count
# is lowered to what the file-descriptor limit allows (each side needs one
# descriptor per connection), and says so.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use File::Temp ();
use IO::Socket::INET ();
use Time::HiRes ();
use Uvent;
use Uvent::HTTP::Server;
use Uvent::Test::Util qw(run_until extended_testing);
use Uvent::Test::Serve qw(serve client_start client_wait);

my $limit = `sh -c 'ulimit -n' 2>/dev/null`;
chomp $limit;
$limit = 1024 unless $limit && $limit =~ /^\d+$/;
# 10,000 under EXTENDED_TESTING (.ci/test), 2,000 in a CPAN install
my $want = extended_testing() ? 10_000 : 2_000;
my $n = $limit - 200 < $want ? $limit - 200 : $want;
plan skip_all => "the file-descriptor limit ($limit) is too low for a useful number of connections" if $n < 500;

my $loop = Uvent::Loop->new;
my ($server, $port) = serve($loop, idle_timeout => 120);
my $dir = File::Temp::tempdir('uvent-idle-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $c = client_start(sub {
    my @held;
    for (1 .. $n) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 10) or last;
        push @held, $s;
    }
    # held until the parent says so (at most 120 s)
    my $deadline = time + 120;
    Time::HiRes::sleep(0.05) until -e "$dir/done" || time > $deadline;
    return scalar @held;
});
ok(run_until($loop, sub { $server->connection_count >= $n }, 120), "the server holds $n idle connections"
    . ($n < $want ? " (not $want: the descriptor limit is $limit)" : ''))
    or diag('it holds ' . $server->connection_count);

my $pool = Uvent::HTTP::Pool->new($loop);
my @got;
$pool->request({ uri => "http://127.0.0.1:$port/busy?$_", response_callback => sub { push @got, $_[2] ? "error $_[2]" : $_[1]->body } }) for 1 .. 10;
run_until($loop, sub { @got == 10 }, 30);
is_deeply([ sort @got ], [ sort map { "GET /busy?$_ 0" } 1 .. 10 ], 'requests are answered meanwhile');

open my $fh, '>', "$dir/done" or die $!;
close $fh;
is(client_wait($loop, $c, 60), $n, "the client held $n");
undef $pool;    # its keep-alive connections close too
ok(run_until($loop, sub { $server->connection_count == 0 }, 60), 'all of them close when the client goes');
$server->stop;
done_testing;
