package Uvent::Test::Util;
# Helpers shared by the Perl tests: running a loop until a condition holds,
# one request with its outcome recorded, and a raw select()-driven HTTP
# server in a forked child for behaviour Uvent::Test::Server cannot produce.
use strict;
use warnings;
use Exporter 'import';
use Test::More ();
use Time::HiRes qw(time sleep);
use POSIX ();
use IO::Socket::INET;
use IO::Select;
use File::Temp qw(tempfile);
use Uvent;

our @EXPORT_OK = qw(extended_testing run_until run_for wait_all start_req fetch ecode body hdr response_ok rss_kb raw_server raw_server_main raw_stop raw_events in_child shape_ok);

BEGIN { *ok = \&Test::More::ok; *is = \&Test::More::is; *fail = \&Test::More::fail; *diag = \&Test::More::diag; }

# Stress and soak runs are brief by default (CPAN installs) and full length
# under EXTENDED_TESTING or RELEASE_TESTING (.ci/test sets EXTENDED_TESTING).
sub extended_testing { $ENV{EXTENDED_TESTING} || $ENV{RELEASE_TESTING} ? 1 : 0 }

sub run_until {
    my ($loop, $cond, $limit) = @_;
    my $deadline = time + ($limit // 10);
    my $t = Uvent::Timer->new($loop);
    $t->start(0.005, 0.005, sub { $loop->stop if $cond->() || time > $deadline });
    my $ok = eval { $loop->run; 1 };
    my $e  = $@;
    $t->stop;    # also when a callback died: a stale poll timer would stop later runs
    die $e unless $ok;
    return $cond->() ? 1 : 0;
}

sub run_for {
    my ($loop, $secs) = @_;
    my $t = Uvent::Timer->new($loop);
    $t->start($secs, 0, sub { $loop->stop });
    my $ok = eval { $loop->run; 1 };
    my $e  = $@;
    $t->stop;
    die $e unless $ok;
}

sub wait_all {
    my ($loop, @r) = @_;
    return run_until($loop, sub { !grep { !$_->{calls} } @r }, 10);
}

# Start a request; the returned hash collects the callback's arguments and
# counts its calls (a second call is a failure at once). `inside` records
# whether the callback ran inside the request() call itself.
our $IN_REQUEST = 0;
sub start_req {
    my ($pool, %p) = @_;
    $p{timeout} //= 5;
    my $r = { calls => 0, uri => $p{uri}, started => time };
    local $IN_REQUEST = 1;
    my $ret = $pool->request({ %p, response_callback => sub {
        my ($req, $resp, $err) = @_;
        fail("callback for $r->{uri} called more than once") if ++$r->{calls} > 1;
        @$r{qw(request response error at inside)} = ($req, $resp, $err, time, $IN_REQUEST);
    } });
    $r->{queued} = defined $ret ? 0 : 1;
    $r->{client_class} = ref $ret;
    return $r;
}

sub fetch {
    my ($loop, $pool, %p) = @_;
    my $r = start_req($pool, %p);
    wait_all($loop, $r);
    is($r->{calls}, 1, "exactly one callback for $p{uri}");
    return $r;
}

sub ecode { my $r = shift; $r->{error} ? $r->{error}->code : 'none' }

sub body  { my $r = shift; $r->{response} ? $r->{response}->body : undef }

sub hdr   { my ($r, $h) = @_; $r->{response} ? $r->{response}->header($h) : undef }

sub response_ok {
    my ($r, $name) = @_;
    ok(!$r->{error}, "$name: no error") or diag("error: $r->{error}");
    is($r->{response} && $r->{response}->code, 200, "$name: code 200");
}

sub rss_kb {
    open my $fh, '<', '/proc/self/status' or return undef;
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+)/ }
    return undef;
}

sub raw_server {
    my (%o) = @_;
    my $lsock = IO::Socket::INET->new(
        LocalAddr => $o{host} // '127.0.0.1', LocalPort => 0, Proto => 'tcp',
        Listen => $o{backlog} // 16, ReuseAddr => 1,
    ) or die "raw_server: cannot listen: $@";
    my (undef, $file) = tempfile(UNLINK => 1);
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        $SIG{ALRM} = sub { POSIX::_exit(0) };
        alarm 30;    # never outlive the test
        eval { raw_server_main($lsock, $file, \%o) };
        # A forked child must leave with POSIX::_exit: a normal exit would run
        # the parent's END blocks and destructors here (Test::More, the test
        # servers, inherited Uvent loops and pools), and an exiting child that
        # inherited libuv's thread pool can crash in libuv's at-exit cleanup
        # (libuv issue 4443).
        POSIX::_exit(0);
    }
    my $port = $lsock->sockport;
    close $lsock;
    return { pid => $pid, port => $port, file => $file };
}

sub raw_server_main {
    my ($lsock, $file, $o) = @_;
    my $may_accept = $o->{may_accept} || sub { 1 };
    my $respond    = $o->{respond}    || sub { (0, [], 0) };
    my (%c, $first_at);
    my $serial = 0;
    my $note = sub {
        open my $fh, '>>', $file or return;
        syswrite $fh, join(' ', @_, sprintf('%.6f', time)) . "\n";
        close $fh;
    };
    while (1) {
        my $now = time;
        my $accepting = $may_accept->($now, $serial, $first_at);
        my $rin = '';
        vec($rin, fileno $lsock, 1) = 1 if $accepting;
        vec($rin, $_, 1) = 1 for keys %c;
        my $wait = $accepting ? 0.5 : 0.01;
        for my $st (values %c) {
            for my $out (@{ $st->{out} }) {
                $wait = $out->[0] - $now if $out->[0] - $now < $wait;
            }
        }
        $wait = 0 if $wait < 0;
        my $n = select(my $rout = $rin, undef, undef, $wait);
        if ($n && $n > 0) {
            if ($accepting && vec($rout, fileno $lsock, 1)) {
                if (my $s = $lsock->accept) {
                    $serial++;
                    $first_at //= time;
                    $c{ fileno $s } = { sock => $s, conn => $serial, buf => '', seq => 0, out => [] };
                    $note->('conn', $serial);
                }
            }
            for my $fd (keys %c) {
                next unless vec($rout, $fd, 1);
                my $st = $c{$fd};
                my $r = sysread $st->{sock}, $st->{buf}, 65536, length $st->{buf};
                if (!$r) {
                    $note->('eof', $st->{conn});
                    close $st->{sock};
                    delete $c{$fd};
                    next;
                }
                while ((my $i = index $st->{buf}, "\r\n\r\n") >= 0) {
                    my $head = substr $st->{buf}, 0, $i + 4, '';
                    my ($target) = $head =~ /\A\S+ (\S+)/;
                    my ($cl) = $head =~ /^content-length:[ \t]*(\d+)/mi;
                    substr($st->{buf}, 0, $cl, '') if $cl;    # small bodies only
                    $st->{seq}++;
                    $note->('req', $st->{conn}, $st->{seq}, $target // '?');
                    my ($delay, $hdrs, $close) = $respond->($st->{conn}, $st->{seq}, $target // '');
                    my $resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Conn: $st->{conn}\r\nX-Seq: $st->{seq}\r\n"
                        . join('', map {"$_\r\n"} @{ $hdrs || [] })
                        . ($close ? "Connection: close\r\n" : '') . "\r\nok";
                    my $due = time + ($delay || 0);
                    $due = $st->{out}[-1][0] if @{ $st->{out} } && $st->{out}[-1][0] > $due;
                    push @{ $st->{out} }, [ $due, $resp, $close ];
                }
            }
        }
        $now = time;
        for my $fd (keys %c) {
            my $st = $c{$fd};
            while (@{ $st->{out} } && $st->{out}[0][0] <= $now) {
                my $out = shift @{ $st->{out} };
                syswrite $st->{sock}, $out->[1];
                if ($out->[2]) {
                    $note->('close', $st->{conn});
                    close $st->{sock};
                    delete $c{$fd};
                    last;
                }
            }
        }
    }
}

sub raw_stop {
    my $rs = shift;
    return unless $rs && $rs->{pid};
    kill 'KILL', $rs->{pid};
    waitpid($rs->{pid}, 0);
    delete $rs->{pid};
}

sub raw_events {
    my $rs = shift;
    open my $fh, '<', $rs->{file} or return [];
    my @ev;
    while (my $l = <$fh>) {
        next unless $l =~ /\n\z/;
        chomp $l;
        push @ev, [ split / /, $l ];
    }
    return \@ev;
}

# Run $code in a forked child and return (wait status, what it returned as
# a string): a crash (a use-after-free, say) fails one test instead of
# killing the test file.
sub in_child {
    my ($code) = @_;
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $r;
        my $out = eval { $code->() } // "died: $@";
        print {$w} $out;
        close $w;
        POSIX::_exit(0);    # no END blocks, no test server teardown
    }
    close $w;
    local $/;
    my $out = <$r> // '';
    close $r;
    waitpid $pid, 0;
    return ($?, $out);
}

# One shape in a child: it exits cleanly and returns $want.
sub shape_ok {
    my ($name, $code, $want) = @_;
    my ($status, $out) = in_child($code);
    is($status, 0, "$name: no signal, clean exit") or diag("child exit status $status (signal " . ($status & 127) . ")");
    is($out, $want, "$name: as expected");
}

1;
