package Uvent::HTTP::Manager;
use strict;
use warnings;
use Carp ();
use POSIX ();
use Scalar::Util ();

our $VERSION = '0.06';

require Uvent;

# The master's settings; the server's own go in `server`.
my %DEFAULT = (
    start_servers => undef, min_servers => 1, max_servers => 4, min_spare_servers => 0, max_spare_servers => 0,
    max_load => 0.7, min_load => 0, load_average_period => 3, check_interval => 1, spawn_rate => 1,
    max_requests => 0, min_worker_ttl => 60, activity_timeout => 0, termination_timeout => 10,
);
my @CALLBACKS = qw(request_callback route_callback worker_init worker_exit spawn_callback);
my %WHOLE = map { $_ => 1 } qw(start_servers min_servers max_servers min_spare_servers max_spare_servers spawn_rate
    max_requests);
my %KNOWN = (%DEFAULT, map { $_ => 1 } @CALLBACKS, 'server', 'worker_model');
# how often a worker writes its load to the scoreboard and looks for its master
my $WORKER_TICK = 0.2;
# the master's own tick: reaping and signals between checks
my $MASTER_TICK = 0.05;
my @STOP_SIGNALS = qw(TERM INT QUIT HUP TTIN TTOU);

sub new {
    my ($class, $config) = @_;
    Carp::croak("$class->new: expects a config hashref, got " . (defined $config ? ref($config) || "'$config'" : 'undef'))
        unless ref $config eq 'HASH';
    if (my @unknown = grep { !exists $KNOWN{$_} } keys %$config) {
        Carp::croak("$class->new: unknown config key" . (@unknown > 1 ? 's' : '') . ' '
            . join(', ', map { "'$_'" } sort @unknown) . ' (known: ' . join(', ', sort keys %KNOWN) . ')');
    }
    my %c = (%DEFAULT, %$config);
    for my $k (sort keys %DEFAULT) {
        next if !defined $c{$k} && $k eq 'start_servers';
        my $v = $c{$k};
        Carp::croak("$class->new: '$k' must be a number >= 0, got " . (defined $v ? "'$v'" : 'undef'))
            unless defined $v && !ref $v && $v =~ /\A(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\z/ && $v == $v;
        Carp::croak("$class->new: '$k' must be a whole number, got '$v'") if $WHOLE{$k} && $v != int $v;
    }
    for my $k (@CALLBACKS) {
        Carp::croak("$class->new: '$k' must be a CODE reference") if defined $c{$k} && ref $c{$k} ne 'CODE';
    }
    Carp::croak("$class->new: 'worker_model' must be 'prefork' (the only model)")
        if defined $c{worker_model} && $c{worker_model} ne 'prefork';
    Carp::croak("$class->new: 'max_servers' ($c{max_servers}) is below 'min_servers' ($c{min_servers})")
        if $c{max_servers} < $c{min_servers};
    Carp::croak("$class->new: 'max_servers' must be at least 1") if $c{max_servers} < 1;
    Carp::croak("$class->new: 'check_interval' must be above 0") unless $c{check_interval} > 0;
    Carp::croak("$class->new: 'spawn_rate' must be at least 1") if $c{spawn_rate} < 1;
    # seed 003: a maximum of spares below the minimum is the minimum plus one
    $c{max_spare_servers} = $c{min_spare_servers} + 1
        if $c{max_spare_servers} && $c{max_spare_servers} < $c{min_spare_servers};
    $c{start_servers} //= _max($c{min_servers}, $c{min_spare_servers});
    $c{start_servers} = $c{max_servers} if $c{start_servers} > $c{max_servers};
    my $server = $c{server} // {};
    Carp::croak("$class->new: 'server' must be a hashref of Uvent::HTTP::Server settings") unless ref $server eq 'HASH';
    $c{request_callback} //= $server->{request_callback};
    Carp::croak("$class->new: a 'request_callback' is required (here or in 'server')") unless $c{request_callback};
    my $locations = $server->{locations} // [];
    Carp::croak("$class->new: 'server' needs 'locations', an arrayref of { host, port } or { path }")
        unless ref $locations eq 'ARRAY' && (@$locations || $ENV{SERVER_STARTER_PORT});
    my $self = bless { cfg => \%c, server => { %$server }, workers => {}, stopping => 0 }, $class;
    return $self;
}

sub _max { $_[0] > $_[1] ? $_[0] : $_[1] }

# ---------------------------------------------------------------- rules

# What the master does at a check, from the workers it has: a pure
# function of the settings, the workers (hashes as the scoreboard gives
# them, plus `load`: the fraction of the last load_average_period its
# loop was busy, undef before two samples, and `retiring`: the master
# stopped it) and the time. Returns the actions, in the order to apply:
#   [kill => $pid]      a stuck handler (SIGKILL)
#   [recycle => $pid]   start a replacement, then stop it gracefully
#   [spawn => $n]       start n workers
#   [retire => $pid]    stop it gracefully (one per check)
# Replacing workers that died comes before (the reaper does it).
sub _plan {
    my ($c, $workers, $now) = @_;
    my @actions;
    my @live = grep { !$_->{retiring} && $_->{state} ne 'stopping' } @$workers;
    my %gone;
    if ($c->{activity_timeout} > 0) {
        for my $w (@live) {
            next unless $w->{active} && $now - $w->{last_activity} > $c->{activity_timeout};
            push @actions, [ kill => $w->{pid} ];
            $gone{ $w->{pid} } = 1;
        }
    }
    @live = grep { !$gone{ $_->{pid} } } @live;
    my %recycled;
    if ($c->{max_requests} > 0) {
        my $budget = $c->{spawn_rate};
        for my $w (sort { $a->{started} <=> $b->{started} } @live) {
            last if $budget <= 0;
            next unless $w->{served} >= $c->{max_requests} && $now - $w->{started} >= $c->{min_worker_ttl};
            push @actions, [ recycle => $w->{pid} ];
            $recycled{ $w->{pid} } = 1;
            $budget--;
        }
    }
    # a recycled worker is replaced one for one (its replacement starts
    # first): it still counts, as the spare it was
    my $count = @live;
    my $spares = grep { $_->{state} eq 'idle' || $_->{state} eq 'starting' } @live;
    my @loads = grep { defined } map { $_->{load} } @live;
    my $load = @loads ? _sum(@loads) / @loads : undef;
    my $room = $c->{max_servers} - $count;
    my $want = 0;
    $want = $c->{min_servers} - $count if $count < $c->{min_servers};
    $want = _max($want, $c->{min_spare_servers} - $spares) if $spares < $c->{min_spare_servers};
    $want = _max($want, 1) if defined $load && $load > $c->{max_load} && $c->{max_load} > 0;
    $want = $c->{spawn_rate} if $want > $c->{spawn_rate};
    $want = $room if $want > $room;
    if ($want > 0) {
        push @actions, [ spawn => $want ];
        return @actions;
    }
    return @actions if $count <= $c->{min_servers};
    return @actions if defined $load && $c->{max_load} > 0 && $load > $c->{max_load};
    my $too_many_spares = $c->{max_spare_servers} > 0 && $spares > $c->{max_spare_servers};
    my $underloaded = $c->{min_load} > 0 && defined $load && $load < $c->{min_load}
        && $spares - 1 >= $c->{min_spare_servers};
    return @actions unless $too_many_spares || $underloaded;
    my ($victim) = sort { $a->{last_activity} <=> $b->{last_activity} || $a->{started} <=> $b->{started} }
        grep { $_->{state} eq 'idle' && !$recycled{ $_->{pid} } && $now - $_->{started} >= $c->{min_worker_ttl} } @live;
    push @actions, [ retire => $victim->{pid} ] if $victim;
    return @actions;
}

sub _sum { my $s = 0; $s += $_ for @_; $s }

# ---------------------------------------------------------------- master

sub scoreboard {
    my ($self) = @_;
    return () unless $self->{board};
    return map { $self->{board}->slot($_->{slot}) } sort { $a->{slot} <=> $b->{slot} } values %{ $self->{workers} };
}

sub workers { scalar keys %{ $_[0]{workers} } }

sub run {
    my ($self) = @_;
    my $c = $self->{cfg};
    Carp::croak(ref($self) . '->run: already running') if $self->{running};
    local $self->{running} = 1;
    $self->{master_pid} = $$;
    $self->{board} = Uvent::HTTP::Manager::Scoreboard->new($c->{max_servers} * 3 + 4);
    $self->{listeners} = $self->_bind;
    $self->{stopping} = 0;
    my %flag;
    local $SIG{TERM} = sub { $flag{graceful} = 1 };
    local $SIG{INT} = sub { $flag{graceful} = 1 };
    local $SIG{QUIT} = sub { $flag{now} = 1 };
    local $SIG{HUP} = sub { $flag{restart} = 1 };
    local $SIG{TTIN} = sub { $flag{ttin}++ };
    local $SIG{TTOU} = sub { $flag{ttou}++ };
    local $SIG{CHLD} = sub { };
    local $SIG{PIPE} = 'IGNORE';
    $self->{stop_request} = \%flag;
    $self->_spawn($c->{start_servers});
    my $next_check = Uvent::HTTP::Manager::Scoreboard::now() + $c->{check_interval};
    my $stop_deadline;
    while (1) {
        $self->_reap;
        if ($flag{now}) {
            $self->_signal_all('QUIT');
            $stop_deadline = Uvent::HTTP::Manager::Scoreboard::now() if !defined $stop_deadline;
            $self->{stopping} = 2;
        }
        elsif ($flag{graceful} && !$self->{stopping}) {
            $self->{stopping} = 1;
            $self->_signal_all('TERM');
            $stop_deadline = Uvent::HTTP::Manager::Scoreboard::now() + $c->{termination_timeout};
        }
        if ($self->{stopping}) {
            last unless %{ $self->{workers} };
            if (Uvent::HTTP::Manager::Scoreboard::now() >= $stop_deadline) {
                $self->_signal_all('KILL');
                $stop_deadline = Uvent::HTTP::Manager::Scoreboard::now() + 5;
            }
            select(undef, undef, undef, $MASTER_TICK);
            next;
        }
        if (delete $flag{restart}) {
            # new workers first, then the old ones stop: no refused connection
            my @old = $self->_serving;
            $_->{replaced_by} = [] for @old;    # the replacements do not count them
            my @new = $self->_spawn(scalar @old);
            # each old worker waits for its own replacement; those left
            # without one (no slot, fork failed) keep serving
            for my $w (@old) {
                if (my $n = shift @new) { $self->_retire_when_ready($w->{pid}, $n) }
                else { delete $w->{replaced_by} }
            }
        }
        while ($flag{ttin} && $flag{ttin}--) {
            $c->{min_servers}++ if $c->{min_servers} < $c->{max_servers};
        }
        while ($flag{ttou} && $flag{ttou}--) {
            $c->{min_servers}-- if $c->{min_servers} > 0;
        }
        $self->_retire_replaced;
        my $now = Uvent::HTTP::Manager::Scoreboard::now();
        if ($now >= $next_check) {
            $next_check = $now + $c->{check_interval};
            $self->_check($now);
        }
        select(undef, undef, undef, $MASTER_TICK);
    }
    $self->_close_listeners;
    delete $self->{board};
    return;
}

sub stop {
    my ($self, $now) = @_;
    my $flag = $self->{stop_request} or return;
    $flag->{ $now ? 'now' : 'graceful' } = 1;
}

sub _check {
    my ($self, $now) = @_;
    my $c = $self->{cfg};
    # _spawn stops at max_servers
    if (my $died = delete $self->{died}) { $self->_spawn($died) }
    # the loads over load_average_period, from each worker's samples
    my @ws;
    for my $w (values %{ $self->{workers} }) {
        my $s = $self->{board}->slot($w->{slot});
        next unless $s->{pid} == $w->{pid};
        my $hist = $w->{samples} //= [];
        push @$hist, [ $s->{sampled}, $s->{busy} ] if $s->{sampled} && (!@$hist || $hist->[-1][0] != $s->{sampled});
        shift @$hist while @$hist > 2 && $hist->[1][0] <= $s->{sampled} - $c->{load_average_period};
        my $load;
        if (@$hist >= 2 && $hist->[-1][0] > $hist->[0][0]) {
            $load = ($hist->[-1][1] - $hist->[0][1]) / ($hist->[-1][0] - $hist->[0][0]);
            $load = 1 if $load > 1;
            $load = 0 if $load < 0;
        }
        $w->{load} = $load;
        push @ws, { %$s, load => $load, retiring => $w->{retiring} || $w->{replaced_by} };
    }
    for my $a (_plan($c, \@ws, $now)) {
        my ($what, $arg) = @$a;
        if ($what eq 'kill') {
            warn "Uvent::HTTP::Manager: worker $arg is stuck (a request in flight, no activity for"
                . " $c->{activity_timeout} s): killing it\n";
            if (my $w = $self->{workers}{$arg}) {
                # replaced by the rules already (the plan counted it gone): not a crash to replace again
                $w->{retiring} = Uvent::HTTP::Manager::Scoreboard::now();
                $w->{killed} = 1;
            }
            kill 'KILL', $arg;
        }
        elsif ($what eq 'recycle') {
            my $w = $self->{workers}{$arg} or next;
            $w->{replaced_by} = [];
            my @new = $self->_spawn(1);
            if (@new) { $self->_retire_when_ready($arg, @new) }
            else { delete $w->{replaced_by} }    # no replacement: it serves on
        }
        elsif ($what eq 'spawn') { $self->_spawn($arg) }
        elsif ($what eq 'retire') { $self->_retire($arg) }
    }
}

# Stop `pid` once the workers started to replace it accept (or are gone):
# a slow worker_init leaves no gap.
sub _retire_when_ready {
    my ($self, $pid, @new) = @_;
    my $w = $self->{workers}{$pid} or return;
    return $self->_retire($pid) unless @new;
    $w->{replaced_by} = \@new;
}

sub _retire_replaced {
    my ($self) = @_;
    for my $w (values %{ $self->{workers} }) {
        my $new = $w->{replaced_by} or next;
        my @waiting = grep {
            my $n = $self->{workers}{$_};
            $n && $self->{board}->slot($n->{slot})->{state} eq 'starting'
        } @$new;
        next if @waiting;
        delete $w->{replaced_by};
        $self->_retire($w->{pid});
    }
}

sub _retire {
    my ($self, $pid) = @_;
    my $w = $self->{workers}{$pid} or return;
    return if $w->{retiring};
    $w->{retiring} = Uvent::HTTP::Manager::Scoreboard::now();
    kill 'TERM', $pid;
}

sub _signal_all {
    my ($self, $sig) = @_;
    kill $sig, keys %{ $self->{workers} } if %{ $self->{workers} };
}

sub _reap {
    my ($self) = @_;
    my $c = $self->{cfg};
    my $died = 0;
    while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
        my $status = $?;
        my $w = delete $self->{workers}{$pid} or next;
        $self->{board}->release($w->{slot});
        # a worker told to stop, or whose replacement runs already, is not replaced again
        next if $self->{stopping} || $w->{retiring} || $w->{replaced_by};
        my $how = POSIX::WIFSIGNALED($status) ? 'killed by signal ' . POSIX::WTERMSIG($status)
            : 'exited with status ' . POSIX::WEXITSTATUS($status);
        warn "Uvent::HTTP::Manager: worker $pid $how; replacing it\n";
        $died++;
    }
    # retiring workers past termination_timeout are made to go
    my $now = Uvent::HTTP::Manager::Scoreboard::now();
    for my $w (values %{ $self->{workers} }) {
        next unless $w->{retiring} && !$w->{killed} && $now - $w->{retiring} > $c->{termination_timeout};
        $w->{killed} = 1;
        kill 'KILL', $w->{pid};
    }
    # replaced at the next check, not at once: a worker that dies at start
    # costs one fork a check_interval, not a fork loop
    $self->{died} += $died;
}

# The workers that count against max_servers: not stopping, not waiting
# for a replacement to take over.
sub _serving { grep { !$_->{retiring} && !$_->{replaced_by} } values %{ $_[0]{workers} } }

sub _spawn {
    my ($self, $n) = @_;
    my $c = $self->{cfg};
    my @pids;
    for (1 .. $n) {
        last if $self->_serving >= $c->{max_servers};
        my $slot = $self->{board}->claim;
        if (!defined $slot) {
            warn "Uvent::HTTP::Manager: no free scoreboard slot: not starting a worker\n";
            last;
        }
        # the stop signals wait until the child has its own handlers (a
        # TERM right after the fork would reach the master's copy of them)
        my $blocked = POSIX::SigSet->new(map { POSIX->can("SIG$_")->() } @STOP_SIGNALS);
        my $old = POSIX::SigSet->new;
        POSIX::sigprocmask(POSIX::SIG_BLOCK(), $blocked, $old);
        my $pid = fork;
        if (!defined $pid) {
            warn "Uvent::HTTP::Manager: fork failed: $!\n";
            POSIX::sigprocmask(POSIX::SIG_SETMASK(), $old);
            $self->{board}->release($slot);
            last;
        }
        if ($pid == 0) {
            my $status = eval { $self->_worker($slot, $old); 0 } // do {
                warn "Uvent::HTTP::Manager: worker $$: $@";
                1;
            };
            # never back into the master's code (or its END blocks)
            POSIX::_exit($status);
        }
        POSIX::sigprocmask(POSIX::SIG_SETMASK(), $old);
        $self->{board}->set_pid($slot, $pid);
        $self->{workers}{$pid} = { pid => $pid, slot => $slot };
        push @pids, $pid;
        $c->{spawn_callback}->($pid, $self) if $c->{spawn_callback};
    }
    return @pids;
}

# ---------------------------------------------------------------- listeners

# The sockets every worker serves: from Server::Starter, else bound here.
# A location with reuse_port is bound by each worker itself.
sub _bind {
    my ($self) = @_;
    my @locs = @{ $self->{server}{locations} // [] };
    my @out;
    if (defined $ENV{SERVER_STARTER_PORT}) {
        # "8080=3;127.0.0.1:8081=4;/tmp/sock=5"
        my %fds;
        for (split /;/, $ENV{SERVER_STARTER_PORT}) {
            my ($addr, $fd) = /\A(.+)=(\d+)\z/ or Carp::croak("Uvent::HTTP::Manager: unreadable SERVER_STARTER_PORT entry '$_'");
            $fds{$addr} = $fd;
        }
        @locs = map { /\A\[?([^\]]*?)\]?:(\d+)\z/ ? { host => $1, port => $2 } : /\A\d+\z/ ? { port => $_ } : { path => $_ } }
            sort keys %fds unless @locs;
        for my $loc (@locs) {
            my ($fd) = grep { defined } map { $fds{$_} } _starter_names($loc);
            Carp::croak("Uvent::HTTP::Manager: no socket from Server::Starter for "
                . _location_name($loc) . " (SERVER_STARTER_PORT=$ENV{SERVER_STARTER_PORT})") unless defined $fd;
            require IO::Socket::IP;
            my $fh = IO::Socket::IP->new_from_fd($fd, '+<')
                or Carp::croak("Uvent::HTTP::Manager: fd $fd from Server::Starter: $!");
            push @out, { location => $loc, fh => $fh };
        }
        return \@out;
    }
    for my $loc (@locs) {
        if ($loc->{reuse_port}) {
            # port 0: a socket bound here (never listening, so it takes no
            # connection) reserves a free port that every worker binds too
            my $reserve;
            if (!$loc->{port}) {
                require IO::Socket::IP;
                $reserve = IO::Socket::IP->new(LocalHost => $loc->{host} // '0.0.0.0', LocalPort => 0, ReusePort => 1,
                    Proto => 'tcp') // Carp::croak("Uvent::HTTP::Manager: cannot reserve a port for " . _location_name($loc) . ": $@");
                $loc = { %$loc, port => $reserve->sockport };
            }
            push @out, { location => $loc, ($reserve ? (reserve => $reserve) : ()) };
            next;
        }
        push @out, { location => $loc, fh => _listen($loc) };
    }
    return \@out;
}

sub _starter_names {
    my ($loc) = @_;
    return ($loc->{path}) if defined $loc->{path};
    my $port = $loc->{port} // 0;
    return ("$port", (defined $loc->{host} ? ("$loc->{host}:$port", "[$loc->{host}]:$port") : ()));
}

sub _location_name {
    my ($loc) = @_;
    return $loc->{path} if defined $loc->{path};
    return ($loc->{host} // '*') . ':' . ($loc->{port} // 0);
}

sub _listen {
    my ($loc) = @_;
    my $backlog = $loc->{backlog} // 4096;
    if (defined $loc->{path}) {
        my @tcp = grep { exists $loc->{$_} } qw(host port reuse_port);
        Carp::croak("Uvent::HTTP::Manager: a location has a path (a unix socket) and "
            . join(' and ', map { "'$_'" } @tcp) . ': give either path or host and port') if @tcp;
        return _listen_unix($loc->{path}, $backlog);
    }
    require IO::Socket::IP;
    my $host = $loc->{host} // '0.0.0.0';
    return IO::Socket::IP->new(LocalHost => $host, LocalPort => $loc->{port} // 0, Listen => $backlog, ReuseAddr => 1,
        Proto => 'tcp') // Carp::croak("Uvent::HTTP::Manager: cannot listen on " . _location_name($loc) . ": $@");
}

# A unix socket at $path, by Uvent::HTTP::Server's rule: a stale socket
# file (nobody listens: a connection is refused) is replaced, any other
# file refused. The workers get it as an fd; the master removes the file.
sub _listen_unix {
    my ($path, $backlog) = @_;
    require IO::Socket::UNIX;
    my $max = $^O eq 'linux' ? 107 : 103;    # sun_path less its NUL
    my $why = length($path) > $max ? 'the path is too long for a unix socket (' . length($path) . " bytes, at most $max)"
        : $path eq '' ? 'the path is empty' : undef;
    if (!defined $why && lstat $path) {
        if (!-S _) {
            $why = 'a file that is not a socket is in the way (remove it, or choose another path)';
        } elsif (IO::Socket::UNIX->new(Peer => $path, Blocking => 0) || $!{EAGAIN}) {    # EAGAIN: a full backlog
            $why = 'a server is already listening there';
        } elsif ($!{ECONNREFUSED}) {
            unlink $path or $why = "a stale socket could not be removed: $!";
        } else {
            $why = "$!";
        }
    }
    Carp::croak("Uvent::HTTP::Manager: cannot listen on unix socket $path: $why") if defined $why;
    my $fh = IO::Socket::UNIX->new(Local => $path, Listen => $backlog)
        // Carp::croak("Uvent::HTTP::Manager: cannot listen on unix socket $path: $!");
    ${*$fh}{uvent_ino} = (stat $path)[1];    # only this file is ours to remove
    return $fh;
}

# Where the master listens: [ host, port ] or [ path ] per location.
sub sockaddrs {
    my ($self) = @_;
    return map {
        my $fh = $_->{fh};
        !$fh ? [ $_->{location}{host}, $_->{location}{port} ]
            : $fh->can('hostpath') && defined $_->{location}{path} ? [ $_->{location}{path} ]
            : [ $fh->sockhost, $fh->sockport ]
    } @{ $self->{listeners} // [] };
}

sub _close_listeners {
    my ($self) = @_;
    for my $l (@{ delete $self->{listeners} // [] }) {
        my $ino = $l->{fh} && ${*{ $l->{fh} }}{uvent_ino};
        close $l->{fh} if $l->{fh};
        unlink $l->{location}{path}
            if defined $l->{location}{path} && defined $ino && ((lstat $l->{location}{path})[1] // -1) == $ino;
    }
}

# ---------------------------------------------------------------- worker

sub _worker {
    my ($self, $slot, $sigmask) = @_;
    my $c = $self->{cfg};
    my $board = $self->{board};
    my $master = $self->{master_pid};
    my %flag;
    $SIG{$_} = 'IGNORE' for qw(INT HUP TTIN TTOU);
    $SIG{TERM} = sub { $flag{graceful} = 1 };
    $SIG{QUIT} = sub { POSIX::_exit(0) };
    $SIG{CHLD} = 'DEFAULT';
    $SIG{PIPE} = 'IGNORE';
    POSIX::sigprocmask(POSIX::SIG_SETMASK(), $sigmask) if $sigmask;    # blocked by the master across the fork
    $self->{workers} = {};
    $self->{in_worker} = $slot;
    $c->{worker_init}->() if $c->{worker_init};
    # the default loop, so handlers reach it as anywhere else (a fork check
    # gives the child its own)
    my $loop = Uvent::Loop->default;
    $loop->_measure_load;
    my $server = $self->_worker_server($loop, $slot);
    $board->set_state($slot, 'idle');
    my $stopping;
    my $stop = sub {
        return if $stopping++;
        $board->set_state($slot, 'stopping');
        $server->graceful_stop;
    };
    my $tick = Uvent::Timer->new($loop);
    $tick->start($WORKER_TICK, $WORKER_TICK, sub {
        $board->sample_load($slot, $loop);
        # a signal sets the flag when Perl code runs: here, at the latest
        $stop->() if $flag{graceful} || getppid() != $master;
    });
    # a callback that dies is reported and the worker serves on (its
    # request got a 500 from the server)
    until (eval { $loop->run; 1 }) {
        warn "Uvent::HTTP::Manager: worker $$: a callback died: $@";
    }
    $tick->stop;
    $c->{worker_exit}->() if $c->{worker_exit};
    return;
}

# The worker's server over the master's sockets; every request counted
# on the scoreboard (the server reports each request's start and end).
sub _worker_server {
    my ($self, $loop, $slot) = @_;
    my $c = $self->{cfg};
    require Uvent::HTTP::Server;
    my %cfg = %{ $self->{server} };
    delete $cfg{request_callback};
    # each worker's server owns a duplicate of the master's socket
    $cfg{locations} = [ map {
        my %loc = %{ $_->{location} };
        $loc{fd} = POSIX::dup(fileno $_->{fh}) // die "dup of a listening socket: $!" if $_->{fh};
        \%loc
    } @{ $self->{listeners} } ];
    $cfg{request_callback} = $c->{request_callback};
    $cfg{route_callback} = $c->{route_callback} if $c->{route_callback};
    my $stopped = delete $cfg{stop_callback};
    $cfg{stop_callback} = sub { $stopped->(@_) if $stopped; $loop->stop };
    my $server = Uvent::HTTP::Server->new(\%cfg, $loop);
    $server->run;
    $server->_watch_scoreboard($self->{board}, $slot);
    return $server;
}

1;

__END__

=head1 NAME

Uvent::HTTP::Manager - a pool of worker processes, each running a Uvent::HTTP::Server

=head1 SYNOPSIS

    use Uvent;
    use Uvent::HTTP::Manager;

    my $mgr = Uvent::HTTP::Manager->new({
        server => { locations => [ { host => '127.0.0.1', port => 0 } ], idle_timeout => 30 },
        request_callback => sub {
            my ($req) = @_;
            $req->respond({ code => 200, headers => [ 'Content-Type' => 'text/plain' ], body => "hi from $$\n" });
        },
        start_servers => 2, min_servers => 1, max_servers => 4,
        min_spare_servers => 1, max_spare_servers => 3,
        check_interval => 1,
        spawn_callback => sub { my ($pid) = @_; print "worker $pid started\n" },
    });
    # stop after two seconds, for this example (a service runs until TERM)
    local $SIG{ALRM} = sub { $mgr->stop };
    alarm 2;
    $mgr->run;     # the master: returns after the stop, every worker gone

=head1 DESCRIPTION

The master binds every listener, forks workers and never serves a
request itself. Each worker runs its own L<Uvent::Loop> and
L<Uvent::HTTP::Server> over the inherited sockets, so one busy worker
still keeps thousands of kept-alive connections in its event loop.

A scoreboard in shared anonymous memory holds, per worker, its pid,
state (C<starting>, C<idle>, C<busy>, C<stopping>), requests in flight,
requests served, the time of its last activity and how busy its loop
was. A worker updates its slot with plain stores into that memory, no
system call per request; the master reads it.

Every C<check_interval> the master applies, in this order:

=over

=item 1.

replace workers that died (a crash is logged with its exit status or
signal, on STDERR);

=item 2.

kill (SIGKILL) a worker whose last activity is older than
C<activity_timeout> while it has requests in flight (a stuck handler);

=item 3.

recycle workers past C<max_requests> once older than C<min_worker_ttl>
(at most C<spawn_rate> a check): the replacement starts first, the old
worker stops gracefully once the replacement accepts;

=item 4.

grow, to at least C<min_servers>, to C<min_spare_servers> idle workers,
and while the average load is above C<max_load>, by at most
C<spawn_rate> workers a check and never past C<max_servers>;

=item 5.

or shrink, while more than C<max_spare_servers> workers are idle or the
average load is below C<min_load> (never below C<min_spare_servers>
spares), by one worker a check, never below C<min_servers>, choosing the
idle worker, older than C<min_worker_ttl>, idle the longest.

=back

A worker's load is the fraction of the last C<load_average_period>
seconds its loop spent running callbacks rather than waiting for events
(libuv's idle-time metric); the average is over the workers not
stopping. A starting worker counts as a spare.

=head1 METHODS

=head2 new

    my $mgr = Uvent::HTTP::Manager->new(\%config);

Settings (defaults in brackets):

=over

=item server

The L<Uvent::HTTP::Server> settings every worker's server gets:
C<locations> (required unless Server::Starter gives the sockets) and the
rest. The master binds each location (C<port =E<gt> 0> picks a free
port, which L</sockaddrs> tells); a location with C<reuse_port =E<gt> 1>
is bound by each worker itself instead (with C<port =E<gt> 0> the master
reserves a free port for them with a socket that never listens). A location
with C<path> is a unix socket the master makes (by the server's rule: a
stale socket file, one nobody listens on, is replaced; any other file
croaks) and removes when it stops; the workers serve it through the
descriptor they inherit, as a TCP one.

=item request_callback, route_callback

The server's callbacks (they may also be given inside C<server>).

=item start_servers [the larger of min_servers and min_spare_servers]

Workers forked at start (seed 003's STARTSERVERS), at most max_servers.

=item min_servers [1], max_servers [4]

The bounds of the pool (max_servers is seed 003's MAXCLIENTS). During a
restart or recycling, replacements start before the workers they
replace stop, so for a moment there can be more processes.

=item min_spare_servers [0], max_spare_servers [0 = no bound]

Idle workers to keep ready. A max_spare_servers below
min_spare_servers is taken as min_spare_servers + 1.

=item max_load [0.7], min_load [0 = off], load_average_period [3]

Grow while the average load is above max_load; shrink while it is below
min_load; loads are averaged over load_average_period seconds.

=item check_interval [1], spawn_rate [1]

How often (seconds) the rules run; at most spawn_rate workers are
started by a check (seed 003: one a second).

=item max_requests [0 = never], min_worker_ttl [60]

Recycle a worker that served max_requests once it is min_worker_ttl
seconds old; workers younger than min_worker_ttl are not retired either.

=item activity_timeout [0 = off]

Kill a worker with requests in flight and no activity for this long.

=item termination_timeout [10]

A worker told to stop gracefully is killed after this many seconds.

=item worker_init, worker_exit

Run in each worker: worker_init after the fork, before it accepts
(per-process resources: seed 003's FORKHANDLERS); worker_exit after its
graceful stop.

=item spawn_callback

C<sub { my ($pid, $manager) = @_ }>, run in the master for each worker it forks.

=back

Unknown keys, values that are not numbers, and max_servers below
min_servers croak, naming them.

=head2 run

The master's loop; returns after L</stop> or a TERM, INT or QUIT, once
every worker is gone. Signals to the master:

=over

=item TERM, INT

Graceful stop: workers stop listening, finish the requests in flight,
close idle keep-alive connections and exit; after termination_timeout
they are killed.

=item QUIT

Immediate stop.

=item HUP

Graceful restart of every worker: the new ones start before the old
ones stop, and the listening sockets stay open in the master, so no
connection is refused.

=item TTIN, TTOU

Raise or lower min_servers by one.

=back

A worker whose master died exits by itself within a fraction of a
second.

Under Server::Starter (C<start_server --port 8080 -- ...>), the
listeners come from C<SERVER_STARTER_PORT> instead of being bound: each
location is matched by its port (or C<host:port>, or C<path>), and with
no locations every socket Server::Starter passes is served.

=head2 stop

    $mgr->stop;        # graceful, as TERM
    $mgr->stop(1);     # at once, as QUIT

From the master (a signal handler, a spawn_callback).

=head2 scoreboard

A list of hashrefs, one per worker: C<slot>, C<pid>, C<generation>,
C<state>, C<active>, C<served>, C<started>, C<last_activity> (monotonic
seconds), C<busy> (seconds its loop ran) and C<sampled>. For monitoring
from the master.

=head2 workers

The number of worker processes.

=head2 sockaddrs

C<[ $host, $port ]> (or C<[ $path ]>) for each location, once L</run>
has bound them (from a spawn_callback, for instance).

=head1 EXAMPLES

F<eg/prefork.pl> in the distribution runs a manager on
C<http://127.0.0.1:8080/> (C<perl eg/prefork.pl 0 10>: any free port, a
graceful stop after 10 s) with 2 to 4 workers that answer with their pid;
send its master C<HUP>, C<TTIN> or C<TTOU> to see workers replaced, added
or retired.

=head1 SEE ALSO

L<Uvent::HTTP::Server>, L<Plack::Handler::Uvent>, L<Uvent>.

=cut
