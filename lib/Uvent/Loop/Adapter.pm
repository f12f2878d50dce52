package Uvent::Loop::Adapter;
use strict;
use warnings;
use Carp ();
use Scalar::Util ();

our $VERSION = '0.06';

require Uvent;

# refaddr of an attached Uvent::Loop => its adapter. The entry holds both
# until detach: an attached loop must not go away under its host's watchers.
my %ATTACHED;

sub _of {
    my (undef, $loop) = @_;
    return $ATTACHED{ Scalar::Util::refaddr($loop) };
}

# A Uvent::Loop and the host loop, given in any order, either left out.
sub _split_args {
    my ($class, $method, @args) = @_;
    my ($loop, $host);
    for my $arg (@args) {
        if (Scalar::Util::blessed($arg) && $arg->isa('Uvent::Loop')) {
            Carp::croak("$class->$method: two Uvent loops given; an adapter drives one") if $loop;
            $loop = $arg;
        } elsif (defined $arg && $class->_is_host($arg)) {
            Carp::croak("$class->$method: two host loops given; a Uvent loop runs from one") if $host;
            $host = $arg;
        } else {
            Carp::croak("$class->$method: expects " . $class->_args_wanted . ', got '
                . (defined $arg ? Uvent::HTTP::Pool::_what($arg) : 'undef'));
        }
    }
    return ($loop // Uvent::Loop->default, $host // $class->_default_host);
}

sub attach {
    my ($class, @args) = @_;
    $class = ref $class if ref $class;
    my ($loop, $host) = $class->_split_args('attach', @args);
    if (my $have = $ATTACHED{ Scalar::Util::refaddr($loop) }) {
        return $have if ref $have eq $class && $have->_same_host($host);
        Carp::croak("$class->attach: this Uvent loop is already attached to " . $loop->driver
            . '; a Uvent loop runs from one host loop (detach it first)');
    }
    my $self = $class->_new_adapter($loop, $host);
    $ATTACHED{ Scalar::Util::refaddr($loop) } = $self;
    $self->_bind($loop, $host);
    $self->_attached;
    return $self;
}

sub detach {
    my ($self, @args) = @_;
    unless (ref $self) {
        my ($loop) = grep { Scalar::Util::blessed($_) && $_->isa('Uvent::Loop') } @args;
        $loop //= Uvent::Loop->default;
        my $have = $ATTACHED{ Scalar::Util::refaddr($loop) } or return;
        return unless $have->isa($self);
        $self = $have;
    }
    $self->_unbind;
    return;
}

sub uvent_loop { $_[0]{uvent_loop} }

sub _same_host { $_[0]{uvent_host} == $_[1] }

sub _default_host { 'host' }

sub _bind {
    my ($self, $loop, $host) = @_;
    $self->{uvent_loop} = $loop;
    $self->{uvent_host} = $host;
    $self->{uvent_fd} = -1;
    $self->{uvent_generation} = -1;
    $self->{uvent_alive} = -1;
    $self->{uvent_due} = undef;
    Scalar::Util::weaken(my $weak = $self);
    # called by the XS after a call that gave the loop work from host code
    $loop->_attach(sub { $weak->_rearm if $weak && $weak->{uvent_loop} }, $self->_driver_name);
}

# Stop watching and let the Uvent loop be run again by itself.
sub _unbind {
    my ($self) = @_;
    my $loop = delete $self->{uvent_loop} or return;
    $self->_timer_stop;
    $self->_io_stop if $self->{uvent_fd} >= 0;
    $self->{uvent_fd} = -1;
    $self->{uvent_due} = undef;
    delete $ATTACHED{ Scalar::Util::refaddr($loop) };
    $loop->_detach;
    $self->_detached;
}

sub _detached { }

# After the host loop ran one of our watchers, or host code gave the loop
# work: make the watchers match the loop's state.
sub _rearm {
    my ($self) = @_;
    $self->_apply($self->{uvent_loop}->_state);
}

sub _apply {
    my ($self, $alive, $timeout, $fd, $now, $generation) = @_;
    # a new fd after fork (uv_loop_fork; maybe with the same number) or on
    # first use ($$ would cost a getpid per wake-up)
    if ($fd != $self->{uvent_fd} || $generation != $self->{uvent_generation}) {
        $self->_io_stop if $self->{uvent_fd} >= 0;
        $self->{uvent_fd} = $fd;
        $self->{uvent_generation} = $generation;
        $self->{uvent_alive} = -1;
        $self->_io_start($fd);
    }
    if ($alive != $self->{uvent_alive}) {
        $self->{uvent_alive} = $alive;
        $self->_keepalive($alive);
    }
    # a ->get waiting on AnyEvent's condvar looks again: nothing can settle it now
    $self->{uvent_waiter}->send if !$alive && $self->{uvent_waiter};
    return if $timeout < 0 || (!$alive && $self->{uvent_unwatch_idle});
    # a timer already due no later stays: when it fires we look again, so
    # a deadline moving later (the usual case) costs no host-timer call
    my $due = $now + $timeout;
    my $armed = $self->{uvent_due};
    return if defined $armed && $armed <= $due;
    $self->{uvent_due} = $due;
    $self->_timer_start($timeout / 1000);
}

# The backend fd became readable or our timer fired.
sub _ready {
    my ($self) = @_;
    my $loop = $self->{uvent_loop} or return;
    return if $self->{uvent_driving}; # a host loop run from inside a Uvent callback
    my @state;
    local $self->{uvent_driving} = 1;
    my $ok = eval {
        # work that is due at once (write callbacks, deferred requests) runs
        # now rather than after another turn of the host loop; bounded
        my $rounds = 0;
        do { $loop->_drive; @state = $loop->_state } while $state[1] == 0 && ++$rounds < 3;
        1;
    };
    # a callback may have detached this adapter and attached another one:
    # whichever drives the loop now re-arms
    my $driver = $ATTACHED{ Scalar::Util::refaddr($loop) };
    unless ($ok) {
        my $err = $@;
        $driver->_rearm if $driver; # the loop stays usable
        $self->_error($err);
        return;
    }
    $driver->_apply(@state) if $driver;
}

sub _on_timer {
    my ($self) = @_;
    $self->{uvent_due} = undef;
    $self->_ready;
}

# How a Uvent callback's exception reaches the host: out of the watcher
# callback, unless the host has a better way.
sub _error { die $_[1] }

sub _keepalive { }

# Run the host loop until the future is ready (Uvent::Future->get).
sub _await {
    my ($self, $future) = @_;
    local @Carp::Internal{qw(Future Future::PP Future::XS)} = (1, 1, 1);
    Carp::croak(ref($future) . '->get: called from inside a Uvent callback of the same loop, which cannot run '
        . 'again until that callback returns (use ->on_done, or await in an async sub)') if $self->{uvent_driving};
    $self->_await_host($future);
}

# By default one host-loop iteration at a time (_host_once).
sub _await_host {
    my ($self, $future) = @_;
    Uvent::Future::_step_until_ready($future, $self->{uvent_loop}, sub { $self->_host_once });
}

sub _attached { $_[0]->_rearm }

# --- EV, used directly where the host loop is EV's default loop: its
# watchers can be kept out of the loop's liveness (keepalive) ---

sub _ev_io_start {
    my ($self, $fd) = @_;
    Scalar::Util::weaken(my $weak = $self);
    $self->{uvent_io} = EV::io($fd, EV::READ(), sub { $weak->_ready if $weak });
}

sub _ev_io_stop { delete $_[0]{uvent_io} }

sub _ev_timer_start {
    my ($self, $after) = @_;
    EV::now_update() if $after > 0; # EV's time is the iteration's start: a stale base fires early
    if (my $w = $self->{uvent_timer}) {
        $w->set($after, 0);
        $w->start;
        return;
    }
    Scalar::Util::weaken(my $weak = $self);
    my $w = $self->{uvent_timer} = EV::timer($after, 0, sub { $weak->_on_timer if $weak });
    $w->keepalive($self->{uvent_alive} > 0 ? 1 : 0);
}

sub _ev_timer_stop {
    my ($self) = @_;
    $self->{uvent_timer}->stop if $self->{uvent_timer};
    $self->{uvent_due} = undef;
}

sub _ev_keepalive {
    my ($self, $alive) = @_;
    $self->{uvent_io}->keepalive($alive ? 1 : 0) if $self->{uvent_io};
    $self->{uvent_timer}->keepalive($alive ? 1 : 0) if $self->{uvent_timer};
}

1;

__END__

=head1 NAME

Uvent::Loop::Adapter - what the event-loop adapters of Uvent share

=head1 SYNOPSIS

    use Uvent;
    use Uvent::Loop::AnyEvent;      # each adapter has these methods

    my $loop = Uvent::Loop->new;
    my $adapter = Uvent::Loop::AnyEvent->attach($loop);
    print "driven by: ", $loop->driver, "\n";
    $adapter->detach;
    print "runs by itself again\n" unless defined $loop->driver;

=head1 DESCRIPTION

The base class of L<Uvent::Loop::AnyEvent>, L<Uvent::Loop::Mojo> and
L<Uvent::Loop::IOAsync>; see L<Uvent/"USING UVENT FROM YOUR EVENT LOOP">.
It is not used directly. Each adapter watches the Uvent loop's
L<Uvent::Loop/backend_fd> for readability and arms one host-loop timer for
L<Uvent::Loop/backend_timeout>; when either fires it runs the Uvent loop
without blocking and re-arms. Host code that gives the loop work (a request
submitted, cancelled, a timer started or stopped) re-arms at once, so the
work starts before the host loop next waits.

=head1 METHODS

These are the methods every adapter has.

=head2 attach

    my $adapter = Uvent::Loop::AnyEvent->attach;                 # Uvent::Loop->default
    my $adapter = Uvent::Loop::Mojo->attach($uvent_loop, $ioloop); # any order, either left out

Drives a Uvent loop (default: C<< Uvent::Loop->default >>) from a host loop
(each adapter's default: its singleton) and returns the adapter. Attaching
the same loop to the same host again returns the same adapter; attaching it
to another host loop croaks.

=head2 detach

    $adapter->detach;
    Uvent::Loop::AnyEvent->detach($uvent_loop);   # the default loop if left out

Stops driving: the adapter's watchers are gone and the Uvent loop can be
run by itself again (L<Uvent::Loop/run>). Pending work stays pending.
Detaching a loop that is not attached does nothing.

=head2 uvent_loop

The Uvent loop it drives (undef once detached).

=head1 ERRORS

=over

=item C<Uvent::Loop::X-E<gt>attach: this Uvent loop is already attached to ...; a Uvent loop runs from one host loop (detach it first)>

=item C<Uvent::Loop::X-E<gt>attach: expects ..., got ...>

=item C<Uvent::Loop::X-E<gt>attach: two Uvent loops given; an adapter drives one>

=item C<Uvent::Loop::X-E<gt>attach: two host loops given; a Uvent loop runs from one>

=back

=cut
