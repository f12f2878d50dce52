package Uvent::Future;
use strict;
use warnings;
use Carp ();

our $VERSION = '0.06';

use Future 0.33 ();
our @ISA = ('Future');

require Uvent;
require Uvent::Loop::Adapter;

# A new future from an instance (then, needs_all, ...) runs on the same loop.
sub new {
    my $proto = shift;
    my $self = $proto->SUPER::new(@_);
    $self->{uvent_loop} = $proto->{uvent_loop} if ref $proto;
    return $self;
}

sub _on_loop {
    my ($class, $loop) = @_;
    my $self = $class->new;
    $self->{uvent_loop} = $loop;
    return $self;
}

sub await {
    my ($self) = @_;
    return $self if $self->is_ready;
    my $loop = $self->{uvent_loop} // Uvent::Loop->default;
    if (my $adapter = Uvent::Loop::Adapter->_of($loop)) {
        $adapter->_await($self);
        return $self;
    }
    $self->_step_until_ready($loop, sub { $loop->run_once });
    return $self;
}

# Run one iteration at a time (of the Uvent loop, or of the host loop
# driving it) until the future is ready, while the loop has work that
# could make it so.
sub _step_until_ready {
    my ($self, $loop, $step) = @_;
    until ($self->is_ready) {
        local @Carp::Internal{qw(Future Future::PP Future::XS)} = (1, 1, 1); # name the caller of ->get
        Carp::croak(ref($self) . '->get: nothing is pending on its Uvent loop, so it can never complete')
            unless $loop->alive;
        $step->();
    }
}

sub _request_f {
    my ($class, $pool, $request) = @_;
    my $loop = $pool->loop or Carp::croak('Uvent::HTTP::Pool->request_f: the pool\'s loop has been destroyed');
    my $f = $class->_on_loop($loop);
    # the callback holds the future until the response: a caller may keep
    # only what ->then returned
    $request = Uvent::HTTP::Pool::_request_settling($pool, 'request_f', $request, sub {
        my ($req, $res, $err) = @_;
        # cancel runs this from its on_cancel, before the future is ready
        return if $f->is_ready || $f->is_cancelled;
        $err ? $f->fail($err->message, 'http', $err, $res, $req) : $f->done($res);
    });
    Scalar::Util::weaken(my $weak_req = $request); # the pool holds it while it runs
    $f->on_cancel(sub { $weak_req->cancel if $weak_req && $weak_req->active });
    return $f;
}

1;

__END__

=head1 NAME

Uvent::Future - the Future that request_f returns: its get runs the Uvent loop

=head1 SYNOPSIS

    use strict;
    use warnings;
    use Future;
    use Uvent;

    my $pool = Uvent::HTTP::Pool->instance;
    my @f = map { $pool->request_f({ uri => "http://127.0.0.1:8080/?n=$_" }) } 1 .. 3;
    my @responses = Future->needs_all(@f)->get;      # runs the loop until all three are done
    print "needs_all: ", join(' ', map { $_->code } @responses), "\n";

    my $f = $pool->request_f({ uri => 'http://127.0.0.1:1/' });   # nothing listens there
    $f->await;
    my ($message, $category, $error) = $f->failure;
    print "failed ($category): ", $error->code, "\n";

=head1 DESCRIPTION

L<Uvent::HTTP::Pool/request_f> and L<Uvent::HTTP/http_request_f> return a
C<Uvent::Future>, a subclass of L<Future> (needs Future 0.33 or later,
loaded only when these are first called). It behaves as every Future does;
what it adds is C<await> (and so C<get>): it runs the Uvent loop the request
is on until the future is ready. On a loop attached to a host loop (see
L<Uvent/"USING UVENT FROM YOUR EVENT LOOP">) that is the host loop:
AnyEvent's C<< $cv->recv >>, Mojo's reactor C<one_tick>, IO::Async's
C<loop_once>; otherwise C<< $loop->run_once >>. Futures made from it
(C<then>, C<needs_all>, C<followed_by>, ...) are Uvent::Futures on the same
loop. L<Future::AsyncAwait> works with it as with any Future.

=head1 RESULTS

=over

=item done: C<($response)>

For every response, whatever its status: a 404 or a 500 is a response.

=item failed: C<($message, 'http', $error, $response, $request)>

When the request got an error (L<Uvent::Error>): Future's convention of a
message, a category and details. C<$response> is what arrived before the
error (possibly nothing); C<$request> is the L<Uvent::HTTP::Request>.
C<< $f->get >> dies with C<$message>.

=item cancelled

C<< $f->cancel >> cancels the request. Its own C<response_callback>, if it
has one, still runs once (with the C<cancelled> error), as for
L<Uvent::HTTP::Request/cancel>.

=back

A request given as a L<Uvent::HTTP::Request> object keeps its
C<response_callback>: it runs first, then the future settles; the object has
its own callback back by then.

=head1 METHODS

=head2 new

    my $f = Uvent::Future->new;

As L<Future/new>. Called on an instance (as C<then>, C<needs_all> and the
like do), the new future is on the same Uvent loop.

=head2 await, get

    $f->await;
    my $response = $f->get;

Run the loop until the future is ready. C<get> then returns the result or
dies with the failure's message (Future's C<get>).

=head1 ERRORS

=over

=item C<Uvent::Future-E<gt>get: nothing is pending on its Uvent loop, so it can never complete>

A future that is not ready, and no request or timer on its loop that could
make it so (a future made with C<< Uvent::Future->new >> and never settled).

=item C<Uvent::Future-E<gt>get: called from inside a Uvent callback of the same loop, which cannot run again until that callback returns (use -E<gt>on_done, or await in an async sub)>

=item C<Uvent::Loop-E<gt>run_once: the loop is already running (called from one of its own callbacks)>

The same, on a loop that runs by itself.

=item C<Uvent::HTTP::Pool-E<gt>request_f: needs the Future module (0.33 or later): install it (cpanm Future; Debian: apt-get install libfuture-perl)>

=back

=cut
