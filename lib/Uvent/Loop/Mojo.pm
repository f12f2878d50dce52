package Uvent::Loop::Mojo;
use strict;
use warnings;
use Scalar::Util ();

our $VERSION = '0.06';

use Mojo::IOLoop ();
require Uvent::Loop::Adapter;
our @ISA = ('Uvent::Loop::Adapter');

sub _is_host { Scalar::Util::blessed($_[1]) && $_[1]->isa('Mojo::IOLoop') }
sub _args_wanted { 'a Uvent::Loop and/or a Mojo::IOLoop' }
sub _default_host { Mojo::IOLoop->singleton }

sub _new_adapter {
    my ($class, $loop, $ioloop) = @_;
    my $reactor = $ioloop->reactor;
    my $self = bless { uvent_reactor => $reactor }, $class;
    Scalar::Util::weaken($self->{uvent_reactor});
    # Mojo::Reactor::EV runs EV's default loop: EV watchers of our own can
    # stay out of its liveness. Mojo::Reactor::Poll keeps running while any
    # watcher exists: with no referenced work ours are removed.
    if ($reactor->isa('Mojo::Reactor::EV')) {
        $self->{uvent_ev} = 1;
    } else {
        $self->{uvent_unwatch_idle} = 1;
    }
    return $self;
}

sub _driver_name {
    my ($self) = @_;
    return 'Mojo::IOLoop (' . ref($self->{uvent_reactor}) . ', through Uvent::Loop::Mojo)';
}

# Exceptions go to the reactor's "error" event, as those of Mojo's own
# watchers do (Mojo::IOLoop's default subscriber warns).
sub _error {
    my ($self, $err) = @_;
    my $reactor = $self->{uvent_reactor};
    die $err unless $reactor;
    $reactor->emit(error => $err);
}

sub _io_start {
    my ($self, $fd) = @_;
    return $self->_ev_io_start($fd) if $self->{uvent_ev};
    $self->{uvent_fd_alive} = $fd; # watched only while the loop has referenced work
}

sub _io_stop {
    my ($self) = @_;
    return $self->_ev_io_stop if $self->{uvent_ev};
    $self->_poll_unwatch;
    delete $self->{uvent_fd_alive};
}

sub _keepalive {
    my ($self, $alive) = @_;
    return $self->_ev_keepalive($alive) if $self->{uvent_ev};
    if ($alive) {
        $self->_poll_watch;
    } else {
        $self->_poll_unwatch;
        $self->_timer_stop;
    }
}

# The reactor polls a handle: a duplicate of the backend fd, so that
# closing it never closes libuv's own.
sub _poll_watch {
    my ($self) = @_;
    return if $self->{uvent_fh} || !defined $self->{uvent_fd_alive};
    my $reactor = $self->{uvent_reactor} or return;
    open(my $fh, '<&', $self->{uvent_fd_alive}) or die "Uvent::Loop::Mojo: cannot duplicate the loop's backend fd: $!";
    Scalar::Util::weaken(my $weak = $self);
    $reactor->io($fh => sub { $weak->_ready if $weak })->watch($fh, 1, 0);
    $self->{uvent_fh} = $fh;
}

sub _poll_unwatch {
    my ($self) = @_;
    my $fh = delete $self->{uvent_fh} or return;
    $self->{uvent_reactor}->remove($fh) if $self->{uvent_reactor};
    close $fh;
}

sub _timer_start {
    my ($self, $after) = @_;
    return $self->_ev_timer_start($after) if $self->{uvent_ev};
    my $reactor = $self->{uvent_reactor} or return;
    $reactor->remove(delete $self->{uvent_timer_id}) if defined $self->{uvent_timer_id};
    Scalar::Util::weaken(my $weak = $self);
    $self->{uvent_timer_id} = $reactor->timer($after => sub {
        return unless $weak;
        delete $weak->{uvent_timer_id};
        $weak->_on_timer;
    });
}

sub _timer_stop {
    my ($self) = @_;
    return $self->_ev_timer_stop if $self->{uvent_ev};
    $self->{uvent_reactor}->remove(delete $self->{uvent_timer_id})
        if defined $self->{uvent_timer_id} && $self->{uvent_reactor};
    $self->{uvent_due} = undef;
}

sub _host_once { $_[0]{uvent_reactor}->one_tick }

# request_p: the loop must run from Mojo::IOLoop for the promise to settle.
sub _for_promise {
    my ($class, $loop) = @_;
    my $have = Uvent::Loop::Adapter->_of($loop);
    return $have->{uvent_host} if $have && $have->isa(__PACKAGE__);
    return $class->attach($loop)->{uvent_host} unless $have;
    return Mojo::IOLoop->singleton; # driven by another host: settles if Mojo runs too
}

1;

__END__

=head1 NAME

Uvent::Loop::Mojo - drive Uvent from Mojo::IOLoop

=head1 SYNOPSIS

    use strict;
    use warnings;
    use Mojo::IOLoop;
    use Uvent;
    use Uvent::Loop::Mojo;

    Uvent::Loop::Mojo->attach;            # or ->attach($uvent_loop, $mojo_ioloop)

    my $pool = Uvent::HTTP::Pool->instance;
    for my $n (1 .. 3) {
        $pool->request({
            uri               => "http://127.0.0.1:8080/?n=$n",
            response_callback => sub {
                my ($request, $response, $error) = @_;
                print $error ? "failed: $error\n" : "Mojo: $n got " . $response->code . "\n";
            },
        });
    }
    Mojo::IOLoop->start;   # returns by itself once the three are done
    print "Mojo::IOLoop returned, ", $pool->size, " keep-alive connection(s) open\n";

=head1 DESCRIPTION

Makes a Uvent loop run inside L<Mojo::IOLoop>: requests, timers and idle
keep-alive connections of the Uvent loop are served whenever Mojo's loop
runs, with no C<< Uvent::Loop->run >>. It watches the loop's
L<Uvent::Loop/backend_fd> and arms one timer for
L<Uvent::Loop/backend_timeout>; see L<Uvent/"USING UVENT FROM YOUR EVENT LOOP">.

C<< Mojo::IOLoop->start >> returns by itself when the last Uvent request is
done (and nothing of Mojo's own is left), even with idle keep-alive
connections open: those do not count as work. How they are served then
depends on Mojo's reactor:

=over

=item L<Mojo::Reactor::EV> (what Mojo uses when L<EV> is installed)

The adapter uses EV watchers of its own and takes them out of EV's
liveness while only idle connections are left: they keep being served
whenever the loop runs for other reasons (a server closing an idle
connection is noticed at once), and do not keep it running.

=item L<Mojo::Reactor::Poll>

That reactor runs while any watcher exists, so with no referenced work the
adapter removes its watchers. Idle connections are then looked at the next
time the Uvent loop has work: one the server closed meanwhile is noticed
before a request is written to it, and the request goes to a new
connection.

=back

=head1 METHODS

=head2 attach

    my $adapter = Uvent::Loop::Mojo->attach;                        # the default loops
    my $adapter = Uvent::Loop::Mojo->attach($uvent_loop, $ioloop);  # any order

Starts driving the Uvent loop (default C<< Uvent::Loop->default >>) from the
Mojo::IOLoop (default C<< Mojo::IOLoop->singleton >>) and returns the
adapter. Attaching the same pair again returns the same adapter; a Uvent loop
driven by another loop croaks. While attached, L<Uvent::Loop/run> on that
loop croaks (it would block Mojo's loop).

=head2 detach

    $adapter->detach;
    Uvent::Loop::Mojo->detach;          # or ->detach($uvent_loop)

Stops driving it; L<Uvent::Loop/run> works again.

=head2 uvent_loop

The Uvent loop it drives (undef once detached).

=head1 CALLBACKS AND ERRORS

Uvent callbacks run from inside the reactor's watcher callbacks. If one
dies, the exception is emitted as the reactor's C<error> event, unchanged,
as Mojo does for its own watchers (the singleton's default subscriber warns;
C<< Mojo::IOLoop->singleton->reactor->on(error => sub { my ($reactor, $err) = @_; ... }) >>
to handle it). The Uvent loop stays usable.

L<Uvent::HTTP::Pool/request_p> attaches the pool's loop to
C<< Mojo::IOLoop->singleton >> when it is not attached to anything yet, so
that its promises settle under C<< $promise->wait >> and C<< Mojo::IOLoop->start >>.
C<< Uvent::Future->get >> runs the reactor's C<one_tick> until the future is
ready.

=head1 SEE ALSO

L<Uvent/"USING UVENT FROM YOUR EVENT LOOP">, L<Uvent::Loop::Adapter>, L<Mojo::IOLoop>, L<Mojo::Promise>.

=cut
