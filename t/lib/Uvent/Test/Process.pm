package Uvent::Test::Process;
# What the harnesses that start real programs (Uvent::Test::Nginx,
# Uvent::Test::Proxy) share: a watchdog that kills the program when the
# test process dies without stopping it, stopping the program, and reaping a
# child within a time.
use strict;
use warnings;
use POSIX ();
use Time::HiRes ();

# Fork a watchdog for `$child`: it holds the read end of a pipe and kills
# the child at EOF, which comes when the test process dies without stop()
# (stop() kills the watchdog first). Returns ($watchdog_pid, $pipe_write_end).
sub watchdog {
    my ($child, $name) = @_;
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $w;
        # hold none of the test's other descriptors (sockets, pipes)
        require Uvent::Test::Server;
        Uvent::Test::Server::_close_fds_except(fileno $r);
        open STDOUT, '>', '/dev/null';
        $0 = "uvent-$name-watchdog";
        $SIG{$_} = 'IGNORE' for qw(INT HUP);
        1 while !defined sysread($r, my $buf, 1) && $!{EINTR};
        kill 'KILL', $child;
        POSIX::_exit(0);
    }
    close $r;
    return ($pid, $w);
}

# Stop what `$self` started ({pid}, {watchdog}, {wd_pipe}): the watchdog
# first (once the program is reaped its pid may be reused, and the watchdog
# must not fire at a stranger), then the program: TERM, KILL after 5 s.
sub stop {
    my ($self) = @_;
    if (my $wd = delete $self->{watchdog}) {
        kill 'KILL', $wd;
        waitpid $wd, 0;
        close delete $self->{wd_pipe};
    }
    if (my $pid = delete $self->{pid}) {
        kill 'TERM', $pid;
        reap($pid, 5) or do { kill 'KILL', $pid; waitpid $pid, 0 };
    }
    return;
}

# Wait up to `$timeout` seconds for `$pid` to exit: 1 when it did (or is
# not ours), 0 when it is still running.
sub reap {
    my ($pid, $timeout) = @_;
    my $deadline = Time::HiRes::time() + $timeout;
    while (1) {
        my $r = waitpid($pid, POSIX::WNOHANG());
        return 1 if $r == $pid || $r == -1;
        return 0 if Time::HiRes::time() >= $deadline;
        Time::HiRes::sleep(0.01);
    }
}

1;
