package Uvent::HTTP;
use strict;
use warnings;
use Carp ();
use Scalar::Util ();

our $VERSION = '0.06';

use Uvent;
use Exporter 'import';
our @EXPORT_OK = qw(http_request http_get http_request_sync http_request_f http_request_p);

sub http_request {
    my ($request, $loop) = @_;
    return Uvent::HTTP::Pool::instance($loop)->request($request);
}

sub http_request_f {
    my ($request, $loop) = @_;
    return Uvent::HTTP::Pool::instance($loop)->request_f($request);
}

sub http_request_p {
    my ($request, $loop) = @_;
    return Uvent::HTTP::Pool::instance($loop)->request_p($request);
}

sub http_get {
    my ($uri, $cb, $loop) = @_;
    return http_request_sync({ uri => $uri }) unless $cb;
    return http_request({ uri => $uri, response_callback => $cb }, $loop);
}

our $IN_SYNC;

sub http_request_sync {
    my ($request) = @_;
    Carp::croak('http_request_sync: cannot run a synchronous request from inside a callback of another one')
        if $IN_SYNC;
    $request = Uvent::HTTP::Request->new($request)
        unless Scalar::Util::blessed($request) && $request->isa('Uvent::HTTP::Request');
    my $user_cb = $request->{response_callback};
    my ($response, $error);
    local $request->{response_callback} = sub {
        (undef, $response, $error) = @_;
        $user_cb->(@_) if $user_cb;
    };
    my $loop = Uvent::Loop->new;
    {
        local $IN_SYNC = 1;
        my $pool = Uvent::HTTP::Pool->new({}, $loop);
        $pool->request($request);
        $loop->run;
    }
    return wantarray ? ($response, $error) : $error ? undef : $response;
}

1;

__END__

=head1 NAME

Uvent::HTTP - simple functions for HTTP requests through Uvent pools

=head1 SYNOPSIS

    use Uvent::HTTP qw(http_request http_get http_request_sync);

    # synchronous: returns when the request is finished
    my ($response, $error) = http_get('http://127.0.0.1:8080/');
    print $error ? "failed: $error\n" : $response->body . "\n";

    ($response, $error) = http_request_sync({
        uri     => 'http://127.0.0.1:8080/upload',
        method  => 'POST',
        headers => { 'Content-Type' => 'text/plain' },
        body    => 'hello',
        timeout => 5,
    });

    # asynchronous: through the instance pool of the default loop
    http_get('http://127.0.0.1:8080/', sub {
        my ($request, $response, $error) = @_;
        print $error ? "failed: $error\n" : "got " . $response->code . "\n";
    });
    http_request({
        uri               => 'http://127.0.0.1:8080/?x=1',
        response_callback => sub { print "second done\n" },
    });
    Uvent::Loop->default->run;

HTTPS, not runnable as written: the host and the file name stand for your
own server and CA.

    # verified against the system trust store, or a CA of your own
    ($response, $error) = http_get('https://example.com/');
    ($response, $error) = http_request_sync({
        uri => 'https://localhost:8443/',
        tls => { ca_file => '/etc/myapp/ca.pem' },
    });

=head1 DESCRIPTION

Shortcuts for the common cases. The asynchronous functions send requests
through the per-loop pool C<< Uvent::HTTP::Pool->instance($loop) >>, so
connections are shared and reused between all users of that loop. The
synchronous ones run the request on a private loop and pool, so they neither
run nor disturb anything else.

C<use Uvent::HTTP> loads L<Uvent>. Nothing is exported by default; the
three functions below can be imported by name.

=head1 FUNCTIONS

=head2 http_request

    my $client = http_request(\%params);
    my $client = http_request(\%params, $loop);
    my $client = http_request($request_object, $loop);

Submits a request to C<< Uvent::HTTP::Pool->instance($loop) >>, the
instance pool of C<$loop> (the default loop when C<$loop> is omitted or
undef). The parameters, the return value (a L<Uvent::HTTP::Client>, or undef
when the request was queued), the callback and the errors are those of
L<Uvent::HTTP::Pool/request>. The callback runs when C<$loop> runs.

=head2 http_request_f

    my $future = http_request_f(\%params);          # the default loop's instance pool
    my $future = http_request_f(\%params, $loop);

L<Uvent::HTTP::Pool/request_f> on the instance pool of C<$loop> (default:
C<< Uvent::Loop->default >>): a L<Uvent::Future>.

=head2 http_request_p

    http_request_p(\%params)->then(sub { my ($response) = @_; ... });

L<Uvent::HTTP::Pool/request_p> on the instance pool of C<$loop>: a
L<Mojo::Promise>.

=head2 http_get

    my $client             = http_get($uri, $callback);
    my $client             = http_get($uri, $callback, $loop);
    my ($response, $error) = http_get($uri);
    my $response           = http_get($uri);

With a callback: C<< http_request({ uri => $uri, response_callback =>
$callback }, $loop) >>, a GET with the default timeouts.

Without a callback (undef or omitted): C<< http_request_sync({ uri => $uri })
>>, and the same return values; C<$loop> is ignored.

Croaks like L<Uvent::HTTP::Pool/request> for a bad C<$uri>.

=head2 http_request_sync

    my ($response, $error) = http_request_sync(\%params);
    my ($response, $error) = http_request_sync($request_object);
    my $response           = http_request_sync(\%params);

Runs one request to completion and returns. It creates a new
L<Uvent::Loop>, a pool with the default configuration on it, submits the
request, runs that loop until the request is finished, and throws the loop,
the pool and its connection away. Nothing else runs meanwhile: requests and
timers of other loops (including the default loop) wait until their loop runs
again. No connection is reused between two synchronous calls.

The parameters are those of L<Uvent::HTTP::Pool/request>. A
C<response_callback> is optional; if one is given, it is called as usual
(with C<($request, $response, $error)>) before C<http_request_sync> returns.

In list context it returns C<($response, $error)>: a L<Uvent::HTTP::Response>
(always defined, with C<code> 0 when no response arrived) and undef on
success or a L<Uvent::Error>. In scalar context it returns the response on
success and undef when the request failed (so C<< my $res = http_get($url) or die >>
works); use list context to see why it failed.

The request's C<timeout> (20 seconds by default) bounds the call; with
C<< timeout => 0 >> a server that never answers blocks it forever.

Croaks:

=over 4

=item *

with every message of L<Uvent::HTTP::Pool/request> for bad parameters
(C<Wide character in 'uri'> included), naming the caller's line, not one of
Uvent::HTTP;

=item *

with C<http_request_sync: cannot run a synchronous request from inside a
callback of another one> when called from a callback that runs during
another C<http_request_sync> (that is, from its C<response_callback>).
Calling it from a callback of an asynchronous request or a timer is
allowed: it blocks that loop for the duration.

=back

An exception thrown by the C<response_callback> propagates out of
C<http_request_sync>.

=head2 Inside another event loop

C<http_request_sync> (and C<http_get> without a callback) runs a private
Uvent loop of its own until its request is done: inside a program running
AnyEvent, Mojo::IOLoop or IO::Async it works, but blocks that loop while it
runs (nothing else of the program happens meanwhile). Use C<http_request>,
C<http_request_f> or C<http_request_p> there, with the loop attached (see
L<Uvent/"USING UVENT FROM YOUR EVENT LOOP">).

=head1 SEE ALSO

L<Uvent>, L<Uvent::HTTP::Pool>, L<Uvent::HTTP::Request>,
L<Uvent::HTTP::Response>, L<Uvent::Error>.

=head1 AUTHOR

Uvent developers.

=head1 COPYRIGHT AND LICENSE

This library is free software; you can redistribute it and/or modify it
under the same terms as Perl itself.

=cut
