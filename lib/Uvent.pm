package Uvent;
use strict;
use warnings;

our $VERSION = '0.06';

use Carp ();
# errors raised inside Uvent name the caller's line
$Carp::Internal{$_}++ for qw(Uvent Uvent::Loop Uvent::Timer Uvent::HTTP Uvent::HTTP::Pool
    Uvent::HTTP::Request Uvent::HTTP::Response Uvent::HTTP::Client Uvent::Future
    Uvent::Loop::Adapter Uvent::Loop::AnyEvent Uvent::Loop::Mojo Uvent::Loop::IOAsync Uvent::HTTP::Manager);

# called by the XS glue: a Perl frame for Carp to skip
sub _croak { Carp::croak(@_) }

# A user's value as shown in a croak, as the core shows them: control
# characters escaped, cut at 100 characters.
my %ESCAPE = ("\0" => '\0', "\t" => '\t', "\n" => '\n', "\r" => '\r');
sub _shown {
    my ($v) = @_;
    return 'undef' unless defined $v;
    my $cut = length $v > 100;
    $v = substr $v, 0, 100 if $cut;
    $v =~ s{([\x00-\x1f\x7f])}{$ESCAPE{$1} // sprintf('\\x%02x', ord $1)}ge;
    return $cut ? "$v..." : $v;
}

require XSLoader;
XSLoader::load('Uvent', $VERSION);

# A write to a connection the peer has reset raises SIGPIPE, whose default
# action ends the process: as network servers and Node do, SIGPIPE is
# ignored (the write fails with EPIPE instead) unless the program chose.
$SIG{PIPE} = 'IGNORE' if !defined $SIG{PIPE} || $SIG{PIPE} eq '' || $SIG{PIPE} eq 'DEFAULT';

require Uvent::Error;
require Uvent::Loop;
require Uvent::Timer;
require Uvent::HTTP::Request;
require Uvent::HTTP::Response;
require Uvent::HTTP::Client;
require Uvent::HTTP::Pool;

1;

__END__

=head1 NAME

Uvent - HTTP/1.1 client connection pool on libuv

=head1 SYNOPSIS

    use Uvent;
    use Uvent::HTTP qw(http_get);

    # one request, synchronously
    my ($response, $error) = http_get('http://127.0.0.1:8080/');
    die "GET failed: $error\n" if $error;
    printf "%d %s, %d bytes\n", $response->code, $response->message, length $response->body;

    # many requests through one pool, asynchronously
    my $loop = Uvent::Loop->default;
    my $pool = Uvent::HTTP::Pool->new({ max_connections => 4 }, $loop);
    for my $n (1 .. 10) {
        $pool->request({
            uri               => "http://127.0.0.1:8080/?n=$n",
            timeout           => 5,
            response_callback => sub {
                my ($request, $response, $error) = @_;
                if ($error) {
                    warn $request->uri, ": $error\n";
                    return;
                }
                printf "%s: %d\n", $request->uri, $response->code;
            },
        });
    }
    $loop->run;    # returns when all ten callbacks have run

=head1 DESCRIPTION

Uvent is an HTTP/1.1 client for Perl built around a connection pool. The
pool, the HTTP/1.1 framing and the event handling are written in C on top of
libuv (the event loop) and llhttp (the response parser); the Perl classes are
thin wrappers around that core.

C<use Uvent> loads the XS module and all of these classes:

=over 4

=item L<Uvent::Loop>

The event loop. Requests and timers make progress only while a loop runs
(C<< $loop->run >>).

=item L<Uvent::HTTP::Pool>

A connection pool: it keeps connections per destination (scheme, host and
port), reuses idle ones, opens up to C<max_connections> per destination and
queues requests beyond that.

=item L<Uvent::HTTP::Request>

The parameters of one request (URI, method, headers, body, timeouts, limits,
callback). A plain hashref of the same parameters can be given instead.

=item L<Uvent::HTTP::Response>

The parsed response handed to the callback.

=item L<Uvent::Error>

The error handed to the callback when a request did not produce a complete
response.

=item L<Uvent::HTTP::Client>

A connection of a pool, as returned by C<< $pool->request >>; for
inspection only.

=item L<Uvent::Timer>

One-shot and repeating timers, enough for applications and tests.

=item L<Uvent::HTTP>

Convenience functions C<http_request>, C<http_get>,
C<http_request_sync>, C<http_request_f> and C<http_request_p>; load it with
C<use Uvent::HTTP>.

=item L<Uvent::Loop::AnyEvent>, L<Uvent::Loop::Mojo>, L<Uvent::Loop::IOAsync>

Run a Uvent loop from inside AnyEvent (EV included), Mojo::IOLoop or
IO::Async; load the one you need (see L</"USING UVENT FROM YOUR EVENT LOOP">).

=item L<Uvent::Future>

The L<Future> that L<Uvent::HTTP::Pool/request_f> returns.

=back

The model: you submit a request to a pool together with a
C<response_callback>; the request is sent as soon as a connection is
available; when it is finished, one way or another, the callback is called
exactly once with C<($request, $response, $error)>. C<$error> is undef when a
complete HTTP response arrived, whatever its status code (a 404 or a 500 is
not an error for Uvent). Callbacks run from inside C<< $loop->run >> (or from inside your own event
loop: see L</"USING UVENT FROM YOUR EVENT LOOP">);
C<< $loop->run >> returns when no request and no timer is pending on the loop.
Idle keep-alive connections and the pool's own timers do not keep it
running.

C<https://> works the same way: TLS with OpenSSL inside the core,
certificates verified by default, connections pooled per TLS identity and
sessions resumed (see L<Uvent::HTTP::Pool/HTTPS>).

Redirects are followed, with UniEvent's C<follow_redirect> and
C<redirection_limit> (see L<Uvent::HTTP::Pool/REDIRECTS>); requests take a
C<form>, C<json> and a C<cookie_jar> (see L<Uvent::HTTP::Pool/COOKIES>).

Requests reach servers through HTTP proxies (C<CONNECT> tunnels for
C<https://>) and SOCKS5 proxies, also taken from the environment; names
with IPv6 and IPv4 addresses are connected with Happy Eyeballs, lookups are
cached per pool, and socket options, a local address and a read timeout
can be set (see L<Uvent::HTTP::Pool/ROUTES AND PROXIES> and
L<Uvent::HTTP::Pool/Connecting>). Bodies are asked for compressed and
decoded as they arrive (see L<Uvent::HTTP::Pool/DECOMPRESSION>).

What Uvent does not do (yet): no retries other than the one safe retry
described under L</Reliability>. Bodies stream both ways: response
bodies through C<partial_callback> with C<pause> and C<resume> (see
L<Uvent::HTTP::Pool/STREAMING DOWNLOADS>), request bodies from a
filehandle, a code ref or C<send_chunk>, and C<Expect: 100-continue> waits
for the C<100> (see L<Uvent::HTTP::Pool/STREAMED UPLOADS>).

=head2 Reliability

The pool is built so that no request is lost or sent twice by accident, and
so that resources stay bounded. In short (L<Uvent::HTTP::Pool> has the
details):

=over 4

=item *

Every submitted request gets exactly one callback (in the process that
submitted it; see L</FORK>).

=item *

The pre-write check: a request given to an idle connection is written only
after the loop has processed that iteration's reads, so a connection the
server has already closed is never used.

=item *

Safe retry: when the server closes a reused connection after the request was
written but before any byte of the response, a request that is safe to
repeat (C<GET>, C<HEAD>, C<OPTIONS>, C<TRACE>, C<PUT>, C<DELETE>, an
C<Idempotency-Key> header, or C<< idempotent => 1 >>) is sent again once, on
a new connection, within the same C<timeout>. C<< retry => 0 >> turns it
off; L<Uvent::HTTP::Response/retried> tells when it happened.

=item *

Connections are closed before the server would close them: at the
C<Keep-Alive: timeout=N> the server announced (minus a margin), after the
number of requests of C<Keep-Alive: max=N>, and at the pool's
C<max_requests_per_connection> and C<max_lifetime>. Idle timeouts are
shortened at random by up to 5% so that connections opened together do not
close together.

=item *

Late binding: a request waiting for a new connection takes a connection of
its destination that becomes free first.

=item *

Limits: C<max_connections> per destination, C<max_total> over all
destinations (an idle connection of another destination is closed to make
room), C<max_queue> (C<queue_full> errors) and C<queue_timeout>
(C<queue_timeout> errors).

=item *

Counters for the whole pool and per destination: L<Uvent::HTTP::Pool/stats>.

=item *

Fork safety: see L</FORK>.

=back

=head1 FUNCTIONS

=head2 core_version

    my $v = Uvent::core_version();    # "0.06"

Returns the version string of the C core the module was built with. It is
the same as C<$Uvent::VERSION> in a consistent build.

=head2 decoders

    my @codings = Uvent::decoders();    # ('gzip', 'deflate', 'br', 'zstd')

The content codings this build of Uvent decodes, in the order its requests
offer them in C<Accept-Encoding>: C<gzip> and C<deflate> always (zlib), C<br>
and C<zstd> when it was built with libbrotlidec and libzstd (see
L<Uvent::HTTP::Pool/DECOMPRESSION>). It may also be called as
C<< Uvent->decoders >>.

=head1 EXCEPTIONS IN CALLBACKS

Callbacks (C<response_callback>, timer callbacks) are called from C. When one
dies, the exception is caught and kept, the loop is told to stop, and the
exception is rethrown from the Perl call that entered the C code: normally
C<< $loop->run >> (or C<run_once>, C<run_nowait>), or
C<< $request->cancel >> or C<< $pool->shutdown >>, which run callbacks
synchronously.
Before the callback was called, the core had finished its bookkeeping, so the
loop, the pools and all other requests stay usable: call C<< $loop->run >>
again and pending requests continue.

Other callbacks that are ready in the same loop iteration still run before
C<run> returns. If one of them dies too, only the first exception is rethrown;
the later ones are turned into warnings starting with
C<Uvent: another callback died before the first exception was rethrown:>.

C<$@> is preserved across a callback: a callback that dies or uses C<eval>
does not change the caller's C<$@>.

A callback that runs while a L<Uvent::Loop> object is being destroyed (see
L</OBJECT LIFETIME>) is inside a C<DESTROY>; an exception from it becomes a
warning containing C<(in cleanup)>.

=head1 OBJECT LIFETIME

=over 4

=item *

A request that was submitted keeps itself alive until its callback has run,
so you do not have to hold on to it. See L<Uvent::HTTP::Request/OBJECT LIFETIME>.

=item *

A pool holds a reference to its loop. When the last reference to a pool goes
away, its idle connections are closed at once, but requests already running
or queued still run to completion and get their callbacks (as long as the loop
still exists and is run); their connections are closed afterwards. See
L<Uvent::HTTP::Pool/OBJECT LIFETIME>.

=item *

A loop made with C<< Uvent::Loop->new >> is destroyed when its last reference
goes away (pools and timers hold references to it; the per-loop instance pool
of L<Uvent::HTTP::Pool/instance> does not). Destroying it cancels every request
still pending on it (their callbacks run, with a C<cancelled> error), stops
its timers and closes its connections. The default loop is never destroyed.
A loop that is running waits for its C<run> to return before it is
destroyed, so a callback may drop the last reference to its own loop, pool
or timer (see L<Uvent::Loop/OBJECT LIFETIME>).

=item *

A file-scoped lexical (C<my $loop> at the top level of a script) is freed when
the program ends but before global destruction: a C<< Uvent::Loop->new >> held
only there is destroyed as described above, so callbacks of requests still
pending run with a C<cancelled> error while the program exits.

=item *

During global destruction Uvent calls no callbacks and does not touch any
loop, pool or connection; the operating system closes the sockets at exit.
So requests still pending on the default loop when the program ends get no
callback; see L<Uvent::Loop/At program exit>.

=back

=head1 USING UVENT FROM YOUR EVENT LOOP

A program that already runs an event loop (an AnyEvent or EV daemon, a
Mojolicious app, an IO::Async service) keeps it: one line makes the Uvent
loop run from inside it, with no C<< Uvent::Loop->run >>.

    use AnyEvent; use Uvent::Loop::AnyEvent;
    Uvent::Loop::AnyEvent->attach;              # Uvent::Loop->default, from AnyEvent (EV or pure Perl)

    use Mojo::IOLoop; use Uvent::Loop::Mojo;
    Uvent::Loop::Mojo->attach;                  # or ->attach($uvent_loop, $mojo_ioloop)

    use IO::Async::Loop; use Uvent::Loop::IOAsync;
    Uvent::Loop::IOAsync->attach($ioa);         # a notifier added to $ioa

=over 4

=item How

The adapter watches the Uvent loop's L<Uvent::Loop/backend_fd> for
readability and keeps one host-loop timer for
L<Uvent::Loop/backend_timeout>. When either fires it runs the Uvent loop
once without blocking and re-arms. Host code that gives the loop work
(C<request>, C<cancel>, a timer, C<shutdown>) re-arms at once: a request
submitted from a host-loop callback is on the wire before the host loop
next waits, with no timer tick and no polling. An idle program costs
nothing: with 100 idle keep-alive connections open and the host loop
running a timer ten times a second for 5 s, the adapter did not wake once
and the whole process used 11 to 14 ms of CPU, nearly all of it the host
loop's own timer (C<t/60>..C<t/64> with C<EXTENDED_TESTING=1>).

=item Liveness

The adapter's watchers count as work for the host loop only while the Uvent
loop has referenced work (requests pending, timers started). Idle keep-alive
connections and the pools' own timers do not: C<< Mojo::IOLoop->start >> and
C<EV::run> return when the last request is done, with the connections left
open for the next request, and those connections are still served while
the host loop runs for other reasons (a server closing one is noticed at
once). Under L<Mojo::Reactor::Poll>, which has no such notion, the watchers
are removed meanwhile instead; see L<Uvent::Loop::Mojo>. AnyEvent and
IO::Async programs wait on a condvar or run until stopped, so for them this
changes nothing.

=item Rules

C<attach> twice is harmless (the same adapter comes back); C<detach> stops
driving; a Uvent loop runs from one host loop, so attaching it to a second
croaks; C<< $uvent_loop->run >> croaks while attached, saying why.

=item Exceptions

A Uvent callback that dies surfaces the way the host loop reports errors:
under AnyEvent, out of the watcher callback (EV: C<$EV::DIED>; pure Perl: out
of C<< $cv->recv >>); under Mojo, as the reactor's C<error> event; under
IO::Async, out of C<< $ioa->run >>. The Uvent loop stays usable.

=item Futures and promises

L<Uvent::HTTP::Pool/request_f> returns a L<Future> (L<Uvent::Future>) whose
C<get> runs the right loop until it is done, so it works with
L<Future::AsyncAwait>'s C<await>; L<Uvent::HTTP::Pool/request_p> returns a
L<Mojo::Promise>. Future and Mojolicious are loaded only when these are
called.

=item Synchronous requests

L<Uvent::HTTP/http_request_sync> runs a private Uvent loop until its request
is done: inside a host loop it works, but blocks the host loop meanwhile.

=item Fork

In a child process the host loop must be made usable first, as that loop
documents (C<EV::default_loop-E<gt>loop_fork>, AnyEvent's and IO::Async's
fork support, C<Mojo::IOLoop-E<gt>reset>); the Uvent loop then drops what it
inherited (see L</FORK>) and the adapter follows its new backend fd.

=back

=head1 FORK

Loops and pools are fork-safe: after a C<fork>, the parent goes on as if
nothing had happened, and the child can use the loops and pools it
inherited, the default loop and C<< Uvent::HTTP::Pool->instance >> included.

=over 4

=item *

In the child, the first use of a pool (a request, C<size>, C<stats>,
C<shutdown>, dropping it, ...) or the first C<< $loop->run >> (or
C<run_once>, C<run_nowait>) of its loop drops everything inherited: the
libuv loop is re-created for the child with C<uv_loop_fork>, so the child no
longer shares the parent's epoll descriptor; every inherited connection is
closed without anything being written to it or read from it; and every
inherited request, running or queued, is dropped silently, without a
callback in the child. The parent still gets the callbacks of those requests,
exactly once.

=item *

After that the pool is empty and usable in the child: new requests open new
connections of the child's own. Nothing has to be done before or after the
C<fork>. See L<Uvent::HTTP::Pool/FORK> for the details, including one thing
to avoid (cancelling an inherited request in the child first).

=item *

A child should still end with C<POSIX::_exit> (or C<exec>), not C<exit>.
libuv's cleanup at exit can crash (SIGSEGV or SIGABRT, see libuv issue 4443)
in a forked child of a process that used libuv's thread pool, when the child
did not use the thread pool itself. Uvent uses the thread pool to resolve
host names; requests to IP addresses (C<http://127.0.0.1/>,
C<http://[::1]/>) do not use it. A normal C<exit> also runs the parent's
C<END> blocks and destructors in the child.

=back

=head1 SIGPIPE

A write to a connection its peer has reset raises SIGPIPE, and its
default action ends the process silently: any server could kill a client,
and any client a server. Loading Uvent therefore sets C<$SIG{PIPE}> to
C<IGNORE> when the program left it at its default (as nginx, Starman and
Node do); such a write then fails with EPIPE and only its connection goes.
A handler or disposition the program set before loading Uvent is kept.
Programs run with C<system> or C<exec> inherit the ignored signal; set
C<local $SIG{PIPE} = 'DEFAULT'> around them if they rely on it.

=head1 PORTING FROM UNIEVENT

Uvent's API follows L<UniEvent::HTTP>'s client where it can: the same
class layout (C<Loop>, C<HTTP::Pool>, C<HTTP::Request>, C<HTTP::Response>),
the same C<http_request>, C<http_get> and C<http_request_sync> functions,
the same C<< ($request, $response, $error) >> callback, the same pool
configuration keys C<timeout> (idle, 60 s by default) and
C<max_connections> (10), the same request C<timeout> (20 s) and
C<connect_timeout>, and a request object that can be sent again once
finished. The differences, point by point:

=over 4

=item Loading

C<use UniEvent::HTTP> becomes C<use Uvent> (classes) and
C<use Uvent::HTTP qw(http_request http_get http_request_sync)> (functions;
nothing is exported by default). There is no C<UE::> short name.

=item Pools

C<< Uvent::HTTP::Pool->new(\%config) >>, C<< ->new(\%config, $loop) >>,
C<< ->new($loop) >> and C<< ->new >> work as in UniEvent;
C<Uvent::HTTP::Pool::instance($loop)> (also as a class method) is the
per-loop pool that C<http_request> uses, as there. Uvent adds limits and
tools UniEvent's pool does not have: C<max_total>, C<max_queue>,
C<queue_timeout>, C<max_lifetime>, C<max_requests_per_connection>,
C<max_headers_size>, C<max_body_size>, C<nqueued>, C<stats> and
C<shutdown> (see L<Uvent::HTTP::Pool>). C<< $pool->request >> returns the
connection (a L<Uvent::HTTP::Client>, for inspection) or undef when queued.
UniEvent's C<< UniEvent::HTTP::Client->new >> with C<< $client->request >>
(one connection, no pool) has no counterpart: use a pool with
C<< max_connections => 1 >>.

=item Functions

C<http_request(\%params, $loop)> and C<http_get($uri, $callback, $loop)>
take the same arguments; they return the connection or undef, where
UniEvent returns nothing. C<http_get($uri)> and C<http_request_sync> return
the response in scalar context, and undef when the request failed, as in
UniEvent; in list context Uvent returns C<($response, $error)> with a
response that is always defined (its C<code> is 0 when nothing arrived),
where UniEvent returns C<(undef, $error)>: test C<$error>, not
C<$response>. A synchronous call runs on a private loop and pool (see
L<Uvent::HTTP/http_request_sync>).

=item Callbacks instead of C<*_event> listeners

UniEvent requests carry C<response_event> (and C<partial_event>,
C<redirect_event>, C<continue_event>) dispatchers to which several listeners
can be added, besides the C<response_callback> parameter. Uvent has the
C<response_callback> only: one code reference per request, looked up when
the request finishes (it may be replaced while the request is pending).
Call several handlers from it if you need them.

=item Methods

C<method> is a string (C<'POST'>), not a C<Protocol::HTTP> constant such as
C<Protocol::HTTP::METHOD_POST>. C<headers> is a hashref as in UniEvent, or
an arrayref of pairs for repeated or ordered headers. C<uri> is a string or
an object that stringifies to one (a L<URI>, say).

=item TLS: C<tls> instead of C<ssl_ctx>

UniEvent takes an OpenSSL context (C<< ssl_ctx => $ctx >>) built by the
application, and a flag for certificate checking. Uvent builds and caches
the contexts itself from a C<tls> hash of settings, per request or as the
pool's default: C<< tls => { ca_file => ..., cert_file => ..., key_file
=> ..., verify => 1, ciphers => ..., min_version => 'TLSv1.3',
server_name => ... } >>. Certificates are verified against the system store
by default, and the settings are part of the connection's identity. See
L<Uvent::HTTP::Pool/HTTPS>.

=item Errors

UniEvent passes error code objects and compares them with constants such as
C<UniEvent::SystemError::timed_out>, C<UniEvent::SystemError::operation_canceled>
or C<UniEvent::HTTP::connect_error>. Uvent passes a L<Uvent::Error> with a
L<code|Uvent::Error/code> name, the system error's name in
L<errno|Uvent::Error/errno> and a message; it compares with C<==> against
its own constants: C<< $error == Uvent::Error::TIMEOUT >>,
C<< $error == Uvent::Error::CANCELLED >>, C<< $error == Uvent::Error::CONNECT >>.
L<Uvent::Error/FROM UNIEVENT> maps every UniEvent constant to its Uvent
code. A C<4xx> or C<5xx> response is a success in both.

=item Redirects

Followed by default, as in UniEvent, with its C<follow_redirect> and
C<redirection_limit> (default 20); Uvent adds C<allow_downgrade>, a
C<redirect_callback> that may stop the chain, C<< $response->redirects >>
and C<< $response->uri >>, and the errors C<redirection_limit> and
C<bad_redirect>. See L<Uvent::HTTP::Pool/REDIRECTS>.

=item Cancelling

C<< $request->cancel >> and C<< $request->cancel($error) >> work as in
UniEvent: the callback runs at once with C<cancelled>, or with the given
error, here a code name or constant (C<< $request->cancel(Uvent::Error::TIMEOUT) >>)
or a L<Uvent::Error>, not a UniEvent error code. See
L<Uvent::HTTP::Request/cancel>.

=item Timers and loops

C<< UE::timer $seconds, $cb, $loop >> and C<< UniEvent::Timer->create(...) >>
become C<< Uvent::Timer->once($seconds, $cb, $loop) >> or
C<< Uvent::Timer->new($loop)->start($after, $repeat, $cb) >>.
C<< Uvent::Loop->default >> is UniEvent's C<default> (there is no
C<default_loop> alias, no C<global> loop and no C<delay>); C<run>, C<run_once>, C<run_nowait>,
C<stop>, C<now> and C<update_time> are there. Uvent::Loop is not a general
event loop: it has no I/O watchers, signals, file system or TCP handles.

=item Exceptions and exit

An exception thrown by a callback is rethrown from C<< $loop->run >> (see
L</EXCEPTIONS IN CALLBACKS>). Requests still pending when the program ends
on the default loop get no callback (see L<Uvent::Loop/At program exit>).

=item What UniEvent::HTTP has and Uvent does not (yet)

=over 4

=item *

proxies: C<proxy> takes a URL (C<http://>, C<socks5://>, C<socks5h://>)
where UniEvent::HTTP takes a URI object; C<env_proxy> reads the
environment;

=item *

compression: Uvent's C<decompress> (on by default) where UniEvent has
C<allow_compression>; no C<compress> of request bodies;

=item *

streaming: UniEvent's names, C<partial_callback> for response bodies
(with C<< $request->pause >>/C<resume>, which UniEvent has not), and
C<< chunked => 1 >>, C<send_chunk>, C<send_final_chunk> and
C<continue_callback> for request bodies; a C<body> may also be a
filehandle or a code ref (see L<Uvent::HTTP::Pool/STREAMING DOWNLOADS>
and L<Uvent::HTTP::Pool/STREAMED UPLOADS>);

=item *

forms: C<form> takes a list or hash of fields (urlencoded, or multipart
with files), not UniEvent's C<form> object;

=item *

cookies: a C<cookie_jar> object with HTTP::CookieJar's interface, not
C<UniEvent::HTTP::UserAgent>;

=item *

C<tcp_hints>: Uvent takes C<family> (4, 6 or 0) and C<resolve> instead;
C<tcp_nodelay> is an option (on by default);

=item *

the server side: L<Uvent::HTTP::Server> follows C<UniEvent::HTTP::Server>
(C<locations>, C<ServerRequest-E<gt>respond>, C<enable_partial>, with
C<drop_callback> for C<drop_event>), and L<Uvent::HTTP::Manager> its
C<UniEvent::HTTP::Manager> (prefork only). No PSGI handler yet (Plack::Handler::Uvent). Not yet.

=back

=back

=head1 SEE ALSO

L<Uvent::HTTP>, L<Uvent::HTTP::Pool>, L<Uvent::HTTP::Request>,
L<Uvent::HTTP::Response>, L<Uvent::Error>, L<Uvent::HTTP::Client>,
L<Uvent::Loop>, L<Uvent::Timer>.

libuv: L<https://libuv.org/>; llhttp: L<https://github.com/nodejs/llhttp>.

=head1 AUTHOR

Uvent developers.

=head1 COPYRIGHT AND LICENSE

This library is free software; you can redistribute it and/or modify it
under the same terms as Perl itself.

=cut
