package Uvent::Timer;
use strict;
use warnings;

our $VERSION = '0.06';

require Uvent;

sub new {
    my ($class, $loop) = @_;
    return $class->_new($loop // Uvent::Loop->default);
}

sub once {
    my ($class, $after, $cb, $loop) = @_;
    my $timer = $class->new($loop);
    $timer->_start($after, 0, $cb, 1);
    return $timer;
}

sub start {
    my ($self, $after, $repeat, $cb) = @_;
    $self->_start($after, $repeat // 0, $cb, 0);
    return $self;
}

1;

__END__

=head1 NAME

Uvent::Timer - one-shot and repeating timers on a Uvent::Loop

=head1 SYNOPSIS

    use Uvent;

    my $loop = Uvent::Loop->default;

    # fire once; no need to keep the object
    Uvent::Timer->once(0.25, sub { print "a quarter second later\n" });

    # repeat every 10 ms, starting after 10 ms, three times
    my $count = 0;
    my $tick = Uvent::Timer->new($loop);
    $tick->start(0.01, 0.01, sub {
        my ($timer) = @_;
        print "tick $count\n";
        $timer->stop if ++$count == 3;
    });

    $loop->run;    # returns when no timer is active any more

=head1 DESCRIPTION

Timers call a Perl callback on a L<Uvent::Loop> after a delay, once or
repeatedly. They are meant for applications and tests around the HTTP pool;
Uvent is not a general event library.

Delays are in seconds and may be fractional; they are rounded to whole
milliseconds (a positive delay shorter than 1 ms becomes 1 ms, a delay of 0
fires in the next loop iteration). A timer started outside a run of its
loop (before C<run>, or from the code of another event loop driving it, see
L<Uvent/"USING UVENT FROM YOUR EVENT LOOP">) counts from the moment it is
started; one started from a callback counts from the loop's cached time, the
start of the current iteration (see L<Uvent::Loop/now> and
L<Uvent::Loop/update_time>). An active timer keeps L<Uvent::Loop/run> from
returning.

=head1 CONSTRUCTORS

=head2 new

    my $timer = Uvent::Timer->new;
    my $timer = Uvent::Timer->new($loop);

Creates a stopped timer on C<$loop>, or on the default loop when C<$loop> is
omitted or undef. Croaks with C<loop is not of type Uvent::Loop> when
C<$loop> is something else. Start it with L</start>.

=head2 once

    my $timer = Uvent::Timer->once($seconds, $callback);
    my $timer = Uvent::Timer->once($seconds, $callback, $loop);

Creates a timer on C<$loop> (default: the default loop) and starts it to
fire once after C<$seconds>. Returns the timer. The timer keeps itself alive
until it has fired or has been stopped, so the return value may be ignored.
It croaks like L</start>.

=head1 METHODS

=head2 start

    $timer->start($after, $repeat, $callback);

Starts (or restarts) the timer: C<$callback> is called after C<$after>
seconds, then every C<$repeat> seconds until L</stop> is called. A
C<$repeat> of 0 or undef makes a one-shot timer. Starting an active timer
reschedules it and replaces its callback. Returns the timer.

A timer made with L</new> and started with C<start> lives only as long as
the timer object: when the last reference goes away, the timer is stopped
and never fires. Keep the object for as long as the timer should run.

Croaks with:

=over 4

=item C<Uvent::Timer: 'delay' must be a number, got '...'>

=item C<Uvent::Timer: 'delay' must be a finite number of seconds E<gt>= 0 (at most 1e9), got '...'>

for a negative delay, C<NaN>, C<Inf>, or one above 1e9 seconds (about 31
years) such as C<1e308>; the same with C<'repeat'> for the repeat interval

=item C<Uvent::Timer: the callback must be a CODE reference>

=back

=head2 stop

    $timer->stop;

Stops the timer; its callback is not called again until the next L</start>.
A timer made with L</once> no longer keeps itself alive once stopped.
Stopping a stopped timer does nothing.

=head2 active

    if ($timer->active) { ... }

True while the timer is scheduled to fire: after C<start> or C<once>, until a
one-shot timer has fired or the timer is stopped. A repeating timer stays
active, also inside its own callback, until it is stopped.

=head1 CALLBACKS

The callback is called from inside L<Uvent::Loop/run> (or C<run_once>,
C<run_nowait>) with one argument, the timer object. Its return value is
ignored. Inside the callback of a one-shot timer, C<< $timer->active >> is
already false. (A timer made by L</once> that is restarted with C<start>
from its own callback no longer keeps itself alive: keep a reference to it.)

If the callback dies, the exception propagates out of C<< $loop->run >>; the
loop and other timers stay usable, and a repeating timer keeps repeating on
the next C<run> unless it is stopped. See L<Uvent/EXCEPTIONS IN CALLBACKS>.

=head1 OBJECT LIFETIME

A timer holds a reference to its loop, so a loop made with
C<< Uvent::Loop->new >> lives at least as long as its timers. A timer made by
L</once> holds itself (and therefore its loop) until it fires or is stopped;
if the loop is never run again, both stay in memory.

During global destruction timers do nothing.

=head1 SEE ALSO

L<Uvent>, L<Uvent::Loop>.

=head1 AUTHOR

Uvent developers.

=head1 COPYRIGHT AND LICENSE

This library is free software; you can redistribute it and/or modify it
under the same terms as Perl itself.

=cut
