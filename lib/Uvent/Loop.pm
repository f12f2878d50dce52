package Uvent::Loop;
use strict;
use warnings;

our $VERSION = '0.06';

require Uvent;

1;

__END__

=head1 NAME

Uvent::Loop - the libuv event loop that runs Uvent's requests and timers

=head1 SYNOPSIS

    use Uvent;

    my $loop = Uvent::Loop->new;              # or Uvent::Loop->default
    my $pool = Uvent::HTTP::Pool->new($loop);   # or ->new(\%config, $loop)
    $pool->request({
        uri               => 'http://127.0.0.1:8080/',
        response_callback => sub {
            my ($request, $response, $error) = @_;
            print $error ? "failed: $error\n" : "status: " . $response->code . "\n";
        },
    });
    my $start = $loop->now;
    $loop->run;                               # returns once the callback has run
    printf "took about %d ms\n", $loop->now - $start;

    # a loop can also be driven step by step
    my $timer = Uvent::Timer->once(0.05, sub { print "tick\n" }, $loop);
    $loop->run_once while $loop->alive;

=head1 DESCRIPTION

A C<Uvent::Loop> wraps a libuv loop. Pools and timers belong to one loop, and
their callbacks run only while that loop runs. Most programs use the default
loop; C<< Uvent::Loop->new >> gives an independent loop, for example for a
private pool or for tests.

=head2 What keeps run() running

C<run> returns when nothing is pending on the loop. Pending means:

=over 4

=item *

a request being resolved, connected, sent or waiting for its response, and
requests queued behind busy connections;

=item *

an active L<Uvent::Timer> (a repeating timer keeps C<run> going until it is
stopped).

=back

These do B<not> keep C<run> going: idle keep-alive connections, their idle
timeouts, and the pools' internal timers. So C<run> returns as soon as the
last pending request has called back, even if the pool keeps connections open
for reuse.

=head1 CONSTRUCTORS

=head2 default

    my $loop = Uvent::Loop->default;

Returns the default loop, built on libuv's default loop. It is a singleton:
every call returns a reference to the same object. It is never destroyed
(not even at global destruction). Pools and timers created without an
explicit loop use it.

=head2 new

    my $loop = Uvent::Loop->new;

Creates a new, independent libuv loop. Croaks with
C<Uvent::Loop-E<gt>new: could not create a libuv loop> if libuv cannot
create one (for example when out of file descriptors). The loop is destroyed
when its last reference goes away; see L</OBJECT LIFETIME>.

=head1 METHODS

=head2 run

    $loop->run;

Runs the loop until nothing is pending (see
L</What keeps run() running>), until L</stop> is called, or until a callback
dies. Returns nothing. If a callback died, its exception is rethrown from
C<run>; call C<run> again to continue with the remaining work (see
L<Uvent/EXCEPTIONS IN CALLBACKS>).

C<run> must not be called for a loop from inside a callback running on that
same loop (libuv loops are not re-entrant): it croaks with
C<Uvent::Loop-E<gt>run: the loop is already running (called from one of its own callbacks)>
(likewise C<run_once> and C<run_nowait>), and the exception propagates out of
the outer C<run> as any exception from a callback. Running another loop from
inside a callback is fine; C<http_request_sync> in L<Uvent::HTTP> does
exactly that.

While C<run>, C<run_once> or C<run_nowait> runs, the loop holds itself: a
callback may drop the last reference to the loop (and to its pools and
timers); see L</OBJECT LIFETIME> for what happens then.

=head2 run_once

    $loop->run_once;

Runs one iteration of the loop: waits for at least one event if something is
pending, handles what is ready, and returns. Returns at once when nothing is
pending. Exceptions from callbacks are rethrown as for C<run>.

=head2 run_nowait

    $loop->run_nowait;

Handles whatever is ready right now without waiting, then returns.
Exceptions from callbacks are rethrown as for C<run>.

C<run>, C<run_once> and C<run_nowait> croak on a loop an adapter drives
(see L</DRIVING THE LOOP FROM ANOTHER EVENT LOOP>):
C<Uvent::Loop-E<gt>run: the loop is attached to ... and runs from that loop;
run that loop instead (or detach the adapter first)>.

=head2 stop

    $loop->stop;

Makes a running C<run> (or C<run_once>) return after the current iteration;
callbacks already due in that iteration still run. Pending requests and
timers are not touched; a later C<run> continues them. Calling C<stop> while
the loop is not running makes the next C<run> return immediately without
doing anything.

=head2 now

    my $ms = $loop->now;

Returns the loop's current time in milliseconds, as a number. The origin is
arbitrary (use differences only). The value is cached: it is updated at the
start of each loop iteration, and by L</update_time>.

=head2 update_time

    $loop->update_time;

Refreshes the cached time returned by L</now>. Timers started from a
callback count from the cached time, so call this before starting one after
a long-running callback if the delay must count from "really now" (timers
started outside a run of the loop always count from the moment they start).

=head2 alive

    my $busy = $loop->alive;

True if something is pending on the loop, that is, if C<run> would not return
at once (see L</What keeps run() running>).

=head2 is_default

    print "default loop\n" if $loop->is_default;

True for the loop returned by L</default>, false for loops made with
L</new>.

=head1 DRIVING THE LOOP FROM ANOTHER EVENT LOOP

L<Uvent::Loop::AnyEvent>, L<Uvent::Loop::Mojo> and L<Uvent::Loop::IOAsync>
run a Uvent loop from inside the program's own event loop (see
L<Uvent/"USING UVENT FROM YOUR EVENT LOOP">). They are built on these
methods, which are there for an adapter to another loop as well.

=head2 backend_fd

    my $fd = $loop->backend_fd;

A file descriptor that becomes readable when the loop has I/O to handle
(libuv's epoll/kqueue descriptor). Watch it for reading, never read from it
nor close it. It changes after C<fork> in the child (its first use there
makes the child's own).

=head2 backend_timeout

    my $ms = $loop->backend_timeout;

Milliseconds until the loop must run even with no I/O: C<0> means at once,
C<-1> means only on I/O. With only idle keep-alive connections left it is
the time to the first idle deadline (libuv itself would say 0 there, which
would make a host loop spin). Updates the loop's time (L</now>).

=head2 driver

    print $loop->driver // 'runs by itself', "\n";

Who drives the loop, as a sentence (for example C<Mojo::IOLoop
(Mojo::Reactor::EV, through Uvent::Loop::Mojo)>), or undef. While a loop is
driven, L</run>, L</run_once> and L</run_nowait> croak: blocking in them
would stop the host loop, and the adapter runs the loop itself, in steps
that never block, whenever its watchers fire. Work given to the loop from
host-loop code (a request submitted or cancelled, a timer started or
stopped, a pool shut down) makes the adapter re-arm its watchers at once,
so it starts before the host loop next waits.

=head1 OBJECT LIFETIME

The default loop lives until the program ends.

A loop made with C<new> is destroyed when the last reference to it goes away.
Every L<Uvent::HTTP::Pool> made with C<new> and every L<Uvent::Timer> hold a
reference to their loop, so the loop lives at least as long as they do. The
instance pool of the loop (C<< Uvent::HTTP::Pool->instance($loop) >>) does
not hold one: it belongs to the loop and goes with it.

A running loop holds a reference to itself until its C<run> (or C<run_once>,
C<run_nowait>) returns. When a callback drops the last reference to the loop
while it runs, nothing happens at once: the run goes on as usual, requests
in flight and due timers complete normally and call back, and the loop is
destroyed as described below when the statement that called C<run> ends. So
after C<run> (which returns only when nothing is pending) nothing is left to
cancel; after C<run_once> or C<run_nowait>, or when a callback died or called
L</stop>, whatever is still pending is cancelled then, each request with
exactly one callback. Any method of a pool, timer or request holds its
objects in the same way while it runs Perl code (a callback, an overloaded
C<uri>, a tied value), so dropping them from that code is safe too.

When a loop is destroyed:

=over 4

=item *

every pool still attached to it (its instance pool, and pools whose last
reference has gone but which still have requests) is shut down: each queued or
running request gets its callback, with a C<cancelled> error whose message
ends in C<pool shut down>; all their connections are closed;

=item *

its timers are stopped and never fire;

=item *

the libuv loop is run briefly to finish closing the handles, then closed.

=back

These callbacks run from inside the loop object's C<DESTROY>, so an exception
thrown by one of them becomes a warning. A pool object that outlives its loop
(possible only for the instance pool) croaks on C<request> with
C<the pool's loop has been destroyed>.

At global destruction nothing is done: the loops are left to the operating
system.

=head2 At program exit

Uvent does not complete requests during global destruction: Perl objects
are then freed in no particular order, and calling back into Perl or
running a libuv loop from there is not safe. This is a decision, not an
accident; what a program that ends with requests pending sees is:

=over 4

=item *

requests on the default loop, or on a C<< Uvent::Loop->new >> loop still
referenced at exit from a global, a package variable, a closure or a
reference cycle: no callback is called, not even with C<cancelled>, and
nothing more is sent or read. The process exits normally (with the status
it was given); the operating system closes the sockets. A request whose
loop was never run has not been written at all (at most its TCP
connection was opened);

=item *

requests on a C<< Uvent::Loop->new >> loop referenced only from lexicals
(a file-scoped C<my $loop> included, unless a named sub uses it): the loop is destroyed while the
program ends, before global destruction, so their callbacks run then, with
C<cancelled> (see above);

=item *

the same holds when C<exit> is called from inside a callback.

=back

To have every callback called, run the loop until it returns before
exiting, or shut the pools down in an C<END> block, which calls the
remaining callbacks with C<cancelled>:

    our $pool = Uvent::HTTP::Pool->new;
    END { $pool->shutdown if $pool }

=head1 FORK

A loop inherited from the parent process can be used in a child. The first
C<run>, C<run_once> or C<run_nowait> in the child (or the first use of one of
its pools there) re-creates the libuv loop for the child with
C<uv_loop_fork> and drops the connections and requests inherited from the
parent without touching them; the parent is not disturbed. See
L<Uvent/FORK>. A loop driven by an adapter follows its new L</backend_fd>
in the child by itself, once the host loop runs there (the host loop must be
usable in the child: see its own documentation, e.g. C<EV::default_loop-E<gt>loop_fork>).

=head1 SEE ALSO

L<Uvent>, L<Uvent::Timer>, L<Uvent::HTTP::Pool>.

=head1 AUTHOR

Uvent developers.

=head1 COPYRIGHT AND LICENSE

This library is free software; you can redistribute it and/or modify it
under the same terms as Perl itself.

=cut
