package Uvent::HTTP::ServerRequest;
use strict;
use warnings;
use Carp ();
use POSIX ();

our $VERSION = '0.06';

require Uvent;

# method, uri, body, http_version, peer_address, peer_port, is_secure,
# is_active, header, header_list, drop, queued_bytes: XS (xs/server.xsh)

my %RESPONSE_KEYS = map { $_ => 1 } qw(code message headers body);

sub path {
    my ($path) = split /\?/, $_[0]->uri, 2;
    return $path;
}

sub query {
    my (undef, $query) = split /\?/, $_[0]->uri, 2;
    return $query;
}

sub headers {
    my ($self) = @_;
    my @list = $self->header_list;
    my %h;
    while (my ($n, $v) = splice @list, 0, 2) {
        $n = lc $n;
        $h{$n} = exists $h{$n} ? "$h{$n}, $v" : $v;
    }
    return \%h;
}

sub client_certificate {
    my ($self, %o) = @_;
    if (my @unknown = grep { $_ ne 'pem' } keys %o) {
        Carp::croak('Uvent::HTTP::ServerRequest->client_certificate: unknown option'
            . (@unknown > 1 ? 's' : '') . ' ' . join(', ', map { "'" . Uvent::_shown($_) . "'" } sort @unknown) . " (known: pem)");
    }
    return $self->_client_certificate($o{pem} ? 1 : 0);
}

sub _what { Uvent::_shown(defined $_[0] ? (ref $_[0] ? ref $_[0] : $_[0]) : 'undef') }

# (code, message, [flat headers]) of a response hash, checked; `what` names the method
# the keys each method takes (made once: respond runs for every request)
my %HEAD_KEYS = (respond => \%RESPONSE_KEYS, respond_start => { map { $_ => 1 } qw(code message headers) },
    send_informational => { headers => 1 });

sub _head {
    my ($what, $r) = @_;
    my $known = $HEAD_KEYS{$what};
    Carp::croak("Uvent::HTTP::ServerRequest->$what" . ': expects a hashref { ' . join(', ', sort keys %$known) . ' }, got ' . _what($r)) unless ref $r eq 'HASH';
    for (keys %$r) {
        next if $known->{$_};
        my @unknown = sort grep { !$known->{$_} } keys %$r;
        Carp::croak("Uvent::HTTP::ServerRequest->$what" . ': unknown key' . (@unknown > 1 ? 's' : '') . ' '
            . join(', ', map { "'" . Uvent::_shown($_) . "'" } @unknown) . ' (known: ' . join(', ', sort keys %$known) . ')');
    }
    my $code = $r->{code} // 200;
    Carp::croak("Uvent::HTTP::ServerRequest->$what" . ": code must be a status from 200 to 999, got '" . _what($code) . "'")
        unless !ref $code && $code =~ /\A[0-9]{3}\z/ && $code >= 200;
    my $h = $r->{headers} // [];
    my @flat;
    if (ref $h eq 'HASH') {
        for my $n (sort keys %$h) {
            push @flat, map { ($n, $_) } ref $h->{$n} eq 'ARRAY' ? @{ $h->{$n} } : ($h->{$n});
        }
    } elsif (ref $h eq 'ARRAY') {
        Carp::croak("Uvent::HTTP::ServerRequest->$what" . ': headers arrayref must have an even number of elements (name, value, ...)') if @$h % 2;
        @flat = @$h;
    } else {
        Carp::croak("Uvent::HTTP::ServerRequest->$what" . ': headers must be a hashref or an arrayref, got ' . _what($h));
    }
    if (grep { !defined } @flat) {
        my ($i) = grep { !defined $flat[$_] } 0 .. $#flat;
        Carp::croak("Uvent::HTTP::ServerRequest->$what" . ': header ' . ($i % 2 ? "'$flat[$i - 1]' has an undef value" : 'name is undef'));
    }
    return ($code, $r->{message}, \@flat);
}

sub respond_start {
    my ($self, $r) = @_;
    return $self->_respond_start(_head('respond_start', $r), undef) == 0 ? 1 : 0;
}

sub respond {
    my ($self, $r) = @_;
    my @head = _head('respond', $r);
    my $body = $r->{body};
    Carp::croak('Uvent::HTTP::ServerRequest->respond: body must be a string, got ' . _what($body)) if ref $body;
    return $self->_respond(@head, $body) == 0 ? 1 : 0;
}

sub send_informational {
    my ($self, $code, $headers, $message) = @_;
    my $m = 'Uvent::HTTP::ServerRequest->send_informational';
    Carp::croak("$m: code must be a status from 100 to 199 but 101, got '" . _what($code) . "'")
        unless defined $code && !ref $code && $code =~ /\A1[0-9]{2}\z/ && $code != 101;
    my (undef, undef, $flat) = _head('send_informational', { headers => $headers // [] });
    return $self->_send_informational($code, $message, $flat) == 0 ? 1 : 0;
}

sub detach {
    my ($self) = @_;
    my $fd = $self->_detach;
    return undef if $fd < 0;
    require IO::Socket::IP;
    my $sock = IO::Socket::IP->new_from_fd($fd, '+<');
    if (!$sock) {
        my $why = $!;
        POSIX::close($fd);
        Carp::croak("Uvent::HTTP::ServerRequest->detach: cannot open a handle on descriptor $fd: $why");
    }
    $sock->blocking(1);    # as a new socket is; an event loop sets its own
    $sock->autoflush(1);
    return $sock;
}

sub drain_callback {
    my ($self, $cb) = @_;
    Carp::croak('Uvent::HTTP::ServerRequest->drain_callback: the callback must be a CODE reference, got ' . _what($cb))
        unless ref $cb eq 'CODE';
    return $self->_drain_callback($cb) ? 1 : 0;
}

sub drop_callback {
    my ($self, $cb) = @_;
    Carp::croak('Uvent::HTTP::ServerRequest->drop_callback: the callback must be a CODE reference, got ' . _what($cb))
        if defined $cb && ref $cb ne 'CODE';
    $self->_set_drop_callback($cb);
    return;
}

1;

__END__

=head1 NAME

Uvent::HTTP::ServerRequest - a request received by Uvent::HTTP::Server

=head1 SYNOPSIS

    use Uvent;
    use Uvent::HTTP::Server;
    my $loop = Uvent::Loop->new;
    my $server = Uvent::HTTP::Server->new({
        locations => [ { port => 0 } ],
        request_callback => sub {
            my ($req) = @_;
            Uvent::Timer->once(0.1, sub {                # answer later
                $req->respond({ code => 200, headers => { 'Content-Type' => 'text/plain' },
                                body => $req->method . ' ' . $req->path . ' ' . ($req->query // '') });
            }, $loop);
        },
    }, $loop);
    $server->run;
    my $addr = $server->sockaddr;
    Uvent::HTTP::Pool->new($loop)->request({
        uri => "http://" . "$addr->{host}:$addr->{port}/p?q=1",
        response_callback => sub { print $_[1]->body, "\n"; $server->stop },
    });
    $loop->run;                                          # GET /p q=1

=head1 DESCRIPTION

What C<request_callback> gets: one whole request (head and body) and the
means to answer it once.

=head1 METHODS

=over

=item method

The request line's method ("GET").

=item uri

The request target as sent ("/p?q=1").

=item path

Its part before the first "?".

=item query

Its part after the first "?", or undef without one.

=item http_version

"1.1" or "1.0".

=item body

The body as bytes ("" for none; a chunked body is de-chunked).

=item headers

A hashref of the headers with lowercase names (repeated ones joined
with ", ").

=item header($name)

The value of one (any case, repeated ones joined the same way), or undef.

=item header_list

The (name, value, ...) list as received, trailers of a chunked body
after the headers.

=item peer_address

The client's address (an IP literal); on a unix-socket location the
client's socket path, mostly C<''> (clients seldom bind one).

=item peer_port

The client's port; 0 on a unix-socket location.

=item is_secure

Whether it came over TLS.

=item client_certificate

The client certificate the TLS handshake verified (a location with
C<verify_client> C<optional> or C<require>), as
C<< { subject => 'CN=...', issuer => 'CN=...' } >> (RFC 2253 text), or
undef when none was presented.

C<< client_certificate(pem => 1) >> adds C<pem>, the certificate itself
as PEM text (C<-----BEGIN CERTIFICATE-----> ...), for checks of your
own (a fingerprint, an extension, pinning). It is made only when asked,
from the certificate the request holds, so it works after the
connection has closed too. An unknown option croaks.

=back

=head2 respond(\%response)

C<code> (200..999, default 200), C<message> (default: the standard
reason), C<headers> (a hashref, whose value may be an arrayref for a
repeated header, or an arrayref of name, value pairs), C<body> (bytes).
The server adds C<Date> (unless given), C<Content-Length>, and
C<Connection> as the keep-alive rules decide; a C<Connection: close>
given closes the connection after the response. It croaks, sending
nothing, for a bad status, header name or value (a CR, LF or NUL), a
C<Transfer-Encoding> (the server frames bodies), a C<Content-Length>
other than the body's, a body for 204 or 304, characters above 255
(encode them first), and when the request was already answered. It
returns 1, or 0 when the client's connection is gone (nothing to send).
A response may be given from any callback, at any later time.

=head2 respond_start(\%head)

Start a streamed response: C<code>, C<message>, C<headers> as for
C<respond>. Without a C<Content-Length> the body is chunked for
HTTP/1.1, and for an HTTP/1.0 client it runs to the close; with one,
the body is framed by it and held to it (a piece past it croaks, and a
final chunk short of it closes the connection after it: the client sees
the body cut short). Then C<send_chunk> and C<send_final_chunk>.
Returns 1, or 0 when the connection is gone.

=head2 send_chunk($data)

The next piece of a streamed body (an empty one sends nothing). Returns
1, or 0 when the connection is gone (stop sending then). Croaks before
C<respond_start> or after C<send_final_chunk>.

=head2 send_final_chunk([$data])

The last piece (may be empty or omitted): the response is complete, and
the connection goes on with the next request. If the request object is
freed, or the callback dies, before it, the connection is closed (the
client sees the body cut short).

=head2 drain_callback($cb)

Back-pressure for a streamed body: C<< $cb->($request) >> runs once,
from the loop, when everything sent so far has been handed to the
socket (on the next tick if it already has), or when the connection
goes away before (then C<send_chunk> returns 0). Send the next piece
from it and ask again: a slow client then holds one piece in memory,
not the whole body, and the loop serves others meanwhile. Asking again
before it ran replaces the callback. The request (and C<$cb>) are kept
alive until it runs; C<send_final_chunk> and C<drop> cancel it. Returns
1, or 0 when the connection is gone (C<$cb> is not kept). Croaks outside
a streamed response (before C<respond_start>, after C<send_final_chunk>)
and for a C<$cb> that is not a CODE reference. If C<$cb> dies, the
connection is closed and the exception propagates out of
C<< $loop->run >>.

=head2 queued_bytes

The bytes given for the response and not yet handed to the socket (0
when the connection is gone).

=head2 send_informational($code, \@headers [, $message])

An informational (1xx) response before the final one, e.g.
C<< $req->send_informational(103, [ Link => '</s.css>; rel=preload' ]) >>
for Early Hints; C<$code> 100 to 199 but 101 (an upgrade is not done
this way), headers as for C<respond> (no C<Content-Length>,
C<Transfer-Encoding> or C<Connection>), C<$message> the reason phrase
(default: the standard one). It may be sent several times. Croaks for a
bad code or header, after the final response began, for an
HTTP/1.0 client (it knows no 1xx: check C<http_version>), and from the
route_callback or partial_callback before the body is read. Returns 1, or
0 when the connection is gone.

=head2 detach

Hand the connection over (a protocol upgrade such as WebSocket): returns
a socket handle (L<IO::Socket::IP>, blocking, autoflush) and the server
forgets the connection: it never reads or writes it again, and the
request counts as answered (C<respond> returns 0). The caller writes its
own response (C<101 Switching Protocols>) and closes the handle when
done. Only for a plain (not TLS) connection whose request is unanswered,
with no byte read ahead of it (a pipelined request) and none queued to
write (a 1xx or a 100 Continue still on its way): else it croaks saying
which. Returns undef when the connection is gone.

=head2 drop

Close the connection now, without an answer.

=head2 enable_partial

In C<route_callback>: deliver the body to the server's
C<partial_callback> piece by piece instead of buffering it. Croaks
elsewhere.

=head2 pause

=head2 resume

Stop reading the request's connection (back-pressure for a partial body;
pieces already read may still arrive), and start again.

=head2 is_active

True while the request waits for its response on an open connection.

=head2 drop_callback($cb)

C<< $cb->($request) >> runs if the connection goes away (a reset, a read
error, the server stopped) before the request was answered. If it dies,
the exception propagates out of C<< $loop->run >>.

=head1 OBJECT LIFETIME

The object may be kept as long as wanted (an answer given later). When
the last reference to an unanswered request goes, the server answers it
with 500 and closes the connection: nobody could answer it any more.

=head1 SEE ALSO

L<Uvent::HTTP::Server>.

=head1 LICENSE

Same terms as Perl itself.

=cut
