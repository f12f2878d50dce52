package Uvent::HTTP::Client;
use strict;
use warnings;

our $VERSION = '0.06';

require Uvent;

1;

__END__

=head1 NAME

Uvent::HTTP::Client - a connection of a Uvent::HTTP::Pool

=head1 SYNOPSIS

    use Uvent;

    my $loop = Uvent::Loop->default;
    my $pool = Uvent::HTTP::Pool->new({ max_connections => 1 }, $loop);

    my $client = $pool->request({ uri => 'http://127.0.0.1:8080/' });
    print $client->destination, "\n";            # http://127.0.0.1:8080
    print "busy\n" if $client->busy;             # resolving, connecting or waiting

    my $queued = $pool->request({ uri => 'http://127.0.0.1:8080/?2' });
    print "queued\n" unless defined $queued;     # max_connections reached

    $loop->run;
    printf "served %d, %s\n", $client->requests_served,
        $client->is_open ? 'idle in the pool' : 'closed';

=head1 DESCRIPTION

L<Uvent::HTTP::Pool/request> returns the connection the request was given to
as a C<Uvent::HTTP::Client>, or undef when the request was queued. The
request may still move to another connection (late binding, the pre-write
check or a retry; see L<Uvent::HTTP::Pool/DESCRIPTION>). The object
is for inspection: you cannot send requests through it directly, and it does
not control the connection. Holding it keeps its data readable but neither
keeps the connection open nor keeps the pool alive.

Several calls may return different objects for the same connection.

=head1 METHODS

=head2 pool

    my $pool = $client->pool;

The L<Uvent::HTTP::Pool> the connection belongs to, or undef once that pool
object has been destroyed.

=head2 loop

    my $loop = $client->loop;

The L<Uvent::Loop> of the connection's pool, or undef once the pool object
or the loop has been destroyed.

=head2 destination

    my $dest = $client->destination;    # "http://127.0.0.1:8080"

The destination key of the connection: C<http://>, the lower-cased host (an
IPv6 address in brackets) and the port, which is always included.

=head2 busy

True while the connection is running a request, including while it is still
resolving and connecting for it; false when it is idle or closed, and while
it is still connecting after its request moved to a connection that became
free first (late binding, see L<Uvent::HTTP::Pool/DESCRIPTION>).

=head2 is_open

True until the connection is closed (by the pool, the server, an error, a
timeout, a cancel, or the idle timeout). A closed connection never opens
again; the pool opens a new one when needed.

=head2 requests_served

The number of requests that completed with a response on this connection.
Failed and cancelled requests are not counted.

=head1 SEE ALSO

L<Uvent::HTTP::Pool>, L<Uvent>.

=head1 AUTHOR

Uvent developers.

=head1 COPYRIGHT AND LICENSE

This library is free software; you can redistribute it and/or modify it
under the same terms as Perl itself.

=cut
