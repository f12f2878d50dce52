# request_f / http_request_f (Uvent::Future) on a loop that runs by
# itself: done for every response, failed with Future's (message,
# category, details), cancel, needs_all, async/await, what ->get refuses,
# and the messages when Future or Mojolicious are not installed.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
BEGIN { plan skip_all => 'Future is not installed (Debian: libfuture-perl)' unless eval { require Future; 1 } }
use Future;
use Uvent;
use Uvent::HTTP qw(http_request_f);
use Uvent::Test::Server;

my $srv = Uvent::Test::Server->new;
my $loop = Uvent::Loop->new;
my $pool = Uvent::HTTP::Pool->new({}, $loop);

subtest 'done with the response, whatever its status' => sub {
    my $f = $pool->request_f({ uri => $srv->url('/ok?size=5') });
    isa_ok($f, 'Uvent::Future');
    isa_ok($f, 'Future');
    ok(!$f->is_ready, 'pending until the loop runs');
    my $res = $f->get;
    is($res->body, 'xxxxx', '->get ran the loop and returned the response');
    my $f404 = $pool->request_f({ uri => $srv->url('/status/404') });
    is($f404->get->code, 404, 'a 404 is done, not failed');
    ok($f404->is_done, 'is_done');
};

subtest 'failed: (message, "http", error, response, request)' => sub {
    my $f = $pool->request_f({ uri => 'http://127.0.0.1:1/x', timeout => 5 });
    $f->await;
    ok($f->is_failed, 'failed');
    my ($message, $category, $error, $response, $request) = $f->failure;
    like($message, qr/could not connect \(GET http:\/\/127\.0\.0\.1:1\/x\)/, 'the error message');
    is($category, 'http', 'category http');
    isa_ok($error, 'Uvent::Error');
    is($error->code, 'connect', 'the error');
    isa_ok($request, 'Uvent::HTTP::Request');
    ok(!$response || !$response->code, 'no response arrived');
    eval { $f->get };
    like($@, qr/could not connect/, '->get dies with the message');
};

subtest 'cancel cancels the request; its own callback still runs once' => sub {
    my @cb;
    my $f = $pool->request_f({ uri => $srv->url('/sleep?s=2'), timeout => 10,
        response_callback => sub { push @cb, $_[2] ? $_[2]->code : 'ok' } });
    my @settled;
    $f->on_done(sub { push @settled, 'done' })->on_fail(sub { push @settled, 'failed' });
    my $t = Uvent::Timer->once(0.1, sub { $f->cancel }, $loop);
    my $t0 = time;
    $loop->run;
    ok($f->is_cancelled, 'the future is cancelled');
    ok(!$f->is_failed, 'and only cancelled: not also failed with the cancelled error');
    is_deeply(\@settled, [], 'neither on_done nor on_fail ran');
    is_deeply(\@cb, ['cancelled'], 'the response callback ran once, with cancelled');
    cmp_ok(time - $t0, '<', 2, 'the request did not run to its end');
    is($pool->nbusy, 0, 'nothing busy');
};

subtest 'a request object keeps its callback' => sub {
    my $calls = 0;
    my $req = Uvent::HTTP::Request->new({ uri => $srv->url('/ok'), response_callback => sub { $calls++ } });
    my $cb = $req->response_callback;
    my $res = $pool->request_f($req)->get;
    is($calls, 1, 'its callback ran');
    is($req->response_callback, $cb, 'and is its own again');
    $pool->request($req);
    $loop->run;
    is($calls, 2, 'submitted again as it was');
};

subtest 'needs_all over 50, then, and http_request_f' => sub {
    my @f = map { $pool->request_f({ uri => $srv->url("/ok?size=$_") }) } 1 .. 50;
    my @res = Future->needs_all(@f)->get;
    is(scalar @res, 50, '50 responses');
    is(join(',', map { length $_->body } @res), join(',', 1 .. 50), 'each its own, in order');
    my $len = $pool->request_f({ uri => $srv->url('/ok?size=7') })->then(sub { Future->done(length $_[0]->body) })->get;
    is($len, 7, '->then makes a future that ->get runs too');
    my $r = http_request_f({ uri => $srv->url('/ok?size=2') }, $loop)->get;
    is($r->body, 'xx', 'http_request_f on the instance pool of a loop');
    my @mixed = Future->needs_all(
        $pool->request_f({ uri => $srv->url('/ok') }),
        $pool->request_f({ uri => 'http://127.0.0.1:1/' }),
    )->failure;
    like($mixed[0], qr/could not connect/, 'needs_all fails with the failing request');
};

subtest 'async sub with await' => sub {
    plan skip_all => 'Future::AsyncAwait is not installed (Debian: libfuture-asyncawait-perl)'
        unless eval { require Future::AsyncAwait; 1 };
    my $code = eval q{
        use Future::AsyncAwait;
        async sub {
            my ($u) = @_;
            my $a = await $pool->request_f({ uri => "$u?size=3" });
            my $b = await $pool->request_f({ uri => "$u?size=4" });
            return length($a->body) + length($b->body);
        }
    } or die $@;
    is($code->($srv->url('/ok'))->get, 7, 'two awaited requests in sequence');
};

subtest 'what ->get refuses' => sub {
    eval { Uvent::Future->new->get };
    like($@, qr/\AUvent::Future->get: nothing is pending on its Uvent loop, so it can never complete at \Q$0\E line/,
        'a future nothing can complete croaks, naming the caller');
    my $err;
    $pool->request({ uri => $srv->url('/ok'), response_callback => sub {
        eval { $pool->request_f({ uri => $srv->url('/ok') })->get };
        $err = $@;
    } });
    $loop->run;
    like($err, qr/already running/, '->get inside a callback of the same loop croaks');
    eval { $pool->request_f({ uri => "http://127.0.0.1/\r\nX: y" }) };
    like($@, qr/\AUvent::HTTP::Pool->request_f: /, 'bad input croaks naming request_f');
    eval { $pool->request_f('http://x/') };
    like($@, qr/request_f: expects a hashref of parameters or a Uvent::HTTP::Request, got 'http:\/\/x\/'/, 'a plain string croaks');
};

subtest 'Future and Mojolicious are optional' => sub {
    for my $case (['request_f', 'Future.pm', qr/request_f: needs the Future module \(0\.33 or later\): install it \(cpanm Future; Debian: apt-get install libfuture-perl\)/],
                  ['request_p', 'Mojo/Promise.pm', qr/request_p: needs the Mojo::Promise module: install it \(cpanm Mojolicious; Debian: apt-get install libmojolicious-perl\)/]) {
        my ($method, $file, $want) = @$case;
        my $code = 'unshift @INC, sub { die "hidden\n" if $_[1] eq $ARGV[0]; return }; require Uvent; '
            . 'eval { Uvent::HTTP::Pool->new->' . $method . '({ uri => "http://127.0.0.1:1/" }) }; print $@';
        open(my $fh, '-|', $^X, '-Mblib', '-e', $code, $file) or die "perl: $!";
        my $out = do { local $/; <$fh> };
        close $fh;
        like($out, $want, "$method without it: $out");
    }
};

$srv->stop;
done_testing;
