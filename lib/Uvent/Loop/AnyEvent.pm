package Uvent::Loop::AnyEvent;
use strict;
use warnings;

our $VERSION = '0.06';

use AnyEvent ();
require Uvent::Loop::Adapter;
our @ISA = ('Uvent::Loop::Adapter');

sub _is_host { 0 }
sub _args_wanted { 'a Uvent::Loop or nothing' }
sub _same_host { 1 }

sub _new_adapter {
    my ($class) = @_;
    my $model = AnyEvent::detect();
    # under EV, EV's own watchers: they can stay out of EV::run's liveness
    return bless { uvent_model => $model, uvent_ev => $model eq 'AnyEvent::Impl::EV' ? 1 : 0 }, $class;
}

sub _driver_name { "AnyEvent ($_[0]{uvent_model}, through Uvent::Loop::AnyEvent)" }

sub _io_start {
    my ($self, $fd) = @_;
    return $self->_ev_io_start($fd) if $self->{uvent_ev};
    Scalar::Util::weaken(my $weak = $self);
    $self->{uvent_io} = AE::io($fd, 0, sub { $weak->_ready if $weak });
}

sub _io_stop { delete $_[0]{uvent_io} }

sub _timer_start {
    my ($self, $after) = @_;
    return $self->_ev_timer_start($after) if $self->{uvent_ev};
    Scalar::Util::weaken(my $weak = $self);
    $self->{uvent_timer} = AE::timer($after, 0, sub { $weak->_on_timer if $weak });
}

sub _timer_stop {
    my ($self) = @_;
    return $self->_ev_timer_stop if $self->{uvent_ev};
    delete $self->{uvent_timer};
    $self->{uvent_due} = undef;
}

sub _keepalive {
    my ($self, $alive) = @_;
    $self->_ev_keepalive($alive) if $self->{uvent_ev};
}

# AnyEvent's way to wait is a condvar: one for each step, sent when the
# future settles or (by _apply) when the Uvent loop has run out of work
sub _await_host {
    my ($self, $future) = @_;
    my $cv;
    $future->on_ready(sub { $cv->send if $cv });
    Uvent::Future::_step_until_ready($future, $self->{uvent_loop}, sub {
        local $self->{uvent_waiter} = $cv = AE::cv();
        $cv->recv;
    });
}

1;

__END__

=head1 NAME

Uvent::Loop::AnyEvent - drive Uvent from AnyEvent (EV and every other AnyEvent backend)

=head1 SYNOPSIS

    use strict;
    use warnings;
    use AnyEvent;
    use Uvent::HTTP qw(http_get);
    use Uvent::Loop::AnyEvent;

    Uvent::Loop::AnyEvent->attach;     # drives Uvent::Loop->default from AnyEvent

    my $cv = AnyEvent->condvar;
    my $ticks = 0;
    my $tick = AnyEvent->timer(after => 0.01, interval => 0.01, cb => sub { $ticks++ });
    http_get("http://127.0.0.1:8080/", sub {
        my ($request, $response, $error) = @_;
        print $error ? "failed: $error\n" : "AnyEvent: got " . $response->code . "\n";
        $cv->send;
    });
    $cv->recv;

=head1 DESCRIPTION

Makes a Uvent loop run inside the AnyEvent program that is already running:
requests, timers and idle keep-alive connections of the Uvent loop are
served whenever AnyEvent runs (C<< $cv->recv >>, C<EV::run>, ...), with no
C<< Uvent::Loop->run >>. It watches the loop's L<Uvent::Loop/backend_fd>
and arms one AnyEvent timer for L<Uvent::Loop/backend_timeout>; see
L<Uvent/"USING UVENT FROM YOUR EVENT LOOP">.

It works with every AnyEvent backend. Which one AnyEvent uses is its own
choice, made by C<AnyEvent::detect> when the adapter is attached: if no
event module is loaded yet, AnyEvent tries L<EV> first and falls back to its
pure-Perl loop (C<PERL_ANYEVENT_MODEL=Perl> forces the latter; load your
event module before attaching to be sure of the choice). Under
C<AnyEvent::Impl::EV> the adapter uses EV watchers directly, so that it can
leave EV's liveness alone: while the Uvent loop has no referenced work (only
idle keep-alive connections) its watchers do not keep C<EV::run> running,
yet still serve those connections while EV runs for other reasons. Under the
other backends AnyEvent has no such notion (a program waits on a condvar).

=head1 METHODS

=head2 attach

    my $adapter = Uvent::Loop::AnyEvent->attach;           # Uvent::Loop->default
    my $adapter = Uvent::Loop::AnyEvent->attach($uvent_loop);

Starts driving the Uvent loop from AnyEvent and returns the adapter.
Calling it again for the same loop returns the same adapter; a loop that
another adapter drives croaks. While attached, L<Uvent::Loop/run> on that
loop croaks (it would block AnyEvent).

=head2 detach

    $adapter->detach;
    Uvent::Loop::AnyEvent->detach;                  # or ->detach($uvent_loop)

Stops driving it; L<Uvent::Loop/run> works again.

=head2 uvent_loop

The Uvent loop it drives (undef once detached).

=head1 CALLBACKS AND ERRORS

Uvent callbacks run from inside AnyEvent watcher callbacks. If one dies,
the exception propagates out of the watcher callback the way every AnyEvent
watcher's does (under EV: to C<$EV::DIED>, which warns by default; under the
pure-Perl backend: out of C<< $cv->recv >>). The adapter has re-armed before
that: the Uvent loop stays usable. C<< Uvent::Future->get >> runs AnyEvent
(C<< $cv->recv >>) until the future is ready.

=head1 SEE ALSO

L<Uvent/"USING UVENT FROM YOUR EVENT LOOP">, L<Uvent::Loop::Adapter>, L<AnyEvent>, L<EV>.

=cut
