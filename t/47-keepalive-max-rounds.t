# Regression: the Keep-Alive parameters were parsed with atoi/strtod, which
# read on past the end of the header value: into the next header's name
# ("max=0" then "7-Extra: y" read as max=07) or, when Keep-Alive was the
# last header, into bytes of the response's string store left by earlier
# allocations. Connections were then reused past a server's max= (seen in
# some rounds only, and not while the first response was kept alive). Here
# every round uses a fresh loop and pool, with the responses dropped and
# kept, and with the header last and followed by a digit-led name.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Uvent;
use Uvent::Test::Util qw(start_req wait_all hdr raw_server raw_stop);

my @warnings;
$SIG{__WARN__} = sub { push @warnings, $_[0] };

my %KA = (
    max0last  => [ 'Keep-Alive: timeout=30, max=0' ],
    max0digit => [ 'Keep-Alive: timeout=30, max=0', '7-Extra: y' ],
    max1last  => [ 'Keep-Alive: timeout=30, max=1' ],
    max1digit => [ 'Keep-Alive: timeout=30, max=1', '5-Extra: y' ],
);
# the server never closes a connection by itself
my $rs = raw_server(respond => sub {
    my ($conn, $seq, $target) = @_;
    my ($route) = $target =~ m{\A/(\w+)};
    return (0, $KA{ $route // '' } || [], 0);
});
my $base = "http://127.0.0.1:$rs->{port}";
my $ROUNDS = 12;

sub conn_pattern {
    my %name;
    my $next = 'a';
    return join '', map { defined $_ ? ($name{$_} //= $next++) : '?' } @_;
}

# Requests one after the other, each completed before the next starts.
sub sequence {
    my ($loop, $pool, @uris) = @_;
    my @r;
    for my $uri (@uris) {
        my $r = start_req($pool, uri => $uri, timeout => 5);
        wait_all($loop, $r);
        push @r, $r;
    }
    return @r;
}

my @kept;
for my $route (qw(max0last max0digit)) {
    for my $keep (0, 1) {
        my ($bad, $calls, $errors, @seen) = (0, 0, 0);
        for my $round (1 .. $ROUNDS) {
            my $loop = Uvent::Loop->new;
            my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
            my ($r1) = sequence($loop, $pool, "$base/$route?round=$round");
            my $c1 = hdr($r1, 'X-Conn');
            my $ka = $r1->{response} && $r1->{response}->keep_alive;
            push @kept, $r1 if $keep;
            undef $r1;
            my ($r2) = sequence($loop, $pool, "$base/ok?round=$round");
            my $st = $pool->stats;
            $calls += $r2->{calls};
            $errors++ if $r2->{error};
            my $same = defined $c1 && defined hdr($r2, 'X-Conn') && $c1 eq hdr($r2, 'X-Conn');
            if ($ka || $same || $st->{connections_opened} != 2 || $st->{reused} != 0) {
                $bad++;
                push @seen, "round $round: keep_alive " . ($ka ? 1 : 0) . ", same connection " . ($same ? 1 : 0)
                    . ", opened $st->{connections_opened}, reused $st->{reused}";
            }
        }
        my $name = "$route, first response " . ($keep ? 'kept' : 'dropped');
        is($calls, $ROUNDS, "$name: one callback per second request");
        is($errors, 0, "$name: no errors");
        is($bad, 0, "$name: the second request never reused the max=0 connection ($ROUNDS rounds)")
            or diag(explain \@seen);
    }
}

for my $route (qw(max1last max1digit)) {
    for my $keep (0, 1) {
        my ($bad, @seen) = (0);
        for my $round (1 .. $ROUNDS) {
            my $loop = Uvent::Loop->new;
            my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
            my @r = sequence($loop, $pool, map { "$base/$route?round=$round&i=$_" } 1 .. 5);
            my $pattern = conn_pattern(map { hdr($_, 'X-Conn') } @r);
            my @ka = map { $_->{response} && $_->{response}->keep_alive ? 1 : 0 } @r;
            my $st = $pool->stats;
            push @kept, @r if $keep;
            @r = ();
            if ($pattern ne 'aabbc' || "@ka" ne '1 0 1 0 1' || $st->{connections_opened} != 3 || $st->{reused} != 2) {
                $bad++;
                push @seen, "round $round: $pattern, keep_alive @ka, opened $st->{connections_opened}, reused $st->{reused}";
            }
        }
        my $name = "$route, responses " . ($keep ? 'kept' : 'dropped');
        is($bad, 0, "$name: two requests per connection, aabbc ($ROUNDS rounds)") or diag(explain \@seen);
    }
}

@kept = ();
raw_stop($rs);
is_deeply(\@warnings, [], 'no warnings') or diag(explain \@warnings);
done_testing;
