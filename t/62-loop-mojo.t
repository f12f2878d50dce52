# Uvent::Loop::Mojo under Mojo's reactor (Mojo::Reactor::EV when EV is
# installed; MOJO_REACTOR=Mojo::Reactor::Poll runs t/63): the behaviour
# every adapter has (Uvent::Test::Adapter), Mojo::IOLoop->start returning
# by itself with idle keep-alive connections left open, a second
# Mojo::IOLoop refused, and exceptions as the reactor's error event.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
BEGIN {
    plan skip_all => 'Mojolicious is not installed (Debian: libmojolicious-perl)'
        unless eval { require Mojo::IOLoop; 1 };
}
use Mojo::IOLoop;
use Time::HiRes qw(time);
use Uvent;
use Uvent::Loop::Mojo;
use Uvent::Test::Adapter qw(run_adapter_tests guard);
use Uvent::Test::Server;

my $reactor = ref Mojo::IOLoop->singleton->reactor;
my $poll = $reactor eq 'Mojo::Reactor::Poll';
diag("reactor: $reactor");
if (!$poll) {
    is($reactor, 'Mojo::Reactor::EV', 'Mojo runs on EV') if eval { require EV; 1 };
}

run_adapter_tests(
    name   => "Mojo::IOLoop ($reactor)",
    class  => 'Uvent::Loop::Mojo',
    attach => sub { Uvent::Loop::Mojo->attach(@_) },
    run    => sub {
        my ($seconds, $until, $every) = @_;
        my $end = time + $seconds;
        my $id = Mojo::IOLoop->recurring($every // 0.005, sub { Mojo::IOLoop->stop if $until->() || time > $end });
        Mojo::IOLoop->start;
        Mojo::IOLoop->remove($id);
    },
    every  => sub { my ($s, $cb) = @_; my $id = Mojo::IOLoop->recurring($s, $cb); guard(sub { Mojo::IOLoop->remove($id) }) },
    caught => sub {
        my ($code) = @_;
        my @e;
        my $r = Mojo::IOLoop->singleton->reactor;
        my $cb = $r->on(error => sub { push @e, $_[1] });
        local $SIG{__WARN__} = sub { };  # the singleton's own subscriber warns
        $code->();
        $r->unsubscribe(error => $cb);
        return @e;
    },
    serves_idle => !$poll,
    serves_idle_why => 'Mojo::Reactor::Poll: with no referenced work the adapter removes its watchers (see Uvent::Loop::Mojo)',
    second_host => sub { Uvent::Loop::Mojo->attach($_[0], Mojo::IOLoop->new) },
);

subtest 'Mojo::IOLoop->start returns by itself after the last response, idle keep-alive connections left open' => sub {
    my $srv = Uvent::Test::Server->new;
    my $loop = Uvent::Loop->new;
    my $adapter = Uvent::Loop::Mojo->attach($loop);
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $done = 0;
    $pool->request({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub { $done++ } }) for 1 .. 3;
    local $SIG{ALRM} = sub { die "Mojo::IOLoop->start did not return\n" };
    alarm 20;
    my $t0 = time;
    Mojo::IOLoop->start;
    alarm 0;
    is($done, 3, 'the requests completed');
    ok($pool->size >= 1, 'keep-alive connections left open (' . $pool->size . ')');
    cmp_ok(time - $t0, '<', 5, 'and start returned when they were done');

    # the next request still goes out on one of them
    my $reused = $pool->stats->{reused};
    my $ok;
    $pool->request({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub { $ok = !$_[2] } });
    alarm 20;
    Mojo::IOLoop->start;
    alarm 0;
    ok($ok, 'a later request completes under a later start');
    is($pool->stats->{reused}, $reused + 1, 'on a kept connection');
    $adapter->detach;
    $srv->stop;
};

subtest 'request_p: Mojo::Promise' => sub {
    my $srv = Uvent::Test::Server->new;
    my $loop = Uvent::Loop->new;
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $p = $pool->request_p({ uri => $srv->url('/ok?size=4') });
    isa_ok($p, 'Mojo::Promise');
    like($loop->driver, qr/Uvent::Loop::Mojo/, 'request_p attached the unattached loop to Mojo::IOLoop');
    my $body;
    $p->then(sub { $body = $_[0]->body })->wait;
    is($body, 'xxxx', 'resolved with the response');

    my $err;
    $pool->request_p({ uri => 'http://127.0.0.1:1/' })->then(sub { $err = 'resolved' }, sub { $err = $_[0] })->wait;
    isa_ok($err, 'Uvent::Error', 'rejected with the error');
    is(ref $err && $err->code, 'connect', 'connect');

    my $status;
    $pool->request_p({ uri => $srv->url('/status/404') })->then(sub { $status = $_[0]->code }, sub { $status = 'rejected' })->wait;
    is($status, 404, 'a 404 is a response: resolved');

    my @codes;
    Mojo::Promise->all(map { $pool->request_p({ uri => $srv->url("/ok?size=$_") }) } 1 .. 20)
        ->then(sub { @codes = map { length $_->[0]->body } @_ })->wait;
    is(join(',', @codes), join(',', 1 .. 20), 'Mojo::Promise->all over 20, in order');
    Uvent::Loop::Mojo->detach($loop);
    $srv->stop;
};

done_testing;
