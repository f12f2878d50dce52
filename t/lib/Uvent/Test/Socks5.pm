package Uvent::Test::Socks5;

# A small SOCKS5 server (RFC 1928, RFC 1929) of the test suite's own, forked
# on 127.0.0.1, for what a real one will not do on demand: every failure
# reply, refused methods and credentials, garbage, a stall; and to see what
# the client asked for (the address type, the address or name, the
# credentials).
#
#   my $s5 = Uvent::Test::Socks5->new(reply => 5);   # answer CONNECT with "connection refused"
#   $s5->url; $s5->url('user:pass'); $s5->port;
#   $s5->log;         # one hashref per connection: {atyp, addr, port, user, pass, methods}
#   $s5->stop;
#
# Options (all optional; by default: no authentication wanted, success,
# and the tunnel relayed to the target):
#   auth    => 'user:pass'  require username/password (method 2), checked
#   method  => N            choose method N whatever was offered (0xff: none acceptable)
#   reply   => N            answer CONNECT with reply code N (no relay unless 0)
#   greeting_reply => BYTES answer the greeting with these bytes (garbage), then close
#   reply_bytes    => BYTES answer CONNECT with these bytes instead, then close
#   stall   => 'greeting' | 'connect'   read, then answer nothing (until the client leaves)
#   scheme  => 'socks5h'    what url() says (default socks5)
# A name (ATYP 3) is connected to as 127.0.0.1: every name is this host,
# so a test can name the target anything.
#
# With http => 1 it is an HTTP CONNECT proxy instead (the same names rule):
#   connect_answer => BYTES   answer the CONNECT head with these bytes;
#                             an answer of 2xx relays, any other closes after it
#                             (default "HTTP/1.1 200 Connection established\r\n\r\n")
#   stall => 'connect'        read the head, answer nothing
# and log entries are {request => the request line, headers => {lower-case name => value}}.
#
# Process layout as in Uvent::Test::Server: the listener is bound here, a
# forked server accepts and forks one child per connection; all of them
# hold a pipe only the test process writes to and exit at its EOF, and
# after 120 s in any case. The log is a file of lines, appended with one
# syswrite each.

use strict;
use warnings;

use File::Temp ();
use IO::Select ();
use IO::Socket::INET ();
use IO::Socket::IP ();
use JSON::PP ();
use POSIX ();
use Socket ();
use Time::HiRes ();

my $JSON = JSON::PP->new->ascii->canonical;

sub new {
    my ($class, %opts) = @_;
    my $self = bless { %opts, owner => $$ }, $class;
    $self->{dir} = File::Temp::tempdir('uvent-socks5-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    $self->{logfile} = "$self->{dir}/log.jsonl";
    open my $touch, '>', $self->{logfile} or die "$self->{logfile}: $!";
    close $touch;
    my $lsock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', Listen => 64,
        ReuseAddr => 1) or die "Uvent::Test::Socks5: cannot listen: $@";
    $self->{port} = $lsock->sockport;
    pipe(my $ctl_r, my $ctl_w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        eval {
            close $ctl_w;
            POSIX::setpgid(0, 0);
            require Uvent::Test::Server;
            Uvent::Test::Server::_close_fds_except(fileno $lsock, fileno $ctl_r);
            open STDIN,  '<', '/dev/null';
            open STDOUT, '>', '/dev/null';
            $self->_serve($lsock, $ctl_r);
        };
        POSIX::_exit(0);
    }
    POSIX::setpgid($pid, $pid);
    close $lsock;
    close $ctl_r;
    @$self{qw(pid ctl)} = ($pid, $ctl_w);
    return $self;
}

sub port { $_[0]{port} }

sub url {
    my ($self, $userinfo) = @_;
    return ($self->{scheme} // ($self->{http} ? 'http' : 'socks5')) . '://' . (defined $userinfo ? "$userinfo\@" : '') . "127.0.0.1:$self->{port}";
}

sub log {
    my $self = shift;
    open my $fh, '<', $self->{logfile} or return [];
    return [ map { $JSON->decode($_) } grep { /\n\z/ } <$fh> ];
}

sub connections { scalar @{ $_[0]->log } }

sub stop {
    my $self = shift;
    return if $$ != $self->{owner};
    if (my $pid = delete $self->{pid}) {
        close delete $self->{ctl};
        kill 'KILL', -$pid;
        waitpid $pid, 0;
    }
}

sub DESTROY {
    my $self = shift;
    local ($?, $!, $@);
    $self->stop;
}

# --- the server ----------------------------------------------------------------

sub _serve {
    my ($self, $lsock, $ctl) = @_;
    $SIG{CHLD} = 'IGNORE';
    alarm 120;
    my $sel = IO::Select->new($lsock, $ctl);
    while (1) {
        for my $fh ($sel->can_read) {
            POSIX::_exit(0) if $fh == $ctl;
            my $c = $lsock->accept or next;
            my $pid = fork;
            if (defined $pid && !$pid) {
                close $lsock;
                eval { $self->_session($c, $ctl) };
                POSIX::_exit(0);
            }
            close $c;
        }
    }
}

sub _read {
    my ($sock, $n, $ctl) = @_;
    my $buf = '';
    my $sel = IO::Select->new($sock, $ctl);
    while (length $buf < $n) {
        for my $fh ($sel->can_read(30)) {
            POSIX::_exit(0) if $fh == $ctl;
            my $got = sysread($sock, $buf, $n - length $buf, length $buf);
            die "eof\n" unless $got;
        }
    }
    return $buf;
}

sub _note {
    my ($self, $entry) = @_;
    open my $fh, '>>', $self->{logfile} or return;
    syswrite $fh, $JSON->encode($entry) . "\n";
    close $fh;
}

sub _stall {
    my ($sock, $ctl) = @_;
    my $sel = IO::Select->new($sock, $ctl);
    while (1) {
        for my $fh ($sel->can_read(60)) {
            POSIX::_exit(0) if $fh == $ctl || !sysread($sock, my $b, 4096);
        }
    }
}

sub _relay {
    my ($c, $t, $ctl) = @_;
    my $sel = IO::Select->new($c, $t, $ctl);
    while (1) {
        for my $fh ($sel->can_read(60)) {
            return if $fh == $ctl;
            my $got = sysread($fh, my $buf, 65536);
            return unless $got;
            my $to = $fh == $c ? $t : $c;
            my $off = 0;
            while ($off < $got) {
                my $w = syswrite($to, $buf, $got - $off, $off);
                return unless $w;
                $off += $w;
            }
        }
    }
}

sub _http_session {
    my ($self, $c, $ctl) = @_;
    my $head = '';
    $head .= _read($c, 1, $ctl) until $head =~ /\r\n\r\n\z/ || length $head > 65536;
    my ($line, @lines) = split /\r\n/, $head;
    my %e = (request => $line, headers => { map { /\A([^:]+):\s*(.*)\z/ ? (lc $1 => $2) : () } @lines });
    $self->_note(\%e);
    _stall($c, $ctl) if ($self->{stall} // '') eq 'connect';
    my $answer = $self->{connect_answer} // "HTTP/1.1 200 Connection established\r\n\r\n";
    my ($port) = $line =~ /\ACONNECT \S+:(\d+) HTTP\/1\.1\z/;
    my $t = $answer =~ m{\AHTTP/1\.\d 2} && $port
        ? IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port, Proto => 'tcp') : undef;
    syswrite $c, $answer;
    _relay($c, $t, $ctl) if $t;
}

sub _session {
    my ($self, $c, $ctl) = @_;
    return $self->_http_session($c, $ctl) if $self->{http};
    my %e;
    my ($ver, $n) = unpack 'CC', _read($c, 2, $ctl);
    $e{methods} = [ unpack 'C*', _read($c, $n, $ctl) ];
    $e{version} = $ver;
    if ($self->{stall} && $self->{stall} eq 'greeting') {
        $self->_note(\%e);
        _stall($c, $ctl);
    }
    if (defined $self->{greeting_reply}) {
        $self->_note(\%e);    # before the answer, as everywhere
        syswrite $c, $self->{greeting_reply};
        Time::HiRes::sleep(0.2);
        return;
    }
    my $method = $self->{method} // (defined $self->{auth} ? 2 : 0);
    $self->_note(\%e) if $method == 0xff || ($method == 2 && !grep { $_ == 2 } @{ $e{methods} });
    syswrite $c, pack('CC', 5, $method);
    return if $method == 0xff;
    if ($method == 2) {
        my (undef, $ulen) = unpack 'CC', _read($c, 2, $ctl);
        $e{user} = _read($c, $ulen, $ctl);
        my $plen = unpack 'C', _read($c, 1, $ctl);
        $e{pass} = $plen ? _read($c, $plen, $ctl) : '';
        my $good = defined $self->{auth} && "$e{user}:$e{pass}" eq $self->{auth};
        # noted before the answer: the client may look as soon as it has it
        $self->_note(\%e) unless $good;
        syswrite $c, pack('CC', 1, $good ? 0 : 1);
        return unless $good;
    }
    my (undef, $cmd, undef, $atyp) = unpack 'CCCC', _read($c, 4, $ctl);
    $e{cmd} = $cmd;
    $e{atyp} = $atyp;
    if ($atyp == 1) {
        $e{addr} = join '.', unpack 'C4', _read($c, 4, $ctl);
    } elsif ($atyp == 4) {
        $e{addr} = Socket::inet_ntop(Socket::AF_INET6(), _read($c, 16, $ctl));
    } else {
        $e{addr} = _read($c, unpack('C', _read($c, 1, $ctl)), $ctl);
    }
    $e{port} = unpack 'n', _read($c, 2, $ctl);
    $self->_note(\%e);
    if ($self->{stall} && $self->{stall} eq 'connect') {
        _stall($c, $ctl);
    }
    if (defined $self->{reply_bytes}) {
        syswrite $c, $self->{reply_bytes};
        return;
    }
    my $reply = $self->{reply} // 0;
    my $t;
    if ($reply == 0) {
        $t = IO::Socket::IP->new(PeerHost => $atyp == 3 ? '127.0.0.1' : $e{addr}, PeerPort => $e{port}, Proto => 'tcp')
            or $reply = 5;
    }
    syswrite $c, pack('CCCC', 5, $reply, 0, 1) . pack('C4n', 127, 0, 0, 1, 0);
    _relay($c, $t, $ctl) if $t;    # both ways until one side closes
}

1;
