# Regression: cancelling an inherited request in a child after fork must not
# touch the parent's connection (it used to close a socket through the
# epoll instance both processes share, stalling the parent's request).
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use POSIX ();
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;

my $srv  = Uvent::Test::Server->new;
my $loop = Uvent::Loop->new;
my $pool = Uvent::HTTP::Pool->new({}, $loop);
my ($done_at, $err, $calls, $watchdog) = (undef, undef, 0);
my $req = Uvent::HTTP::Request->new({
    uri => $srv->url('/sleep?s=0.5'), timeout => 5,
    # the watchdog timer would keep the loop running until it fires
    response_callback => sub { $calls++; $done_at = time; $err = $_[2]; $watchdog->stop if $watchdog },
});
$pool->request($req);
my $t = Uvent::Timer->once(0.1, sub { $loop->stop }, $loop);
$loop->run;    # connected and written; the response comes at 0.5 s

pipe my $r, my $w or die;
my $pid = fork // die "fork: $!";
if (!$pid) {
    close $r;
    $req->cancel;    # in the child: the inherited request is dropped, the socket left alone
    syswrite $w, $calls ? 'callback' : 'none';
    POSIX::_exit(0);    # libuv's at-exit cleanup must not run in a forked child
}
close $w;
my $child_saw = do { local $/; <$r> } // '';
waitpid $pid, 0;
is($child_saw, 'none', 'no callback in the child for the inherited request');

my $t0 = time;
$watchdog = Uvent::Timer->once(5, sub { $loop->stop }, $loop);
$loop->run;
$watchdog->stop;
is($calls, 1, 'the parent got its one callback');
ok(!$err, 'with success') or diag "error: $err";
cmp_ok($done_at - $t0, '<', 1.5, 'on time: the parent\'s connection was not disturbed');
is($srv->requests, 1, 'the server saw the request once');

done_testing;
