package Uvent::Test::Server;

# Scriptable forked HTTP/1.1 test server for the Uvent test suite.
#
#   my $srv = Uvent::Test::Server->new(accept_delay => 0, idle_close => 30);
#   $srv->url('/echo'); $srv->connections; $srv->requests; $srv->log;
#   $srv->wait_for(sub { $_[0]->requests >= 2 }, 5); $srv->stop;
#
# Process layout: the test process binds the listener, then forks the server
# process (its own process group).  The server forks workers, each serving
# one connection at a time in a process of its own, and keeps one free
# worker waiting; workers take turns (an accept lock) to accept the next
# connection, so connections are accepted, numbered and delayed
# (accept_delay) one by one as by a single accept loop.  A connection that
# ends with its socket still open ends its worker, whose exit closes it,
# as when each connection had a process of its own.  (A fork per
# connection cost far more CPU than serving it.)  Every server-side process
# holds the read end of a pipe whose write end only the test process holds:
# when the test process goes away (even by SIGKILL) the pipe reaches EOF and
# they all exit.  They also exit after 120 s no matter what.
#
# Statistics travel through an append-only JSON-lines log file (flock +
# unbuffered syswrite), read back by the test process.  Notes:
#  - a request is logged once its head and body have been read (a body cut
#    short is logged with incomplete => 1); entries also carry a time `t`;
#  - reset_stats clears the log, but accept serials (conn, X-Conn) keep
#    counting, so they stay unique for the server's lifetime;
#  - `Expect: 100-continue` on a request with a body is answered with
#    "100 Continue" before the body is read, as real servers do;
#  - a request with `Connection: close` (or HTTP/1.0 without keep-alive) gets
#    `Connection: close` and the connection is closed, on every normal route;
#  - GET /encoded?coding=C[&chunked=1][&size=N][&corrupt=header|checksum|
#    truncate|trailing] answers encoded_text(N) in content coding C (gzip,
#    deflate-zlib, deflate-raw, br, zstd; br and zstd through the brotli and
#    zstd tools, a 501 without them: encoder_missing(C) says why), and
#    /gzip-bomb?mb=N sends gzip that expands to N MiB of zeros, made on the
#    fly from one precomputed block (STREAM_LIMIT bounds its time);
#  - raw => { NAME => BYTES }: GET /raw/NAME is answered with exactly BYTES,
#    and the server keeps the connection open (to see whether the client
#    discards it).
#
# TLS mode (IO::Socket::SSL needed only then; Uvent::Test::Server->tls_missing
# says why it cannot run, or undef):
#
#   my $srv = Uvent::Test::Server->new(tls => { cert_file => $c->server_cert,
#       key_file => $c->server_key, ca_file => $c->ca_cert, verify_client => 1 });
#   $srv->url('/echo');                  # https://127.0.0.1:PORT/echo
#   $srv->url_host('localhost', '/ok');  # https://localhost:PORT/ok
#   $srv->tls_log;                       # one entry per handshake
#
#  - every connection is TLS; the routes behave as in plain mode;
#  - verify_client: 0 (default) asks for no certificate, 1 requires one that
#    verifies against ca_file, 'optional' asks but accepts none;
#  - version: an IO::Socket::SSL SSL_version such as 'TLSv1_2' (only that);
#  - every response head made by the routes also carries X-TLS-Resumed: 0|1,
#    X-TLS-Protocol (e.g. TLSv1.3) and, when the client presented a
#    certificate, X-Client-CN; request log entries carry the same as
#    tls_resumed, tls_protocol, client_cn;
#  - tls_log entries: {conn, t, tls_resumed, tls_protocol, client_cn} after a
#    handshake, {conn, t, tls_error} when it failed (the connection is then
#    just closed);
#  - sessions resume (tickets, TLS 1.2 and 1.3) across connections: the
#    context, hence the ticket key, is made once here and inherited; there
#    is no server-side session cache, so only tickets resume;
#  - graceful closes send close_notify first; resets (/reset, idle-reset)
#    do not;
#  - tls_handshake_delay => SECONDS: accept, then wait that long before the
#    handshake (to time out a client's handshake).

use strict;
use warnings;

use Digest::MD5 ();
use Fcntl qw(:flock O_RDWR O_WRONLY O_APPEND O_CREAT O_TRUNC);
use File::Temp ();
use IO::Socket::INET ();
use JSON::PP ();
use POSIX ();
use Time::HiRes ();

# ascii: every byte > 127 is \u-escaped, so binary request data survives
# the round trip whether the reader decodes as UTF-8 or not.
my $JSON = JSON::PP->new->ascii->canonical;

use constant {
    MAX_HEAD       => 1024 * 1024,   # request head limit
    IO_TIMEOUT     => 30,            # inactivity limit while reading/writing
    LIFETIME       => 120,           # hard cap on every server-side process
    STREAM_LIMIT   => 30,            # /endless, /endless-cl
    STALL_LIMIT    => 60,            # /stall
};

# ---------------------------------------------------------------------------
# Test-process side
# ---------------------------------------------------------------------------

sub new {
    my ($class, %opts) = @_;
    my $self = bless {
        accept_delay => $opts{accept_delay} // 0,
        idle_close   => $opts{idle_close}   // 30,
        raw          => $opts{raw}          // {},
        owner        => $$,
    }, $class;

    if ($opts{tls}) {
        # Made here, before any fork: every worker then shares
        # the ticket key, so a session resumes on any later connection.
        # Bad files also fail here, in the test, not in a child.
        $self->{tls_ctx} = _tls_context($opts{tls});
        $self->{tls_handshake_delay} = $opts{tls_handshake_delay} // 0;
    }

    $self->{dir}     = File::Temp::tempdir('uvent-srv-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    $self->{logfile} = "$self->{dir}/log.jsonl";
    open my $touch, '>', $self->{logfile} or die "create $self->{logfile}: $!";
    close $touch;

    my $lsock = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1',
        LocalPort => 0,
        Proto     => 'tcp',
        Listen    => 128,
        ReuseAddr => 1,
    ) or die "Uvent::Test::Server: cannot listen on 127.0.0.1: $@";
    $self->{port} = $lsock->sockport;

    pipe(my $ctl_r, my $ctl_w) or die "pipe: $!";

    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        # Server process.  Never return into the test code.
        eval {
            close $ctl_w;
            POSIX::setpgid(0, 0);
            _close_fds_except(fileno $lsock, fileno $ctl_r);
            open STDIN,  '<', '/dev/null';
            open STDOUT, '>', '/dev/null';    # keep TAP output clean
            _server_main($self, $lsock, $ctl_r);
        };
        warn "Uvent::Test::Server: $@" if $@;
        POSIX::_exit(0);
    }
    # Also set the group from this side so stop() right after new() is safe.
    POSIX::setpgid($pid, $pid);
    close $ctl_r;
    close $lsock;    # connections after stop() must be refused, not queued
    $self->{pid} = $pid;
    $self->{ctl} = $ctl_w;
    return $self;
}

# Why TLS mode cannot run here (undef when it can): it needs IO::Socket::SSL.
sub tls_missing {
    return undef if eval { require IO::Socket::SSL; IO::Socket::SSL->VERSION(2.0); 1 };
    return 'IO::Socket::SSL 2.0 is not installed (the TLS test server needs it)';
}

sub port { $_[0]{port} }
sub pid  { $_[0]{pid} }    # also the server's process group id
sub dir  { $_[0]{dir} }    # temp dir holding the log (removed at exit)

sub url {
    my ($self, $path) = @_;
    return $self->url_host('127.0.0.1', $path);
}

# The listener is on 127.0.0.1 only: $host must resolve to it (localhost).
sub url_host {
    my ($self, $host, $path) = @_;
    $path //= '/';
    my $scheme = $self->{tls_ctx} ? 'https' : 'http';
    return "$scheme://$host:$self->{port}$path";
}

sub tls { $_[0]{tls_ctx} ? 1 : 0 }

sub _tls_context {
    my $tls = shift;
    require IO::Socket::SSL;
    my $vc = $tls->{verify_client} // 0;
    my %args = (
        SSL_server    => 1,
        SSL_cert_file => $tls->{cert_file} // die("Uvent::Test::Server: tls needs cert_file\n"),
        SSL_key_file  => $tls->{key_file}  // die("Uvent::Test::Server: tls needs key_file\n"),
        # Fixed, so sessions made with a client certificate resume too.
        SSL_session_id_context => 'uvent-test-server',
        SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE(),
        # e.g. 'TLSv1_2' to serve TLS 1.2 only
        ($tls->{version} ? (SSL_version => $tls->{version}) : ()),
    );
    if ($vc) {
        $args{SSL_ca_file} = $tls->{ca_file}
            // die("Uvent::Test::Server: verify_client needs ca_file\n");
        $args{SSL_verify_mode} = IO::Socket::SSL::SSL_VERIFY_PEER()
            | ($vc eq 'optional' ? 0 : IO::Socket::SSL::SSL_VERIFY_FAIL_IF_NO_PEER_CERT());
    } elsif (defined $tls->{ca_file}) {
        $args{SSL_ca_file} = $tls->{ca_file};
    }
    my $ctx = IO::Socket::SSL::SSL_Context->new(\%args)
        || die "Uvent::Test::Server: TLS context: $IO::Socket::SSL::SSL_ERROR\n";
    # Sessions resume by ticket only, never from a worker's own session
    # cache, so the ticket key is what carries a session across workers.
    Net::SSLeay::CTX_set_session_cache_mode($ctx->{context}, Net::SSLeay::SESS_CACHE_OFF());
    return $ctx;
}

sub _events {
    my $self = shift;
    open my $fh, '<', $self->{logfile} or return [];
    flock $fh, LOCK_SH;
    local $/ = "\n";
    my @ev;
    while (my $line = <$fh>) {
        next unless $line =~ /\n\z/;    # flock makes partial lines impossible; be safe anyway
        my $e = eval { $JSON->decode($line) } or next;
        push @ev, $e;
    }
    close $fh;
    return \@ev;
}

sub connections {
    my $self = shift;
    return scalar grep { $_->{ev} eq 'conn' } @{ $self->_events };
}

sub requests {
    my $self = shift;
    return scalar grep { $_->{ev} eq 'req' } @{ $self->_events };
}

sub log {
    my $self = shift;
    return $self->_entries('req');
}

sub tls_log {
    my $self = shift;
    return $self->_entries('tls');
}

# streaming uploads: what /early-413 and /expect-417 saw after answering
sub refused {
    my $self = shift;
    return $self->_entries('refused');
}

sub _entries {
    my ($self, $type) = @_;
    my @log;
    for my $e (@{ $self->_events }) {
        next unless $e->{ev} eq $type;
        my %r = %$e;
        delete $r{ev};
        push @log, \%r;
    }
    return \@log;
}

sub reset_stats {
    my $self = shift;
    open my $fh, '+<', $self->{logfile} or die "open $self->{logfile}: $!";
    flock $fh, LOCK_EX;
    truncate $fh, 0;    # writers use O_APPEND, so they continue at the new end
    close $fh;
    return;
}

sub wait_for {
    my ($self, $cond, $timeout) = @_;
    $timeout //= 5;
    my $deadline = Time::HiRes::time() + $timeout;
    while (1) {
        return 1 if $cond->($self);
        last if Time::HiRes::time() >= $deadline;
        Time::HiRes::sleep(0.01);
    }
    return $cond->($self) ? 1 : 0;
}

sub stop {
    my $self = shift;
    return if $$ != $self->{owner};
    my $pid = delete $self->{pid} or return;

    # TERM makes the server kill and wait for its workers
    # before exiting, so nothing is left to be reparented.
    kill 'TERM', $pid;
    close delete $self->{ctl} if $self->{ctl};
    my $deadline = Time::HiRes::time() + 5;
    my $reaped = 0;
    while (Time::HiRes::time() < $deadline) {
        my $r = waitpid($pid, POSIX::WNOHANG());
        if ($r == $pid || $r == -1) { $reaped = 1; last }
        Time::HiRes::sleep(0.01);
    }
    kill 'KILL', -$pid;    # mop up whatever is left of the group
    waitpid($pid, 0) unless $reaped;
    return;
}

sub DESTROY {
    my $self = shift;
    local ($?, $!, $@);
    $self->stop;
}

# Release every inherited descriptor except stdio and @keep: a forked helper
# must not hold copies of the test's sockets (that would delay their FIN).
# The descriptors are pointed at /dev/null rather than closed, because Perl
# handles may still own them: PerlIO refcounts fds, and a number closed
# behind its back and then reused would never really be closed again.
sub _close_fds_except {
    my %keep = map { $_ => 1 } 0, 1, 2, @_;
    my @fds;
    if (opendir my $d, '/proc/self/fd') {
        @fds = grep { /^\d+\z/ } readdir $d;
        closedir $d;
    } else {
        @fds = 3 .. 255;
    }
    my $null = POSIX::open('/dev/null', POSIX::O_RDWR()) // return;
    for my $fd (@fds) {
        next if $keep{$fd} || $fd == $null;
        POSIX::dup2($null, $fd);
    }
    POSIX::close($null);
}

# ---------------------------------------------------------------------------
# Server process
# ---------------------------------------------------------------------------

sub _log_event {
    my ($file, $ev) = @_;
    sysopen my $fh, $file, O_WRONLY | O_APPEND | O_CREAT or return;
    flock $fh, LOCK_EX;
    syswrite $fh, $JSON->encode($ev) . "\n";
    close $fh;
}

sub _server_main {
    my ($self, $lsock, $ctl) = @_;
    $0 = "uvent-test-server $self->{port}";
    $lsock->blocking(0);

    # Auto-reap the workers (no zombies while we live).
    $SIG{CHLD} = 'IGNORE';
    $SIG{PIPE} = 'IGNORE';
    my $shutdown = sub {
        $SIG{$_} = 'IGNORE' for qw(TERM INT HUP ALRM);
        kill 'TERM', -$$;      # our group: every worker
        # Outlive the children so they are reaped by us, not orphaned.
        $SIG{ALRM} = sub { POSIX::_exit(0) };
        alarm 3;
        1 while waitpid(-1, 0) > 0;
        POSIX::_exit(0);
    };
    $SIG{$_} = $shutdown for qw(TERM INT HUP ALRM);
    alarm LIFETIME;

    # The accept lock: one worker at a time waits for and accepts the next
    # connection, so connections are taken one by one as by a single
    # accept loop.  The file holds the last accept serial.
    $self->{lockfile} = "$self->{dir}/accept.lock";
    sysopen my $lk, $self->{lockfile}, O_WRONLY | O_CREAT | O_TRUNC or die "create $self->{lockfile}: $!";
    syswrite $lk, '0';
    close $lk;

    # Workers report "-PID\n" when they take a connection and "+PID\n"
    # when they are free again; one free worker is always kept waiting.
    pipe(my $status_r, my $status_w) or die "pipe: $!";
    my %idle;
    my $spawn = sub {
        my $pid = fork;
        return 0 unless defined $pid;
        if (!$pid) {
            $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP ALRM CHLD);
            alarm LIFETIME;
            close $status_r;
            eval { _worker($self, $lsock, $ctl, $status_w) };
            POSIX::_exit(0);
        }
        $idle{$pid} = 1;
        return 1;
    };
    my $buf = '';
    while (1) {
        # A worker that died while free (killed) is free no more.
        kill(0, $_) or delete $idle{$_} for keys %idle;
        keys %idle or $spawn->() or Time::HiRes::sleep(0.1);

        my $rin = '';
        vec($rin, fileno $status_r, 1) = 1;
        vec($rin, fileno $ctl,      1) = 1;
        my $n = select(my $rout = $rin, undef, undef, 1);
        next unless $n && $n > 0;
        $shutdown->() if vec($rout, fileno $ctl, 1);    # test process is gone
        next unless vec($rout, fileno $status_r, 1);
        sysread $status_r, $buf, 4096, length $buf;
        while ($buf =~ s/\A([-+])(\d+)\n//) {
            if ($1 eq '+') { $idle{$2} = 1 } else { delete $idle{$2} }
        }
    }
}

# A worker serves one connection at a time, in a loop: take the accept
# lock, wait for a connection (exit at the control pipe's EOF), accept it,
# log it, release the lock, serve it.  A connection that ended with its
# socket still open (a route that gives up, an error) is left to process
# exit to close, as when every connection had a process of its own.
sub _worker {
    my ($self, $lsock, $ctl, $status) = @_;
    sysopen my $lock, $self->{lockfile}, O_RDWR or return;    # its own open file: flock excludes the others
    while (1) {
        until (flock $lock, LOCK_EX) { return unless $!{EINTR} }
        my $client = _accept_next($self, $lsock, $ctl);
        sysseek $lock, 0, 0;
        sysread $lock, my $last, 32;
        my $serial = ($last || 0) + 1;
        sysseek $lock, 0, 0;
        syswrite $lock, $serial;    # serials only grow, so no truncate is needed
        syswrite $status, "-$$\n";
        _log_event($self->{logfile}, { ev => 'conn', conn => $serial, t => Time::HiRes::time() });
        flock $lock, LOCK_UN;

        my $fd = fileno $client;
        eval {
            my $c = Uvent::Test::Server::Conn->new(
                sock    => $client,
                ctl     => $ctl,
                serial  => $serial,
                logfile => $self->{logfile},
                idle    => $self->{idle_close},
                raw     => $self->{raw},
            );
            if (!$self->{tls_ctx}
                || $c->tls_accept($self->{tls_ctx}, $self->{tls_handshake_delay}))
            {
                $c->run;
            }
        };
        my $dup = POSIX::dup($fd);
        if (defined $dup) { POSIX::close($dup); POSIX::_exit(0) }    # still open
        syswrite $status, "+$$\n";
    }
}

# Wait until a connection is pending, hold it for accept_delay, accept it.
sub _accept_next {
    my ($self, $lsock, $ctl) = @_;
    while (1) {
        my $rin = '';
        vec($rin, fileno $lsock, 1) = 1;
        vec($rin, fileno $ctl,   1) = 1;
        my $n = select(my $rout = $rin, undef, undef, 1);
        next unless $n && $n > 0;
        POSIX::_exit(0) if vec($rout, fileno $ctl, 1);    # test process is gone
        next unless vec($rout, fileno $lsock, 1);

        # accept_delay: a connection is pending; make it wait before accept.
        if ($self->{accept_delay} > 0) {
            my $end = Time::HiRes::time() + $self->{accept_delay};
            while ((my $left = $end - Time::HiRes::time()) > 0) {
                my $r = '';
                vec($r, fileno $ctl, 1) = 1;
                POSIX::_exit(0) if (select($r, undef, undef, $left) || 0) > 0;
            }
        }

        my $client = $lsock->accept or next;
        return $client;
    }
}

# ---------------------------------------------------------------------------
# One connection (runs in its own child process)
# ---------------------------------------------------------------------------

# The text /encoded sends: numbered lines, compressible but not trivially.
sub encoded_text {
    my ($size) = @_;
    my $out = '';
    my $i = 0;
    $out .= sprintf "line %d: %d\n", $i, ($i * 2654435761) % 4294967296 while ++$i && length $out < $size;
    return substr $out, 0, $size;
}

# The command-line tool br and zstd are made with, or undef.
sub _encoder_tool {
    my ($coding) = @_;
    my $tool = { br => 'brotli', zstd => 'zstd' }->{$coding} or return;
    for my $d (split /:/, $ENV{PATH} // '') {
        return "$d/$tool" if length $d && -f "$d/$tool" && -x _;
    }
    return;
}

# Why the server cannot send `coding` (a tool is not installed), or undef.
sub encoder_missing {
    my ($class, $coding) = @_;
    return undef if $coding !~ /\A(?:br|zstd)\z/ || _encoder_tool($coding);
    return ($coding eq 'br' ? 'brotli' : 'zstd') . " (the command-line tool) is not installed: no $coding test data";
}

sub encode_body {
    my ($coding, $text) = @_;
    require Compress::Raw::Zlib;
    if ($coding eq 'gzip' || $coding eq 'deflate-zlib' || $coding eq 'deflate-raw') {
        my $bits = { gzip => 31, 'deflate-zlib' => 15, 'deflate-raw' => -15 }->{$coding};
        my ($d) = Compress::Raw::Zlib::Deflate->new(-WindowBits => $bits, -AppendOutput => 1);
        my $out = '';
        $d->deflate($text, $out);
        $d->flush($out);
        return $out;
    }
    my $tool = _encoder_tool($coding) or return;
    my $tmp = File::Temp->new;
    print $tmp $text;
    close $tmp;
    # brotli's -q takes a quality; zstd's silences it
    my $out = $coding eq 'br' ? `$tool -c < $tmp` : `$tool -q -c < $tmp`;
    return $? ? undef : $out;
}

package Uvent::Test::Server::Conn;

use strict;
use warnings;

use Errno ();
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes ();

my %REASON = (
    100 => 'Continue', 101 => 'Switching Protocols', 103 => 'Early Hints',
    200 => 'OK', 201 => 'Created', 202 => 'Accepted', 203 => 'Non-Authoritative Information',
    204 => 'No Content', 205 => 'Reset Content', 206 => 'Partial Content',
    300 => 'Multiple Choices', 301 => 'Moved Permanently', 302 => 'Found', 303 => 'See Other',
    304 => 'Not Modified', 307 => 'Temporary Redirect', 308 => 'Permanent Redirect',
    400 => 'Bad Request', 401 => 'Unauthorized', 403 => 'Forbidden', 404 => 'Not Found',
    405 => 'Method Not Allowed', 408 => 'Request Timeout', 409 => 'Conflict', 410 => 'Gone',
    411 => 'Length Required', 413 => 'Content Too Large', 414 => 'URI Too Long',
    429 => 'Too Many Requests', 431 => 'Request Header Fields Too Large',
    500 => 'Internal Server Error', 501 => 'Not Implemented', 502 => 'Bad Gateway',
    503 => 'Service Unavailable', 504 => 'Gateway Timeout',
);

sub now () { Time::HiRes::time() }

sub new {
    my ($class, %a) = @_;
    my $self = bless { %a, buf => '', seq => 0 }, $class;
    $self->{sock}->blocking(0);
    return $self;
}

# --- TLS ----------------------------------------------------------------------
# While a connection is TLS, {tls} is set and {sock} is an IO::Socket::SSL
# (tied, so sysread/syswrite/close on it go through TLS); {tls_info} and
# {tls_headers} describe the session for the log and the response heads.

# Server-side handshake, non-blocking and bounded.  Returns true when done;
# on failure logs tls_error, closes, and returns false.
sub tls_accept {
    my ($self, $ctx, $delay) = @_;
    $self->nap($delay) if $delay;
    my $s = $self->{sock};
    my $err;
    if (IO::Socket::SSL->start_SSL($s, SSL_server => 1, SSL_reuse_ctx => $ctx,
            SSL_startHandshake => 0))
    {
        my $end = now + Uvent::Test::Server::IO_TIMEOUT();
        until ($s->accept_SSL) {
            my $mode = _want($IO::Socket::SSL::SSL_ERROR);
            if (!$mode) { $err = "$IO::Socket::SSL::SSL_ERROR" || 'handshake failed'; last }
            if (!$self->_wait($mode, $end - now)) { $err = 'handshake timed out'; last }
        }
    } else {
        $err = "start_SSL: $IO::Socket::SSL::SSL_ERROR";
    }
    my %ev = (ev => 'tls', conn => $self->{serial}, t => now);
    if (defined $err) {
        Uvent::Test::Server::_log_event($self->{logfile}, { %ev, tls_error => $err });
        close $s;    # a failed accept_SSL has already left TLS
        return 0;
    }

    $self->{tls} = 1;
    my %info = (
        tls_resumed  => $s->get_session_reused ? 1 : 0,
        tls_protocol => Net::SSLeay::get_version($s->_get_ssl_object) // '',    # TLSv1.3
    );
    my $cn = $s->peer_certificate ? $s->peer_certificate('commonName') : undef;
    $info{client_cn} = $cn if defined $cn;
    $self->{tls_info} = \%info;
    $self->{tls_headers} = [
        [ 'X-TLS-Resumed',  $info{tls_resumed} ],
        [ 'X-TLS-Protocol', $info{tls_protocol} ],
        defined $cn ? ([ 'X-Client-CN', $cn ]) : (),
    ];
    Uvent::Test::Server::_log_event($self->{logfile}, { %ev, %info });
    return 1;
}

# 'r' or 'w' if a TLS operation failed only because it must wait for that.
sub _want {
    my $e = shift // return undef;
    return 'r' if $e eq IO::Socket::SSL::SSL_WANT_READ();
    return 'w' if $e eq IO::Socket::SSL::SSL_WANT_WRITE();
    return undef;
}

# After a failed sysread/syswrite: what to wait for before retrying ($mode
# for plain sockets), or undef if the failure is final.  A TLS read may
# have to wait until writable and a write until readable.
sub _again {
    my ($self, $mode) = @_;
    return undef unless $!{EAGAIN} || $!{EINTR};
    return $mode unless $self->{tls};
    return _want($IO::Socket::SSL::SSL_ERROR) // $mode;
}

# Leave TLS, leaving the plain socket for the close logic: with $notify
# after sending close_notify (bounded wait if the send buffer is full),
# without silently, as a crashed server would.
sub _tls_end {
    my ($self, $notify) = @_;
    return unless $self->{tls};
    my $s = $self->{sock};
    if ($notify) {
        my $ssl = $s->_get_ssl_object;
        my $end = now + 2;
        while (1) {
            my $rv = Net::SSLeay::shutdown($ssl);
            last if $rv >= 0;    # 0: sent; the peer's reply is not awaited
            my $e = Net::SSLeay::get_error($ssl, $rv);
            my $mode = $e == Net::SSLeay::ERROR_WANT_WRITE() ? 'w'
                     : $e == Net::SSLeay::ERROR_WANT_READ()  ? 'r' : undef;
            last unless $mode && $self->_wait($mode, $end - now);
        }
        Net::SSLeay::ERR_clear_error();
    }
    $s->stop_SSL(SSL_no_shutdown => 1);
    $self->{tls} = 0;
}

# --- low-level I/O (every wait also watches the control pipe) -------------

sub _bye { POSIX::_exit(0) }

# Wait until the socket is readable ($mode 'r') or writable ('w').
# Returns 1 when ready, 0 on timeout; exits if the test process is gone.
sub _wait {
    my ($self, $mode, $timeout) = @_;
    # Decrypted bytes already buffered in TLS make no fd readable.
    return 1 if $mode eq 'r' && $self->{tls} && $self->{sock}->pending;
    my $end = now + ($timeout < 0 ? 0 : $timeout);
    my $sfd = fileno $self->{sock};
    my $cfd = fileno $self->{ctl};
    while (1) {
        my ($r, $w) = ('', '');
        vec($r, $cfd, 1) = 1;
        vec($mode eq 'r' ? $r : $w, $sfd, 1) = 1;
        my $left = $end - now;
        $left = 0 if $left < 0;
        my $n = select($r, $mode eq 'w' ? $w : undef, undef, $left);
        if (!defined $n || $n < 0) {
            return 0 if now >= $end;
            next;                      # EINTR
        }
        if ($n > 0) {
            _bye() if vec($r, $cfd, 1);
            return 1;
        }
        return 0 if now >= $end;
    }
}

# Sleep, but die with the test process.
sub nap {
    my ($self, $secs) = @_;
    my $end = now + $secs;
    my $cfd = fileno $self->{ctl};
    while ((my $left = $end - now) > 0) {
        my $r = '';
        vec($r, $cfd, 1) = 1;
        my $n = select($r, undef, undef, $left);
        _bye() if $n && $n > 0;
    }
}

# Read more data into the buffer.  Returns bytes read, 0 on EOF (or error),
# undef on timeout.  $want: the bytes still awaited (a body), read at most,
# so that a plain socket's buffer grows once to hold them all, not over and
# over with a copy each time (TLS reads stay 64 KiB: Net::SSLeay allocates
# what is asked for).
sub fill {
    my ($self, $timeout, $want) = @_;
    my $end = now + ($timeout // Uvent::Test::Server::IO_TIMEOUT());
    my $mode = 'r';
    my $max = !$self->{tls} && $want ? $want : 65536;
    while (1) {
        return undef unless $self->_wait($mode, $end - now);
        my $n = sysread $self->{sock}, $self->{buf}, $max, length $self->{buf};
        return $n if defined $n;
        $mode = $self->_again('r') // return 0;
    }
}

# Write everything or exit (a failed write means the client is gone).
sub send_all {
    my ($self, $data) = @_;
    my $off = 0;
    my $len = length $data;
    my $mode = 'w';
    while ($off < $len) {
        _bye() unless $self->_wait($mode, Uvent::Test::Server::IO_TIMEOUT());
        # TLS: partial writes are enabled, and a retry after WANT_* offers
        # the same bytes again, as OpenSSL requires.
        my $n = syswrite $self->{sock}, $data, $len - $off, $off;
        if (!defined $n) {
            $mode = $self->_again('w') // _bye();
            next;
        }
        $mode = 'w';
        $off += $n;
    }
}

# Write byte groups separately with a pause between them.
sub send_pieces {
    my ($self, $pause, @pieces) = @_;
    for my $i (0 .. $#pieces) {
        $self->nap($pause) if $i && $pause > 0;
        $self->send_all($pieces[$i]);
    }
}

# Graceful close: FIN, then drain what the peer still sends (bounded) so
# unread input does not turn the close into an RST that could destroy the
# response in flight.
sub close_graceful {
    my $self = shift;
    $self->_tls_end(1);    # close_notify, then the same as plain
    my $s = $self->{sock};
    shutdown $s, 1;
    my $end = now + 2;
    while (now < $end) {
        last unless $self->_wait('r', $end - now);
        my $n = sysread $s, my $junk, 65536;
        next if !defined $n && ($!{EAGAIN} || $!{EINTR});
        last unless $n;
    }
    close $s;
}

sub close_reset {
    my $self = shift;
    $self->_tls_end(0);    # no close_notify: the reset is all the peer sees
    setsockopt $self->{sock}, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0);
    close $self->{sock};
}

# --- request parsing -------------------------------------------------------

sub read_line {
    my $self = shift;
    while (1) {
        if ($self->{buf} =~ s/\A([^\n]*?)\r?\n//) {
            return $1;
        }
        return undef if length $self->{buf} > 65536;
        return undef unless $self->fill;
    }
}

sub read_exact {
    my ($self, $len) = @_;
    if (length $self->{buf} < $len) {
        # What is left after the head, as a fresh string: perl grows a string
        # whose front was cut off tenfold, and then copies it when taken
        # whole instead of sharing it.
        $self->{buf} = "$self->{buf}";
        while (length $self->{buf} < $len) {
            return undef unless $self->fill(undef, $len - length $self->{buf});
        }
    }
    return substr $self->{buf}, 0, $len, '' if length $self->{buf} > $len;
    my $all = $self->{buf};    # the whole buffer: shared (copy-on-write), not copied
    $self->{buf} = '';
    return $all;
}

# Returns a request hashref, or undef when the connection should just end.
sub read_request {
    my $self = shift;

    my $head;
    while (1) {
        my $i = index $self->{buf}, "\r\n\r\n";
        if ($i >= 0) {
            $head = substr $self->{buf}, 0, $i + 4, '';
            last;
        }
        if (length $self->{buf} > Uvent::Test::Server::MAX_HEAD()) {
            $self->bad(431);
            return undef;
        }
        return undef unless $self->fill;
    }
    $head =~ s/\A(?:\r\n)+//;    # tolerate stray CRLFs between requests

    my ($line, @lines) = split /\r\n/, $head;
    my ($method, $target, $version) =
        ($line // '') =~ m{\A([!#\$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP/(\d\.\d)\z}
        or do { $self->bad(400); return undef };
    my @headers;
    for my $l (@lines) {
        my ($n, $v) = $l =~ /\A([^:\s]+):[ \t]*(.*?)[ \t]*\z/
            or do { $self->bad(400); return undef };
        push @headers, [ $n, $v ];
    }

    $self->{seq}++;
    my $req = {
        method  => $method,
        target  => $target,
        version => $version,
        headers => \@headers,
        body    => '',
    };
    my $te = $self->header($req, 'transfer-encoding');
    my @cl = $self->header($req, 'content-length');

    # streaming uploads: /early-413 and /expect-417 answer before reading
    # the body, then count what still arrives until the client closes
    # (logged as {ev => 'refused', path, body_bytes}); /expect-silent never
    # sends the 100
    my ($upath) = $target =~ m{\A(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^/?]*)?([^?]*)};
    if ($upath eq '/early-413' || $upath eq '/expect-417') {
        $self->upload_refuse($upath eq '/early-413' ? 413 : 417, $upath);
        return undef;
    }

    my $head_t = now;
    if ($upath ne '/expect-silent' && lc($self->header($req, 'expect') // '') eq '100-continue'
        && (($te // '') =~ /chunked/i || (@cl && $cl[0] =~ /\A\d+\z/ && $cl[0] > 0)))
    {
        $self->send_all("HTTP/1.1 100 Continue\r\n\r\n");
    }

    my $ok = 1;
    if (defined $te && $te =~ /chunked\s*\z/i) {
        $ok = $self->read_chunked_body($req);
    } elsif (@cl) {
        my %distinct = map { $_ => 1 } @cl;
        if (keys %distinct > 1 || $cl[0] !~ /\A\d+\z/) {
            $self->bad(400);
            return undef;
        }
        my $body = $self->read_exact($cl[0]);
        if (defined $body) {
            $req->{body} = $body;
        } else {
            $req->{body} = substr $self->{buf}, 0, length $self->{buf}, '';
            $ok = 0;
        }
    }

    my $ev = {
        ev          => 'req',
        conn        => $self->{serial},
        seq         => $self->{seq},
        method      => $method,
        target      => $target,
        version     => $version,
        headers     => \@headers,
        body_length => length($req->{body}),
        body_md5    => Digest::MD5::md5_hex($req->{body}),
        t           => now,
    };
    $ev->{incomplete} = JSON::PP::true() unless $ok;
    $ev->{head_t} = $head_t if $upath eq '/expect-silent';    # streaming uploads: when the head had come
    %$ev = (%$ev, %{ $self->{tls_info} }) if $self->{tls_info};
    Uvent::Test::Server::_log_event($self->{logfile}, $ev);
    return $ok ? $req : undef;
}

# streaming uploads: a final response before the body (framed so that it
# alone would allow keep-alive), then a lingering
# read (so the client sees the response, not a reset) counting the body
# bytes that still come, until the client closes (or 60 s).
sub upload_refuse {
    my ($self, $code, $path) = @_;
    my $body = "refused $code\n";
    $self->send_all("HTTP/1.1 $code " . ($code == 413 ? 'Content Too Large' : 'Expectation Failed')
        . "\r\nContent-Length: " . length($body) . "\r\n\r\n$body");    # no Connection: close: the client must not reuse it anyway
    my $bytes = length $self->{buf};
    $self->{buf} = '';
    my $until = now + 60;
    while (now < $until && $self->_wait('r', $until - now)) {
        my $n = sysread $self->{sock}, my $chunk, 65536;
        last unless $n;
        $bytes += $n;
    }
    Uvent::Test::Server::_log_event($self->{logfile},
        { ev => 'refused', conn => $self->{serial}, path => $path, body_bytes => $bytes, t => now });
    close $self->{sock};
}

sub read_chunked_body {
    my ($self, $req) = @_;
    while (1) {
        my $line = $self->read_line // return 0;
        my ($hex) = $line =~ /\A\s*([0-9A-Fa-f]+)/ or return 0;
        my $size = hex $hex;
        if ($size == 0) {
            while (1) {    # trailers up to the empty line
                my $t = $self->read_line // return 0;
                last if $t eq '';
            }
            return 1;
        }
        my $data = $self->read_exact($size) // return 0;
        $req->{body} .= $data;
        defined $self->read_line or return 0;    # CRLF after the data
    }
}

# In list context all values of a header, in scalar context the first.
sub header {
    my ($self, $req, $name) = @_;
    my @v = map { $_->[1] } grep { lc $_->[0] eq $name } @{ $req->{headers} };
    return wantarray ? @v : $v[0];
}

sub bad {
    my ($self, $code) = @_;
    my $body = "bad request\n";
    my $tls = join '', map { "$_->[0]: $_->[1]\r\n" } @{ $self->{tls_headers} || [] };
    $self->send_all("HTTP/1.1 $code $REASON{$code}\r\n${tls}Content-Length: "
        . length($body) . "\r\nConnection: close\r\n\r\n$body");
    $self->close_graceful;
}

# --- response helpers --------------------------------------------------------

# Build a response head.  Options: code, version, headers (arrayref of
# [name, value]), body (for Content-Length), no_cl, close_hdr.
sub head {
    my ($self, %a) = @_;
    my $code = $a{code} // 200;
    my $ver  = $a{version} // '1.1';
    my @h    = ([ 'X-Conn', $self->{serial} ], [ 'X-Seq', $self->{seq} ]);
    push @h, @{ $self->{tls_headers} } if $self->{tls_headers};
    push @h, [ 'Content-Length', length $a{body} ] if defined $a{body} && !$a{no_cl};
    push @h, [ 'Connection', 'close' ] if $a{close_hdr};
    push @h, @{ $a{headers} || [] };
    return "HTTP/$ver $code " . ($REASON{$code} // 'Unknown') . "\r\n"
        . join('', map { "$_->[0]: $_->[1]\r\n" } @h) . "\r\n";
}

# Send a normal response.  Returns the connection disposition:
# 'keep' or 'close' (with a Connection: close header).
sub respond {
    my ($self, $req, %a) = @_;
    my $close = $a{close} || $req->{client_close} || $req->{q}{close};
    my $data  = $self->head(%a, close_hdr => $close);
    $data .= $a{body} if defined $a{body} && $req->{method} ne 'HEAD';
    $self->send_all($data);
    return $close ? 'close' : 'keep';
}

# --- main loop ----------------------------------------------------------------

sub run {
    my $self = shift;
    $SIG{PIPE} = 'IGNORE';
    my %idle = (after => $self->{idle}, action => 'close');

    while (1) {
        if (!length $self->{buf}) {
            if (defined(my $u = $idle{unsolicited})) {
                $self->send_all("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    unless $self->_wait('r', $u);
            }
            if (!$self->_wait('r', $idle{after})) {
                # Idle too long: close as instructed by the last response.
                $idle{action} eq 'reset' ? $self->close_reset : $self->close_graceful;
                return;
            }
            my $n = $self->fill(0);
            if (defined $n && $n == 0) { close $self->{sock}; return }    # client closed
        }

        my $req = $self->read_request or return;
        if ($self->{drop_next}) { $self->close_graceful; return }

        %idle = (after => $self->{idle}, action => 'close');
        my $disp = $self->dispatch($req, \%idle);
        if    ($disp eq 'close') { $self->close_graceful; return }
        elsif ($disp eq 'reset') { $self->close_reset;    return }
        elsif ($disp eq 'gone')  { return }
    }
}

my %ROUTES = (
    '/'                  => \&r_ok,
    '/ok'                => \&r_ok,
    '/echo'              => \&r_echo,
    '/peer'              => \&r_peer,
    '/upload'            => \&r_upload,
    '/chunked'           => \&r_chunked,
    '/close-delimited'   => \&r_close_delimited,
    '/http10'            => \&r_http10,
    '/http10-keepalive'  => \&r_http10_keepalive,
    '/keepalive-timeout' => \&r_keepalive_timeout,
    '/keepalive-max0'    => \&r_keepalive_max0,
    '/keepalive-max'     => \&r_keepalive_max,
    '/1xx'               => \&r_1xx,
    '/conflict-cl'       => \&r_conflict_cl,
    '/cl-te'             => \&r_cl_te,
    '/garbage'           => \&r_garbage,
    '/huge-headers'      => \&r_huge_headers,
    '/many-headers'      => \&r_many_headers,
    '/big'               => \&r_big,
    '/endless'           => \&r_endless,
    '/endless-cl'        => \&r_endless_cl,
    '/sleep'             => \&r_sleep,
    '/trickle'           => \&r_trickle,
    '/drip'              => \&r_drip,
    '/stall'             => \&r_stall,
    '/drop'              => sub { 'close' },
    '/reset'             => sub { 'reset' },
    '/drop-second'       => \&r_drop_second,
    '/idle-close'        => \&r_idle_close,
    '/idle-reset'        => \&r_idle_reset,
    '/unsolicited'       => \&r_unsolicited,
    '/headers-split'     => \&r_headers_split,
    '/encoded'           => \&r_encoded,
    '/gzip-bomb'         => \&r_gzip_bomb,
    '/redirect'          => \&r_redirect,
    '/loop'              => \&r_loop,
    '/multipart'         => \&r_multipart,
    # streaming uploads
    '/expect-silent'     => \&r_upload,
    # streaming downloads
    '/stream'            => \&r_stream,
);

sub dispatch {
    my ($self, $req, $idle) = @_;

    my $target = $req->{target};
    if ($target =~ m{\A[a-zA-Z][a-zA-Z0-9+.-]*://[^/?]*(.*)\z}s) {    # absolute-form
        $target = length $1 ? $1 : '/';
    }
    my ($path, $query) = split /\?/, $target, 2;
    my %q;
    for my $kv (split /&/, $query // '') {
        my ($k, $v) = split /=/, $kv, 2;
        next unless defined $k && length $k;
        $v //= '';
        s/%([0-9A-Fa-f]{2})/chr hex $1/ge for $k, $v;
        $q{$k} = $v;
    }
    $req->{path} = $path;
    $req->{q}    = \%q;

    my $conn = lc join ',', $self->header($req, 'connection');
    $req->{client_close} = $req->{version} eq '1.0'
        ? $conn !~ /\bkeep-alive\b/
        : $conn =~ /\bclose\b/;

    if ($path =~ m{\A/status/(\d{3})\z}) {
        return $self->r_status($req, $1);
    }
    if ($path =~ m{\A/raw/([\w-]+)\z} && exists $self->{raw}{$1}) {
        $self->send_all($self->{raw}{$1});
        return 'keep';
    }
    my $h = $ROUTES{$path}
        or return $self->respond($req, code => 404, body => 'not found');
    return $self->$h($req, $idle);
}

sub num {
    my ($v, $default) = @_;
    return (defined $v && $v =~ /\A\d+(?:\.\d+)?\z/) ? $v : $default;
}

# --- routes ---------------------------------------------------------------

sub r_ok {
    my ($self, $req) = @_;
    my $size = num($req->{q}{size}, undef);
    return $self->respond($req, body => defined $size ? 'x' x $size : 'ok');
}

sub r_echo {
    my ($self, $req) = @_;
    my $body = $JSON->encode({
        map({ $_ => $req->{$_} } qw(method target version headers body)),
    });
    return $self->respond($req,
        headers => [ [ 'Content-Type', 'application/json' ] ], body => $body);
}

# the client's address as the server sees it (local_address tests)
sub r_peer {
    my ($self, $req) = @_;
    return $self->respond($req, body => $self->{sock}->peerhost);
}

# /redirect?code=302&to=LOCATION[&to2=LOCATION][&cookie=SET-COOKIE][&cookie2=...][&sleep=S]:
# a response of that code (default 302) with Location: to (none without
# `to`; a second, different one with to2), the Set-Cookie headers, after
# sleeping S seconds; its body echoes the request like /echo.
sub r_redirect {
    my ($self, $req) = @_;
    my $q = $req->{q};
    $self->nap(num($q->{sleep}, 0)) if $q->{sleep};
    my @h;
    push @h, [ 'Location', $q->{to} ] if defined $q->{to};
    push @h, [ 'Location', $q->{to2} ] if defined $q->{to2};
    push @h, [ 'Set-Cookie', $q->{$_} ] for grep { defined $q->{$_} } qw(cookie cookie2);
    my $body = $JSON->encode({ map({ $_ => $req->{$_} } qw(method target version headers body)) });
    return $self->respond($req, code => num($q->{code}, 302), headers => [ @h, [ 'Content-Type', 'application/json' ] ],
        body => $body);
}

# /loop: a 302 to itself, for ever.
sub r_loop {
    my ($self, $req) = @_;
    return $self->respond($req, code => 302, headers => [ [ 'Location', '/loop' ] ], body => 'again');
}

# /multipart: the parts of a multipart/form-data body as JSON, each
# {headers, length, md5} and its content when shorter than 1000 bytes.
sub r_multipart {
    my ($self, $req) = @_;
    my ($type) = $self->header($req, 'content-type');
    my ($boundary) = ($type // '') =~ /boundary=([^;]+)/;
    my @parts;
    if (defined $boundary) {
        my $body = $req->{body};
        my $start = index($body, "--$boundary\r\n");
        my $pos = $start < 0 ? length $body : $start + length("--$boundary\r\n");
        while ($start >= 0) {
            my $end = index($body, "\r\n--$boundary", $pos);
            last if $end < 0;
            # head and content cut from the body directly (a part may be a big file)
            my $i = index($body, "\r\n\r\n", $pos);
            $i = -1 if $i + 4 > $end;
            my ($head, $content) = $i < 0 ? (substr($body, $pos, $end - $pos), '')
                : (substr($body, $pos, $i - $pos), substr($body, $i + 4, $end - $i - 4));
            push @parts, { headers => [ split /\r\n/, $head ], length => length $content,
                md5 => Digest::MD5::md5_hex($content), (length $content < 1000 ? (content => $content) : ()) };
            $pos = $end + length("\r\n--$boundary");
            last if substr($body, $pos, 2) eq '--';
            $pos += 2;
        }
    }
    return $self->respond($req, headers => [ [ 'Content-Type', 'application/json' ] ],
        body => $JSON->encode({ boundary => $boundary, parts => \@parts }));
}

sub r_upload {
    my ($self, $req) = @_;
    return $self->respond($req,
        body => length($req->{body}) . ' ' . Digest::MD5::md5_hex($req->{body}));
}

sub r_status {
    my ($self, $req, $code) = @_;
    return $self->respond($req, code => 404, body => 'not found')
        if $code < 200 || $code > 599;
    if ($code == 204) {
        return $self->respond($req, code => 204);
    }
    if ($code == 304) {
        # Content-Length describes the would-be representation; no body follows.
        return $self->respond($req, code => 304, headers => [ [ 'Content-Length', 10 ] ]);
    }
    if ($code == 205) {
        return $self->respond($req, code => 205, headers => [ [ 'Content-Length', 0 ] ]);
    }
    return $self->respond($req, code => $code, body => "status $code");
}

sub r_chunked {
    my ($self, $req) = @_;
    my $trailers = $req->{q}{trailers};
    my @h = ([ 'Transfer-Encoding', 'chunked' ]);
    push @h, [ 'Trailer', 'X-Checksum, X-Other' ] if $trailers;
    my $close = $req->{client_close} || $req->{q}{close};
    my $data = $self->head(headers => \@h, close_hdr => $close);
    if ($req->{method} ne 'HEAD') {
        $data .= "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\n";
        $data .= "X-Checksum: abc\r\nX-Other: 1\r\n" if $trailers;
        $data .= "\r\n";
    }
    if ($req->{q}{split}) {
        $self->send_pieces(0.001, split //, $data);
    } else {
        $self->send_all($data);
    }
    return $close ? 'close' : 'keep';
}

sub r_close_delimited {
    my ($self, $req) = @_;
    my $data = $self->head();
    $data .= 'close-delimited body' if $req->{method} ne 'HEAD';
    $self->send_all($data);
    return 'close';
}

sub r_http10 {
    my ($self, $req) = @_;
    $self->respond($req, version => '1.0', body => 'http10');
    return 'close';
}

sub r_http10_keepalive {
    my ($self, $req) = @_;
    # A client asking to close gets a plain close (respond adds the header).
    my $close = $req->{client_close} || $req->{q}{close};
    return $self->respond($req, version => '1.0',
        headers => $close ? [] : [ [ 'Connection', 'keep-alive' ] ], body => 'http10 keep-alive');
}

sub r_keepalive_timeout {
    my ($self, $req) = @_;
    my $t = num($req->{q}{t}, 5);
    return $self->respond($req, headers => [ [ 'Keep-Alive', "timeout=$t" ] ], body => 'ok');
}

sub r_keepalive_max0 {
    my ($self, $req) = @_;
    return $self->respond($req, headers => [ [ 'Keep-Alive', 'timeout=5, max=0' ] ], body => 'ok');
}

# Apache style: Keep-Alive max counts down the requests left, then the
# server closes after the n-th.
sub r_keepalive_max {
    my ($self, $req) = @_;
    my $n    = num($req->{q}{n}, 2);
    my $left = $n - $self->{seq};
    $left = 0 if $left < 0;
    return $self->respond($req, headers => [ [ 'Keep-Alive', "timeout=5, max=$left" ] ], body => 'ok',
        close => $left == 0);
}

sub r_1xx {
    my ($self, $req) = @_;
    $self->send_all("HTTP/1.1 100 Continue\r\n\r\n");
    $self->send_all("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n");
    return $self->respond($req, body => 'final');
}

sub r_conflict_cl {
    my ($self, $req) = @_;
    my $data = $self->head(headers => [ [ 'Content-Length', 5 ], [ 'Content-Length', 6 ] ]);
    $data .= 'abcdef' if $req->{method} ne 'HEAD';
    $self->send_all($data);
    return 'close';    # framing is ambiguous: never reuse
}

sub r_cl_te {
    my ($self, $req) = @_;
    my $data = $self->head(headers => [ [ 'Content-Length', 5 ], [ 'Transfer-Encoding', 'chunked' ] ]);
    $data .= "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n" if $req->{method} ne 'HEAD';
    $self->send_all($data);
    return 'keep';     # the chunked framing is valid; the client decides
}

sub r_garbage {
    my ($self) = @_;
    $self->send_all("THIS IS NOT HTTP\r\n\r\n");
    $self->nap(1);
    return 'close';
}

sub r_huge_headers {
    my ($self, $req) = @_;
    my $size = num($req->{q}{size}, 100000);
    return $self->respond($req, headers => [ [ 'X-Big', 'b' x $size ] ], body => 'ok');
}

sub r_many_headers {
    my ($self, $req) = @_;
    my $n = num($req->{q}{n}, 100);
    return $self->respond($req,
        headers => [ map { [ "X-H-$_", 'value' ] } 1 .. $n ], body => 'ok');
}

sub r_big {
    my ($self, $req) = @_;
    my $size = num($req->{q}{size}, 1024 * 1024);
    my $close = $req->{client_close} || $req->{q}{close};
    $self->send_all($self->head(headers => [ [ 'Content-Length', $size ] ], close_hdr => $close));
    if ($req->{method} ne 'HEAD') {
        # Pieces are a multiple of 10 long, so each starts at pattern offset 0.
        my $block = '0123456789' x 6553;
        for (my $left = $size; $left > 0; $left -= length $block) {
            $self->send_all($left >= length $block ? $block : substr($block, 0, $left));
        }
    }
    return $close ? 'close' : 'keep';
}

sub r_endless {
    my ($self, $req) = @_;
    $self->send_all($self->head(headers => [ [ 'Transfer-Encoding', 'chunked' ] ]));
    return 'keep' if $req->{method} eq 'HEAD';
    my $chunk = sprintf("%x\r\n", 65536) . ('x' x 65536) . "\r\n";
    my $end = now + Uvent::Test::Server::STREAM_LIMIT();
    $self->send_all($chunk) while now < $end;    # exits when the client closes
    return 'reset';
}

sub r_encoded {
    my ($self, $req) = @_;
    my $coding = $req->{q}{coding} // 'gzip';
    my $text = Uvent::Test::Server::encoded_text(num($req->{q}{size}, 100000));
    my $body = Uvent::Test::Server::encode_body($coding, $text);
    return $self->respond($req, code => 501, body => 'no encoder') unless defined $body;
    my $corrupt = $req->{q}{corrupt} // '';
    if ($corrupt eq 'header') {
        # raw deflate has no header: 0xff starts a block of the reserved type
        substr($body, 0, 1) = $coding eq 'deflate-raw' ? "\xff" : chr(ord(substr $body, 0, 1) ^ 0x55);
    } elsif ($corrupt eq 'checksum') {    # gzip: CRC-32 then length; zlib: Adler-32
        my $at = length($body) - ($coding eq 'gzip' ? 8 : 1);
        substr($body, $at, 1) = chr(ord(substr $body, $at, 1) ^ 1);
    } elsif ($corrupt eq 'truncate') {
        substr($body, -4) = '';
    } elsif ($corrupt eq 'trailing') {
        $body .= 'trailing garbage';
    }
    (my $name = $coding) =~ s/-.*//;
    my @h = ([ 'Content-Encoding', $name ], [ 'Content-Type', 'text/plain' ], [ 'X-Decoded-Length', length $text ]);
    return $self->respond($req, headers => \@h, body => $body) unless $req->{q}{chunked};
    my $close = $req->{client_close} || $req->{q}{close};
    my $data = $self->head(headers => [ @h, [ 'Transfer-Encoding', 'chunked' ] ], close_hdr => $close);
    if ($req->{method} ne 'HEAD') {
        for (my $off = 0; $off < length $body; $off += 1000) {
            my $piece = substr $body, $off, 1000;
            $data .= sprintf("%x\r\n", length $piece) . "$piece\r\n";
        }
        $data .= "0\r\n\r\n";
    }
    $self->send_all($data);
    return $close ? 'close' : 'keep';
}

# A gzip member whose deflate data is one block, repeated: the block is
# 1 MiB of zeros compressed and then fully flushed (byte-aligned, with no
# reference to what came before), so each copy decodes to 1 MiB more.
sub r_gzip_bomb {
    my ($self, $req) = @_;
    require Compress::Raw::Zlib;
    my $mb = num($req->{q}{mb}, 10240);
    my ($d) = Compress::Raw::Zlib::Deflate->new(-WindowBits => -15, -Level => 9, -AppendOutput => 1);
    my $block = '';
    $d->deflate("\0" x 1048576, $block);
    $d->flush($block, Compress::Raw::Zlib::Z_FULL_FLUSH());
    $self->send_all($self->head(headers => [ [ 'Content-Encoding', 'gzip' ], [ 'Transfer-Encoding', 'chunked' ] ]));
    return 'keep' if $req->{method} eq 'HEAD';
    my $gzip_header = "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03";
    $self->send_all(sprintf("%x\r\n", length $gzip_header) . "$gzip_header\r\n");
    my $chunk = sprintf("%x\r\n", length $block) . "$block\r\n";
    my $end = now + Uvent::Test::Server::STREAM_LIMIT();
    for (my $i = 0; $i < $mb && now < $end; $i++) {
        $self->send_all($chunk);    # exits when the client closes
    }
    return 'reset';
}

sub r_endless_cl {
    my ($self, $req) = @_;
    $self->send_all($self->head(headers => [ [ 'Content-Length', '10000000000' ] ]));
    return 'keep' if $req->{method} eq 'HEAD';
    my $chunk = 'x' x 65536;
    my $end = now + Uvent::Test::Server::STREAM_LIMIT();
    $self->send_all($chunk) while now < $end;
    return 'reset';
}

sub r_sleep {
    my ($self, $req) = @_;
    $self->nap(num($req->{q}{s}, 1));
    return $self->respond($req, body => 'ok');
}

sub r_trickle {
    my ($self, $req) = @_;
    my $delay = num($req->{q}{delay}, 0.05);
    my $close = $req->{client_close} || $req->{q}{close};
    my $data = $self->head(body => 'trickled', close_hdr => $close);
    $data .= 'trickled' if $req->{method} ne 'HEAD';
    $self->send_pieces($delay, split //, $data);
    return $close ? 'close' : 'keep';
}

# /drip?n=N&delay=S&stall_after=K: the head at once, then N body bytes one
# every S seconds; with stall_after, silence after K of them (until the
# client closes).
sub r_drip {
    my ($self, $req) = @_;
    my $n     = num($req->{q}{n}, 5);
    my $delay = num($req->{q}{delay}, 0.3);
    my $stall = $req->{q}{stall_after};
    $self->send_all($self->head(headers => [ [ 'Content-Length', $n ] ]));
    for my $i (1 .. $n) {
        return $self->r_stall if defined $stall && $i > $stall;
        $self->nap($delay);
        $self->send_all('d');
    }
    return 'keep';
}

sub r_stall {
    my ($self) = @_;
    my $end = now + Uvent::Test::Server::STALL_LIMIT();
    while (now < $end) {
        next unless $self->_wait('r', $end - now);
        my $n = sysread $self->{sock}, my $junk, 65536;
        next if !defined $n && ($!{EAGAIN} || $!{EINTR});
        last unless $n;    # client closed
    }
    close $self->{sock};
    return 'gone';
}

sub r_drop_second {
    my ($self, $req) = @_;
    $self->{drop_next} = 1;
    return $self->respond($req, body => 'ok');
}

sub r_idle_close {
    my ($self, $req, $idle) = @_;
    %$idle = (after => num($req->{q}{after}, 1), action => 'close');
    return $self->respond($req, body => 'ok');
}

sub r_idle_reset {
    my ($self, $req, $idle) = @_;
    %$idle = (after => num($req->{q}{after}, 1), action => 'reset');
    return $self->respond($req, body => 'ok');
}

sub r_unsolicited {
    my ($self, $req, $idle) = @_;
    $idle->{unsolicited} = num($req->{q}{after}, 0.5);
    return $self->respond($req, body => 'ok');
}

# streaming downloads
# /stream?size=N&framing=cl|chunked|close: N bytes of /big's digit pattern
# with a Content-Length, chunked (64 KiB chunks) or delimited by the close.
sub r_stream {
    my ($self, $req) = @_;
    my $size    = num($req->{q}{size}, 1024 * 1024);
    my $framing = $req->{q}{framing} // 'cl';
    my @h = $framing eq 'chunked' ? ([ 'Transfer-Encoding', 'chunked' ])
        : $framing eq 'close' ? () : ([ 'Content-Length', $size ]);
    $self->send_all($self->head(headers => \@h, close_hdr => $framing eq 'close'));
    return $framing eq 'close' ? 'close' : 'keep' if $req->{method} eq 'HEAD';
    my $block = '0123456789' x 6553;
    for (my $left = $size; $left > 0; $left -= length $block) {
        my $piece = $left >= length $block ? $block : substr($block, 0, $left);
        $self->send_all($framing eq 'chunked' ? sprintf("%x\r\n", length $piece) . "$piece\r\n" : $piece);
    }
    $self->send_all("0\r\n\r\n") if $framing eq 'chunked';
    return $framing eq 'close' ? 'close' : 'keep';
}

sub r_headers_split {
    my ($self, $req) = @_;
    my $close = $req->{client_close} || $req->{q}{close};
    my $head = $self->head(body => 'split', close_hdr => $close);
    my @pieces;
    while (length $head) {
        push @pieces, substr $head, 0, 1 + int rand 7, '';
    }
    $self->send_pieces(0.001, @pieces);
    $self->send_all('split') if $req->{method} ne 'HEAD';
    return $close ? 'close' : 'keep';
}

1;
