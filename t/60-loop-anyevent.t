# Uvent::Loop::AnyEvent under AnyEvent's EV backend: the behaviour every
# adapter has (Uvent::Test::Adapter), and EV::run returning by itself with
# idle keep-alive connections left open.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
BEGIN {
    plan skip_all => 'AnyEvent and EV are not installed (Debian: libanyevent-perl libev-perl)'
        unless eval { require EV; require AnyEvent; 1 };
}
use EV;
use AnyEvent;
use Time::HiRes qw(time);
use Uvent;
use Uvent::Loop::AnyEvent;
use Uvent::Test::Adapter qw(run_adapter_tests anyevent_host);
use Uvent::Test::Server;

is(AnyEvent::detect(), 'AnyEvent::Impl::EV', 'AnyEvent runs on EV');

run_adapter_tests(anyevent_host(
    name   => 'AnyEvent (EV)',
    caught => sub {
        my ($code) = @_;
        my @e;
        local $EV::DIED = sub { push @e, $@ };
        $code->();
        return @e;
    },
    eval { require Mojo::IOLoop; require Uvent::Loop::Mojo; 1 }
        ? (second_host => sub { Uvent::Loop::Mojo->attach($_[0]) }) : (),
));

subtest 'EV::run returns by itself with idle keep-alive connections open' => sub {
    my $srv = Uvent::Test::Server->new;
    my $loop = Uvent::Loop->new;
    my $adapter = Uvent::Loop::AnyEvent->attach($loop);
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $done = 0;
    $pool->request({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub { $done++ } }) for 1 .. 3;
    local $SIG{ALRM} = sub { die "EV::run did not return\n" };
    alarm 20;
    my $t0 = time;
    EV::run();
    alarm 0;
    is($done, 3, 'the requests completed');
    ok($pool->size >= 1, 'keep-alive connections left open (' . $pool->size . ')');
    cmp_ok(time - $t0, '<', 5, 'and EV::run returned when they were done');
    $adapter->detach;
    $srv->stop;
};

subtest 'fork: the child drives the loop it inherited, the parent goes on' => sub {
    my $srv = Uvent::Test::Server->new;
    my $loop = Uvent::Loop->new;
    my $adapter = Uvent::Loop::AnyEvent->attach($loop);
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $get = sub {
        my $cv = AE::cv;
        my $w = AE::timer(10, 0, sub { $cv->send('timeout') });
        $pool->request({ uri => $srv->url('/ok?size=2'), timeout => 5, response_callback => sub {
            my (undef, $res, $err) = @_;
            $cv->send($err ? "error: $err" : $res->body);
        } });
        return $cv->recv;
    };
    is($get->(), 'xx', 'a request in the parent');
    my $opened = $pool->stats->{connections_opened};
    my ($status, $out) = Uvent::Test::Util::in_child(sub {
        EV::default_loop()->loop_fork; # what EV asks of a child
        my $body = $get->();
        return join ' ', $body, $pool->stats->{connections_opened} - $opened;
    });
    is($status, 0, 'the child exited cleanly');
    is($out, 'xx 1', "the child's request completed, on a connection of its own");
    is($get->(), 'xx', 'the parent goes on');
    $adapter->detach;
    $srv->stop;
};

done_testing;
