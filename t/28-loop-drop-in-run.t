use strict;
use warnings;
use Test::More;
use Scalar::Util qw(weaken);
use POSIX ();
use lib 't/lib';
use Uvent;
use Uvent::HTTP ();
use Uvent::Test::Server;
use Uvent::Test::Util qw(in_child shape_ok);

# Dropping the last reference to a loop from inside a callback running on
# that loop used to free it under uv_run (SIGSEGV). Each shape runs in a
# forked child, so a crash fails its test instead of killing this file; the
# child reports what its callbacks saw on a pipe.

my $srv = Uvent::Test::Server->new;



shape_ok('a timer callback drops the loop and the timer', sub {
    my $loop = Uvent::Loop->new;
    weaken(my $wl = $loop);
    my $n = 0;
    my $t = Uvent::Timer->new($loop);
    $t->start(0.01, 0, sub { $n++; undef $t; undef $loop });
    $wl->run;
    "n=$n gone=" . ($wl ? 0 : 1);
}, 'n=1 gone=1');

shape_ok('a once-timer callback drops the loop', sub {
    my $loop = Uvent::Loop->new;
    weaken(my $wl = $loop);
    my $n = 0;
    Uvent::Timer->once(0.01, sub { $n++; undef $loop }, $loop);
    $wl->run;
    "n=$n gone=" . ($wl ? 0 : 1);
}, 'n=1 gone=1');

shape_ok('a response callback drops the loop', sub {
    my $loop = Uvent::Loop->new;
    weaken(my $wl = $loop);
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my ($n, $code) = (0, 0);
    $pool->request({ uri => $srv->url('/ok'), timeout => 5,
        response_callback => sub { $n++; $code = $_[1]->code; undef $loop } });
    undef $pool;
    $wl->run;
    "n=$n code=$code gone=" . ($wl ? 0 : 1);
}, 'n=1 code=200 gone=1');

shape_ok('a response callback drops the pool and the loop, another request in flight', sub {
    my $loop = Uvent::Loop->new;
    weaken(my $wl = $loop);
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my ($n1, $n2, $code2) = (0, 0, 0);
    $pool->request({ uri => $srv->url('/ok'), timeout => 5,
        response_callback => sub { $n1++; undef $pool; undef $loop } });
    $pool->request({ uri => $srv->url('/sleep?s=0.2'), timeout => 5,
        response_callback => sub { $n2++; $code2 = $_[1]->code } });
    $wl->run;
    "n1=$n1 n2=$n2 code2=$code2 gone=" . ($wl ? 0 : 1);
}, 'n1=1 n2=1 code2=200 gone=1');

shape_ok('run_once: what is still pending is cancelled when the loop goes after run_once', sub {
    my $loop = Uvent::Loop->new;
    weaken(my $wl = $loop);
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my ($n1, $n2, $e2) = (0, 0, '');
    $pool->request({ uri => $srv->url('/ok'), timeout => 5,
        response_callback => sub { $n1++; undef $pool; undef $loop } });
    $pool->request({ uri => $srv->url('/sleep?s=2'), timeout => 5,
        response_callback => sub { $n2++; $e2 = $_[2] ? $_[2]->code : 'none' } });
    my $turns = 0;
    $wl->run_once while $wl && !$n1 && ++$turns < 1000;
    "n1=$n1 n2=$n2 e2=$e2 gone=" . ($wl ? 0 : 1);
}, 'n1=1 n2=1 e2=cancelled gone=1');

shape_ok('a callback on a private loop inside a callback drops the outer loop', sub {
    my $loop = Uvent::Loop->new;
    weaken(my $wl = $loop);
    my ($n, $inner, $code) = (0, 0, 0);
    Uvent::Timer->once(0.01, sub {
        $n++;
        my $res = Uvent::HTTP::http_request_sync({ uri => $srv->url('/ok'), timeout => 5,
            response_callback => sub { $inner++; undef $loop } });
        $code = $res ? $res->code : 0;
    }, $loop);
    $wl->run;
    "n=$n inner=$inner code=$code gone=" . ($wl ? 0 : 1);
}, 'n=1 inner=1 code=200 gone=1');

shape_ok('the default loop: a callback drops every reference the program has to it', sub {
    my $loop = Uvent::Loop->default;
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my ($n, $code) = (0, 0);
    $pool->request({ uri => $srv->url('/ok'), timeout => 5,
        response_callback => sub { $n++; $code = $_[1]->code; undef $pool; undef $loop } });
    Uvent::Loop->default->run;
    Uvent::Timer->once(0, sub { $n++ });
    Uvent::Loop->default->run;
    "n=$n code=$code";
}, 'n=2 code=200');

shape_ok('a callback dying while another loop is destroyed does not stop the running loop', sub {
    my $a = Uvent::Loop->new;
    my $b = Uvent::Loop->new;
    my $pool = Uvent::HTTP::Pool->new({}, $b);
    my ($died, $later) = (0, 0);
    my @warnings;
    local $SIG{__WARN__} = sub { push @warnings, $_[0] };
    $pool->request({ uri => $srv->url('/sleep?s=2'), timeout => 5, response_callback => sub { $died++; die "boom\n" } });
    $b->run_nowait;
    undef $pool;
    $a->update_time;    # the second timer must be due in a later iteration
    Uvent::Timer->once(0.01, sub { undef $b }, $a);
    Uvent::Timer->once(0.05, sub { $later++ }, $a);
    my $ok = eval { $a->run; 1 } ? 'ok' : "died: $@";
    "run=$ok died=$died later=$later warned=" . (grep { /boom/ } @warnings);
}, 'run=ok died=1 later=1 warned=1');

shape_ok('run from one of its own callbacks croaks, from run', sub {
    my $loop = Uvent::Loop->new;
    my $n = 0;
    Uvent::Timer->once(0.01, sub { $n++; $loop->run }, $loop);
    my $ok = eval { $loop->run; 1 };
    my $err = $@;
    "n=$n ok=" . ($ok ? 1 : 0) . ' ' . ($err =~ /Uvent::Loop->run: the loop is already running/ ? 'croaked' : "err=$err");
}, 'n=1 ok=0 croaked');

shape_ok('exit from a callback while the loop runs', sub {
    my ($status) = in_child(sub {
        my $loop = Uvent::Loop->new;
        my $pool = Uvent::HTTP::Pool->new({}, $loop);
        $pool->request({ uri => $srv->url('/sleep?s=2'), timeout => 5, response_callback => sub { } });
        Uvent::Timer->once(0.01, sub { exit 3 }, $loop);
        $loop->run;
        'not reached';
    });
    "status=$status";
}, 'status=768');

shape_ok('a loop left in a global at global destruction', sub {
    my ($status) = in_child(sub {
        our $LOOP = Uvent::Loop->new;
        our $POOL = Uvent::HTTP::Pool->new({}, $LOOP);
        $POOL->request({ uri => $srv->url('/sleep?s=2'), timeout => 5, response_callback => sub { } });
        $LOOP->run_once;
        exit 0;
    });
    "status=$status";
}, 'status=0');

done_testing;
