# The adapters and futures leak nothing: attach/detach cycles, requests
# driven by each host loop, request_f and request_p, checked with
# Test::LeakTrace; and the duplicated backend fds of the Mojo (Poll) and
# IO::Async adapters are closed again.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;

plan skip_all => 'Test::LeakTrace not installed' unless eval { require Test::LeakTrace; 1 };
my $no_leaks_ok = \&Test::LeakTrace::no_leaks_ok;
my $srv = Uvent::Test::Server->new;
my $url = $srv->url('/ok');

# libuv keeps a spare descriptor per loop (on /dev/null), opened with the
# loop's first connection: a baseline is taken after one
sub warm {
    my ($loop) = @_;
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    $pool->request({ uri => $url, timeout => 5, response_callback => sub { } });
    $loop->run;
    undef $pool;
    $loop->run;
}

sub count_fds {
    opendir my $dh, '/proc/self/fd' or return undef;
    my $n = grep { !/^\.\.?$/ } readdir $dh;
    closedir $dh;
    return $n;
}

subtest 'AnyEvent' => sub {
    plan skip_all => 'AnyEvent is not installed' unless eval { require AnyEvent; require Uvent::Loop::AnyEvent; 1 };
    my $loop = Uvent::Loop->new;
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    $no_leaks_ok->(sub {
        my $a = Uvent::Loop::AnyEvent->attach($loop);
        my $cv = AnyEvent->condvar;
        $cv->begin for 1 .. 3;
        $pool->request({ uri => $url, timeout => 5, response_callback => sub { $cv->end } }) for 1 .. 3;
        $cv->recv;
        $a->detach;
    }, 'attach, three requests under $cv->recv, detach');
    $no_leaks_ok->(sub {
        Uvent::Loop::AnyEvent->attach($loop);
        eval { $loop->run };
        Uvent::Loop::AnyEvent->attach($loop);
        Uvent::Loop::AnyEvent->detach($loop);
        $@ = '';
    }, 'attach twice, run refused, detach by class');
};

subtest 'Mojo' => sub {
    plan skip_all => 'Mojolicious is not installed' unless eval { require Mojo::IOLoop; require Uvent::Loop::Mojo; 1 };
    my $loop = Uvent::Loop->new;
    Uvent::Loop::Mojo->attach($loop)->detach; # Mojo's singleton and reactor exist from here on
    warm($loop);
    my $fds = count_fds();
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    $no_leaks_ok->(sub {
        my $a = Uvent::Loop::Mojo->attach($loop);
        my $n = 0;
        $pool->request({ uri => $url, timeout => 5, response_callback => sub { $n++ } }) for 1 .. 3;
        Mojo::IOLoop->start;
        my $body;
        $pool->request_p({ uri => $url })->then(sub { $body = $_[0]->body })->wait;
        $a->detach;
    }, 'attach, requests under Mojo::IOLoop->start, request_p, detach');
    undef $pool;
    $loop->run; # the idle connections close
    is(count_fds(), $fds, 'no file descriptor left behind');
};

subtest 'IO::Async' => sub {
    plan skip_all => 'IO::Async is not installed' unless eval { require IO::Async::Loop; require Uvent::Loop::IOAsync; 1 };
    my $ioa = IO::Async::Loop->new;
    my $loop = Uvent::Loop->new;
    warm($loop);
    my $fds = count_fds();
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    $no_leaks_ok->(sub {
        my $a = Uvent::Loop::IOAsync->attach($ioa, $loop);
        my $n = 0;
        $pool->request({ uri => $url, timeout => 5, response_callback => sub { $ioa->stop if ++$n == 3 } }) for 1 .. 3;
        $ioa->run;
        $a->detach;
    }, 'attach, requests under $ioa->run, detach');
    undef $pool;
    $loop->run; # the idle connections close
    is(count_fds(), $fds, 'no file descriptor left behind');
};

subtest 'request_f' => sub {
    plan skip_all => 'Future is not installed' unless eval { require Future; 1 };
    my $loop = Uvent::Loop->new;
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    $pool->request_f({ uri => $url })->get; # loads Uvent::Future
    $no_leaks_ok->(sub {
        my @r = Future->needs_all(map { $pool->request_f({ uri => $url }) } 1 .. 5)->get;
        my $f = $pool->request_f({ uri => 'http://127.0.0.1:1/' });
        $f->await;
        my @failure = $f->failure;
        my $c = $pool->request_f({ uri => $srv->url('/sleep?s=1'), timeout => 5 });
        $c->cancel;
        $loop->run;
    }, 'done, failed, cancelled');
};

$srv->stop;
done_testing;
