use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use File::Temp qw(tempfile);
use Digest::MD5 qw(md5_hex);
use POSIX qw(WNOHANG);
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Util qw(run_until run_for wait_all response_ok start_req);

# Safe retry of a request whose reused connection the server closed before
# answering, and the pre-write check on connections picked from the idle set.

my @warnings;
$SIG{__WARN__} = sub { push @warnings, $_[0] };

# ---- helpers: every loop run is bounded by a deadline ----

# One request to completion.
sub fetch {
    my ($loop, $pool, %p) = @_;
    my $r = start_req($pool, %p);
    wait_all($loop, $r);
    is($r->{calls}, 1, "exactly one callback for " . ($p{method} // 'GET') . " $p{uri}");
    return $r;
}

sub ecode   { my $r = shift; $r->{error} ? $r->{error}->code : 'none' }
sub emsg    { my $r = shift; $r->{error} ? $r->{error}->message : '' }
sub body    { my $r = shift; $r->{response} ? $r->{response}->body : undef }
sub hdr     { my ($r, $h) = @_; $r->{response} ? $r->{response}->header($h) : undef }
sub retried { my $r = shift; $r->{response} ? ($r->{response}->retried ? 1 : 0) : undef }

# Server log entries for one exact target.
sub log_for {
    my ($srv, $target) = @_;
    return [ grep { $_->{target} eq $target } @{ $srv->log } ];
}

sub req_header {
    my ($entry, $name) = @_;
    my ($h) = grep { lc $_->[0] eq lc $name } @{ $entry->{headers} || [] };
    return $h ? $h->[1] : undef;
}

my $srv  = Uvent::Test::Server->new;
my $loop = Uvent::Loop->new;

# The first request of a pool to /drop-second: answered, kept alive, and the
# server will close that connection on the next request without answering.
sub prime {
    my ($pool, $tag) = @_;
    my $r = fetch($loop, $pool, uri => $srv->url("/drop-second?prime=$tag"));
    response_ok($r, "priming request ($tag)");
    is($pool->size, 1, "kept alive after the priming request ($tag)");
    return $r;
}

subtest '(a) GET on a connection the server drops is retried once on a new connection' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r1 = prime($pool, 'a');
    ok(!retried($r1), 'first response: retried false');
    my $r2 = fetch($loop, $pool, uri => $srv->url('/drop-second?n=2'));
    response_ok($r2, 'second GET');
    is(body($r2), 'ok', 'body');
    is(retried($r2), 1, 'response->retried is true');
    isnt(hdr($r2, 'X-Conn'), hdr($r1, 'X-Conn'), 'answered on another connection');
    is(hdr($r2, 'X-Seq'), 1, 'as the first request of that connection');
    my $st = $pool->stats;
    is($st->{retried}, 1, 'stats retried 1');
    is($st->{requests}, 2, 'stats requests 2 (a retry is not a new request)');
    is($st->{responses}, 2, 'stats responses 2');
    is($st->{errors}{connection_closed}, 0, 'no connection_closed error counted');
    is($st->{connections_opened}, 2, 'two connections opened');
    is($st->{idle_closed_peer}, 0, 'idle_closed_peer 0 (the request had been written)');
    my $log = log_for($srv, '/drop-second?n=2');
    is(scalar @$log, 2, 'server log: the GET arrived twice');
    is_deeply([ map { $_->{method} } @$log ], [ 'GET', 'GET' ], 'both times as GET');
    is($log->[0] && $log->[0]{conn}, hdr($r1, 'X-Conn'), 'first on connection 1 (dropped there)');
    is($log->[0] && $log->[0]{seq}, 2, 'as its second request');
    is($log->[1] && $log->[1]{conn}, hdr($r2, 'X-Conn'), 'then on connection 2 (answered)');
    is($srv->connections, 2, 'server accepted two connections');
    run_for($loop, 0.1);
    is($r2->{calls}, 1, 'still exactly one callback a little later');
};

subtest '(b) POST is not retried' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    prime($pool, 'b');
    my $r = fetch($loop, $pool, uri => $srv->url('/drop-second?post=1'), method => 'POST', body => 'x');
    is(ecode($r), 'connection_closed', 'error connection_closed');
    is(retried($r), 0, 'response->retried false');
    unlike(emsg($r), qr/after a retry/, 'message does not mention a retry');
    my $st = $pool->stats;
    is($st->{retried}, 0, 'stats retried 0');
    is($st->{errors}{connection_closed}, 1, 'stats errors{connection_closed} 1');
    my $log = log_for($srv, '/drop-second?post=1');
    is(scalar @$log, 1, 'the POST appears once in the server log');
    is($log->[0] && $log->[0]{method}, 'POST', 'as a POST');
    is($log->[0] && $log->[0]{seq}, 2, 'the second request of the connection');
    is($srv->connections, 1, 'no second connection was opened for it');
    ok(run_until($loop, sub { $pool->size == 0 }, 2), 'the dropped connection is gone');
};

subtest '(c) POST with an Idempotency-Key header is retried' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    prime($pool, 'c');
    my $r = fetch($loop, $pool, uri => $srv->url('/drop-second?key=1'), method => 'POST', body => 'x',
        headers => [ 'Idempotency-Key' => 'k1' ]);
    response_ok($r, 'POST with Idempotency-Key');
    is(retried($r), 1, 'response->retried true');
    is($pool->stats->{retried}, 1, 'stats retried 1');
    my $log = log_for($srv, '/drop-second?key=1');
    is(scalar @$log, 2, 'server log shows the POST twice');
    is(scalar(grep { $_->{method} eq 'POST' } @$log), 2, 'both as POST');
    is(scalar(grep { (req_header($_, 'Idempotency-Key') // '') eq 'k1' } @$log), 2, 'both with Idempotency-Key: k1');
    is(scalar(grep { $_->{body_length} == 1 && $_->{body_md5} eq md5_hex('x') } @$log), 2, 'both with the body "x"');
    isnt($log->[0]{conn}, $log->[1]{conn}, 'on two connections') if @$log == 2;
};

subtest '(d) POST with idempotent => 1 is retried' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    prime($pool, 'd');
    my $r = fetch($loop, $pool, uri => $srv->url('/drop-second?idem=1'), method => 'POST', body => 'x',
        idempotent => 1);
    response_ok($r, 'POST with idempotent => 1');
    is(retried($r), 1, 'response->retried true');
    is($pool->stats->{retried}, 1, 'stats retried 1');
    my $log = log_for($srv, '/drop-second?idem=1');
    is(scalar @$log, 2, 'server log shows the POST twice');
    is(scalar(grep { $_->{body_md5} eq md5_hex('x') } @$log), 2, 'with its body both times');
};

subtest 'idempotent methods are retried, PATCH is not' => sub {
    my %expect = (HEAD => 1, OPTIONS => 1, TRACE => 1, PUT => 1, DELETE => 1, PATCH => 0);
    for my $m (sort keys %expect) {
        $srv->reset_stats;
        my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
        prime($pool, $m);
        my $target = "/drop-second?m=$m";
        my $r = fetch($loop, $pool, uri => $srv->url($target), method => $m, ($m =~ /PUT|PATCH/ ? (body => 'y') : ()));
        my $log = log_for($srv, $target);
        if ($expect{$m}) {
            response_ok($r, "$m retried");
            is(retried($r), 1, "$m: response->retried true");
            is($pool->stats->{retried}, 1, "$m: stats retried 1");
            is(scalar @$log, 2, "$m: sent twice");
        } else {
            is(ecode($r), 'connection_closed', "$m: connection_closed");
            is(retried($r), 0, "$m: not retried");
            is($pool->stats->{retried}, 0, "$m: stats retried 0");
            is(scalar @$log, 1, "$m: sent once");
        }
    }
};

subtest '(e) GET with retry => 0 is not retried' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    prime($pool, 'e');
    my $r = fetch($loop, $pool, uri => $srv->url('/drop-second?noretry=1'), retry => 0);
    is(ecode($r), 'connection_closed', 'error connection_closed');
    is(retried($r), 0, 'response->retried false');
    is($pool->stats->{retried}, 0, 'stats retried 0');
    is(scalar @{ log_for($srv, '/drop-second?noretry=1') }, 1, 'the server saw it once');
    is($srv->connections, 1, 'one connection');

    # retry => 1 explicitly is the default behaviour
    my $p2 = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    prime($p2, 'e2');
    my $r2 = fetch($loop, $p2, uri => $srv->url('/drop-second?retry1=1'), retry => 1);
    response_ok($r2, 'retry => 1');
    is(retried($r2), 1, 'retried');
};

subtest '(f) a fresh connection that fails is not retried' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $srv->url('/drop'));
    is(ecode($r), 'connection_closed', 'error connection_closed');
    is(retried($r), 0, 'response->retried false');
    unlike(emsg($r), qr/after a retry/, 'message does not mention a retry');
    is($pool->stats->{retried}, 0, 'stats retried 0');
    is(scalar @{ log_for($srv, '/drop') }, 1, 'server log shows /drop once');
    is($srv->connections, 1, 'one connection');

    # also with an explicit idempotent => 1 and a reset instead of a close
    my $r2 = fetch($loop, $pool, uri => $srv->url('/reset'), idempotent => 1);
    is(ecode($r2), 'connection_closed', '/reset on a fresh connection: connection_closed');
    is(retried($r2), 0, 'not retried');
    is(scalar @{ log_for($srv, '/reset') }, 1, 'server log shows /reset once');
    is($pool->stats->{retried}, 0, 'stats retried still 0');
};

# A one-off raw server in a forked child. $code->($listen_socket, $report_file)
# runs there; the child appends one line per request to $report_file.
sub scripted_raw_server {
    my ($code) = @_;
    my $lsock = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', Listen => 16, ReuseAddr => 1,
    ) or die "listen: $@";
    my (undef, $file) = tempfile(UNLINK => 1);
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        $SIG{ALRM} = sub { POSIX::_exit(0) };
        alarm 20;    # never outlive the test
        eval { $code->($lsock, $file) };
        # A forked child must leave with POSIX::_exit: a normal exit would run
        # the parent's END blocks and destructors here (Test::More, the test
        # server, inherited Uvent loops) and can crash in libuv's at-exit
        # cleanup (libuv issue 4443).
        POSIX::_exit(0);
    }
    my $port = $lsock->sockport;
    close $lsock;
    return { pid => $pid, port => $port, file => $file };
}

sub raw_stop {
    my $rs = shift;
    kill 'KILL', $rs->{pid};
    waitpid($rs->{pid}, 0);
}

sub raw_lines {
    my $rs = shift;
    open my $fh, '<', $rs->{file} or return [];
    my @l = <$fh>;
    chomp @l;
    return \@l;
}

# Read one request head (these requests carry no body); undef on EOF.
sub raw_read_head {
    my $s = shift;
    my $buf = '';
    while (index($buf, "\r\n\r\n") < 0) {
        my $n = sysread $s, $buf, 4096, length $buf;
        return undef unless $n;
    }
    return $buf;
}

sub raw_note {
    my ($file, $line) = @_;
    open my $fh, '>>', $file or return;
    syswrite $fh, "$line\n";
    close $fh;
}

subtest '(g) never retried twice' => sub {
    # Answers the first request of its first connection (keep-alive), then
    # closes every later request or connection without answering.
    my $rs = scripted_raw_server(sub {
        my ($lsock, $file) = @_;
        my $conn = 0;
        while (my $c = $lsock->accept) {
            $conn++;
            my $first = $conn == 1;
            while (defined(my $head = raw_read_head($c))) {
                my ($target) = $head =~ /\A\S+ (\S+)/;
                raw_note($file, "$conn $target");
                if ($first) {
                    syswrite $c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Conn: $conn\r\n\r\nok";
                    $first = 0;
                    next;
                }
                last;
            }
            close $c;
        }
    });
    my $base = "http://127.0.0.1:$rs->{port}";
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r1 = fetch($loop, $pool, uri => "$base/first");
    response_ok($r1, 'first request');
    is($pool->size, 1, 'kept alive');

    my $r2 = fetch($loop, $pool, uri => "$base/second");
    is(ecode($r2), 'connection_closed', 'fails with connection_closed');
    like(emsg($r2), qr/after a retry/, 'message says it failed after a retry')
        or diag('message: ' . emsg($r2));
    like(emsg($r2), qr/after a retry on a new connection/, 'exact wording "after a retry on a new connection"');
    is(retried($r2), 1, 'response->retried true');
    my $st = $pool->stats;
    is($st->{retried}, 1, 'stats retried 1 (not 2)');
    is($st->{connections_opened}, 2, 'two connections opened in all');
    is($st->{errors}{connection_closed}, 1, 'one connection_closed error');

    my $ok = run_until($loop, sub { grep({ / \/second\z/ } @{ raw_lines($rs) }) >= 2 }, 2);
    run_for($loop, 0.3);    # a third attempt would have arrived by now
    my @attempts = grep { / \/second\z/ } @{ raw_lines($rs) };
    is(scalar @attempts, 2, 'exactly 2 attempts reached the server') or diag(explain raw_lines($rs));
    is_deeply(\@attempts, [ '1 /second', '2 /second' ], 'once on connection 1, once on connection 2');
    is($r2->{calls}, 1, 'one callback');
    raw_stop($rs);
};

subtest '(h) pre-write check: an idle connection closed while the loop was blocked' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r1 = fetch($loop, $pool, uri => $srv->url('/idle-close?after=0.1'));
    response_ok($r1, '/idle-close');
    is($pool->size, 1, 'kept alive');
    my $r2;
    my $timer = Uvent::Timer->once(0.05, sub {
        # the loop is blocked while the server closes the idle connection
        select(undef, undef, undef, 0.3);
        $r2 = start_req($pool, uri => $srv->url('/ok?prewrite=1'));
    }, $loop);
    ok(run_until($loop, sub { $r2 && $r2->{calls} }, 5), 'the request called back');
    response_ok($r2, 'GET /ok') if $r2;
    is($r2 && $r2->{calls}, 1, 'one callback');
    is($r2 && retried($r2), 0, 'response->retried false');
    isnt($r2 && hdr($r2, 'X-Conn'), hdr($r1, 'X-Conn'), 'answered on a new connection');
    my $st = $pool->stats;
    is($st->{retried}, 0, 'stats retried 0');
    is($st->{idle_closed_peer}, 1, 'stats idle_closed_peer 1');
    is($st->{errors}{connection_closed}, 0, 'no connection_closed error');
    is(scalar @{ log_for($srv, '/ok?prewrite=1') }, 1, 'server log shows exactly one /ok');
    is($srv->requests, 2, 'two requests in all');
};

subtest '(i) the request timeout still applies across a retry' => sub {
    $srv->reset_stats;
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    prime($pool, 'i');
    my $r = fetch($loop, $pool, uri => $srv->url('/sleep?s=2'), timeout => 0.5);
    is(ecode($r), 'timeout', 'error timeout');
    my $dt = $r->{at} - $r->{started};
    cmp_ok($dt, '>=', 0.45, 'not before 0.5 s after submit');
    cmp_ok($dt, '<', 1.5, 'soon after 0.5 s (the retry did not restart the clock)');
    is(retried($r), 1, 'response->retried true');
    like(emsg($r), qr/after a retry on a new connection/, 'message mentions the retry')
        or diag('message: ' . emsg($r));
    is($pool->stats->{retried}, 1, 'stats retried 1');
    is(scalar @{ log_for($srv, '/sleep?s=2') }, 2, 'the server got it twice');
    is($pool->stats->{errors}{timeout}, 1, 'stats errors{timeout} 1');
};

$srv->stop;
is_deeply(\@warnings, [], 'no warnings') or diag(explain \@warnings);
done_testing;
