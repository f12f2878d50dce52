# Uvent::Loop::AnyEvent under AnyEvent's pure-Perl backend
# (PERL_ANYEVENT_MODEL=Perl): the behaviour every adapter has
# (Uvent::Test::Adapter). An exception from a Uvent callback leaves
# $cv->recv there.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
BEGIN {
    $ENV{PERL_ANYEVENT_MODEL} = 'Perl';
    plan skip_all => 'AnyEvent is not installed (Debian: libanyevent-perl)' unless eval { require AnyEvent; 1 };
}
use AnyEvent;
use Time::HiRes qw(time);
use Uvent;
use Uvent::Loop::AnyEvent;
use Uvent::Test::Adapter qw(run_adapter_tests);

is(AnyEvent::detect(), 'AnyEvent::Impl::Perl', 'AnyEvent runs its pure-Perl loop');

run_adapter_tests(
    name   => 'AnyEvent (pure Perl)',
    class  => 'Uvent::Loop::AnyEvent',
    attach => sub { Uvent::Loop::AnyEvent->attach(@_) },
    run    => sub {
        my ($seconds, $until, $every) = @_;
        my $cv = AE::cv;
        my $end = time + $seconds;
        my $w = AE::timer($every // 0.005, $every // 0.005, sub { $cv->send if $until->() || time > $end });
        $cv->recv;
    },
    every  => sub { my ($s, $cb) = @_; AE::timer($s, $s, $cb) },
    caught => sub {
        my ($code) = @_;
        return eval { $code->(); 1 } ? () : ($@);
    },
    serves_idle => 1,
);

done_testing;
