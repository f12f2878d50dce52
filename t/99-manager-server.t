# Uvent::HTTP::Manager with real workers: each runs Uvent::HTTP::Server
# over the master's socket and counts its requests on the scoreboard.
# Requests spread over the workers; max_requests recycles a worker with no
# failed request; a graceful stop (TERM) answers every request in flight;
# load above max_load adds workers, never past max_servers; under a bounded
# load the spares rule grows the pool, and once the load stops it shrinks
# back one worker a check; HUP under load fails no request; a worker killed
# with SIGKILL is replaced while the requests on the other are answered.
use strict;
use warnings;
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use File::Temp ();
use Uvent;
use Uvent::HTTP::Manager;

# one request on a new connection: (status, body) or () on failure
sub get {
    my ($port, $path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 10) or return;
    print $s "GET $path HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    local $/;
    my $r = <$s> // return;
    my ($code) = $r =~ m{\AHTTP/1\.1 (\d+)} or return;
    my ($body) = $r =~ /\r\n\r\n(.*)\z/s;
    return ($code, $body);
}

# a master in a child process; its port (or socket path) comes back through a pipe
our ($w_port, $told_port);
sub start_master {
    my (%cfg) = @_;
    pipe my $r, my $w or die;
    ($w_port, $told_port) = ($w, 0);
    my $pid = fork // die;
    if (!$pid) {
        close $r;
        local $SIG{ALRM} = sub { POSIX::_exit(3) };
        alarm 60;
        my $told;
        my $m = Uvent::HTTP::Manager->new({
            server => { locations => [ { host => '127.0.0.1', port => 0 } ] },
            check_interval => 0.2, min_worker_ttl => 0, termination_timeout => 5,
            spawn_callback => sub {
                my ($wpid, $mgr) = @_;
                return if $told++;
                syswrite $w, ($mgr->sockaddrs)[0][-1] . "\n";    # [ host, port ] or [ path ]
            },
            %cfg,
            server => { locations => [ { host => '127.0.0.1', port => 0 } ], %{ $cfg{server} // {} } },
        });
        $m->run;
        POSIX::_exit(0);
    }
    close $w;
    my $port = <$r>;
    chomp $port if defined $port;
    return ($pid, $port);
}

my $hello = sub {
    my ($req) = @_;
    $req->respond({ code => 200, body => "$$" });
};

subtest 'requests are answered by the workers' => sub {
    my ($master, $port) = start_master(request_callback => $hello, start_servers => 2, min_servers => 2, max_servers => 2);
    ok($port, "the master listens on port $port");
    my %pids;
    my $ok = 0;
    for (1 .. 40) {
        my ($code, $body) = get($port, '/');
        $ok++ if ($code // 0) == 200;
        $pids{$body}++ if defined $body;
    }
    is($ok, 40, 'every request answered');
    ok(!exists $pids{$master}, 'the master never serves');
    cmp_ok(scalar keys %pids, '<=', 2, 'by at most max_servers workers');
    kill 'TERM', $master;
    waitpid $master, 0;
    is($? >> 8, 0, 'TERM stops it cleanly');
};

subtest 'max_requests recycles workers without a failed request' => sub {
    my ($master, $port) = start_master(request_callback => $hello, start_servers => 1, min_servers => 1, max_servers => 1,
        max_requests => 5);
    my (%pids, $ok);
    my $end = time + 20;
    for (1 .. 60) {
        my ($code, $body) = get($port, '/');
        $ok++ if ($code // 0) == 200;
        $pids{$body}++ if defined $body;
        last if keys %pids >= 3 || time > $end;
        sleep 0.02;
    }
    is($ok, sum(values %pids), 'every request answered during recycling');
    ok($ok, "$ok requests");
    cmp_ok(scalar keys %pids, '>=', 3, 'the worker was replaced after max_requests (the scoreboard counts its requests), twice');
    kill 'TERM', $master;
    waitpid $master, 0;
};

subtest 'a graceful stop answers the requests in flight' => sub {
    my ($master, $port) = start_master(start_servers => 2, min_servers => 2, max_servers => 2, request_callback => sub {
        my ($req) = @_;
        # answered later, from a timer on the worker's loop (the default one)
        Uvent::Timer->once(0.5, sub { $req->respond({ code => 200, body => 'late' }) });
    });
    my @socks;
    for (1 .. 100) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 10) or next;
        print $s "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
        push @socks, $s;
    }
    sleep 0.2;    # the requests reach the workers (they are answered at 0.5 s)
    kill 'TERM', $master;
    my $answered = 0;
    for my $s (@socks) {
        local $/;
        my $r = <$s> // '';
        my ($head, $body) = split /\r\n\r\n/, $r, 2;
        $answered++ if ($head // '') =~ m{\AHTTP/1\.1 200 } && $head =~ /^Connection: close\r?$/mi && ($body // '') eq 'late';
    }
    is($answered, 100, 'all 100 in flight answered, with Connection: close');
    waitpid $master, 0;
    is($? >> 8, 0, 'and the master returned');
};

subtest 'a worker killed with SIGKILL is replaced; requests in flight on the other are unaffected' => sub {
    # reuse_port: the kernel spreads the connections over the workers' own
    # sockets (with one shared socket, one worker may take them all); with
    # port 0 the master reserves one for them
    my ($master, $port) = start_master(start_servers => 2, min_servers => 2, max_servers => 2,
        server => { locations => [ { host => '127.0.0.1', port => 0, reuse_port => 1 } ] }, request_callback => sub {
        my ($req) = @_;
        return $req->respond({ code => 200, body => "$$" }) if $req->path eq '/who';
        Uvent::Timer->once(0.6, sub { $req->respond({ code => 200, body => "held $$" }) });
    });
    # kept-alive connections, each asking which worker holds it
    my (%owner, @conns);
    my $until = time + 10;    # each worker binds its own socket once it runs
    while (time < $until) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 10) or sleep(0.02), next;
        print $s "GET /who HTTP/1.1\r\nHost: t\r\n\r\n";
        my $head = '';
        while ($head !~ /\r\n\r\n/) { sysread($s, $head, 4096, length $head) or last }
        my ($len) = $head =~ /^Content-Length: (\d+)/mi;
        my ($body) = $head =~ /\r\n\r\n(.*)\z/s;
        $body //= '';
        while (length $body < ($len // 0)) { sysread($s, $body, 4096, length $body) or last }
        push @conns, [ $s, $body ];
        $owner{$body}++;
        last if keys %owner == 2 && @conns >= 6 || @conns >= 400;
    }
    my @pids = sort keys %owner;
    is(scalar @pids, 2, 'connections on both workers: ' . join(' ', map { "$_ x$owner{$_}" } @pids)) or return;
    print { $_->[0] } "GET /hold HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" for @conns;
    sleep 0.2;    # the requests reach their workers (answered at 0.6 s)
    my ($victim, $other) = @pids;
    kill 'KILL', $victim;
    my ($ok, $cut, $wrong) = (0, 0, 0);
    for my $c (@conns) {
        my $r = do { local $/; readline $c->[0] } // '';
        if ($c->[1] eq $other) { $r =~ /\r\n\r\nheld \Q$other\E\z/ ? $ok++ : $wrong++ }
        else { $r eq '' ? $cut++ : $wrong++ }
    }
    is($ok, $owner{$other}, "all $owner{$other} requests in flight on the other worker answered");
    is($cut, $owner{$victim}, "the killed worker's $owner{$victim} connections closed without an answer");
    is($wrong, 0, 'nothing else');
    my %now;
    my $end = time + 10;
    while (time < $end) {
        my ($code, $body) = get($port, '/who');
        $now{$body}++ if ($code // 0) == 200;
        last if keys %now >= 2;
        sleep 0.05;
    }
    ok(!$now{$victim} && keys %now == 2, 'it was replaced: two workers answer again, ' . join(' ', sort keys %now));
    kill 'TERM', $master;
    waitpid $master, 0;
};

subtest 'HUP under load restarts every worker with no failed or refused request' => sub {
    my ($master, $port) = start_master(request_callback => $hello, start_servers => 2, min_servers => 2, max_servers => 4);
    ok($port, "the master listens on port $port");
    # 3 clients, each a process making one request per connection for
    # 2.5 s; each result line: time, status (0 = refused or cut), pid
    my $t0 = time;
    my @clients;
    for (1 .. 3) {
        pipe my $r, my $w or die;
        my $pid = fork // die;
        if (!$pid) {
            close $r;
            while (time < $t0 + 2.5) {
                my ($code, $body) = get($port, '/');
                syswrite $w, sprintf("%.3f %d %s\n", time - $t0, $code // 0, $body // '-');
            }
            POSIX::_exit(0);
        }
        close $w;
        push @clients, [ $pid, $r ];
    }
    sleep 0.7;
    kill 'HUP', $master;
    my $hup_at = time - $t0;
    my @results;
    for my $c (@clients) {
        my $fh = $c->[1];
        push @results, map { [ split ' ' ] } <$fh>;
        waitpid $c->[0], 0;
    }
    my @failed = grep { $_->[1] != 200 } @results;
    ok(@results > 100, scalar(@results) . ' requests made during the restart');
    is(scalar @failed, 0, 'none failed or was refused') or diag(join "\n", map { "@$_" } @failed[0 .. ($#failed < 9 ? $#failed : 9)]);
    my %before = map { $_->[2] => 1 } grep { $_->[0] < $hup_at } @results;
    my %late = map { $_->[2] => 1 } grep { $_->[0] > $hup_at + 1.5 } @results;
    ok(keys %before, 'pids seen before the HUP: ' . join(' ', sort keys %before));
    ok(keys %late, 'pids seen from 1.5 s after the HUP: ' . join(' ', sort keys %late));
    is(scalar(grep { $before{$_} } keys %late), 0, 'every worker serving then is new');
    kill 'TERM', $master;
    waitpid $master, 0;
    is($? >> 8, 0, 'TERM stops it cleanly');
};

# the master's live children (its workers), from /proc
sub workers_of {
    my ($master) = @_;
    my $n = 0;
    opendir my $d, '/proc' or return -1;
    for my $p (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$p/stat" or next;
        my $stat = <$fh> // next;
        $stat =~ s/^.*\)\s+//;
        my ($state, $ppid) = split ' ', $stat;
        $n++ if $ppid == $master && $state ne 'Z';
    }
    return $n;
}

subtest 'spares: a bounded load grows the pool, which shrinks back one worker a check after it' => sub {
    plan skip_all => 'needs /proc to count the workers' unless -r '/proc/self/stat';
    my $check = 0.3;
    my ($master, $port) = start_master(start_servers => 1, min_servers => 1, max_servers => 4, min_spare_servers => 1,
        max_spare_servers => 1, check_interval => $check, request_callback => sub {
            my ($req) = @_;
            Uvent::Timer->once(0.3, sub { $req->respond({ code => 200, body => "$$" }) });
        });
    my @samples;    # [time, workers]
    my $sample = sub { push @samples, [ time, workers_of($master) ] };
    $sample->() for 1 .. 1;
    # the load: 3 clients, each one request at a time, each held 0.3 s, for 3 s
    my $t0 = time;
    my @clients;
    for (1 .. 3) {
        my $pid = fork // die;
        if (!$pid) {
            my $bad = 0;
            while (time < $t0 + 3) { my ($code) = get($port, '/'); $bad++ unless ($code // 0) == 200 }
            POSIX::_exit($bad ? 1 : 0);
        }
        push @clients, $pid;
    }
    while (time < $t0 + 3) { $sample->(); sleep 0.02 }
    my $bad = 0;
    for (@clients) { waitpid $_, 0; $bad++ if $? }
    is($bad, 0, 'every request of the load answered');
    my $peak = 0;
    $peak < $_->[1] and $peak = $_->[1] for @samples;
    cmp_ok($peak, '>=', 2, "a busy worker brought spares: up to $peak workers (min_spare_servers 1)");
    cmp_ok($peak, '<=', 4, 'never past max_servers 4');
    # after the load: every worker idle, more than max_spare_servers 1
    my $after = time;
    while (time < $after + 6) { $sample->(); last if $samples[-1][1] == 1 && time > $after + 3 * $check; sleep 0.02 }
    is($samples[-1][1], 1, 'back down to one worker (min_servers, max_spare_servers) after the load');
    # a worker exits once its requests are answered, so exits show the
    # master's one-a-check pace only once none is in flight
    my $quiet = $after + 0.5;
    my ($at_quiet) = map { $_->[1] } grep { $_->[0] >= $quiet } @samples;
    my @drops;    # the times at which the count fell, and by how much
    for my $i (1 .. $#samples) {
        next if $samples[$i - 1][0] < $quiet;
        my $d = $samples[$i - 1][1] - $samples[$i][1];
        push @drops, [ $samples[$i][0], $d ] if $d > 0;
    }
    is(scalar(@drops), ($at_quiet // 1) - 1, scalar(@drops) . " retirements from the " . ($at_quiet // '?') . " workers left 0.5 s after the load");
    is(scalar(grep { $_->[1] != 1 } @drops), 0, 'each took one worker');
    my @gaps = map { $drops[$_][0] - $drops[$_ - 1][0] } 1 .. $#drops;
    is(scalar(grep { $_ < $check * 0.5 } @gaps), 0, sprintf('at most one a check (gaps: %s s)', join(' ', map { sprintf '%.2f', $_ } @gaps)));
    kill 'TERM', $master;
    waitpid $master, 0;
    is($? >> 8, 0, 'TERM stops it cleanly');
};

subtest 'load above max_load adds workers, never past max_servers' => sub {
    my ($master, $port) = start_master(start_servers => 1, min_servers => 1, max_servers => 3, max_load => 0.3,
        load_average_period => 0.6, spawn_rate => 1, request_callback => sub {
            my ($req) = @_;
            my $end = time + 0.01;
            1 while time < $end;    # 10 ms of work for each request
            $req->respond({ code => 200, body => "$$" });
        });
    my %pids;
    my $end = time + 15;
    # four clients at once, in children, for at most 15 s or until three workers answered
    while (time < $end && keys %pids < 3) {
        my @kids;
        for (1 .. 4) {
            pipe my $r, my $w or die;
            my $pid = fork // die;
            if (!$pid) {
                close $r;
                my %seen;
                for (1 .. 25) { my (undef, $b) = get($port, '/'); $seen{$b}++ if defined $b }
                syswrite $w, join(' ', keys %seen) . "\n";
                POSIX::_exit(0);
            }
            close $w;
            push @kids, [ $pid, $r ];
        }
        for (@kids) {
            my ($pid, $r) = @$_;
            my $line = <$r> // '';
            $pids{$_}++ for split ' ', $line;
            waitpid $pid, 0;
        }
    }
    cmp_ok(scalar keys %pids, '>=', 2, 'a busy worker brought more (' . scalar(keys %pids) . ' answered)');
    cmp_ok(scalar keys %pids, '<=', 3, 'never more than max_servers');
    kill 'TERM', $master;
    waitpid $master, 0;
};

subtest 'activity_timeout kills a stuck handler, replaced once' => sub {
    my $log = File::Temp->new;
    my ($master, $port) = start_master(start_servers => 1, min_servers => 1, max_servers => 4, activity_timeout => 0.5,
        spawn_callback => sub {
            my ($wpid, $mgr) = @_;
            open my $fh, '>>', $log->filename or die;
            syswrite $fh, "$wpid\n";
            syswrite $w_port, ($mgr->sockaddrs)[0][1] . "\n" if $w_port && !$told_port++;
        },
        request_callback => sub {
            my ($req) = @_;
            1 while $req->path eq '/stuck';    # a handler that never returns
            $req->respond({ code => 200, body => "$$" });
        });
    my ($code1, $first) = get($port, '/');
    is($code1, 200, 'a worker answers');
    my @r = get($port, '/stuck');
    is(scalar @r, 0, 'the stuck request gets no answer: its worker was killed');
    my ($code2, $second) = get($port, '/');
    is($code2, 200, 'a new worker answers');
    isnt($second, $first, 'another process');
    sleep 1.5;    # several checks
    open my $fh, '<', $log->filename or die;
    my @spawned = <$fh>;
    is(scalar @spawned, 2, 'one worker at start, one replacement: the kill is not also counted as a crash');
    kill 'TERM', $master;
    waitpid $master, 0;
};

subtest 'Server::Starter: the listening socket comes from SERVER_STARTER_PORT' => sub {
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 128, ReuseAddr => 1) or die $!;
    my $sport = $listen->sockport;
    local $ENV{SERVER_STARTER_PORT} = "127.0.0.1:$sport=" . fileno($listen);
    my ($master, $port) = start_master(request_callback => $hello, start_servers => 1, min_servers => 1,
        server => { locations => [] });
    is($port, $sport, 'the manager reports the inherited socket');
    my ($code, $body) = get($sport, '/');
    is($code, 200, 'and its workers serve on it');
    kill 'TERM', $master;
    waitpid $master, 0;
    is($? >> 8, 0, 'a clean stop');
};

sub sum { my $s = 0; $s += $_ for @_; $s }

subtest 'a unix socket location: bound by the master, served by the workers, removed at the end' => sub {
    require IO::Socket::UNIX;
    my $dir = File::Temp::tempdir('uvent-mgr-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $path = "$dir/m.sock";
    {
        my $stale = IO::Socket::UNIX->new(Local => $path, Listen => 1) or die "stale socket: $!";
        close $stale;    # its file stays: a stale socket the master replaces
    }
    my ($pid, $told) = start_master(server => { locations => [ { path => $path } ] },
        request_callback => sub { $_[0]->respond({ code => 200, body => "$$ " . $_[0]->peer_port }) },
        start_servers => 2, min_servers => 2, max_servers => 2);
    is($told, $path, 'sockaddrs: [ path ]');
    my ($ok, %pids) = (0);
    for (1 .. 20) {
        my $s = IO::Socket::UNIX->new(Peer => $path) or next;
        print $s "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        local $/;
        my $got = <$s> // '';
        $ok++, $pids{$1}++ if $got =~ m{\AHTTP/1\.1 200 .*\r\n\r\n(\d+) 0\z}s;
    }
    is($ok, 20, 'every request over the unix socket answered by a worker (peer_port 0)');
    ok(!exists $pids{$pid}, 'never by the master');
    kill 'TERM', $pid;
    waitpid $pid, 0;
    is($? >> 8, 0, 'TERM stops it cleanly');
    ok(!-e $path, 'the master removed its socket file');

    # a file in the way is refused before anything is forked
    { open my $f, '>', $path or die; close $f }
    my $m = Uvent::HTTP::Manager->new({ server => { locations => [ { path => $path } ] }, request_callback => sub {} });
    eval { $m->run };
    like($@, qr{cannot listen on unix socket \Q$path\E: a file that is not a socket is in the way}, 'a plain file at the path croaks');
    ok(-f $path, 'and is left alone');
    $m = Uvent::HTTP::Manager->new({ server => { locations => [ { path => "$path.2", port => 80 } ] }, request_callback => sub {} });
    eval { $m->run };
    like($@, qr{a location has a path \(a unix socket\) and 'port'}, 'path with port croaks');
};

done_testing;
