package Uvent::Test::Proxy;

# Private proxy servers on 127.0.0.1 for the proxy tests: Debian's
# tinyproxy (an HTTP forward proxy with CONNECT) and microsocks (SOCKS5).
#
#   my $why = Uvent::Test::Proxy->missing('tinyproxy');   # undef, or why it cannot run
#   my $tp = Uvent::Test::Proxy->tinyproxy(auth => 'user:secret', connect_ports => [$port]);
#   my $ms = Uvent::Test::Proxy->microsocks(user => 'u', pass => 'p');
#   $tp->url; $tp->port; $tp->connections; $tp->log; $tp->stop;
#
# Each runs in the foreground as a direct child of the test process with
# its config and log in a temp dir. A watchdog process kills it if the test
# process dies without calling stop() (it blocks on a pipe only the test
# process writes to). connections counts the client connections the proxy
# accepted (tinyproxy logs each at LogLevel Connect; microsocks logs
# nothing, so there it is undef; a connection that sent nothing, like the
# start-up probe, is not counted). tinyproxy with connect_ports allows
# CONNECT to those ports only (403 to any other); without, to any port.

use strict;
use warnings;

use File::Temp ();
use IO::Socket::INET ();
use POSIX ();
use Uvent::Test::Process ();
use Time::HiRes ();

# The program: $ENV{UVENT_<NAME>} if set, else PATH, /usr/sbin, /usr/local/sbin, /usr/bin.
sub binary {
    my ($name) = @_;
    if (defined(my $bin = $ENV{ 'UVENT_' . uc $name })) {
        return -f $bin && -x _ ? $bin : undef;
    }
    for my $d ((split /:/, $ENV{PATH} // ''), '/usr/sbin', '/usr/local/sbin', '/usr/bin') {
        return "$d/$name" if length $d && -f "$d/$name" && -x _;
    }
    return undef;
}

sub missing {
    my ($class, $name) = @_;
    return undef if defined binary($name);
    my %deb = (tinyproxy => 'tinyproxy', microsocks => 'microsocks');
    return "$name not found in PATH, /usr/sbin, /usr/local/sbin or /usr/bin (Debian: apt-get install "
        . ($deb{$name} // $name) . '; or set UVENT_' . uc($name) . ')';
}

sub tinyproxy {
    my ($class, %opts) = @_;
    my $self = $class->_new('tinyproxy', %opts);
    return $self->_start(sub {
        my ($port) = @_;
        my $dir = $self->{dir};
        my $conf = "Port $port\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nMaxClients 50\n"
            . "LogLevel Connect\nLogFile \"$dir/proxy.log\"\nPidFile \"$dir/proxy.pid\"\nDisableViaHeader Yes\n";
        $conf .= "BasicAuth " . join(' ', split /:/, $opts{auth}, 2) . "\n" if defined $opts{auth};
        $conf .= "ConnectPort $_\n" for @{ $opts{connect_ports} // [] };
        _write("$dir/proxy.conf", $conf);
        return ($self->{bin}, '-d', '-c', "$dir/proxy.conf");
    });
}

sub microsocks {
    my ($class, %opts) = @_;
    my $self = $class->_new('microsocks', %opts);
    return $self->_start(sub {
        my ($port) = @_;
        return ($self->{bin}, '-i', '127.0.0.1', '-p', $port,
            defined $opts{user} ? ('-u', $opts{user}, '-P', $opts{pass}) : ());
    });
}

sub port { $_[0]{port} }
sub dir  { $_[0]{dir} }

sub url {
    my ($self, $userinfo) = @_;
    my $scheme = $self->{name} eq 'tinyproxy' ? 'http' : $self->{scheme} // 'socks5';
    return "$scheme://" . (defined $userinfo ? "$userinfo\@" : '') . "127.0.0.1:$self->{port}";
}

sub log { _slurp("$_[0]{dir}/proxy.log") }

sub connections {
    my $self = shift;
    return undef unless $self->{name} eq 'tinyproxy';
    # the start-up probe (and any connection that sent nothing) is not counted
    my $log = $self->log;
    my @c = $log =~ /^CONNECT.*Connect \(file descriptor \d+\)/mg;
    my @probes = $log =~ /closed socket before read/g;
    return @c - @probes;
}

sub stop {
    my $self = shift;
    return if $$ != $self->{owner};
    return Uvent::Test::Process::stop($self);
}

sub DESTROY {
    my $self = shift;
    local ($?, $!, $@);
    $self->stop;
}

# --- internals ----------------------------------------------------------------

sub _new {
    my ($class, $name, %opts) = @_;
    my $bin = binary($name) // die "Uvent::Test::Proxy: " . $class->missing($name) . "\n";
    return bless {
        name => $name, bin => $bin, owner => $$,
        dir  => File::Temp::tempdir("uvent-$name-XXXXXX", TMPDIR => 1, CLEANUP => 1),
    }, $class;
}

# Start the program on a free port (chosen by binding port 0 and closing
# it, so another process may take it first: then again with a new one).
sub _start {
    my ($self, $argv) = @_;
    for my $attempt (1 .. 5) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', Listen => 1)
            or die "Uvent::Test::Proxy: cannot bind 127.0.0.1: $@";
        my $port = $s->sockport;
        close $s;
        my @cmd = $argv->($port);
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            open STDIN,  '<', '/dev/null';
            open STDOUT, '>', "$self->{dir}/stdout.log";
            open STDERR, '>&', \*STDOUT;
            exec(@cmd) or POSIX::_exit(127);
        }
        my $deadline = Time::HiRes::time() + 5;
        while (Time::HiRes::time() < $deadline) {
            last if waitpid($pid, POSIX::WNOHANG()) == $pid;
            if (my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 1)) {
                close $c;
                @$self{qw(pid port)} = ($pid, $port);
                $self->_start_watchdog($pid);
                return $self;
            }
            Time::HiRes::sleep(0.02);
        }
        kill 'KILL', $pid;
        waitpid $pid, 0;
    }
    die "Uvent::Test::Proxy: $self->{name} did not start:\n" . _slurp("$self->{dir}/stdout.log");
}

sub _start_watchdog {
    my ($self, $child) = @_;
    @$self{qw(watchdog wd_pipe)} = Uvent::Test::Process::watchdog($child, $self->{name});
}

sub _write {
    my ($file, $text) = @_;
    open my $fh, '>', $file or die "write $file: $!";
    print $fh $text;
    close $fh or die "close $file: $!";
}

sub _slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return scalar <$fh>;
}

1;
