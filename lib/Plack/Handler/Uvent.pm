package Plack::Handler::Uvent;
use strict;
use warnings;
use Carp ();
use Scalar::Util ();

our $VERSION = '0.06';

require Uvent;

# plackup's own keys, and those it passes with dashes made underscores
my %MANAGER = map { $_ => 1 } qw(start_servers min_servers max_servers min_spare_servers max_spare_servers max_load min_load
    load_average_period check_interval spawn_rate max_requests min_worker_ttl activity_timeout termination_timeout);
my %SERVER = map { $_ => 1 } qw(idle_timeout read_timeout write_timeout max_headers_size max_body_size max_multipart_size
    max_keepalive_requests max_connections backlog reuse_port tcp_nodelay);
my %TLS = (ssl_cert => 'cert_file', ssl_key => 'key_file', ssl_ca => 'ca_file', ssl_verify_client => 'verify_client');
my %PLACKUP = map { $_ => 1 } qw(host port listen socket server_ready workers enable_ssl daemonize);

sub new {
    my ($class, %opts) = @_;
    if (my @unknown = grep { !$MANAGER{$_} && !$SERVER{$_} && !$TLS{$_} && !$PLACKUP{$_} } keys %opts) {
        Carp::croak("Plack::Handler::Uvent: unknown option" . (@unknown > 1 ? 's' : '') . ' '
            . join(', ', map { my $o = $_; $o =~ tr/_/-/; "--$o" } sort @unknown));
    }
    return bless { %opts }, $class;
}

sub _locations {
    my ($self) = @_;
    my @listen = @{ $self->{listen} // [] };
    @listen = (($self->{host} // '0.0.0.0') . ':' . ($self->{port} // 5000)) unless @listen;
    my %tls;
    if ($self->{enable_ssl} || $self->{ssl_cert}) {
        Carp::croak('Plack::Handler::Uvent: --enable-ssl needs --ssl-cert and --ssl-key')
            unless $self->{ssl_cert} && $self->{ssl_key};
        %tls = (tls => { map { defined $self->{$_} ? ($TLS{$_} => $self->{$_}) : () } keys %TLS });
    }
    my @locs;
    for my $l (@listen) {
        my %loc;
        if ($l =~ /\A(?:\[([^\]]+)\]|([^:]*)):(\d+)\z/) {
            %loc = (host => (defined $1 ? $1 : length $2 ? $2 : '0.0.0.0'), port => $3);
        }
        else { %loc = (path => $l) }
        for my $k (qw(backlog reuse_port tcp_nodelay)) {
            $loc{$k} = $self->{$k} if defined $self->{$k};
        }
        push @locs, { %loc, %tls };
    }
    return \@locs;
}

sub run {
    my ($self, $app) = @_;
    my %server = (locations => $self->_locations, map { defined $self->{$_} ? ($_ => $self->{$_}) : () } keys %SERVER);
    delete $server{$_} for qw(backlog reuse_port tcp_nodelay);
    my %mgr = map { defined $self->{$_} ? ($_ => $self->{$_}) : () } keys %MANAGER;
    if (defined $self->{workers}) {
        Carp::croak("Plack::Handler::Uvent: --workers must be a whole number, got '$self->{workers}'")
            unless $self->{workers} =~ /\A\d+\z/;
        %mgr = (%mgr, start_servers => $self->{workers}, min_servers => $self->{workers}, max_servers => $self->{workers});
    }
    my $single = defined $mgr{max_servers} && $mgr{max_servers} == 0;
    my $multiprocess = !$single;
    my ($addr, $where);    # SERVER_NAME and SERVER_PORT: the first listener's, looked up once
    my $handler = sub { _handle($app, $_[0], $multiprocess, $addr //= $where->()) };
    if ($single) {
        require Uvent::HTTP::Server;
        my $loop = Uvent::Loop->default;
        my $srv = Uvent::HTTP::Server->new({ %server, request_callback => $handler, stop_callback => sub { $loop->stop } },
            $loop);
        $srv->run;
        $where = sub { my ($l) = $srv->listeners; [ $l->{host}, $l->{port} ] };
        $self->_ready([ $where->() ]);
        my $stop = sub { $srv->graceful_stop };
        local $SIG{TERM} = $stop;
        local $SIG{INT} = $stop;
        # signals reach Perl between callbacks: a tick keeps that prompt
        my $tick = Uvent::Timer->new($loop);
        $tick->start(0.2, 0.2, sub { });
        $loop->run;
        $tick->stop;
        return;
    }
    require Uvent::HTTP::Manager;
    my $m;
    $m = Uvent::HTTP::Manager->new({
        %mgr, server => \%server, request_callback => $handler,
        spawn_callback => do { my $told; sub { $self->_ready([ $_[1]->sockaddrs ]) unless $told++ } },
    });
    $where = sub { ($m->sockaddrs)[0] };
    $m->run;
    return;
}

sub _ready {
    my ($self, $addrs) = @_;
    my $cb = $self->{server_ready} or return;
    my ($first) = @$addrs;
    $cb->({ host => $first->[0], port => $first->[1], proto => ($self->{ssl_cert} ? 'https' : 'http'),
        server_software => 'Uvent' });
}

# ---------------------------------------------------------------- PSGI

my %NO_HTTP_PREFIX = (CONTENT_TYPE => 1, CONTENT_LENGTH => 1);

sub _env {
    my ($req, $multiprocess, $addr) = @_;
    my $target = $req->uri;
    $target =~ s{\A[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*}{};    # an absolute-form target's path
    my ($path, $query) = $target =~ /\A([^?#]*)(?:\?([^#]*))?/;
    (my $path_info = $path) =~ s/%([0-9A-Fa-f]{2})/chr hex $1/eg;
    my $body = $req->body;
    open my $input, '<', \$body or die "Plack::Handler::Uvent: cannot open psgi.input: $!";
    my %env = (
        REQUEST_METHOD => $req->method, SCRIPT_NAME => '', PATH_INFO => $path_info, REQUEST_URI => $target,
        QUERY_STRING => $query // '', SERVER_PROTOCOL => 'HTTP/' . $req->http_version,
        SERVER_NAME => $addr->[0], SERVER_PORT => $addr->[1],
        REMOTE_ADDR => $req->peer_address, REMOTE_PORT => $req->peer_port,
        'psgi.version' => [ 1, 1 ], 'psgi.url_scheme' => ($req->is_secure ? 'https' : 'http'),
        'psgi.input' => $input, 'psgi.errors' => *STDERR, 'psgi.multithread' => '', 'psgi.multiprocess' => $multiprocess ? 1 : '',
        'psgi.run_once' => '', 'psgi.nonblocking' => 1, 'psgi.streaming' => 1, 'psgix.input.buffered' => 1,
        'psgix.harakiri' => $multiprocess ? 1 : '',
        'psgix.informational' => sub { _informational($req, @_) },
    );
    my @h = $req->header_list;
    while (my ($name, $value) = splice @h, 0, 2) {
        (my $key = uc $name) =~ tr/-/_/;
        $key = "HTTP_$key" unless $NO_HTTP_PREFIX{$key};
        $env{$key} = exists $env{$key} ? "$env{$key}, $value" : $value;
    }
    $env{CONTENT_LENGTH} //= length $body if length $body;
    # psgix.io for a protocol upgrade: the connection is handed over when
    # the app first reads the key (a plain HTTP/1.1 connection only)
    tie $env{'psgix.io'}, 'Plack::Handler::Uvent::IO', $req
        if exists $env{HTTP_UPGRADE} && !$req->is_secure && $req->http_version ne '1.0';
    return \%env;
}

# psgix.informational: a 1xx before the final response; an HTTP/1.0
# client knows none, so it gets none
sub _informational {
    my ($req, $code, $headers) = @_;
    return if $req->http_version eq '1.0' || !$req->is_active;
    $req->send_informational($code, $headers // []);
    return;
}

sub _handle {
    my ($app, $req, $multiprocess, $addr) = @_;
    my $env = _env($req, $multiprocess, $addr);
    my $res = eval { $app->($env) };
    return _error($req, $@) if !defined $res && $@;
    if (ref $res eq 'ARRAY') {
        _send($req, $env, $res);
    }
    elsif (ref $res eq 'CODE') {
        my $ok = eval {
            $res->(sub {
                my ($r) = @_;
                return _send($req, $env, $r) if defined $r->[2];
                return _writer($req, $env, $r);
            });
            1;
        };
        _error($req, $@) unless $ok;
    }
    else {
        _error($req, "the app returned " . (defined $res ? "'$res'" : 'undef') . ", not an arrayref or a coderef\n");
    }
    return;
}

sub _error {
    my ($req, $why) = @_;
    warn "Plack::Handler::Uvent: $why";
    $req->respond({ code => 500, headers => [ 'Content-Type' => 'text/plain' ], body => "Internal Server Error\n" })
        if $req->is_active;
}

sub _headers {
    my ($h, $streamed) = @_;
    return $h // [] unless $streamed;    # respond reads it, never changes it
    my @h = @{ $h // [] };
    # a streamed body is framed by the server: by the app's Content-Length
    # (the last one, when it is a number), else chunked or to the close
    my (@out, $length);
    while (my ($k, $v) = splice @h, 0, 2) {
        if (lc $k eq 'content-length') { $length = $v if $v =~ /\A[0-9]+\z/; next }
        push @out, $k, $v unless lc $k eq 'transfer-encoding';
    }
    push @out, 'Content-Length' => $length if defined $length;
    return (\@out, $length);
}

sub _send {
    my ($req, $env, $r) = @_;
    my ($code, $headers, $body) = @$r;
    # answered already: the app took the connection (psgix.io), or its client left
    if (!$req->is_active) {
        eval { $body->close } if ref $body ne 'ARRAY';
        return;
    }
    if (ref $body eq 'ARRAY') {
        $req->respond({ code => $code, headers => _headers($headers), body => join '', map { defined $_ ? $_ : '' } @$body });
    }
    else {
        # a filehandle (or an object with getline): one piece per drain
        my $w = _writer($req, $env, [ $code, $headers ]);
        if ($env->{REQUEST_METHOD} eq 'HEAD' || $code == 204 || $code == 304) {
            # no body goes out: none is read
            eval { $body->close };
            return $w->close;
        }
        my $file = ref $body eq 'GLOB' || (Scalar::Util::blessed($body) && $body->isa('IO::Handle'));
        $file &&= defined(eval { fileno $body }) && -f $body;
        return _pump($w, $body, $file);
    }
    _harakiri($env);
    return;
}

my $PIECE = 65536;

# The next piece of a body, once the socket took the last: a slow client
# holds one piece in memory, and the loop serves others meanwhile. A real
# file is read $PIECE bytes at a time; other bodies one getline a time
# (with $/ at $PIECE bytes, as Plack's own servers set it).
sub _pump {
    my ($w, $body, $file) = @_;
    my ($piece, $ok);
    $ok = eval {
        if ($file) {
            my $n = read $body, $piece, $PIECE;
            die "read failed: $!\n" unless defined $n;
            undef $piece unless $n;
        }
        else {
            local $/ = \$PIECE;
            $piece = $body->getline;
        }
        1;
    };
    if (!$ok || !defined $piece) {
        my $why = $@;
        eval { $body->close; 1 } or $why ||= $@;
        if ($ok) {
            $w->close;
        }
        else {
            warn "Plack::Handler::Uvent: the body failed: $why";
            $w->{req}->drop;    # cut short: only the close tells the client
        }
        return;
    }
    $w->write($piece) if length $piece;
    # a gone connection: the body is closed and nothing more is read
    $w->{req}->drain_callback(sub { _pump($w, $body, $file) })
        or eval { $body->close };
    return;
}

sub _writer {
    my ($req, $env, $r) = @_;
    return bless { closed => 1 }, 'Plack::Handler::Uvent::Writer' unless $req->is_active;    # writes nothing
    my ($headers, $length) = _headers($r->[1], 1);
    $req->respond_start({ code => $r->[0], headers => $headers });
    return Plack::Handler::Uvent::Writer->new($req, $env, $length);
}

sub _harakiri {
    my ($env) = @_;
    $env->{'psgix.harakiri.commit'} and kill 'TERM', $$;
}

# The value of psgix.io: the socket, taken from the server on the first
# read (undef when it cannot be: bytes read ahead of the request, a write
# queued, the request answered, the connection gone). A value stored
# replaces it.
package Plack::Handler::Uvent::IO;

sub TIESCALAR { my ($class, $req) = @_; bless { req => $req }, $class }
sub FETCH {
    my ($self) = @_;
    return $self->{io} if exists $self->{io};
    my $req = delete $self->{req};
    $self->{io} = $req && $req->is_active ? eval { $req->detach } : undef;
    return $self->{io};
}
sub STORE { my ($self, $v) = @_; delete $self->{req}; $self->{io} = $v }

package Plack::Handler::Uvent::Writer;

# `left`: the bytes the app's Content-Length still allows (what is past it is not sent)
sub new { my ($class, $req, $env, $length) = @_; bless { req => $req, env => $env, left => $length }, $class }
sub write {
    my ($self, $data) = @_;
    return if !defined $data || !length $data || $self->{closed};
    if (defined $self->{left}) {
        $data = substr $data, 0, $self->{left} if length $data > $self->{left};
        $self->{left} -= length $data;
        return unless length $data;
    }
    $self->{req}->send_chunk($data);
    return;
}
sub close {
    my ($self) = @_;
    return if $self->{closed}++;
    $self->{req}->send_final_chunk;
    Plack::Handler::Uvent::_harakiri($self->{env});
    return;
}

1;

__END__

=head1 NAME

Plack::Handler::Uvent - run PSGI applications on Uvent::HTTP::Server and its worker manager

=head1 SYNOPSIS

    use Plack::Handler::Uvent;
    use Uvent::HTTP qw(http_get);

    my $app = sub { my ($env) = @_; [ 200, [ 'Content-Type' => 'text/plain' ], [ "hello from $env->{PATH_INFO}\n" ] ] };

    # one process on a free port; once it listens, ask it once and stop (as a TERM would)
    Plack::Handler::Uvent->new(host => '127.0.0.1', port => 0, max_servers => 0, server_ready => sub {
        my ($info) = @_;
        http_get('http://' . join(':', @$info{qw(host port)}) . '/psgi', sub {
            my ($request, $response, $error) = @_;
            print $error ? "failed: $error\n" : $response->body;
            kill 'TERM', $$;
        });
    })->run($app);

From the shell, with plackup:

    plackup -s Uvent --port 5000 app.psgi                  # the manager, its default pool
    plackup -s Uvent --port 5000 --workers 4 app.psgi      # a fixed pool of 4 workers
    plackup -s Uvent --port 5000 --max-servers 0 app.psgi  # one process

=head1 DESCRIPTION

Serves a PSGI application with L<Uvent::HTTP::Server>: by default under
L<Uvent::HTTP::Manager> (the master binds the sockets and forks workers,
each with its own event loop), or in the current process with
C<--max-servers 0>.

It passes Plack's own server suite, C<< Plack::Test::Suite->run_server_tests('Uvent') >>,
in both modes (t/88-plack-suite.t).

=head1 METHODS

=head2 new

    my $handler = Plack::Handler::Uvent->new(%options);

The options below, as plackup passes them (underscores for dashes), plus
C<server_ready> (a code ref called with C<{ host, port, proto,
server_software }> once the sockets listen).

=head2 run

    $handler->run($app);

Serves C<$app> until a TERM or INT (a graceful stop: requests in flight
are answered) or, under the manager, a QUIT; see
L<Uvent::HTTP::Manager/run> for the signals.

=head1 OPTIONS

plackup's C<--host>, C<--port>, C<--listen> (C<host:port>, C<:port>) and
C<--socket>, and with dashes for underscores:

=over

=item the manager's

C<--start-servers>, C<--min-servers>, C<--max-servers> (0: one process,
no manager), C<--min-spare-servers>, C<--max-spare-servers>,
C<--max-load>, C<--min-load>, C<--load-average-period>,
C<--check-interval>, C<--spawn-rate>, C<--max-requests>,
C<--min-worker-ttl>, C<--activity-timeout>, C<--termination-timeout>
(see L<Uvent::HTTP::Manager>), and C<--workers N> for a fixed pool of N
(Starman's meaning: start, min and max servers all N).

=item the server's

C<--idle-timeout>, C<--read-timeout>, C<--write-timeout>, C<--max-headers-size>,
C<--max-body-size>, C<--max-multipart-size> (a C<multipart/form-data>
body's limit in place of C<--max-body-size>; 0, the default, leaves it to
C<--max-body-size>), C<--max-keepalive-requests>, C<--max-connections>,
C<--backlog>, C<--reuse-port>, C<--tcp-nodelay> (see
L<Uvent::HTTP::Server>).

=item TLS

C<--enable-ssl> with C<--ssl-cert> and C<--ssl-key>, and C<--ssl-ca>
with C<--ssl-verify-client> (none, optional, require).

=back

An unknown option croaks, naming it.

=head1 THE PSGI ENVIRONMENT

PSGI 1.1: C<psgi.input> (the buffered body in memory, seekable;
C<psgix.input.buffered> true), C<psgi.errors> (STDERR),
C<psgi.url_scheme> (C<https> on TLS locations), C<psgi.multiprocess> (true
under the manager), C<psgi.multithread> and C<psgi.run_once> false,
C<psgi.nonblocking> and C<psgi.streaming> true (delayed responses and
writers; a writer's body is chunked for HTTP/1.1), C<psgix.harakiri>
under the manager (the worker stops gracefully after the response),
C<psgix.informational> and C<psgix.io> (below).
C<REQUEST_URI> is the request target as sent, C<PATH_INFO> its
percent-decoded path, C<SCRIPT_NAME> empty, C<SERVER_NAME> and
C<SERVER_PORT> the first listener's, C<REMOTE_ADDR> and C<REMOTE_PORT>
the client's.

=head2 Bodies

An array body is sent whole, with a C<Content-Length>. A filehandle
body, or an object with C<getline> and C<close>, is streamed without
blocking the loop: the next piece is read only once the socket took the
last (L<Uvent::HTTP::ServerRequest/drain_callback>), so a large file
sent to a slow client holds one piece in the worker's memory, and the
worker serves its other connections meanwhile. A real file (one with a
C<fileno> that C<-f> calls a plain file) is read 64 KiB at a time; other
bodies get one C<getline> call per piece, with C<$/> set to read 64 KiB.
C<close> is called at the end, or when the client goes away first (for
a HEAD request, a 204 and a 304, at once: nothing is read). A writer's
C<write> (C<psgi.streaming>) queues what it is given at once: an
application pushing a large body that way should pace itself.

A streamed body (a filehandle, or a writer) is chunked for HTTP/1.1 and
runs to the close for HTTP/1.0, unless the application gave a
C<Content-Length>: then that frames it (the connection stays open for
the next request) and bytes past it are not sent; a body shorter than
it closes the connection at its end, which tells the client it was cut
short. A body that dies in C<getline> closes the connection the same
way, with a warning.

=head2 psgix.informational

C<< $env->{'psgix.informational'}->($status, \@headers) >> sends an
informational response (100 to 199 but 101; e.g.
C<< (103, [ Link => '</style.css>; rel=preload; as=style' ]) >> for Early
Hints) before the final one, at once or from a later callback of a
delayed response. An HTTP/1.0 client knows no 1xx: it gets none (the
call does nothing), nor does a request already answered. A bad status
or header dies in the caller (in the application itself: a 500 for its client).

=head2 psgix.io

For a protocol upgrade (WebSocket and the like): a request with an
C<Upgrade> header, over plain HTTP/1.1, has C<psgix.io>. Reading it
hands the connection over (L<Uvent::HTTP::ServerRequest/detach>): the
value is the client's socket (an L<IO::Socket::IP>, blocking), and from
then on the server never reads or writes that connection; the
application writes its own C<101 Switching Protocols> and closes the
socket when done, and a response it returns is ignored. The handover
happens on the first read of the key, not before (it is a tied value),
so an application or middleware that copies the whole environment takes
the socket too. It is undef when the connection cannot be handed over
soundly: bytes already read behind the request (a pipelined request, or
the client's first frames sent before the 101), a 1xx still being
written, the request answered, or the connection gone. It is not set
over TLS (the session's keys live in the server: a raw socket would
carry records nobody else can read) nor for HTTP/1.0 or requests
without C<Upgrade>.

An application that dies, or returns something that is not a response,
gets a 500 for its client, and a warning on STDERR; the server goes on.

A nonblocking application may answer later (a delayed response) from any
Uvent callback, for instance the C<response_callback> of an
L<Uvent::HTTP/http_request> on the worker's loop, which is
C<< Uvent::Loop->default >>: the worker serves other requests meanwhile.

=head1 LIMITATIONS

C<psgix.io> is only provided as above; unix sockets (C<--socket>) are
not supported yet.

=head1 SEE ALSO

L<Uvent::HTTP::Server>, L<Uvent::HTTP::Manager>, L<Plack>, L<plackup>.

=cut
