# Uvent::HTTP::Manager's master with real processes (the workers' server
# replaced by a stub here; t/99 runs it with Uvent::HTTP::Server):
# start_servers, a killed worker replaced, TTIN/TTOU, HUP restarting every
# worker new-before-old, TERM stopping them all, and workers leaving by
# themselves when the master dies.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(time sleep);
use Uvent;
use Uvent::HTTP::Manager;

{
    package Stub::Manager;
    our @ISA = ('Uvent::HTTP::Manager');
    sub _worker_server { my ($self, $loop) = @_; return bless { loop => $loop }, 'Stub::Server' }
    package Stub::Server;
    sub graceful_stop { $_[0]{loop}->stop }
}

my $dir = tempdir(CLEANUP => 1);
my $log = "$dir/log";

sub events {
    open my $fh, '<', $log or return ();
    return map { [ split ' ' ] } <$fh>;
}
sub pids_of { my ($what) = @_; return map { $_->[1] } grep { $_->[0] eq $what } events() }
sub alive { my %gone = map { $_ => 1 } pids_of('exit'); return grep { !$gone{$_} && kill 0, $_ } pids_of('init') }
# wait (at most $secs) for $cond
sub wait_for {
    my ($secs, $cond) = @_;
    my $end = time + $secs;
    while (time < $end) { return 1 if $cond->(); sleep 0.05 }
    return $cond->();
}
sub note_event {
    my ($what) = @_;
    open my $fh, '>>', $log or die;
    syswrite $fh, "$what $$\n";
}

sub start_master {
    my (%cfg) = @_;
    unlink $log;
    my $pid = fork // die;
    if (!$pid) {
        my $m = Stub::Manager->new({
            server => { locations => [ { host => '127.0.0.1', port => 0 } ] },
            request_callback => sub { }, check_interval => 0.2, min_worker_ttl => 0, termination_timeout => 3,
            worker_init => sub { note_event('init') }, worker_exit => sub { note_event('exit') },
            spawn_callback => sub { note_event("spawn-$_[0]") }, %cfg,
        });
        local $SIG{ALRM} = sub { POSIX::_exit(3) };   # bounded: never outlives the test
        alarm 60;
        $m->run;
        note_event('master-done');
        POSIX::_exit(0);
    }
    return $pid;
}

my $master = start_master(start_servers => 2, min_servers => 2, max_servers => 4, max_spare_servers => 3);
ok(wait_for(10, sub { alive() == 2 }), 'start_servers: two workers start and run worker_init') or diag explain [ events() ];
my @first = alive();
my %spawned = map { /^spawn-(\d+)$/ ? ($1 => 1) : () } map { $_->[0] } events();
ok((grep { $spawned{$_} } @first) == 2, 'spawn_callback named each worker in the master');

kill 'KILL', $first[0];
ok(wait_for(10, sub { my @a = alive(); @a == 2 && !grep { $_ == $first[0] } @a }), 'a worker killed with SIGKILL is replaced');

kill 'TTIN', $master;
ok(wait_for(10, sub { alive() == 3 }), 'TTIN: min_servers + 1, a third worker');
kill 'TTIN', $master for 1 .. 3;
sleep 1;
ok(alive() <= 4, 'more TTIN never passes max_servers') or diag scalar alive();
kill 'TTOU', $master for 1 .. 4;   # min_servers back to 0: the spares rule (max 3) can shrink
ok(wait_for(10, sub { alive() <= 3 }), 'TTOU: the extra spare retires, one a check');

my @before = alive();
kill 'HUP', $master;
ok(wait_for(15, sub { my %old = map { $_ => 1 } @before; my @a = alive(); @a >= @before && !grep { $old{$_} } @a }),
    'HUP: every worker replaced');
my %old = map { $_ => 1 } @before;
my @ev = events();
my ($first_new) = grep { $ev[$_][0] eq 'init' && !$old{ $ev[$_][1] } } 0 .. $#ev;
my ($first_exit) = grep { $ev[$_][0] eq 'exit' && $old{ $ev[$_][1] } } 0 .. $#ev;
ok(defined $first_new && defined $first_exit && $first_new < $first_exit,
    'the new workers started before the old ones left') or diag explain \@ev;

my @last = alive();
kill 'TERM', $master;
ok(wait_for(15, sub { waitpid($master, POSIX::WNOHANG()) == $master }), 'TERM: the master returns from run');
is($? >> 8, 0, 'and exits cleanly');
my %exited = map { $_ => 1 } pids_of('exit');
is((grep { $exited{$_} } @last), scalar @last, 'every worker ran worker_exit on the graceful stop');
ok(!(grep { kill 0, $_ } @last), 'no worker is left');

$master = start_master(start_servers => 2, min_servers => 2);
ok(wait_for(10, sub { alive() == 2 }), 'a new master with two workers');
my @orphans = alive();
kill 'KILL', $master;
waitpid $master, 0;
ok(wait_for(10, sub { !grep { kill 0, $_ } @orphans }), 'workers whose master died exit by themselves');

$master = start_master(start_servers => 3, min_servers => 1, max_servers => 3);
ok(wait_for(10, sub { alive() == 3 }), 'three workers, max_servers 3');
my %full = map { $_ => 1 } alive();
kill 'HUP', $master;
ok(wait_for(15, sub { my @a = alive(); @a == 3 && !grep { $full{$_} } @a }), 'HUP at max_servers replaces every worker too');
my @q = alive();
kill 'QUIT', $master;
ok(wait_for(10, sub { waitpid($master, POSIX::WNOHANG()) == $master }), 'QUIT: the master returns at once');
ok(wait_for(5, sub { !grep { kill 0, $_ } @q }), 'its workers are gone');
my %quit = map { $_ => 1 } @q;
is(scalar(grep { $quit{$_} } pids_of('exit')), 0, 'without a graceful stop (no worker_exit)');

# stop() from a spawn_callback, right after the fork: the worker still
# gets its graceful TERM (the signal waits for its own handler)
$master = start_master(start_servers => 1, min_servers => 1, termination_timeout => 20,
    spawn_callback => sub { note_event("spawn-$_[0]"); $_[1]->stop });
ok(wait_for(15, sub { waitpid($master, POSIX::WNOHANG()) == $master }), 'stop from spawn_callback: the master returns');
my ($early) = pids_of('init');
ok($early && grep({ $_ == $early } pids_of('exit')), 'the worker stopped gracefully (worker_exit ran), not killed later');

done_testing;
