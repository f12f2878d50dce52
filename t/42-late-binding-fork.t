use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use IO::Handle;
use File::Temp qw(tempfile);
use JSON::PP ();
use Errno ();
use Socket qw(PF_INET SOCK_STREAM pack_sockaddr_in inet_aton);
use POSIX ();
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Util qw(run_until run_for wait_all fetch ecode body hdr response_ok raw_server raw_server_main raw_stop raw_events start_req);

# Late binding (a request waiting for its new connection takes one that
# becomes idle first) and fork safety (a child drops inherited connections
# and requests without touching them, then uses the pool normally).
#
# Every forked child here ends with POSIX::_exit: a normal exit in a child
# would run the parent's END blocks and destructors (Test::More's summary,
# the test servers, inherited loops and pools), and a child that inherited
# libuv's thread pool can crash in libuv's at-exit cleanup (libuv issue 4443).

my @warnings;
$SIG{__WARN__} = sub { push @warnings, $_[0] };

# ---- helpers: every loop run is bounded by a deadline ----

# The event lines of a raw server, each split into fields.

my $loop = Uvent::Loop->new;

# A non-blocking connect to 127.0.0.1:$port. Returns the socket.
sub nb_connect {
    my $port = shift;
    socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
    $s->blocking(0);
    connect($s, pack_sockaddr_in($port, inet_aton('127.0.0.1')))
        or $!{EINPROGRESS} or die "connect: $!";
    return $s;
}

# Did the connect of $s complete within $secs seconds?
sub connected_within {
    my ($s, $secs) = @_;
    my $w = '';
    vec($w, fileno $s, 1) = 1;
    my $n = select(undef, my $wout = $w, undef, $secs);
    return $n && $n > 0 ? 1 : 0;
}

# Does a full accept queue (Listen => 1, two connections nobody accepts) make
# the next connect hang on this kernel?
sub accept_queue_blocks {
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1, Proto => 'tcp')
        or return (0, "listen: $@");
    my $port = $l->sockport;
    my @fill = map { nb_connect($port) } 1 .. 2;
    for (@fill) {
        return (0, 'the filler connections did not connect') unless connected_within($_, 0.5);
    }
    my $probe = nb_connect($port);
    my $hung = !connected_within($probe, 0.5);
    close $_ for $probe, @fill;
    close $l;
    return ($hung, $hung ? '' : 'a connect to a full accept queue completed at once');
}

subtest 'late binding: a request waiting for its connect takes a connection that became idle' => sub {
    my ($blocks, $why) = accept_queue_blocks();
    plan skip_all => "cannot make a connect hang on this kernel ($why)" unless $blocks;

    # Accepts one connection and answers its requests after 0.3 s each; then
    # accepts nothing for 0.8 s; then accepts and answers everything at once.
    # B is given connection 1 when A finishes (at 0.3 s); the SYN of B's own
    # connection, dropped while the accept queue is full, is sent again by
    # the kernel after 1 s (or, if that is missed, 3 s) and then gets in.
    my $rs = raw_server(
        backlog    => 1,
        may_accept => sub { my ($now, $n, $first) = @_; $n == 0 || $now - $first >= 0.8 },
        respond    => sub { my ($conn) = @_; ($conn == 1 ? 0.3 : 0, [], 0) },
    );
    my $base = "http://127.0.0.1:$rs->{port}";
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 2 }, $loop);
    my $ra = start_req($pool, uri => "$base/a", timeout => 10);
    ok(run_until($loop, sub { grep { $_->[0] eq 'conn' } @{ raw_events($rs) } }, 2), 'server accepted connection 1');
    run_for($loop, 0.05);
    # fill the accept queue: further SYNs are dropped, connect() hangs
    my @fill = map { nb_connect($rs->{port}) } 1 .. 2;
    ok(connected_within($_, 1), 'filler connection in the accept queue') for @fill;
    my $probe = nb_connect($rs->{port});
    ok(!connected_within($probe, 0.05), 'a plain connect now hangs');
    close $probe;
    my $rb = start_req($pool, uri => "$base/b", timeout => 10);
    is($pool->size, 2, 'a second connection is being opened for B');
    ok(wait_all($loop, $ra, $rb), 'A and B called back');
    response_ok($ra, 'A');
    response_ok($rb, 'B');
    is(hdr($ra, 'X-Conn'), 1, 'A on connection 1');
    is(hdr($rb, 'X-Conn'), 1, 'B on connection 1 too (late binding)');
    is(hdr($rb, 'X-Seq'), 2, 'as its second request');
    cmp_ok($rb->{at} - $rb->{started}, '<', 1.0, 'B completed in < 1 s');
    cmp_ok($rb->{at}, '>=', $ra->{at}, 'after A');
    is($pool->stats->{retried}, 0, 'no retry');
    is($pool->stats->{errors}{connect_timeout}, 0, 'no connect_timeout');

    # the new connection comes up later (the server accepts the two filler
    # connections as 2 and 3, then ours as 4) and joins the idle set
    my $t_b = $rb->{started};
    my $conns = sub { scalar grep { $_->[0] eq 'conn' } @{ raw_events($rs) } };
    ok(run_until($loop, sub { $conns->() >= 4 }, 8), 'the server accepted the pool\'s second connection')
        or diag(explain raw_events($rs));
    my $up = time - $t_b;
    diag(sprintf 'the second connection was accepted %.2f s after B was submitted', $up) if $ENV{TEST_VERBOSE};
    cmp_ok($up, '<', 7, 'within a few seconds');
    run_for($loop, 0.1);
    is($pool->size, 2, 'pool size 2');
    is($pool->nbusy, 0, 'nothing busy');
    is($pool->stats->{connections_opened}, 2, 'stats connections_opened 2');
    is($pool->stats->{connections_closed}, 0, 'nothing closed');
    my @reqs = grep { $_->[0] eq 'req' } @{ raw_events($rs) };
    is(scalar @reqs, 2, 'the server got 2 requests so far (nothing was sent on the new connection)');

    my $rc = start_req($pool, uri => "$base/c", timeout => 5);
    ok(!$rc->{queued}, 'C starts at once');
    ok(wait_all($loop, $rc), 'C called back');
    response_ok($rc, 'C');
    is(hdr($rc, 'X-Conn'), 4, 'C on the connection that came up late (the most recently idle one)');
    is(hdr($rc, 'X-Seq'), 1, 'its first request');
    cmp_ok($rc->{at} - $rc->{started}, '<', 0.25, 'answered at once');
    is($pool->stats->{connections_opened}, 2, 'still 2 connections opened');
    close $_ for @fill;
    raw_stop($rs);
};

# ---- fork ----

# Fork; the child runs $code (which returns a hashref), sends it to the
# parent as JSON through a pipe and leaves with POSIX::_exit. The parent
# gets the hashref (or { error => ... }).
sub in_child {
    my ($code) = @_;
    pipe(my $rd, my $wr) or die "pipe: $!";
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        close $rd;
        alarm 15;    # watchdog: SIGALRM kills the child
        my @w;
        local $SIG{__WARN__} = sub { push @w, $_[0] };
        my $res = eval { $code->() } // { error => "died: $@" };
        $res->{warnings} = \@w;
        my $json = eval { JSON::PP->new->canonical->encode($res) } // '{"error":"encode failed"}';
        syswrite $wr, $json;
        close $wr;
        POSIX::_exit(0);    # never exit(): see the comment at the top
    }
    close $wr;
    my $data = '';
    my $deadline = time + 20;
    while (time < $deadline) {
        my $r = '';
        vec($r, fileno $rd, 1) = 1;
        my $n = select(my $rout = $r, undef, undef, $deadline - time);
        next if !defined $n || $n < 0;
        last unless $n;
        my $got = sysread $rd, $data, 65536, length $data;
        last unless $got;
    }
    close $rd;
    my $reaped = 0;
    for (1 .. 200) {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) { $reaped = 1; last }
        sleep 0.01;
    }
    unless ($reaped) { kill 'KILL', $pid; waitpid($pid, 0) }
    my $status = $?;
    my $res = eval { JSON::PP->new->decode($data) } || { error => "no report from the child (status $status)" };
    $res->{status} = $status;
    return $res;
}

sub log_conns { my ($srv, $re) = @_; [ map { $_->{conn} } grep { $_->{target} =~ $re } @{ $srv->log } ] }

sub req_header {
    my ($entry, $name) = @_;
    my ($h) = grep { lc $_->[0] eq lc $name } @{ $entry->{headers} || [] };
    return $h ? $h->[1] : undef;
}

subtest 'fork: the child drops inherited connections and requests' => sub {
    my $srv = Uvent::Test::Server->new;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 4 }, $loop);
    # two connections: at fork one is idle, the other runs a request
    my @pre = map { start_req($pool, uri => $srv->url("/ok?before=$_")) } 1 .. 2;
    ok(wait_all($loop, @pre), 'two requests before the fork');
    response_ok($_, $_->{uri}) for @pre;
    is($pool->size, 2, 'two idle connections');
    my $inflight = start_req($pool, uri => $srv->url('/sleep?s=0.5'), timeout => 10);
    ok(run_until($loop, sub { $srv->requests >= 3 }, 3), 'the in-flight request reached the server');
    my ($sleep_entry) = grep { $_->{target} eq '/sleep?s=0.5' } @{ $srv->log };
    my $busy_conn = $sleep_entry ? $sleep_entry->{conn} : -1;
    my ($idle_conn) = grep { $_ ne $busy_conn } map { hdr($_, 'X-Conn') } @pre;
    ok(defined $idle_conn, 'one connection idle, one busy');
    is($pool->size, 2, 'size 2 at fork');
    is($pool->nbusy, 1, 'nbusy 1 at fork');

    my $child = in_child(sub {
        my %res;
        $res{size} = $pool->size;
        $res{nbusy} = $pool->nbusy;
        $res{nqueued} = $pool->nqueued;
        my $r = start_req($pool, uri => $srv->url('/ok?from=child'), headers => [ 'X-From' => 'child' ]);
        run_until($loop, sub { $r->{calls} }, 5);
        $res{calls} = $r->{calls};
        $res{error} = $r->{error} ? "$r->{error}" : undef;
        $res{code} = $r->{response} ? $r->{response}->code : undef;
        $res{xconn} = hdr($r, 'X-Conn');
        # long enough for the parent's /sleep to have been answered
        run_for($loop, 0.7);
        $res{inflight_calls} = $inflight->{calls};
        $res{size_end} = $pool->size;
        my $r2 = start_req($pool, uri => $srv->url('/ok?from=child2'), headers => [ 'X-From' => 'child' ]);
        run_until($loop, sub { $r2->{calls} }, 5);
        $res{xconn2} = hdr($r2, 'X-Conn');
        $res{error2} = $r2->{error} ? "$r2->{error}" : undef;
        return \%res;
    });
    is($child->{status}, 0, 'child exited with status 0');
    is($child->{error}, undef, 'child: its request succeeded') or diag(explain $child);
    is($child->{size}, 0, 'child: $pool->size is 0 after fork (inherited connections dropped)');
    is($child->{nbusy}, 0, 'child: nbusy 0');
    is($child->{nqueued}, 0, 'child: nqueued 0');
    is($child->{calls}, 1, 'child: one callback');
    is($child->{code}, 200, 'child: code 200');
    ok(defined $child->{xconn} && $child->{xconn} ne $idle_conn && $child->{xconn} ne $busy_conn,
        'child: on a new server connection');
    is($child->{inflight_calls}, 0, 'child: the inherited in-flight request did not call back there');
    is($child->{size_end}, 1, 'child: its own connection is kept alive');
    is($child->{xconn2}, $child->{xconn}, 'child: and reused');
    is($child->{error2}, undef, 'child: second request ok');
    is_deeply($child->{warnings}, [], 'child: no warnings');

    # the parent carries on as if nothing happened (the in-flight response
    # has been waiting in the socket meanwhile)
    my $r2 = start_req($pool, uri => $srv->url('/ok?after=1'));
    ok(wait_all($loop, $inflight, $r2), 'parent: in-flight request and a new one called back');
    response_ok($inflight, 'parent: in-flight request');
    is($inflight->{calls}, 1, 'parent: exactly one callback for it');
    is(hdr($inflight, 'X-Conn'), $busy_conn, 'parent: answered on its connection');
    response_ok($r2, 'parent: request after the fork');
    is(hdr($r2, 'X-Conn'), $idle_conn, 'parent: reused the connection that was idle at fork');
    my $r3 = fetch($loop, $pool, uri => $srv->url('/ok?after=2'));
    response_ok($r3, 'parent: one more request');
    ok((hdr($r3, 'X-Conn') // '') eq $idle_conn || (hdr($r3, 'X-Conn') // '') eq $busy_conn,
        'parent: on one of its two connections');
    run_for($loop, 0.1);
    is($inflight->{calls}, 1, 'parent: still exactly one callback for the in-flight request');
    my $st = $pool->stats;
    is($st->{idle_closed_peer}, 0, 'parent: no connection was found closed');
    is($st->{retried}, 0, 'parent: no retry');
    is($st->{connections_opened}, 2, 'parent: no new connection');
    is($pool->size, 2, 'parent: both connections still open');

    my $log = $srv->log;
    my @child = grep { $_->{target} =~ /from=child/ } @$log;
    is(scalar @child, 2, 'server: two requests from the child');
    is(scalar(grep { (req_header($_, 'X-From') // '') eq 'child' } @child), 2, 'carrying X-From: child');
    is(scalar(grep { $_->{conn} eq $idle_conn || $_->{conn} eq $busy_conn } @child), 0,
        'none on a connection of the parent');
    is(scalar(grep { (req_header($_, 'X-From') // '') eq 'child' } grep { $_->{target} !~ /from=child/ } @$log), 0,
        'nothing else from the child');
    is(scalar(grep { $_->{target} eq '/sleep?s=0.5' } @$log), 1, 'the in-flight request was sent once');
    is(scalar(grep { $_->{conn} eq $busy_conn } @$log), scalar(grep { ($_->{conn} eq $busy_conn) && $_->{target} !~ /child/ } @$log),
        'the busy connection carried only the parent\'s requests');
    $srv->stop;
};

subtest 'fork: $loop->run in the child drops inherited connections too' => sub {
    my $srv = Uvent::Test::Server->new;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r1 = fetch($loop, $pool, uri => $srv->url('/ok'));
    response_ok($r1, 'request before the fork');
    my $child = in_child(sub {
        my %res;
        run_for($loop, 0.2);    # the loop first, the pool untouched
        $res{size} = $pool->size;
        my $r = start_req($pool, uri => $srv->url('/ok?from=child'));
        run_until($loop, sub { $r->{calls} }, 5);
        $res{error} = $r->{error} ? "$r->{error}" : undef;
        $res{xconn} = hdr($r, 'X-Conn');
        return \%res;
    });
    is($child->{status}, 0, 'child exited with status 0');
    is($child->{size}, 0, 'child: size 0 after running the loop');
    is($child->{error}, undef, 'child: request ok');
    isnt($child->{xconn}, hdr($r1, 'X-Conn'), 'child: on a new connection');
    is_deeply($child->{warnings}, [], 'child: no warnings');
    my $r2 = fetch($loop, $pool, uri => $srv->url('/ok?after=1'));
    response_ok($r2, 'parent: next request');
    is(hdr($r2, 'X-Conn'), hdr($r1, 'X-Conn'), 'parent: reused its connection');
    is($pool->stats->{idle_closed_peer}, 0, 'parent: the connection was never found closed');
    $srv->stop;
};

subtest 'fork: Uvent::HTTP::Pool->instance in the child' => sub {
    my $srv  = Uvent::Test::Server->new;
    my $dloop = Uvent::Loop->default;
    my $inst = Uvent::HTTP::Pool->instance;
    my $r1 = fetch($dloop, $inst, uri => $srv->url('/ok?inst=1'));
    response_ok($r1, 'instance request before the fork');
    is($inst->size, 1, 'instance pool: one idle connection');
    my $child = in_child(sub {
        my %res;
        my $p = Uvent::HTTP::Pool->instance;
        $res{same} = $p == $inst ? 1 : 0;
        $res{size} = $p->size;
        my $r = start_req($p, uri => $srv->url('/ok?from=child'));
        run_until($dloop, sub { $r->{calls} }, 5);
        $res{error} = $r->{error} ? "$r->{error}" : undef;
        $res{xconn} = hdr($r, 'X-Conn');
        $res{size_end} = $p->size;
        return \%res;
    });
    is($child->{status}, 0, 'child exited with status 0');
    is($child->{same}, 1, 'child: the same instance object');
    is($child->{size}, 0, 'child: size 0 after fork');
    is($child->{error}, undef, 'child: request ok');
    isnt($child->{xconn}, hdr($r1, 'X-Conn'), 'child: on a new connection');
    is($child->{size_end}, 1, 'child: its connection is kept');
    is_deeply($child->{warnings}, [], 'child: no warnings');
    my $r2 = fetch($dloop, $inst, uri => $srv->url('/ok?after=1'));
    response_ok($r2, 'parent: next request');
    is(hdr($r2, 'X-Conn'), hdr($r1, 'X-Conn'), 'parent: reused its connection');
    $srv->stop;
};

is_deeply(\@warnings, [], 'no warnings') or diag(explain \@warnings);
done_testing;
