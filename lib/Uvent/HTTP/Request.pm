package Uvent::HTTP::Request;
use strict;
use warnings;
use Carp ();

our $VERSION = '0.06';

require Uvent;

# the one list of fields, which request(\%params) checks too (xs/request.h)
my @FIELDS = Uvent::HTTP::Request::_fields();
my %FIELD = map { $_ => 1 } @FIELDS;

sub new {
    my ($class, $params) = @_;
    Carp::croak("$class->new: expects a hashref of parameters")
        unless ref $params eq 'HASH';
    if (my @unknown = grep { !$FIELD{$_} } keys %$params) {
        Carp::croak("$class->new: unknown parameter" . (@unknown > 1 ? 's' : '') . ' '
            . join(', ', map { "'" . Uvent::_shown($_) . "'" } sort @unknown) . ' (known: ' . join(', ', @FIELDS) . ')');
    }
    return bless {%$params}, $class;
}

for my $field (@FIELDS) {
    no strict 'refs';
    *$field = sub {
        my $self = shift;
        if (@_) {
            # a new scalar: the responses of earlier submissions keep the old one as their uri
            delete $self->{$field} if $field eq 'uri';
            $self->{$field} = shift;
        }
        return $self->{$field};
    };
}

# A pushed body (chunked => 1, no body): the next piece, and the last.
sub send_chunk {
    my ($self, $data) = @_;
    Carp::croak('Uvent::HTTP::Request->send_chunk: expects a piece of the body') unless @_ == 2;
    return $self->_send_body($data, 0);
}

sub send_final_chunk {
    my ($self, $data) = @_;
    return $self->_send_body($data, 1);
}

1;

__END__

=head1 NAME

Uvent::HTTP::Request - the parameters and state of one HTTP request

=head1 SYNOPSIS

    use Uvent;

    my $loop = Uvent::Loop->default;
    my $pool = Uvent::HTTP::Pool->new({}, $loop);

    my $request = Uvent::HTTP::Request->new({
        uri               => 'http://127.0.0.1:8080/upload',
        method            => 'PUT',
        headers           => [ 'Content-Type' => 'text/plain', 'X-Tag' => 'a', 'X-Tag' => 'b' ],
        body              => "some bytes\n",
        timeout           => 10,
        connect_timeout   => 2,
        response_callback => sub {
            my ($request, $response, $error) = @_;
            print $error ? "failed: $error\n" : "stored: " . $response->code . "\n";
        },
    });
    $pool->request($request);
    $loop->run;

    # the same object can be sent again once it has finished
    $request->method('GET');
    $request->body(undef);
    $pool->request($request);

    # give up on it: the callback runs now, with a 'cancelled' error
    $request->cancel if $request->active;

=head1 DESCRIPTION

A request object holds the parameters of an HTTP request and tracks the one
exchange it is part of at a time. Passing a hashref to
L<Uvent::HTTP::Pool/request> creates one for you; create it yourself to keep
a handle for L</cancel>, or to send the same request several times.

C<new> only checks the parameter names. The values are checked, and the
request head is built, when the request is submitted with
L<Uvent::HTTP::Pool/request>, which croaks on bad values (see
L<Uvent::HTTP::Pool/ERRORS>).

The object is a blessed hash; use the accessors, not its keys.

=head1 CONSTRUCTOR

=head2 new

    my $request = Uvent::HTTP::Request->new(\%params);

Creates a request from a (shallow) copy of C<\%params>. The parameters, all
but C<uri> optional, are:

=over 4

=item uri

an absolute C<http://> URI;

=item method

default C<GET>;

=item headers

a hashref, or an arrayref of name/value pairs to keep order and repeats;

=item body

a byte string, a filehandle (read 64 KiB at a time as the socket drains)
or a code reference (called for each next piece; C<''> or undef ends the
body);

=item chunked

true: send the body with chunked transfer encoding; with no C<body>, the
body is pushed with L</send_chunk> and L</send_final_chunk>;

=item continue_callback

code called with C<($request)> when a C<100 Continue> arrives for a
request with an C<Expect: 100-continue> header, just before its body goes;

=item expect_timeout

seconds such a request waits for the 100 before sending its body anyway
(default: the pool's, 1);

=item timeout

seconds for the whole request including queue time, default 20, 0 = none;

=item connect_timeout

seconds for DNS and TCP connect, default: C<timeout>;

=item read_timeout

the longest silence, in seconds, while the response is awaited or read,
default: the pool's (0, none);

=item max_headers_size, max_body_size

response limits in bytes, 0 for none, default: the pool's (unless configured,
65536 and 1073741824; see L<Uvent::HTTP::Pool/CONFIGURATION>);

=item max_header_count

the most response header and trailer lines, 0 for none, default: the
pool's (unless configured, 1000);

=item decompress

ask for compressed bodies and decode them, true or false, default: the
pool's (unless configured, true; see L<Uvent::HTTP::Pool/DECOMPRESSION>);

=item retry

whether the request may be sent again on a new connection when a reused
connection fails before any response byte, default 1;

=item idempotent

treat the request as safe to repeat whatever its method, default 0;

=item tls

TLS settings of an C<https://> request, over the pool's key by key;

=item proxy

the proxy to go through (C<http://>, C<https://>, C<socks5://> or C<socks5h://> URL with
optional C<user:password@>); undef or C<''> goes direct whatever the pool
says; absent: the pool's;

=item response_callback

code called with C<($request, $response, $error)>;

=item family, tcp_nodelay, tcp_keepalive, so_linger, socket_buffer_size, local_address

socket options of the connection the request opens, over the pool's (see
L<Uvent::HTTP::Pool/Socket options>): a request whose options differ from
its pool's gets connections of its own.

=item follow_redirect, redirection_limit, allow_downgrade

whether redirects are followed, how many, and whether from https to http,
default: the pool's (1, 20, 0);

=item redirect_callback

code called with C<($request, $response, $next_uri)> before each redirect is
followed, which stops the chain by returning false;

=item form

an arrayref of name/value pairs or a hashref, sent as a form (urlencoded,
or multipart with files);

=item json

data sent as JSON;

=item cookie_jar

an L<HTTP::CookieJar>-like object, instead of the pool's; undef for none;

=item partial_callback

code called with C<($request, $response, $error)> for the head, each piece
of the body and at its end, instead of holding the body (see
L<Uvent::HTTP::Pool/STREAMING DOWNLOADS>).

=back

(C<chunked>, C<continue_callback> and C<expect_timeout> are described in
L<Uvent::HTTP::Pool/STREAMED UPLOADS>.)

L<Uvent::HTTP::Pool/request> describes each of them in detail.

Croaks with C<Uvent::HTTP::Request-E<gt>new: expects a hashref of parameters>
when C<\%params> is not a hashref, and with
C<Uvent::HTTP::Request-E<gt>new: unknown parameter 'NAME' (known: uri, method,
headers, body, timeout, connect_timeout, read_timeout, max_headers_size,
max_body_size, retry, idempotent, tls, response_callback, family, tcp_nodelay,
tcp_keepalive, so_linger, socket_buffer_size, local_address, proxy,
decompress, max_header_count, follow_redirect, redirection_limit,
allow_downgrade, redirect_callback, form, json, cookie_jar, partial_callback)> (C<parameters>
and a list when several are unknown).

=head1 METHODS

=head2 Accessors

    my $uri = $request->uri;
    $request->uri('http://127.0.0.1:8080/other');

Each parameter of L</new> has an accessor of the same name. With an
argument it sets the parameter and returns the new value; without, it returns
the current value, or undef for a parameter that was not given (the getters
do not report defaults). Values are not checked when set; they are checked
when the request is submitted, or by L</validate>.

Values are read when the request is submitted: changing them while the
request is pending does not affect the exchange in progress (nor the later
hops of a redirect chain, made from what was submitted), but applies to
the next submission. C<uri> set through the accessor is a new scalar: the
responses of earlier submissions keep reporting theirs as
L<Uvent::HTTP::Response/uri>. The exception is C<response_callback>, which is looked
up when the request finishes (see L<Uvent::HTTP::Pool/CALLBACKS>).

=head2 uri

The request URI.

=head2 method

The request method; undef means C<GET>.

=head2 headers

The hashref or arrayref of extra headers, the very reference that was given.

=head2 body

The request body.

=head2 timeout

The whole-request timeout in seconds; undef means 20.

=head2 connect_timeout

The connect timeout in seconds; undef means the value of C<timeout>.

=head2 read_timeout

The read timeout in seconds; undef means the pool's C<read_timeout>
(by default 0, none). See L<Uvent::HTTP::Pool/read_timeout>.

=head2 max_headers_size

The response header limit; undef means the pool's.

=head2 max_body_size

The response body limit; undef means the pool's (by default 1073741824
bytes, 1 GiB), 0 no limit.

=head2 max_header_count

The limit on response header and trailer lines; undef means the pool's (by
default 1000), 0 no limit.

=head2 decompress

Whether the request asks for a compressed body and decodes it; true or
false, undef means the pool's (by default true). See
L<Uvent::HTTP::Pool/DECOMPRESSION>.

=head2 retry

Whether the request may be retried (see
L<Uvent::HTTP::Pool/Requests are never lost>); true or false, undef means 1
(true). With C<< $request->retry(0) >>, a request that would have been
retried fails with C<connection_closed> instead.

=head2 idempotent

Whether the request counts as safe to repeat whatever its method; true or
false, undef means 0 (false). Without it, a request that fails on a reused
connection is retried only if its method is C<GET>, C<HEAD>, C<OPTIONS>,
C<TRACE>, C<PUT> or C<DELETE>, if it has an C<Idempotency-Key> header, or if
not a byte of it had been written.

=head2 tls

The TLS settings of an C<https://> request: a hashref with any of
C<verify>, C<ca_file>, C<ca_path>, C<cert_file>, C<key_file>, C<ciphers>,
C<min_version> and C<server_name> (see L<Uvent::HTTP::Pool/HTTPS>); undef
means the pool's. They are read when the request is submitted.

=head2 proxy

    proxy => 'http://user:secret@proxy.example:3128'
    proxy => 'socks5h://127.0.0.1:1080'
    proxy => undef        # direct, even when the pool has a default proxy

The proxy this request goes through: C<http://host:port> (an HTTP forward
proxy: C<http://> targets are sent to it in absolute form, C<https://>
targets through a C<CONNECT> tunnel), C<https://host:port> (the same over
TLS to the proxy, for C<http://> targets only), C<socks5://host:port> (SOCKS5; Uvent
resolves the target and sends its address) or C<socks5h://host:port>
(SOCKS5; the proxy resolves the target's name). C<user:password@> before the
host (percent-encoded where needed) gives the credentials: C<Proxy-Authorization:
Basic> for an HTTP proxy, the username/password method (RFC 1929) for
SOCKS5. A final C</> is allowed; a path, a query, a missing port, another
scheme, control characters or a reference croak with a message naming
C<proxy> (credentials are not shown in it) and nothing is sent. A key that
is present with undef or C<''> goes direct, overriding the pool's C<proxy>
and C<env_proxy>; an absent key takes the pool's. TLS to an C<https://>
target is end to end: its name and certificate are the target's, never the
proxy's. See L<Uvent::HTTP::Pool/ROUTES AND PROXIES>.

=head2 response_callback

The code reference called when the request finishes (once for a whole
redirect chain).

=head2 partial_callback

The code reference that streams the response body (see
L<Uvent::HTTP::Pool/STREAMING DOWNLOADS>); looked up in the request object
at each call.

=head2 follow_redirect

Whether redirects are followed; undef means the pool's (by default 1). See
L<Uvent::HTTP::Pool/REDIRECTS>.

=head2 redirection_limit

The most redirects followed; undef means the pool's (by default 20).

=head2 allow_downgrade

Whether a redirect from C<https://> to C<http://> is followed; undef means
the pool's (by default 0).

=head2 redirect_callback

The code reference called before each redirect is followed (see
L<Uvent::HTTP::Pool/redirect_callback>).

=head2 chunked

=head2 continue_callback

=head2 expect_timeout

The streaming parameters (see L<Uvent::HTTP::Pool/STREAMED UPLOADS>).

=head2 form

The form to send (see C<form> in L<Uvent::HTTP::Pool/request>).

=head2 json

The data to send as JSON (see C<json> in L<Uvent::HTTP::Pool/request>).

=head2 cookie_jar

The request's cookie jar; undef, when set, means none, and when not set the
pool's (see L<Uvent::HTTP::Pool/COOKIES>).

=head2 family

C<4>, C<6> or C<0>: the address families tried; undef means the pool's.

=head2 tcp_nodelay

C<1> or C<0>: C<TCP_NODELAY> on the socket; undef means the pool's.

=head2 tcp_keepalive

Seconds idle before TCP keepalive probes, 0 off; undef means the pool's.

=head2 so_linger

C<SO_LINGER> seconds, -1 the system's default; undef means the pool's.

=head2 socket_buffer_size

C<SO_RCVBUF> and C<SO_SNDBUF> bytes, 0 the system's; undef means the pool's.

=head2 local_address

The IP address the socket is bound to before it connects; undef means the
pool's.

These six are the socket options of the connection opened for this request
(see L<Uvent::HTTP::Pool/Socket options>). Options that differ from the
pool's make a destination of their own: such a request never runs on a
connection opened with other options, while
L<Uvent::HTTP::Client/destination> still names its target.

=head2 validate

    eval { $request->validate; 1 } or die "bad request: $@";

Checks the parameter values the way L<Uvent::HTTP::Pool/request> does and
croaks with the same messages (they start with
C<Uvent::HTTP::Pool-E<gt>request:>, see L<Uvent::HTTP::Pool/ERRORS>) on the
first problem; returns nothing when the values are acceptable. Nothing is
sent. Some checks of C<request> are not made here: that the request is not
already in progress, that the pool's loop exists, and that a
C<Content-Length> header you set matches the body length; so C<request> can
still croak after a successful C<validate>.
Croaks with C<Uvent::HTTP::Request-E<gt>validate: not a request object> when
not called on a request object.

=head2 send_chunk

    my $request = Uvent::HTTP::Request->new({ uri => $url, method => 'PUT', chunked => 1,
        response_callback => sub { ... } });
    $pool->request($request);
    $request->send_chunk($piece) for @pieces;    # now or later, from any callback
    $request->send_final_chunk;

Gives the next piece of a pushed body: a request submitted with
C<< chunked => 1 >> and no C<body>. The piece is written once the head and
the pieces before it have gone; pieces given faster than the socket drains
wait in memory, in the request (a pulled body, from a filehandle or a code
ref, has one piece in memory at a time). An empty piece is allowed and
sends nothing. Returns true when the piece was taken, false when the
request is no longer active (it has completed, say with an early response
from the server, see L<Uvent::HTTP::Pool/STREAMED UPLOADS>): the piece is
dropped. Croaks with

=over 4

=item C<Uvent::HTTP::Request-E<gt>send_chunk: expects a piece of the body>

when called without one;

=item C<Uvent::HTTP::Request-E<gt>send_chunk: the request has not been submitted (call the pool's request with chunked =E<gt> 1 and no body first)>

before L<Uvent::HTTP::Pool/request>;

=item C<Uvent::HTTP::Request-E<gt>send_chunk: the request has no streamed body (give it a filehandle, a code ref, or chunked =E<gt> 1 and no body)>

for a request whose body is a string, a filehandle or a code ref (or that
has none);

=item C<Uvent::HTTP::Request-E<gt>send_chunk: the body has already ended (its last piece was sent)>

after L</send_final_chunk>;

=item C<Uvent::HTTP::Request-E<gt>send_chunk: Wide character in 'the piece': encode it to bytes first (utf8::encode or Encode::encode_utf8)>

for characters above 255, and C<the piece must be a string of bytes, not a
reference> for a reference.

=back

=head2 send_final_chunk

    $request->send_final_chunk;          # the body ends here
    $request->send_final_chunk($last);   # with a last piece

Ends a pushed body, after an optional last piece: the last chunk goes out
and the request waits for its response. Returns and croaks as
L</send_chunk> does (with C<send_final_chunk> in the messages).

=head2 active

    if ($request->active) { ... }

True while the request is queued or running in a pool, that is, from a
successful L<Uvent::HTTP::Pool/request> until just before its callback is
called. False for a new or finished request.

=head2 pause

    $request->pause;

Stops reading the response from the socket (back-pressure for a streamed
download, see L<Uvent::HTTP::Pool/STREAMING DOWNLOADS>): bytes already
read are still delivered, the rest waits in the socket buffers and the
server stops sending once they are full. The C<read_timeout> does not run
while paused; the total C<timeout> does. A request not yet answered stops
at the first bytes of its response. On a request that is not active it
does nothing; the pause ends with the request. Returns nothing. Croaks
with C<Uvent::HTTP::Request-E<gt>pause: not a request object> when not
called on a request object.

=head2 resume

    $request->resume;

Starts reading again after L</pause> (the C<read_timeout> starts over).
Does nothing when the request is not paused or not active. Croaks like
L</pause>.

=head2 paused

    if ($request->paused) { ... }

True while the request is active and paused.

=head2 cancel

    $request->cancel;
    $request->cancel(Uvent::Error::TIMEOUT);    # or the name: 'timeout'
    $request->cancel($error);                   # a Uvent::Error: its code is used

Cancels the request if it is active. A queued request leaves the queue; a
running one is aborted and its connection is closed (never reused). Either
way its callback runs once, synchronously, before C<cancel> returns, with a
response whose C<code> is usually 0 and a L<Uvent::Error>. If the callback
dies, the exception propagates out of C<cancel>.

Without an argument (or with undef) the error is C<cancelled>, with the
message C<request cancelled (GET http://host:port/path)>.

With an error, the callback gets that error's code instead, as
UniEvent::HTTP's C<< $request->cancel($error) >> does: one of the codes of
L<Uvent::Error/ERROR CODES>, given by its name or constant
(C<Uvent::Error::TIMEOUT> is C<'timeout'>), or a L<Uvent::Error> (from
another request, say) whose code is taken. The message is the usual one
for that code and this request, with the detail C<cancelled by the
application>, followed by C<: > and the given error's message when one was
given, for example

    request timed out (GET http://127.0.0.1:8080/slow): cancelled by the application

The request counts as an error of that code in L<Uvent::HTTP::Pool/stats>.
It is never retried, whatever the code; C<errno> is undef.

On a request that is not active (new, finished, or cancelled already) it does
nothing (a bad error argument still croaks). Returns nothing. Croaks with

=over 4

=item C<Uvent::HTTP::Request-E<gt>cancel: not a request object>

when not called on a request object;

=item C<Uvent::HTTP::Request-E<gt>cancel: unknown error code 'NAME' (known: nomem, resolve, connect, connect_timeout, timeout, connection_closed, protocol, too_large, cancelled, queue_full, queue_timeout, tls, proxy, redirection_limit, bad_redirect, request_body)>

for another string (C<usage> and C<inherited> included), or a
L<Uvent::Error> whose code is not one of these;

=item C<Uvent::HTTP::Request-E<gt>cancel: the error must be an error code name (such as Uvent::Error::TIMEOUT) or a Uvent::Error>

for any other reference.

=back

=head1 THE REQUEST ON THE WIRE

Uvent sends C<METHOD target HTTP/1.1>, where the target is the path and query
of the URI (C</> when the path is empty; the fragment is dropped), followed by
these headers:

=over 4

=item C<Host>

the host of the URI, with C<:port> only when the port is not 80, IPv6
literals in brackets; left out when you give a C<Host> header yourself.

=item C<User-Agent: Uvent/VERSION>

left out when you give a C<User-Agent> header.

=item C<Authorization: Basic ...>

only when the URI has userinfo (C<http://user:password@host/>); the
userinfo is percent-decoded and Base64-encoded. Left out when you give an
C<Authorization> header.

=item C<Content-Length>

the length of the body when there is a non-empty body, and
C<Content-Length: 0> for C<POST>, C<PUT> and C<PATCH> without one. Left out
when you give a C<Content-Length> header yourself, which must then match the
body length exactly (otherwise C<request> croaks).

=item your headers

after the ones above, in the order described under C<headers> in
L<Uvent::HTTP::Pool/request>, names and values exactly as given.

=back

A C<Content-Type> is added for a C<form> or C<json> unless you give one,
and a C<Cookie> header from a C<cookie_jar> (see L<Uvent::HTTP::Pool/COOKIES>).
Nothing else is added: no C<Connection>, C<Accept> or C<Accept-Encoding>
header. A C<Transfer-Encoding> header cannot be set (request bodies are
always sent with C<Content-Length>). A C<Connection> header whose value
contains the token C<close> makes the connection close after the response
instead of being reused. An C<Idempotency-Key> header (the name in any case,
any value) is sent as given and makes the request safe to retry, as
C<< idempotent => 1 >> does (see L<Uvent::HTTP::Pool/Requests are never
lost>).

A request that is retried is sent again exactly as the first time, head and
body, on a new connection. The hops of a redirect chain are built from the
first request as L<Uvent::HTTP::Pool/REDIRECTS> says.

The head and the body are written together, without waiting for
C<100 Continue>.

=head1 OBJECT LIFETIME

A submitted request holds a reference to itself until its callback has run,
so the request completes and its callback is called even if you drop every
reference to it. The C<$request> passed to the callback is the same object.

Once the callback has started, the request is finished and can be submitted
again, to the same or another pool, also from inside the callback. Submitting
it while it is still active croaks with
C<Uvent::HTTP::Pool-E<gt>request: this request is already in progress>.

=head1 SEE ALSO

L<Uvent::HTTP::Pool>, L<Uvent::HTTP::Response>, L<Uvent::Error>, L<Uvent>.

=head1 AUTHOR

Uvent developers.

=head1 COPYRIGHT AND LICENSE

This library is free software; you can redistribute it and/or modify it
under the same terms as Perl itself.

=cut
