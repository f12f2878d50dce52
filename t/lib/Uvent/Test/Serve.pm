package Uvent::Test::Serve;
# Helpers of the server tests (t/9x-server-*.t): the Uvent::HTTP::Server
# under test runs in the test process; the clients that block (curl,
# HTTP::Tiny, LWP, raw sockets) run in forked children while the loop
# serves, and hand back what they got through a file.
use strict;
use warnings;
use Exporter 'import';
use POSIX ();
use IO::Socket::INET;
use IO::Select;
use File::Temp ();
use Time::HiRes ();
use Uvent;
use Uvent::HTTP::Server;
use Uvent::Test::Util qw(run_until);

our @EXPORT_OK = qw(serve client client_start client_wait raw_exchange split_responses plack_server);

# Plack::Handler::Uvent running $app in a child on 127.0.0.1, any port,
# with the handler's @options, for at most 120 s: ($pid, $port), the port
# told by server_ready (undef if it never started).
sub plack_server {
    my ($app, @options) = @_;
    require Plack::Handler::Uvent;
    pipe my $rd, my $wr or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $rd;
        local $SIG{ALRM} = sub { POSIX::_exit(3) };
        alarm 120;
        Plack::Handler::Uvent->new(host => '127.0.0.1', port => 0, @options, server_ready => sub {
            print {$wr} "$_[0]{port}\n";
            close $wr;
        })->run($app);
        POSIX::_exit(0);
    }
    close $wr;
    my $port = <$rd>;
    chomp $port if defined $port;
    return ($pid, $port);
}

# A server on 127.0.0.1, any port: ($server, $port). Every request is
# logged in @$log as { method, path, version, peer_port, body }; the
# handler answers "METHOD PATH BODYLEN" unless `handler` is given;
# `log => undef` keeps no log (a leak test).
sub serve {
    my ($loop, %config) = @_;
    my $keep_log = !exists $config{log} || defined $config{log};
    my $log = delete $config{log} // [];
    my $handler = delete $config{handler};
    my $server = Uvent::HTTP::Server->new({
        locations => [ { host => '127.0.0.1', port => 0 } ],
        %config,
        request_callback => sub {
            my ($req) = @_;
            push @$log, { method => $req->method, path => $req->path, version => $req->http_version,
                          peer_port => $req->peer_port, body => $req->body, headers => $req->headers } if $keep_log;
            return $handler->($req) if $handler;
            $req->respond({ code => 200, headers => [ 'Content-Type' => 'text/plain' ],
                            body => $req->method . ' ' . $req->uri . ' ' . length($req->body) });
        },
    }, $loop);
    $server->run;
    return ($server, $server->sockaddr->{port}, $log);
}

# Run $code (returning a string) in a child while the loop serves; what it
# returned, or undef when it did not finish within $limit seconds.
sub client {
    my ($loop, $code, $limit) = @_;
    return client_wait($loop, client_start($code), $limit);
}

sub client_start {
    my ($code) = @_;
    my ($fh, $file) = File::Temp::tempfile('uvent-serve-XXXXXX', TMPDIR => 1, UNLINK => 1);
    close $fh;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        my $out = eval { $code->() } // "died: $@";
        if (open my $o, '>', $file) { binmode $o; print $o $out; close $o }
        POSIX::_exit(0);
    }
    return { pid => $pid, file => $file };
}

sub client_wait {
    my ($loop, $c, $limit) = @_;
    my $done = run_until($loop, sub { $c->{exited} ||= waitpid($c->{pid}, POSIX::WNOHANG()) > 0 }, $limit // 20);
    if (!$done) {
        kill 'KILL', $c->{pid};
        waitpid $c->{pid}, 0;
        return undef;
    }
    open my $i, '<', $c->{file} or return undef;
    binmode $i;
    local $/;
    return scalar <$i>;
}

# In a child: connect, send $bytes (in pieces of `drip` bytes, `pause`
# seconds apart, when given), read until the server closes (at most
# `limit` seconds). What was read; with `stamp`, "<time>\n" before it.
sub raw_exchange {
    my ($port, $bytes, %o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5) or return "connect: $!";
    my $deadline = Time::HiRes::time() + ($o{limit} // 10);
    my $sel = IO::Select->new($s);
    my $got = '';
    my $read = sub {
        my ($wait) = @_;
        while ($sel->can_read($wait)) {
            my $n = sysread $s, $got, 65536, length $got;
            return 0 unless $n;
            $wait = 0;
        }
        return 1;
    };
    if ($o{drip}) {
        while (length $bytes && Time::HiRes::time() < $deadline) {
            my $piece = substr $bytes, 0, $o{drip}, '';
            last unless defined syswrite $s, $piece;
            last unless $read->($o{pause} // 1);
        }
    } else {
        syswrite $s, $bytes;
    }
    1 while Time::HiRes::time() < $deadline && $read->(0.2);
    return $o{stamp} ? Time::HiRes::time() . "\n" . $got : $got;
}

# The responses in a byte string, each [status, {lowercase headers}, body] (Content-Length framed).
sub split_responses {
    my ($text) = @_;
    my @r;
    while ($text =~ s{\AHTTP/1\.[01] (\d{3})[^\r\n]*\r\n((?:[^\r\n]+\r\n)*)\r\n}{}) {
        my ($status, $head) = ($1, $2);
        my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () } split /\r\n/, $head;
        my $len = $h{'content-length'} // 0;
        push @r, [ $status, \%h, substr($text, 0, $len, '') ];
    }
    return @r;
}

1;
