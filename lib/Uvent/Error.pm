package Uvent::Error;
use strict;
use warnings;
use Scalar::Util ();

our $VERSION = '0.06';

# One constant per code that reaches a callback; each is the code's name,
# so `$error->code eq TIMEOUT` works as well as `$error == TIMEOUT`.
my @CODES;
BEGIN {
    @CODES = qw(resolve connect connect_timeout timeout connection_closed protocol too_large cancelled
        queue_full queue_timeout tls proxy redirection_limit bad_redirect request_body nomem);
}
use constant { map { uc($_) => $_ } @CODES };
my %IS_CODE = map { $_ => 1 } @CODES;

use Exporter 'import';
our @EXPORT_OK = map {uc} @CODES;
our %EXPORT_TAGS = (codes => [@EXPORT_OK]);

sub codes { @CODES }

# The code of an error, or the name given: what == compares.
sub _code_of {
    my ($v) = @_;
    return ref $v && Scalar::Util::blessed($v) && $v->isa(__PACKAGE__) ? $v->{code} : $v;
}

sub _same_code {
    my ($self, $other) = @_;
    my $code = _code_of($other);
    return defined $code && !ref $code && $code eq $self->{code} ? 1 : '';
}

# eq compares codes when the other side is an error or a code name, and
# the message otherwise (so comparing with a message still works).
sub _eq {
    my ($self, $other) = @_;
    my $code = _code_of($other);
    return _same_code($self, $other) if defined $code && !ref $code && ($IS_CODE{$code} || ref $other);
    return "$self" eq (defined $other ? "$other" : '') ? 1 : '';
}

use overload
    'bool'   => sub { 1 },
    '""'     => sub { $_[0]{message} },
    '=='     => \&_same_code,
    '!='     => sub { !_same_code(@_[0, 1]) },
    'eq'     => \&_eq,
    'ne'     => sub { !_eq(@_[0, 1]) },
    fallback => 1;

sub code    { $_[0]{code} }
sub errno   { $_[0]{errno} }
sub message { $_[0]{message} }

1;

__END__

=head1 NAME

Uvent::Error - why an HTTP request did not produce a complete response

=head1 SYNOPSIS

    use Uvent;
    use Uvent::HTTP qw(http_get);

    my ($response, $error) = http_get('http://127.0.0.1:1/');    # nothing listens there
    if ($error) {
        print "failed: $error\n";         # stringifies to the message
        print 'code: ', $error->code, "\n";       # connect
        print 'errno: ', $error->errno // 'none', "\n";   # ECONNREFUSED
        if ($error == Uvent::Error::TIMEOUT || $error == Uvent::Error::CONNECT_TIMEOUT) {
            print "try again later\n";
        }
    }

=head1 DESCRIPTION

A C<Uvent::Error> is passed as the third argument, C<$error>, to a request's
C<response_callback> (see L<Uvent::HTTP::Pool/CALLBACKS>) when the request did
not end with a complete HTTP response. C<$error> is undef on success, and an
HTTP error status (4xx, 5xx) is a success for Uvent: look at
L<Uvent::HTTP::Response/code> for those.

The object is always true in boolean context and stringifies to its
L</message>. It compares with C<==> and C<!=> by its L</code>, against a
code name, one of the L</CONSTANTS>, or another error; with C<eq> and
C<ne> by code as well when the other side is an error or a code name, and
as its message otherwise (see L</COMPARING>).

Bad arguments are not reported this way: L<Uvent::HTTP::Pool/request> croaks
on them before anything is sent.

=head1 METHODS

=head2 code

    my $code = $error->code;

A stable name for the kind of error, one of the codes in L</ERROR CODES>.
Test this, not the message.

=head2 codes

    my @names = Uvent::Error->codes;    # resolve, connect, ..., nomem

The names of every code in L</ERROR CODES>, in the order listed there.

=head2 errno

    my $name = $error->errno;    # e.g. "ECONNREFUSED", or undef

The name of the system or resolver error behind the failure, as libuv names
it (C<ECONNREFUSED>, C<ECONNRESET>, C<EPIPE>, C<ETIMEDOUT>,
C<EHOSTUNREACH>, C<ENETUNREACH>, C<EAI_NONAME>, C<EAI_AGAIN>, ...), or undef
when there is none (timeouts, protocol errors, limits, cancels, and a clean
close by the server).

=head2 message

    my $text = $error->message;

A sentence for humans that names the request. Its form is

    <what happened> (<METHOD> <destination><target>)[ after a retry on a new connection][: <detail>]

for example

    could not connect (GET http://127.0.0.1:1/): 127.0.0.1:1: connection refused
    request timed out (GET http://example.com:80/slow): no complete response within 5 s
    request cancelled (POST http://10.0.0.7:8080/jobs): pool shut down
    connection closed before the response was complete (GET http://10.0.0.7:8080/a) after a retry on a new connection: server closed the connection

The words C<after a retry on a new connection> appear when the request had
been sent a second time (see L<Uvent::HTTP::Pool/Requests are never lost>)
and the error ended that second attempt (the C<resolve> form above never has
them); L<Uvent::HTTP::Response/retried> is then true as well.

except for C<resolve>, which reads

    could not resolve host 'no.such.host' (http://no.such.host:80): unknown node or service

The detail is the system error's description, or what Uvent or the parser
found. The message is at most 319 bytes long. Its wording may change between
versions; use L</code> and L</errno> in programs.

=head1 CONSTANTS

    use Uvent::Error qw(:codes);            # or import them by name
    if ($error == TIMEOUT) { ... }
    if ($error == Uvent::Error::CONNECT && $error->errno eq 'ECONNREFUSED') { ... }

One constant per code of L</ERROR CODES>, named after it in capitals. The
value of each is the code's name, so C<< $error->code eq TIMEOUT >> works
too. Nothing is exported by default; C<:codes> exports them all.
L<Uvent::HTTP::Request/cancel> takes them to say which error a cancelled
request gets.

=over 4

=item C<RESOLVE>

C<resolve>

=item C<CONNECT>

C<connect>

=item C<CONNECT_TIMEOUT>

C<connect_timeout>

=item C<TIMEOUT>

C<timeout>

=item C<CONNECTION_CLOSED>

C<connection_closed>

=item C<PROTOCOL>

C<protocol>

=item C<TOO_LARGE>

C<too_large>

=item C<CANCELLED>

C<cancelled>

=item C<QUEUE_FULL>

C<queue_full>

=item C<QUEUE_TIMEOUT>

C<queue_timeout>

=item C<TLS>

C<tls>

=item C<PROXY>

C<proxy>

=item C<REDIRECTION_LIMIT>

C<redirection_limit>

=item C<BAD_REDIRECT>

C<bad_redirect>

=item C<REQUEST_BODY>

C<request_body>

=item C<NOMEM>

C<nomem>

=back

=head1 COMPARING

=over 4

=item C<$error == TIMEOUT>, C<$error != TIMEOUT>

True when the error's code is (is not) C<timeout>. The other side may be a
constant, a code name (C<< $error == 'timeout' >>), or another
C<Uvent::Error> (same code); undef, a number or any other string is never
equal.

=item C<$error eq 'timeout'>, C<$error ne 'timeout'>

The same, when the other side is a C<Uvent::Error> or a code name. Against
any other string, the message is compared, as before 0.02:
C<< $error eq "$error" >> is true.

=item C<"$error">, C<if ($error)>

The message; always true.

=back

Other operators (C<lt>, C<cmp>, C<.>, ...) work on the message.

=head1 ERROR CODES

=over 4

=item C<resolve>

The DNS lookup of the host failed. C<errno> is the resolver error, for
example C<EAI_NONAME> (no such host) or C<EAI_AGAIN> (temporary failure).
Message: C<could not resolve host 'HOST' (DESTINATION): DETAIL>.

=item C<connect>

The host was resolved, but a TCP connection could not be established to any
of its addresses (see L<Uvent::HTTP::Pool/Connecting>). C<errno> is the error of the last
attempt, for example C<ECONNREFUSED>, C<EHOSTUNREACH>, C<ENETUNREACH> or
C<ETIMEDOUT>. Message: C<could not connect (...): DETAIL>, where DETAIL names
every attempt and its error, e.g. C<[::1]:8080: connection refused;
127.0.0.1:8080: connection refused>.

=item C<connect_timeout>

DNS lookup and TCP connect of a new connection did not finish within the
request's C<connect_timeout> (by default its C<timeout>). C<errno> is undef.
Message: C<connect timed out (...): not connected within N s>.

=item C<timeout>

The request's C<timeout> expired before the response was complete. For a
queued request the message ends in C<still waiting for a connection>, for a
running one in C<no complete response within N s>; a running request's
connection is closed. The time spent on a retry counts: the clock is not
restarted, nor by a redirect: the timeout covers the whole chain, and a
chain whose time ran out between two hops ends with C<no complete
response within N s, over M redirects>. C<errno> is undef.

=item C<connection_closed>

The connection ended before the response was complete: the server closed it
(C<errno> undef, message detail C<server closed the connection>), reset it
(C<errno> C<ECONNRESET>), or writing the request failed (C<errno> for example
C<EPIPE> or C<ECONNRESET>). When the server closes a reused connection
before any byte of the response, a request that is safe to repeat is sent
again once on a new connection instead of failing (see
L<Uvent::HTTP::Pool/Requests are never lost>). In that case this error is
reported only when the request was not safe to repeat or had
C<< retry => 0 >>, or when the retry failed too (the message then contains
C<after a retry on a new connection>). A request on a new connection is never
retried.
Message: C<connection closed before the response was complete (...): DETAIL>.

=item C<protocol>

The response is malformed or ambiguous. The parser is strict (RFC 9112), so
that no two readers of the same bytes can frame them differently (response
splitting and smuggling); it refuses:

=over 4

=item *

anything that is not HTTP/1.0 or HTTP/1.1 (including an C<HTTP/2.0> status
line), a status code that is not three digits, and a control character in
the reason phrase (a tab is allowed);

=item *

a line of the head or of the trailers that ends in a bare LF or has a CR not
followed by LF (only CRLF ends a line), and obs-fold: a header line that
starts with a space or tab to continue the previous value is refused, never
joined to it (C<obs-fold header continuation is not allowed>);

=item *

a header name that is not a token (a space in it, or before the colon, a
control character or a separator) or is empty, and a control character or
NUL in a header value;

=item *

bad chunked framing: a chunk size that is not hexadecimal digits or
overflows, a control character in a chunk extension, and chunk data not
followed by CRLF;

=item *

ambiguous framing: more than one C<Content-Length> (even with the same
value) or a list in one, C<Content-Length> together with
C<Transfer-Encoding>, a C<Transfer-Encoding> other than a single C<chunked>
(e.g. C<chunked, gzip>, C<gzip, chunked>, C<gzip>, or C<chunked> twice:
Uvent sends no C<TE> header and decodes no other transfer coding), and
C<Transfer-Encoding> in an HTTP/1.0 response;

=item *

a C<101 Switching Protocols> response (upgrades are not supported);

=item *

a body Uvent decodes (see L<Uvent::HTTP::Pool/DECOMPRESSION>) whose coded
stream is corrupt: a bad header or checksum, a stream cut short by the end
of the body, or bytes after the stream's end. The detail names the coding:
C<corrupt gzip-encoded body: incorrect data check>, C<corrupt br-encoded
body: ...>, C<corrupt deflate-encoded body: the body ended before the
compressed stream did (truncated)>.

=back

llhttp is compiled with the distribution in its strict mode, with every
lenient option off, and Uvent makes the checks above itself as well, so they
hold in the same way when Uvent is built against a system libllhttp (which is
used as it was compiled: there the checks Uvent makes replace the ones
strict mode adds). The connection is closed, even when the server keeps it
open, and the next request to the destination goes out on a new connection.
C<errno> is undef; the detail is the reason, Uvent's own words or llhttp's
(e.g. C<Duplicate Content-Length>, C<Invalid header token>). Message:
C<malformed response (...): DETAIL>, e.g. C<malformed response (GET
http://127.0.0.1:8080/): obs-fold header continuation is not allowed (a
header line starts with whitespace)>.

=item C<too_large>

The response's header block exceeded C<max_headers_size> (by default 65536
bytes), its header and trailer lines were more than C<max_header_count> (by
default 1000), or its body exceeded C<max_body_size> (by default 1073741824
bytes, 1 GiB; a decoded body is counted as decoded, see
L<Uvent::HTTP::Pool/DECOMPRESSION>), as set in the pool config or the
request. Reading stops at the limit
(a C<Content-Length> over the body limit fails before any of the body is
read) and the connection is closed, so memory stays bounded. C<errno> is
undef. The message names the limit and how to raise it: C<response exceeds a
limit (...): response body exceeds max_body_size (1073741824 bytes); raise
max_body_size, or set it to 0 for no limit>, and the same for
C<response headers exceed max_headers_size>; C<response has more than
max_header_count (1000) header and trailer lines; raise max_header_count, or
set it to 0 for no limit>; for a decoded body C<response body exceeds
max_body_size (N bytes) once decoded from gzip (the limit counts decoded
bytes); ...>, or C<... as received (gzip-encoded)> when the coded bytes
alone pass the limit.

=item C<cancelled>

The request was cancelled: by L<Uvent::HTTP::Request/cancel> (message
C<request cancelled (...)>), or by L<Uvent::HTTP::Pool/shutdown> or the
destruction of the pool's loop (message ending in C<: pool shut down>), or
because its C<partial_callback> died (message ending in C<: the
partial_callback died>; see L<Uvent::HTTP::Pool/STREAMING DOWNLOADS>). The
callback ran synchronously inside that call. C<errno> is undef.
C<< $request->cancel($code) >> delivers the code it is given instead, any of
this list, with a message ending in C<: cancelled by the application> (see
L<Uvent::HTTP::Request/cancel>).

=item C<queue_full>

The destination's queue already held C<max_queue> requests (pool
configuration), so the request was not queued and never sent. The callback
runs from the loop, never inside the C<request> call. C<errno> is undef.
Message: C<destination queue is full (...)>.

=item C<queue_timeout>

The request waited C<queue_timeout> seconds (pool configuration) in the
queue without getting a connection; it was never sent. When the request's
own C<timeout> expires first, the code is C<timeout> instead. C<errno> is
undef. Message: C<no connection became free in time (...): waited N s
(queue_timeout)>.

=item C<tls>

An C<https://> connection could not be secured or its TLS session failed:
the server's certificate did not verify (expired, self-signed, unknown
issuer, hostname or IP address mismatch), the handshake failed (no shared
protocol version or cipher, a server that does not speak TLS), the server
refused or wanted a client certificate, or a body delimited by the close
ended without close_notify. The message names the destination and says why,
e.g. C<TLS failure (GET https://localhost:8443/): certificate verify
failed: the server's certificate has expired (X509 error 10)>. A
verification failure means nothing of the request was sent. C<errno> is
usually undef. See L<Uvent::HTTP::Pool/HTTPS>.

=item C<proxy>

The proxy the request went through (see L<Uvent::HTTP::Pool/ROUTES AND
PROXIES>) refused or broke the tunnel to the target: an HTTP proxy
answered C<CONNECT> with anything but 2xx (C<407> for missing or wrong
credentials, C<403> for a port it does not allow; the message carries
its status line, e.g. C<proxy 127.0.0.1:3128 answered CONNECT with
'HTTP/1.0 407 Proxy Authentication Required'>), a SOCKS5 proxy refused
the authentication methods or the credentials, or answered the connect
with a failure (the reply code in words, RFC 1928: C<general SOCKS server
failure>, C<connection not allowed by ruleset>, C<network unreachable>,
C<host unreachable>, C<connection refused>, C<TTL expired>, C<command not
supported>, C<address type not supported>), or the proxy closed the
connection or sent something malformed during its handshake. The
connection is closed; nothing of the request was sent to the target. A
proxy that cannot be reached at all fails with C<connect> (or C<resolve>)
instead, whose message names the proxy; a handshake that does not finish
in time fails with C<connect_timeout>, naming the step. C<errno> is
usually undef.

=item C<redirection_limit>

A redirect would have been followed beyond the request's
C<redirection_limit> (default 20), as in a redirect loop. The response
passed with it is that last redirect (its C<redirects> lists the ones
followed). C<errno> is undef. Message: C<too many redirects (GET
http://127.0.0.1:8080/loop): more than 20 redirects>, naming the request
that got the last redirect. See L<Uvent::HTTP::Pool/REDIRECTS>.

=item C<bad_redirect>

A redirect that was to be followed could not be: its C<Location> does not
resolve to a usable C<http://> or C<https://> URI (malformed, another
scheme such as C<ftp:>, no host, a bad port, several different
C<Location> headers), or it leads from C<https://> to C<http://> without
C<allow_downgrade>. A redirect without a C<Location> is not an error: it
is the response. The response passed with the error is the redirect.
C<errno> is undef. Message, e.g. C<unusable redirect (GET
https://127.0.0.1:8443/a): refusing to follow the 302 response from https
to 'http://127.0.0.1:8080/b' (allow_downgrade is off)>, or C<...: the 302
response's Location 'ftp://x/' cannot be followed: its scheme is not http
or https>.

=item C<request_body>

A streamed request body could not be sent (see
L<Uvent::HTTP::Pool/STREAMED UPLOADS>): its code ref died, its filehandle's
read failed, a piece held characters above 255, or it broke its
C<Content-Length> (longer, or shorter when it ended). The connection is
closed. C<errno> is undef. Message, e.g. C<the request body could not be
sent (PUT http://127.0.0.1:8080/upload): the 'body' code ref died: no more
data>, or C<...: the body ended after 10 bytes, short of its
Content-Length of 15>.

=item C<nomem>

Memory ran out while the response was being stored: a buffer for its
headers or body could not grow. The connection is closed. This is not a
limit (that is C<too_large>): raising a limit does not help. C<errno> is
undef. Message: C<out of memory (...): could not grow the buffer of the
response body> (or C<of the response's headers>).

=back

In a child process after C<fork>, requests inherited from the parent are
dropped without a callback, so no error is reported for them there (see
L<Uvent/FORK>).

=head1 FROM UNIEVENT

UniEvent::HTTP passes an error code object (compared with C<==> against
constants such as C<UniEvent::SystemError::timed_out>, possibly with a
nested error); Uvent passes a C<Uvent::Error> with one L</code> and, for
system errors, the L</errno> behind it. The usual checks map as follows:

=over 4

=item C<UniEvent::SystemError::timed_out>

C<TIMEOUT> (the request's C<timeout> expired); a connection that could not
be set up within C<connect_timeout> is C<CONNECT_TIMEOUT>.

=item C<UniEvent::SystemError::operation_canceled>

C<CANCELLED> (L<Uvent::HTTP::Request/cancel>, L<Uvent::HTTP::Pool/shutdown>,
the loop going away).

=item C<UniEvent::HTTP::connect_error> (nested error: C<UniEvent::SystemError::connection_refused>, ...)

C<CONNECT>; the nested system error is L</errno> (C<ECONNREFUSED>,
C<EHOSTUNREACH>, C<ENETUNREACH>, C<ETIMEDOUT>).

=item C<UniEvent::Error::resolve_error>, C<UniEvent::Error::ai_unknown_node_or_service>, ...

C<RESOLVE>, with the resolver's error as L</errno> (C<EAI_NONAME>,
C<EAI_AGAIN>, ...).

=item C<UniEvent::Error::ssl_error>

C<TLS>.

=item C<UniEvent::SystemError::connection_reset>, C<UniEvent::HTTP::transfer_aborted>

C<CONNECTION_CLOSED> (L</errno> C<ECONNRESET>, C<EPIPE>, or undef for a
plain close).

=item the parser errors of Protocol::HTTP

C<PROTOCOL>; a response over C<max_headers_size> or C<max_body_size> is
C<TOO_LARGE>.

=item C<UniEvent::SystemError::not_enough_memory>

C<NOMEM>.

=item C<UniEvent::HTTP::redirection_limit>, C<UniEvent::HTTP::unexpected_redirect>

C<REDIRECTION_LIMIT>, also for a redirect met with C<< redirection_limit => 0 >>
(UniEvent's C<unexpected_redirect>).

=item C<UniEvent::HTTP::no_redirect_uri>

C<BAD_REDIRECT> for a C<Location> that cannot be used; a redirect without
a C<Location> at all is no error in Uvent: it is the response (see
L<Uvent::HTTP::Pool/REDIRECTS>).

=back

C<QUEUE_FULL> and C<QUEUE_TIMEOUT> have no UniEvent counterpart (UniEvent's
pool queue has no limits). See L<Uvent/PORTING FROM UNIEVENT>.

=head1 SEE ALSO

L<Uvent::HTTP::Pool>, L<Uvent::HTTP::Response>, L<Uvent>.

=head1 AUTHOR

Uvent developers.

=head1 COPYRIGHT AND LICENSE

This library is free software; you can redistribute it and/or modify it
under the same terms as Perl itself.

=cut
