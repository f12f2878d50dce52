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
use Uvent::Test::Adapter qw(run_adapter_tests anyevent_host);

is(AnyEvent::detect(), 'AnyEvent::Impl::Perl', 'AnyEvent runs its pure-Perl loop');

run_adapter_tests(anyevent_host(
    name   => 'AnyEvent (pure Perl)',
    caught => sub {
        my ($code) = @_;
        return eval { $code->(); 1 } ? () : ($@);
    },
));

done_testing;
