package Uvent::HTTP::Response;
use strict;
use warnings;
use Carp ();

our $VERSION = '0.06';

require Uvent;

sub json {
    my ($self) = @_;
    my $data;
    my $body = $self->body;
    return $data if length $body && eval { $data = Uvent::HTTP::Pool::_json_coder()->decode($body); 1 };
    my $why = length $body ? $@ : 'the body is empty';
    $why =~ s/ at \S+ line \d+\.?\n\z//;
    my $type = $self->header('Content-Type');
    Carp::croak('Uvent::HTTP::Response->json: the body of the ' . $self->code . ' response'
        . (defined $type ? " (Content-Type '" . Uvent::_shown($type) . "')" : '') . " is not JSON: $why");
}

1;

__END__

=head1 NAME

Uvent::HTTP::Response - a parsed HTTP response

=head1 SYNOPSIS

    use Uvent;
    use Uvent::HTTP qw(http_get);

    my ($response, $error) = http_get('http://127.0.0.1:8080/');
    die "request failed: $error\n" if $error;

    print $response->code, ' ', $response->message, "\n";    # 200 OK
    print 'HTTP/', $response->http_version, "\n";            # HTTP/1.1
    my $type = $response->header('Content-Type');            # case-insensitive
    my %h    = %{ $response->headers };                      # lower-case names
    for my $pair (@{ $response->header_list }) {             # wire order
        my ($name, $value) = @$pair;
        print "$name: $value\n";
    }
    my $body     = $response->body;                          # bytes
    my $trailers = $response->trailers;                      # {} unless chunked trailers came
    print "connection reused\n" if $response->keep_alive;
    print "sent twice\n"        if $response->retried;
    print "came from ", $response->uri, " after ", scalar @{ $response->redirects }, " redirects\n";
    my $data = eval { $response->json };                     # the body as JSON

=head1 DESCRIPTION

The response of a request, passed as the second argument to its
C<response_callback> (see L<Uvent::HTTP::Pool/CALLBACKS>) and returned by
the synchronous functions of L<Uvent::HTTP>. Every callback gets a response
object, also when the request failed.

The response is complete when the callback's C<$error> is undef. After an
error it holds whatever had been parsed when the error happened: C<code> is 0
if no complete status line and header block arrived, and the headers and
the body may be partial (for example after a C<timeout> or
C<connection_closed> in the middle of the body, or a C<too_large> error).
Check C<$error> before trusting the response.

Informational responses (C<100 Continue>, C<103 Early Hints> and other
C<1xx> except 101) are skipped: the response is the final one. Responses to
C<HEAD> requests and C<204> and C<304> responses have no body, whatever their
headers say. The body is not decoded: C<Content-Encoding> is left to you.

The object is read-only and stays valid as long as you keep it.

=head1 METHODS

=head2 code

    my $status = $response->code;    # e.g. 200

The status code as a number, 0 when no response head arrived.

=head2 message

    my $reason = $response->message;    # e.g. "OK"

The reason phrase of the status line, as sent (may be empty); an empty string
when no response arrived.

=head2 http_version

    my $version = $response->http_version;    # "1.1" or "1.0"

The HTTP version of the response as C<"MAJOR.MINOR">, or undef when C<code>
is 0.

=head2 headers

    my $headers = $response->headers;    # { 'content-type' => 'text/html', ... }

Returns a new hashref on every call, mapping lower-cased header names to
values. The values of a header that appears more than once are joined with
C<", "> in the order received (C<Set-Cookie> included; use L</header_list>
to get them apart). Values have surrounding whitespace removed. Trailers are
not included; see L</trailers>.

=head2 header

    my $value = $response->header('Content-Length');

The value of the named header, matched case-insensitively; repeated headers
are joined with C<", "> as in L</headers>. Returns undef when the header is
absent. Looks at the header block only, not at trailers.

=head2 header_list

    my $list = $response->header_list;    # [ [ 'Content-Type', 'text/html' ], ... ]

Returns a new arrayref of C<[$name, $value]> pairs, one per header line, in
the order received, with names in their original case. Trailers are not
included.

=head2 body

    my $bytes = $response->body;

The response body as a byte string (de-chunked for chunked responses), an
empty string when there was none. The whole body is held in memory; the
C<max_body_size> limit (1 GiB by default) bounds it. With a
C<partial_callback> it holds only the current piece, and is empty in the
C<response_callback> (see L<Uvent::HTTP::Pool/STREAMING DOWNLOADS>).

The body is read straight into its own buffer (with a C<Content-Length>, up
to 1 MiB of it is reserved when the head arrives), and the first call
makes that buffer the string without copying it. Every call returns that
same string: C<my $b = $response-E<gt>body> shares it until either is
changed (Perl's copy-on-write), and the string lives on after the response
and its pool are gone. Change a copy, not the returned value through an
alias (C<for ($response-E<gt>body) { s/a/b/ }>): that would change what
later calls return.

=head2 is_done

    if ($response->is_done) { ... }

True once the request is over: always in the C<response_callback>, and in
the last call of a C<partial_callback> (with C<$error> set if the request
failed). False while a streamed body is still arriving (the head and
piece calls of a C<partial_callback>); see
L<Uvent::HTTP::Pool/STREAMING DOWNLOADS>.

=head2 streamed

    if ($response->streamed) { ... }

True when the body went to the request's C<partial_callback> piece by
piece: L</body> is then empty in the C<response_callback> (and holds the
current piece in a C<partial_callback>). False for a buffered body, a
redirect status included (those are never streamed).

=head2 decoded

    my $coding = $response->decoded;    # 'gzip', 'deflate', 'br', 'zstd' or ''

The content coding Uvent decoded the body from, or the empty string (never
undef) when the body is as the server sent it. When it names a coding, the
body is the decoded one and the response has no C<Content-Encoding> or
C<Content-Length> header any more (Go's rule). See
L<Uvent::HTTP::Pool/DECOMPRESSION> for when a body is decoded.

=head2 trailers

    my $trailers = $response->trailers;

Returns a new hashref of the trailer fields sent after a chunked body, with
the same conventions as L</headers>; an empty hashref when there were none.

=head2 keep_alive

    my $reused = $response->keep_alive;

On a successful response: true when the connection was handed back to the
pool for reuse (or went on to run a queued request), false when it was
closed. See L<Uvent::HTTP::Pool/CONNECTION REUSE> for the rules. After an
error it is always false: a connection is never reused after an error.

=head2 retried

    print "sent on a second connection\n" if $response->retried;

True when the request was sent a second time, on a new connection, because
the server closed the reused connection it had first been written on before
answering (see L<Uvent::HTTP::Pool/Requests are never lost>). It tells
nothing about the outcome: the retry may have succeeded (C<$error> undef) or
failed too (the error message then says C<after a retry on a new
connection>). False otherwise, also when the pre-write check moved the
request to another connection before anything was sent.

=head2 uri

    my $final = $response->uri;    # after redirects: where the response came from

The URI this response answers: the request's C<uri> as it was submitted
(the very value, an object included), or after redirects the absolute URI
of the last hop, with the fragment it kept (see
L<Uvent::HTTP::Pool/REDIRECTS>). Each response of
L</redirects> has its own.

=head2 redirects

    for my $earlier (@{ $response->redirects }) {
        printf "%d %s\n", $earlier->code, $earlier->uri;
    }

A new arrayref of the redirect responses that were followed before this
one, oldest first; empty when none was. Its responses are complete
responses of their own (their own C<redirects> is empty).

=head2 json

    my $data = $response->json;

The body decoded as JSON (UTF-8), with the decoder C<json> requests use
(L<Cpanel::JSON::XS> when installed, else L<JSON::PP>; see C<json> in
L<Uvent::HTTP::Pool/request>). Croaks with
C<Uvent::HTTP::Response-E<gt>json: the body of the CODE response
(Content-Type 'TYPE') is not JSON: REASON> (REASON is the decoder's, or
C<the body is empty>); the C<Content-Type> is not looked at otherwise.

=head1 SEE ALSO

L<Uvent::HTTP::Pool>, L<Uvent::HTTP::Request>, L<Uvent::Error>.

=head1 AUTHOR

Uvent developers.

=head1 COPYRIGHT AND LICENSE

This library is free software; you can redistribute it and/or modify it
under the same terms as Perl itself.

=cut
