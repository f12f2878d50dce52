# The DNS cache of a pool: lookups, cache hits and lookups shared while in
# flight (dns_lookups, dns_cache_hits, dns_shared in $pool->stats), the
# TTL (dns_cache_ttl; 0 = no cache), failures remembered for 1 s, 100
# concurrent requests to one new name making one lookup, and a child after
# fork asking afresh. 'localhost' is in /etc/hosts (no DNS server needed).
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use IO::Socket::IP;
use JSON::PP ();
use Socket ();
use POSIX ();
use Time::HiRes qw(time);
use Uvent;
use Uvent::Test::Server;

my @addrs = eval { my ($e, @r) = Socket::getaddrinfo('localhost', 80); $e ? () : @r };
plan skip_all => "'localhost' does not resolve here" unless @addrs;

my $srv  = Uvent::Test::Server->new;
my $port = $srv->port;
my $loop = Uvent::Loop->new;

sub fetch {
    my ($pool, %req) = @_;
    my ($res, $err);
    # Connection: close, so that every request dials (and resolves) anew
    $pool->request({ headers => { Connection => 'close' }, connect_timeout => 5, timeout => 10, %req,
        response_callback => sub { (undef, $res, $err) = @_ } });
    $loop->run;
    return $err // $res->code;
}

sub dns { my $s = $_[0]->stats(@_[1 .. $#_]); return join ' ', map { $s->{"dns_$_"} } qw(lookups cache_hits shared) }

sub pause { my $t = Uvent::Timer->once($_[0], sub { }, $loop); $loop->run }

subtest 'counters and the TTL' => sub {
    my $pool = Uvent::HTTP::Pool->new({ dns_cache_ttl => 0.3 }, $loop);
    is(dns($pool), '0 0 0', 'nothing yet');
    is(fetch($pool, uri => "http://127.0.0.1:$port/ok"), 200, 'an IP literal');
    is(dns($pool), '0 0 0', 'needs no lookup');
    is(fetch($pool, uri => "http://localhost:$port/ok"), 200, 'localhost');
    is(dns($pool), '1 0 0', 'one lookup');
    is(fetch($pool, uri => "http://localhost:$port/ok"), 200, 'localhost again, on a new connection');
    is(dns($pool), '1 1 0', 'a cache hit');
    is(dns($pool, "http://localhost:$port/"), '1 1 0', 'counted for the destination too');
    pause(0.5);
    is(fetch($pool, uri => "http://localhost:$port/ok"), 200, 'after the TTL');
    is(dns($pool), '2 1 0', 'a new lookup');
};

subtest 'dns_cache_ttl 0: no cache' => sub {
    my $pool = Uvent::HTTP::Pool->new({ dns_cache_ttl => 0 }, $loop);
    is(fetch($pool, uri => "http://localhost:$port/ok"), 200, 'first') for 1 .. 2;
    is(dns($pool), '2 0 0', 'every dial looks up');
};

subtest 'a failure is remembered for 1 s' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $err = fetch($pool, uri => 'http://nonexistent.invalid/');
    is(ref $err && $err->code, 'resolve', 'a name that does not resolve');
    is(dns($pool), '1 0 0', 'one lookup');
    $err = fetch($pool, uri => 'http://nonexistent.invalid/');
    is(ref $err && $err->code, 'resolve', 'again: the same error');
    like("$err", qr/could not resolve host 'nonexistent\.invalid'/, 'with its message');
    is(dns($pool), '1 1 0', 'from the cache');
    pause(1.2);
    fetch($pool, uri => 'http://nonexistent.invalid/');
    is(dns($pool), '2 1 0', 'after 1 s it is asked again');
};

subtest '100 concurrent requests to one new name: one lookup' => sub {
    my $l = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 1) or die "listen: $@";
    my $closed = $l->sockport;
    close $l;    # refused at once: no server work for 100 connections
    my $pool = Uvent::HTTP::Pool->new({ max_connections => 100 }, $loop);
    my %codes;
    $pool->request({ uri => "http://localhost:$closed/", family => 4, connect_timeout => 5,
        response_callback => sub { $codes{ $_[2] ? $_[2]->code : 'ok' }++ } }) for 1 .. 100;
    is(dns($pool), '1 0 99', 'one lookup started, 99 dials joined it');
    $loop->run;
    is_deeply(\%codes, { connect => 100 }, '100 callbacks, each refused');
    is($pool->stats->{connections_opened}, 100, 'on 100 connections');
};

subtest 'fork drops the cache' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    is(fetch($pool, uri => "http://localhost:$port/ok"), 200, 'looked up in the parent');
    is(dns($pool), '1 0 0', 'one lookup');
    pipe(my $rd, my $wr) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $rd;
        alarm 15;
        my $r = eval { fetch($pool, uri => "http://localhost:$port/ok") } // "died: $@";
        syswrite $wr, JSON::PP->new->encode({ r => "$r", dns => dns($pool) });
        close $wr;
        POSIX::_exit(0);    # never exit() in the child: the parent's objects must not be destroyed twice
    }
    close $wr;
    my $json = do { local $/; <$rd> };
    waitpid $pid, 0;
    my $child = eval { JSON::PP->new->decode($json) } || { r => "no report ($json)" };
    is($child->{r}, 200, 'the child fetched');
    is($child->{dns}, '2 0 0', 'with a lookup of its own: the cache was dropped');
    is(fetch($pool, uri => "http://localhost:$port/ok"), 200, 'the parent again');
    is(dns($pool), '1 1 0', "the parent's cache is intact");
};

subtest 'bad values croak' => sub {
    for my $v (-1, 'x', 1e10, 'nan') {
        eval { Uvent::HTTP::Pool->new({ dns_cache_ttl => $v }, $loop) };
        like($@, qr/\AUvent::HTTP::Pool->new: 'dns_cache_ttl' must be a (?:finite )?number/, "dns_cache_ttl => $v");
    }
};

done_testing;
