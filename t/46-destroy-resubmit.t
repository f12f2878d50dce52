# Regression: a callback run while its loop is destroyed that submits a
# new request on the same pool must get a clear error, not a request on a
# loop that is going away (it used to crash or never call back).
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;

my $srv = Uvent::Test::Server->new;
my ($calls, $code, $resubmit_error, @warnings) = (0, '', '');
local $SIG{__WARN__} = sub { push @warnings, $_[0] };
{
    my $loop = Uvent::Loop->new;
    # the loop's instance pool does not keep the loop alive; this closure keeps the pool
    my $pool = Uvent::HTTP::Pool->instance($loop);
    $pool->request({ uri => $srv->url('/stall'), timeout => 10, response_callback => sub {
        $calls++;
        $code = $_[2] ? $_[2]->code : 'none';
        eval { $pool->request({ uri => $srv->url('/ok'), response_callback => sub { $calls++ } }); 1 }
            or $resubmit_error = $@;
    } });
    my $t = Uvent::Timer->once(0.1, sub { $loop->stop }, $loop);
    $loop->run;
    undef $loop;    # destroys the loop: the stalled request is cancelled
}
is($calls, 1, 'one callback: the cancelled request; the resubmitted one never started');
is($code, 'cancelled', 'cancelled by the loop going away');
like($resubmit_error, qr/pool is shut down|destroyed/, 'the request from inside the callback was refused');
is_deeply(\@warnings, [], 'no warnings');

done_testing;
