package Uvent::Loop::IOAsync;
use strict;
use warnings;
use Scalar::Util ();

our $VERSION = '0.06';

use IO::Async::Loop ();
use IO::Async::Notifier ();
require Uvent::Loop::Adapter;
our @ISA = ('IO::Async::Notifier', 'Uvent::Loop::Adapter');

sub _is_host { Scalar::Util::blessed($_[1]) && $_[1]->isa('IO::Async::Loop') }
sub _args_wanted { 'an IO::Async::Loop and/or a Uvent::Loop' }
sub _default_host { IO::Async::Loop->new } # IO::Async's one loop

sub _new_adapter {
    my ($class) = @_;
    return $class->IO::Async::Notifier::new;
}

sub _driver_name { 'IO::Async (' . ref($_[0]{uvent_host}) . ', through Uvent::Loop::IOAsync)' }

# the IO::Async loop holds its notifiers; the reference back is weak
sub _attached {
    my ($self) = @_;
    Scalar::Util::weaken($self->{uvent_host});
    if ($self->IO::Async::Notifier::loop) {
        $self->_rearm;
    } else {
        $self->{uvent_host}->add($self); # _add_to_loop re-arms
    }
}

sub _add_to_loop {
    my ($self) = @_;
    $self->_rearm if $self->{uvent_loop};
}

# $ioa->remove($adapter) detaches too
sub _remove_from_loop {
    my ($self) = @_;
    local $self->{uvent_removing} = 1; # IO::Async is removing it already
    $self->_unbind;
}

sub _detached {
    my ($self) = @_;
    my $ioa = $self->IO::Async::Notifier::loop;
    $ioa->remove($self) if $ioa && !$self->{uvent_removing};
}

sub _io_start {
    my ($self, $fd) = @_;
    my $ioa = $self->{uvent_host} or return;
    # a duplicate of the backend fd: closing it never closes libuv's own
    open(my $fh, '<&', $fd) or die "Uvent::Loop::IOAsync: cannot duplicate the loop's backend fd: $!";
    Scalar::Util::weaken(my $weak = $self);
    $ioa->watch_io(handle => $fh, on_read_ready => sub { $weak->_ready if $weak });
    $self->{uvent_fh} = $fh;
}

sub _io_stop {
    my ($self) = @_;
    my $fh = delete $self->{uvent_fh} or return;
    $self->{uvent_host}->unwatch_io(handle => $fh, on_read_ready => 1) if $self->{uvent_host};
    close $fh;
}

sub _timer_start {
    my ($self, $after) = @_;
    my $ioa = $self->{uvent_host} or return;
    $ioa->unwatch_time(delete $self->{uvent_timer_id}) if defined $self->{uvent_timer_id};
    Scalar::Util::weaken(my $weak = $self);
    $self->{uvent_timer_id} = $ioa->watch_time(after => $after, code => sub {
        return unless $weak;
        delete $weak->{uvent_timer_id};
        $weak->_on_timer;
    });
}

sub _timer_stop {
    my ($self) = @_;
    $self->{uvent_host}->unwatch_time(delete $self->{uvent_timer_id})
        if defined $self->{uvent_timer_id} && $self->{uvent_host};
    $self->{uvent_due} = undef;
}

sub _host_once { $_[0]{uvent_host}->loop_once }

1;

__END__

=head1 NAME

Uvent::Loop::IOAsync - drive Uvent from IO::Async

=head1 SYNOPSIS

    use strict;
    use warnings;
    use IO::Async::Loop;
    use Uvent;
    use Uvent::Loop::IOAsync;

    my $ioa = IO::Async::Loop->new;
    Uvent::Loop::IOAsync->attach($ioa);     # an IO::Async::Notifier added to $ioa

    my $pool = Uvent::HTTP::Pool->instance;
    $pool->request({
        uri               => "http://127.0.0.1:8080/",
        response_callback => sub {
            my ($request, $response, $error) = @_;
            print $error ? "failed: $error\n" : "IO::Async: got " . $response->code . "\n";
            $ioa->stop;
        },
    });
    $ioa->run;

=head1 DESCRIPTION

Makes a Uvent loop run inside an L<IO::Async::Loop>: requests, timers and
idle keep-alive connections of the Uvent loop are served whenever the
IO::Async loop runs (C<run>, C<loop_once>, C<await>), with no
C<< Uvent::Loop->run >>. The adapter is an L<IO::Async::Notifier>: it
watches the loop's L<Uvent::Loop/backend_fd> (C<watch_io>) and keeps one
C<watch_time> timer for L<Uvent::Loop/backend_timeout>; see
L<Uvent/"USING UVENT FROM YOUR EVENT LOOP">. IO::Async loops run until they
are stopped, so its watchers are always there while attached; they cost
nothing while nothing happens.

=head1 METHODS

=head2 attach

    my $adapter = Uvent::Loop::IOAsync->attach($ioa);               # Uvent::Loop->default
    my $adapter = Uvent::Loop::IOAsync->attach($ioa, $uvent_loop);  # any order

Starts driving the Uvent loop (default C<< Uvent::Loop->default >>) from the
IO::Async loop (default C<< IO::Async::Loop->new >>, IO::Async's one loop):
adds the adapter to it as a notifier and returns it. Attaching the same pair
again returns the same adapter; a Uvent loop driven by another loop croaks.
While attached, L<Uvent::Loop/run> on that loop croaks (it would block the
IO::Async loop).

=head2 detach

    $adapter->detach;                   # also: $ioa->remove($adapter)
    Uvent::Loop::IOAsync->detach;       # or ->detach($uvent_loop)

Stops driving it and removes the notifier; L<Uvent::Loop/run> works again.

=head2 uvent_loop

The Uvent loop it drives (undef once detached). (C<loop> is the
IO::Async::Notifier method: the IO::Async loop.)

=head1 CALLBACKS AND ERRORS

Uvent callbacks run from inside the adapter's IO::Async watchers. If one
dies, the exception propagates out of C<< $ioa->run >> (or C<loop_once>,
C<await>) as those of IO::Async's own watchers do. The adapter has
re-armed before that: call C<< $ioa->run >> again and the Uvent loop goes
on. C<< Uvent::Future->get >> runs C<< $ioa->loop_once >> until the future is
ready.

=head1 SEE ALSO

L<Uvent/"USING UVENT FROM YOUR EVENT LOOP">, L<Uvent::Loop::Adapter>, L<IO::Async::Loop>, L<Future>.

=cut
