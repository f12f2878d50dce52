package Uvent::HTTP::Server;
use strict;
use warnings;
use Carp ();
use Scalar::Util ();

our $VERSION = '0.06';

require Uvent;
require Uvent::HTTP::ServerRequest;

$Carp::Internal{$_}++ for qw(Uvent::HTTP::Server Uvent::HTTP::Server::Core Uvent::HTTP::ServerRequest);

my %DEFAULT = (
    idle_timeout => 300, read_timeout => 10, write_timeout => 60, max_headers_size => 16384, max_body_size => 0,
    max_multipart_size => 0, max_keepalive_requests => 0, max_connections => 0, termination_timeout => 10,
);
my %SECONDS = map { $_ => 1 } qw(idle_timeout read_timeout write_timeout termination_timeout);
my @OTHER_KEYS = qw(locations request_callback stop_callback route_callback partial_callback);
my %LOCATION_DEFAULT = (host => '127.0.0.1', port => 0, backlog => 4096, reuse_port => 0, tcp_nodelay => 1);
my @LOCATION_OTHER = qw(path tls fd);
my %TLS_KEYS = map { $_ => 1 } qw(cert_file key_file ca_file ca_path ciphers verify_client min_version);
my %VERIFY = (none => 0, optional => 1, require => 2);

sub _what { Uvent::_shown(defined $_[0] ? (ref $_[0] ? ref $_[0] : $_[0]) : 'undef') }

sub _known {
    my ($what, $h, @known) = @_;
    my %k = map { $_ => 1 } @known;
    my @unknown = grep { !$k{$_} } keys %$h;
    Carp::croak("Uvent::HTTP::Server->new: unknown $what key" . (@unknown > 1 ? 's' : '') . ' '
        . join(', ', map { "'" . Uvent::_shown($_) . "'" } sort @unknown) . ' (known: ' . join(', ', sort @known) . ')')
        if @unknown;
}

sub _number {
    my ($name, $v, $seconds) = @_;
    my $ok = defined $v && !ref $v && $v =~ /\A\s*[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?\s*\z/ && $v <= 1e9;
    $ok &&= $v == int($v) unless $seconds;
    Carp::croak("Uvent::HTTP::Server->new: '$name' must be "
        . ($seconds ? 'a finite number of seconds >= 0 (at most 1e9)' : 'a whole number >= 0') . ", got '" . _what($v) . "'")
        unless $ok;
    return $v + 0;
}

sub _location {
    my ($i, $loc) = @_;
    Carp::croak("Uvent::HTTP::Server->new: locations->[$i] must be a hashref, got " . _what($loc)) unless ref $loc eq 'HASH';
    _known("locations->[$i]", $loc, keys %LOCATION_DEFAULT, @LOCATION_OTHER);
    if (defined(my $path = $loc->{path})) {
        # a unix socket: no host or port, and no reuse_port (one process binds it); tcp_nodelay does not apply
        my @tcp = grep { exists $loc->{$_} } qw(host port reuse_port);
        Carp::croak("Uvent::HTTP::Server->new: locations->[$i] has a path (a unix socket) and "
            . join(' and ', map { "'$_'" } @tcp) . ': give either path or host and port') if @tcp && !defined $loc->{fd};
        Carp::croak("Uvent::HTTP::Server->new: locations->[$i]{path} must be a file path, got '" . _what($path) . "'")
            if ref $path || $path eq '' || $path =~ /\0/;
    }
    my %l = (%LOCATION_DEFAULT, %$loc);
    if (defined $l{fd}) {
        # a socket bound by a parent process (Uvent::HTTP::Manager, Server::Starter): it is the server's from run on
        Carp::croak("Uvent::HTTP::Server->new: locations->[$i]{fd} must be a file descriptor number, got '" . _what($l{fd}) . "'")
            unless !ref $l{fd} && $l{fd} =~ /\A\d+\z/;
    }
    Carp::croak("Uvent::HTTP::Server->new: locations->[$i]{host} must be an IPv4 or IPv6 address, got '" . _what($l{host}) . "'")
        unless defined $l{host} && !ref $l{host} && $l{host} =~ /\A(?:[0-9.]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)\z/;
    $l{port} = _number("locations->[$i]{port}", $l{port});
    Carp::croak("Uvent::HTTP::Server->new: locations->[$i]{port} must be 0 to 65535, got $l{port}") if $l{port} > 65535;
    $l{backlog} = _number("locations->[$i]{backlog}", $l{backlog});
    $l{$_} = $l{$_} ? 1 : 0 for qw(reuse_port tcp_nodelay);
    if (defined(my $tls = $l{tls})) {
        Carp::croak("Uvent::HTTP::Server->new: locations->[$i]{tls} must be a hashref, got " . _what($tls)) unless ref $tls eq 'HASH';
        _known("locations->[$i]{tls}", $tls, keys %TLS_KEYS);
        Carp::croak("Uvent::HTTP::Server->new: locations->[$i]{tls} needs cert_file") unless defined $tls->{cert_file};
        for my $k (grep { defined $tls->{$_} } qw(cert_file key_file ca_file ca_path ciphers)) {
            Carp::croak("Uvent::HTTP::Server->new: locations->[$i]{tls}{$k} must be a string, got " . _what($tls->{$k}))
                if ref $tls->{$k} || $tls->{$k} =~ /\0/;
        }
        my $v = $tls->{verify_client} // 'none';
        Carp::croak("Uvent::HTTP::Server->new: locations->[$i]{tls}{verify_client} must be none, optional or require, got '"
            . _what($v) . "'") unless defined $VERIFY{$v};
        my $min = $tls->{min_version} // 12;
        $min = { 'TLSv1.2' => 12, 'TLSv1.3' => 13, 1.2 => 12, 1.3 => 13, 12 => 12, 13 => 13 }->{$min}
            // Carp::croak("Uvent::HTTP::Server->new: locations->[$i]{tls}{min_version} must be TLSv1.2 or TLSv1.3, got '"
            . _what($min) . "'");
        $l{tls} = { %$tls, verify_client => $VERIFY{$v}, min_version => $min };
    }
    return \%l;
}

sub new {
    my ($class, $config, $loop) = @_;
    Carp::croak("$class->new: expects (\\%config, \$loop) or (\\%config), got " . (@_ - 1) . ' arguments') if @_ > 3;
    Carp::croak("$class->new: the config must be a hashref, got " . _what($config)) unless ref $config eq 'HASH';
    Carp::croak("$class->new: the loop must be a Uvent::Loop, got " . _what($loop))
        if defined $loop && !(Scalar::Util::blessed($loop) && $loop->isa('Uvent::Loop'));
    _known('config', $config, keys %DEFAULT, @OTHER_KEYS);
    my %c = (%DEFAULT, %$config);
    $c{$_} = _number($_, $c{$_}, $SECONDS{$_}) for keys %DEFAULT;
    my $locations = delete $c{locations} // [];
    Carp::croak("$class->new: 'locations' must be an arrayref of hashrefs, got " . _what($locations))
        unless ref $locations eq 'ARRAY';
    Carp::croak("$class->new: 'locations' is empty: give at least one { host => ..., port => ... }") unless @$locations;
    my @loc = map { _location($_, $locations->[$_]) } 0 .. $#$locations;
    my $self = bless { config => \%c, locations => \@loc, loop => $loop // Uvent::Loop->default }, $class;
    $self->request_callback(delete $c{request_callback}) if defined $c{request_callback};
    $self->stop_callback(delete $c{stop_callback}) if defined $c{stop_callback};
    $self->route_callback(delete $c{route_callback}) if defined $c{route_callback};
    $self->partial_callback(delete $c{partial_callback}) if defined $c{partial_callback};
    delete @c{qw(request_callback stop_callback route_callback partial_callback)};
    return $self;
}

for my $name (qw(route_callback partial_callback)) {
    no strict 'refs';
    *$name = sub {
        my ($self, @cb) = @_;
        return $self->{$name} unless @cb;
        Carp::croak("Uvent::HTTP::Server->$name: the callback must be a CODE reference, got " . _what($cb[0]))
            if defined $cb[0] && ref $cb[0] ne 'CODE';
        $self->{$name} = $cb[0];
        $self->{core}->${\"_set_$name"}($cb[0]) if $self->{core};
        return $cb[0];
    };
}

sub stop_callback {
    my ($self, @cb) = @_;
    return $self->{stop_callback} unless @cb;
    Carp::croak('Uvent::HTTP::Server->stop_callback: the callback must be a CODE reference, got ' . _what($cb[0]))
        if defined $cb[0] && ref $cb[0] ne 'CODE';
    return $self->{stop_callback} = $cb[0];
}

sub graceful_stop {
    my ($self) = @_;
    my $core = $self->{core} or return;
    if ($self->{stopping}) {
        $core->_graceful_stop(0, undef);    # a second call: the rest closes now
        return;
    }
    $self->{stopping} = 1;
    Scalar::Util::weaken(my $weak = $self);
    $core->_graceful_stop($self->{config}{termination_timeout}, sub {
        return unless $weak;
        delete $weak->{stopping};
        delete $weak->{core};
        $weak->{stop_callback}->($weak) if $weak->{stop_callback};
    });
    return;
}

sub loop { $_[0]{loop} }

sub request_callback {
    my ($self, @cb) = @_;
    return $self->{request_callback} unless @cb;
    my $cb = $cb[0];
    Carp::croak('Uvent::HTTP::Server->request_callback: the callback must be a CODE reference, got ' . _what($cb))
        if defined $cb && ref $cb ne 'CODE';
    $self->{request_callback} = $cb;
    $self->{core}->_set_request_callback($cb) if $self->{core};
    return $cb;
}

sub run {
    my ($self) = @_;
    Carp::croak('Uvent::HTTP::Server->run: the server is already running') if $self->{core};
    my $c = $self->{config};
    my $core = Uvent::HTTP::Server::Core->_new($self->{loop}, @$c{qw(idle_timeout read_timeout max_headers_size
        max_body_size max_multipart_size max_keepalive_requests max_connections write_timeout)});
    $core->_set_request_callback($self->{request_callback});
    $core->_set_route_callback($self->{route_callback});
    $core->_set_partial_callback($self->{partial_callback});
    for my $l (@{ $self->{locations} }) {
        my $tls = $l->{tls} // {};
        # a failure croaks; the core (with the listeners made so far) goes with it
        $core->_listen(@$l{qw(host port backlog reuse_port tcp_nodelay)}, @$tls{qw(cert_file key_file ca_file ca_path ciphers)},
            $tls->{verify_client} // 0, $tls->{min_version} // 12, $l->{fd} // -1, $l->{path});
    }
    $self->{core} = $core;
    return;
}

sub running { $_[0]{core} ? 1 : 0 }

# Uvent::HTTP::Manager's workers: count the requests in a scoreboard slot.
sub _watch_scoreboard {
    my ($self, $board, $slot) = @_;
    my $core = $self->{core} or Carp::croak('Uvent::HTTP::Server: run it before watching a scoreboard');
    $core->_watch_scoreboard($board, $slot);
}

sub stop {
    my ($self) = @_;
    delete $self->{stopping};
    my $core = delete $self->{core} or return;
    $core->stop;
    return;
}

sub listeners {
    my ($self) = @_;
    return $self->{core} ? $self->{core}->listeners : ();
}

sub sockaddr {
    my ($self) = @_;
    my ($first) = $self->listeners;
    return $first;
}

sub connection_count { $_[0]{core} ? $_[0]{core}->connection_count : 0 }

1;

__END__

=head1 NAME

Uvent::HTTP::Server - an HTTP/1.1 server on the Uvent core

=head1 SYNOPSIS

    use Uvent;
    use Uvent::HTTP::Server;

    my $loop = Uvent::Loop->new;
    my $server = Uvent::HTTP::Server->new({
        locations => [ { host => '127.0.0.1', port => 0 } ],
        idle_timeout => 30, read_timeout => 10, max_body_size => 1_000_000,
        request_callback => sub {
            my ($req) = @_;                    # Uvent::HTTP::ServerRequest
            $req->respond({ code => 200, headers => [ 'Content-Type' => 'text/plain' ],
                            body => "hi " . $req->path });
        },
    }, $loop);
    $server->run;                               # listening now
    my $addr = $server->sockaddr;              # { host, port, tls }, port picked for 0

    # a client on the same loop, then stop
    Uvent::HTTP::Pool->new($loop)->request({
        uri => "http://" . "$addr->{host}:$addr->{port}/there",
        response_callback => sub { print $_[1]->body, "\n"; $server->stop },
    });
    $loop->run;                                 # prints "hi /there"

=head1 DESCRIPTION

A single-process HTTP/1.1 server whose accept, parse, dispatch and
write path is C (the Uvent core's C<src/server/>), with one Perl call per
request. Requests are read whole (head and body, up to C<max_body_size>,
or C<max_multipart_size> for a C<multipart/form-data> body) and handed to C<request_callback> as L<Uvent::HTTP::ServerRequest>
objects; the answer (C<< $req->respond >>) may come at once or later, from
any callback on the loop (a timer, a client request's callback: the
server and L<Uvent::HTTP::Pool> share one loop).

What the server does itself:

=over

=item * keep-alive by the HTTP/1.1 and 1.0 rules (1.0 only with
C<Connection: keep-alive>, which the response then says too);
C<Connection: close> on the last of C<max_keepalive_requests>;

=item * pipelined requests are parsed one at a time and answered strictly
in order (a later request waits for the earlier one's response);

=item * C<Date> and C<Content-Length> on every response, C<Connection> as
needed, no body for HEAD (its C<Content-Length> is the body's that was
given), 204 and 304;

=item * C<Expect: 100-continue> (HTTP/1.1) is answered with
C<100 Continue> once the head has arrived and the body is awaited, or
with the final 413 when the declared body is over C<max_body_size> (or
C<max_multipart_size>);

=item * a request with C<Upgrade> (and C<Connection: upgrade>) reaches
C<request_callback> as any other: answered in HTTP/1.1 the upgrade is
declined and the connection goes on; for a WebSocket or other protocol
the handler takes the connection with
L<Uvent::HTTP::ServerRequest/detach> and writes its own C<101>. C<CONNECT>
gets a 400;

=item * automatic answers, each closing the connection: a malformed
request 400 (every request smuggling shape: C<Content-Length> with
C<Transfer-Encoding>, two C<Content-Length>s, obs-fold, a bare CR or LF, a
space before the colon; llhttp in strict mode), headers over
C<max_headers_size> 431, a body over C<max_body_size> (or
C<max_multipart_size>) 413 (a declared one before it is read), C<read_timeout> 408, an unsupported
C<Transfer-Encoding> 501, the HTTP/2 preface 505, beyond
C<max_connections> 503. After a response that closes, the server drains
what the client still sends for up to 2 s (a lingering close), so the
client reads the response rather than a reset.

=back

=head1 CONSTRUCTOR

=head2 new(\%config, $loop)

C<$loop> defaults to C<< Uvent::Loop->default >>. Nothing listens until
L</run>. Config keys (an unknown key croaks, naming the known ones):

=over

=item locations

An arrayref of hashrefs, at least one; each: C<host> (an IPv4 or IPv6
literal, default 127.0.0.1), C<port> (0 picks a free port, see
L</listeners>), C<backlog> (default 4096), C<reuse_port> (SO_REUSEPORT),
C<tcp_nodelay> (default 1), C<tls> (below). C<fd> gives a socket already bound by a parent
process instead of C<host> and C<port> (what L<Uvent::HTTP::Manager>'s
workers get, or a socket from Server::Starter): the server owns that
descriptor from L</run> on and closes it when it stops (a unix socket
passed so is served the same; its file is the parent's and stays).

C<path> instead of C<host> and C<port> listens on a unix socket, made
at L</run> (C<< { path => '/run/app.sock' } >>; giving C<host>, C<port>
or C<reuse_port> with it croaks). A file already at the path is refused
("a server is already listening there", or "a file that is not a socket
is in the way") unless it is a stale socket, one that refuses a
connection because nobody listens on it any more: that one is replaced.
A path longer than the system's C<sun_path> (107 bytes on Linux) croaks
in L</run> naming the length and the limit. The server removes the
socket file it made when it stops (L</stop>, L</graceful_stop>, the
object going away), but not from a forked child's copy and not when
another file has taken its place. C<tcp_nodelay> does not apply; C<tls>
works as on TCP. A unix connection's L<Uvent::HTTP::ServerRequest/peer_address>
is the client's path (mostly C<''>: clients seldom bind one) and its
C<peer_port> 0. The file's permissions follow the umask; set them with
C<chmod> after L</run> if other users must (not) connect.

C<tls> makes the location HTTPS: C<cert_file> (PEM chain, required),
C<key_file> (default: in C<cert_file>), C<ca_file> (a PEM file of the CAs
client certificates must chain to) and/or C<ca_path> (a directory of
them, hashed as by C<openssl rehash>), C<verify_client> (C<none>, the
default, C<optional> or C<require>; with neither C<ca_file> nor
C<ca_path> client certificates are verified against the system's trust
store, as seed 000's verifyPeer does), C<ciphers> (an OpenSSL cipher list
for TLS 1.2, e.g. C<ECDHE+AESGCM>; TLS 1.3 keeps OpenSSL's suites),
C<min_version> (C<TLSv1.2>, the default, or C<TLSv1.3>). The CAs of
C<ca_file> and C<ca_path> are named to the client so it can choose its
certificate. Session tickets are on. A plain
HTTP request to a TLS port is closed (the TLS handshake fails).

=item idle_timeout

Seconds a connection may wait for the first byte of a request
(between requests on a kept-alive one); then it is closed without an
answer. 0 = forever. Default 300.

=item read_timeout

Seconds from a request's first byte (or a TLS connection's accept) until
the whole request, head and body, has arrived; else 408 and a close
(a slowloris client gets no longer). 0 = no limit. Default 10.

=item write_timeout

Seconds a response may wait on a client that does not read: when one
write to the socket makes no progress for that long, the connection is
closed (a client that never reads holds a connection no longer, as
nginx's C<send_timeout>). The time a handler takes between its chunks
does not count. 0 = no limit. Default 60.

=item max_headers_size

Bytes of a request's head; beyond it 431. 0 = no limit. Default 16384.

=item max_body_size

Bytes of a request's body; beyond it 413, before any of the body is read
when C<Content-Length> declares it. 0 = no limit (the default).

=item max_multipart_size

Bytes of a buffered request body whose C<Content-Type> is
C<multipart/form-data> (the media type in any case, with any parameters
such as C<boundary>; seed 000's separate multipart limit): such a body is
limited by this instead of C<max_body_size>, larger or smaller, so uploads
may be allowed more (or less) than other bodies. Beyond it 413, before
any of the body is read when C<Content-Length> declares it, else as soon
as the received count passes it (chunked). 0 = no limit of its own:
C<max_body_size> applies to multipart bodies as to any other (the
default; so setting only C<max_body_size> never leaves uploads
unlimited). To let uploads be far larger than other bodies, give a large
number.

A body streamed with C<enable_partial> (in C<route_callback>) is not
limited by C<max_multipart_size>: it is not buffered, and bounding it is
the handler's business (see C<partial_callback> below); C<max_body_size>
still counts it, as it counts every partial body.

=item max_keepalive_requests

Requests per connection; the last one's response says C<Connection:
close>. 0 = unlimited (the default).

=item max_connections

Open connections; a connection beyond it gets 503 and is closed. 0 =
unlimited (the default).

=item termination_timeout

Seconds L</graceful_stop> waits for the requests in flight before closing
them. 0 = no limit. Default 10.

=item request_callback, route_callback, partial_callback, stop_callback

See L</CALLBACKS>.

=back

=head1 METHODS

=head2 run

Listen on every location. Croaks naming the address and the reason (a
port in use, unreadable certificates), and then listens on none. Serving
happens while the loop runs (C<< $loop->run >>). Croaks if already
running.

=head2 stop

Close the listeners and every connection now; unanswered requests are
dropped (their C<drop_callback> runs) and responding to them does
nothing. L</run> may be called again afterwards (on the same ports
unless they were 0).

=head2 graceful_stop

Stop listening and close the idle keep-alive connections now; the
requests being read or answered finish, their responses saying
C<Connection: close>. A connection accepted but not used yet is not
idle: its client's request is on its way, so it is read and answered
(with C<Connection: close>) if it comes within C<read_timeout>, and the
connection is closed otherwise; a restart under load (the Manager's HUP)
thus fails no request. When the last connection has closed,
C<stop_callback> runs (from the loop, never from this call). After
C<termination_timeout> seconds, or at a second call, the rest are closed
as by L</stop> (their requests dropped) and C<stop_callback> follows.
L</stop> during a graceful stop ends it at once, without the callback.

=head2 stop_callback([$cb])

Get or set the callback of L</graceful_stop>.

=head2 route_callback([$cb])

=head2 partial_callback([$cb])

Get or set those callbacks (see L</CALLBACKS>).

=head2 listeners

The listening addresses, each a hashref C<< { host, port, tls } >>
(C<port> is the one chosen for 0), or C<< { path, tls } >> for a unix
socket; empty when not running.

=head2 sockaddr

The first of L</listeners>, or undef.

=head2 request_callback([$cb])

Get or set the callback.

=head2 running

Whether it runs (between L</run> and L</stop>).

=head2 connection_count

Its open connections (refused ones that are still closing included).

=head2 loop

Its loop.

=head1 CALLBACKS

=head2 request_callback($request)

Runs once per request, when all of it (head and body) has arrived, with
a L<Uvent::HTTP::ServerRequest>. Answer with C<< $request->respond >>,
now or later (keep C<$request> until then). If the callback dies, the
client gets a 500 (unless a response was already given), the connection
closes after it, and the exception propagates out of C<< $loop->run >>
(as a client callback's does); the server keeps serving when the loop
runs again. A request whose object is freed unanswered gets a 500 the
same way.

=head2 route_callback($request)

Optional; runs when a request's head has arrived, before its body. It
may answer at once (C<request_callback> then does not run for it; if the
body was not read yet, the connection closes after the answer), or call
C<< $request->enable_partial >> to have the body delivered to
C<partial_callback> as it arrives instead of buffered. A request object
dropped here is not answered for you: C<request_callback> follows. If it
dies, the client gets a 500 and the connection closes.

=head2 partial_callback($request, $chunk)

With C<enable_partial>: each piece of the body as it arrives
(C<max_body_size> still counts them, C<max_multipart_size> does not: a
streamed upload's size is the handler's to bound); C<request_callback>
follows with an empty body. C<< $request->pause >> and C<< ->resume >> stop and restart
reading the connection (pieces already read may still come). If it dies,
the client gets a 500 and the connection closes.

=head2 stop_callback($server)

Runs once when a L</graceful_stop> is done. If it dies, the exception
propagates out of C<< $loop->run >>.

=head1 ERRORS

Bad configuration croaks in C<new> naming the key and the value; a
location that cannot listen croaks in L</run> ("cannot listen on
127.0.0.1:8080: address already in use", "... with TLS: cannot load
cert_file ..."; for a unix socket "cannot listen on unix socket PATH:"
followed by "a server is already listening there", "a file that is not
a socket is in the way (remove it, or choose another path)", "the path
is too long for a unix socket (N bytes, at most M)", or the system's
reason, e.g. "permission denied"). Errors of clients are answered with the automatic
responses above and never reach the callbacks.

=head1 OBJECT LIFETIME

Keep the server object: when it is freed the server stops, as by
L</stop>. The loop is kept alive by the server. While the server listens,
C<< $loop->run >> does not return on its own: call L</stop> (from a
callback, a timer or a signal handler) to let it.

=head1 FORK

A child after fork keeps the listeners (a prefork server accepts in each
child) and drops the connections it inherited, without answering them.

=head1 EXAMPLES

F<eg/server.pl> in the distribution is a whole small server: it answers
every request with what was asked, answers F</slow> from a timer after
0.5 s while it serves others, and stops gracefully on SIGINT, SIGTERM or
after the seconds given (C<perl eg/server.pl 0 60>). Perl runs a C<%SIG>
handler only when Perl code next runs, and a waiting loop runs none: the
handler sets a flag, and a 0.1 s timer sees it and calls L</graceful_stop>.

=head1 SEE ALSO

L<Uvent::HTTP::ServerRequest>, L<Uvent::HTTP::Pool>, L<Uvent>;
UniEvent::HTTP::Server, whose names this follows.

=head1 LICENSE

Same terms as Perl itself.

=cut
