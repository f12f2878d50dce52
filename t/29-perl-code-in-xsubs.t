use strict;
use warnings;
use Test::More;
use Scalar::Util qw(weaken);
use POSIX ();
use JSON::PP ();
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Util qw(in_child shape_ok);

# An XSUB that runs Perl code (an overloaded '""', a tied FETCH, a
# callback) holds every object it touches afterwards: that code may drop
# the last reference to the pool, the loop, the request or the response.
# And every value the XS reads honours get-magic, exactly once.

my $srv = Uvent::Test::Server->new;

# A string that runs `cb` whenever it is stringified.
package Uvent::Test::Sneaky {
    use overload '""' => sub { $_[0]{cb}->(); $_[0]{s} }, fallback => 1;
    sub new { my ($class, $s, $cb) = @_; bless { s => $s, cb => $cb }, $class }
}

# Tied containers and scalars counting their FETCHes, with an optional hook.
package Uvent::Test::CountHash {
    require Tie::Hash;
    our @ISA = ('Tie::StdHash');
    our ($fetches, $hook) = (0);
    sub FETCH { $fetches++; $hook->() if $hook; $_[0]->SUPER::FETCH($_[1]) }
}
package Uvent::Test::CountArray {
    require Tie::Array;
    our @ISA = ('Tie::StdArray');
    our $fetches = 0;
    sub FETCH { $fetches++; $_[0]->SUPER::FETCH($_[1]) }
}
package Uvent::Test::CountScalar {
    our $fetches = 0;
    sub TIESCALAR { my ($class, $v, $hook) = @_; bless [ $v, $hook ], $class }
    sub FETCH { $fetches++; $_[0][1]->() if $_[0][1]; $_[0][0] }
    sub STORE { $_[0][0] = $_[1] }
}
package main;



sub outcome {
    my ($n, $res, $err) = @_;
    return "n=$n " . ($err ? 'error=' . $err->code : 'code=' . ($res ? $res->code : '-'));
}

subtest 'Perl code run by an XSUB drops what the XSUB is using' => sub {
    shape_ok('an overloaded uri drops the pool', sub {
        my $loop = Uvent::Loop->new;
        my $pool = Uvent::HTTP::Pool->new({}, $loop);
        weaken(my $wp = $pool);
        my ($n, $res, $err) = (0);
        $pool->request({ uri => Uvent::Test::Sneaky->new($srv->url('/ok'), sub { undef $pool }), timeout => 5,
            response_callback => sub { $n++; (undef, $res, $err) = @_ } });
        $loop->run;
        outcome($n, $res, $err) . ' pool_gone=' . ($wp ? 0 : 1);
    }, 'n=1 code=200 pool_gone=1');

    shape_ok('an overloaded uri drops the loop of an instance pool', sub {
        my $loop = Uvent::Loop->new;
        my $pool = Uvent::HTTP::Pool->instance($loop);
        weaken(my $wl = $loop);
        my ($n, $res, $err) = (0);
        $pool->request({ uri => Uvent::Test::Sneaky->new($srv->url('/sleep?s=1'), sub { undef $loop }), timeout => 5,
            response_callback => sub { $n++; (undef, $res, $err) = @_ } });
        # the loop went when request()'s statement ended: its request was cancelled
        outcome($n, $res, $err) . ' loop_gone=' . ($wl ? 0 : 1);
    }, 'n=1 error=cancelled loop_gone=1');

    shape_ok('an overloaded uri drops the pool and the loop', sub {
        my $loop = Uvent::Loop->new;
        my $pool = Uvent::HTTP::Pool->new({}, $loop);
        weaken(my $wl = $loop);
        my ($n, $res, $err) = (0);
        $pool->request({ uri => Uvent::Test::Sneaky->new($srv->url('/sleep?s=1'), sub { undef $pool; undef $loop }),
            timeout => 5, response_callback => sub { $n++; (undef, $res, $err) = @_ } });
        outcome($n, $res, $err) . ' loop_gone=' . ($wl ? 0 : 1);
    }, 'n=1 error=cancelled loop_gone=1');

    shape_ok('an overloaded uri drops the only reference to the request object', sub {
        my $loop = Uvent::Loop->new;
        my $pool = Uvent::HTTP::Pool->new({}, $loop);
        my ($n, $res, $err) = (0);
        my %keep;
        my $uri = Uvent::Test::Sneaky->new($srv->url('/ok'), sub { delete $keep{r} });
        $keep{r} = Uvent::HTTP::Request->new({ uri => $uri, headers => [ 'X-A' => 1 ], timeout => 5,
            response_callback => sub { $n++; (undef, $res, $err) = @_ } });
        $pool->request($keep{r});
        $loop->run;
        my $v = eval { Uvent::HTTP::Request->new({ uri => $uri })->validate; 1 } ? 'valid' : "invalid: $@";
        $keep{r} = Uvent::HTTP::Request->new({ uri => $uri, headers => [ 'X-A' => 1 ] });
        $v .= eval { $keep{r}->validate; 1 } ? ' valid' : " invalid: $@";
        outcome($n, $res, $err) . " $v";
    }, 'n=1 code=200 valid valid');

    shape_ok('a tied headers hash whose FETCH drops the pool', sub {
        my $loop = Uvent::Loop->new;
        my $pool = Uvent::HTTP::Pool->new({}, $loop);
        tie my %h, 'Uvent::Test::CountHash';
        %h = ('X-A' => 'a', 'X-B' => 'b');
        local $Uvent::Test::CountHash::hook = sub { undef $pool };
        my ($n, $res, $err) = (0);
        $pool->request({ uri => $srv->url('/echo'), headers => \%h, timeout => 5,
            response_callback => sub { $n++; (undef, $res, $err) = @_ } });
        $loop->run;
        my %got = map { lc $_->[0] => $_->[1] } @{ $res ? JSON::PP::decode_json($res->body)->{headers} : [] };
        outcome($n, $res, $err) . " x-a=" . ($got{'x-a'} // '-') . " x-b=" . ($got{'x-b'} // '-');
    }, 'n=1 code=200 x-a=a x-b=b');

    shape_ok('a tied idle_timeout value whose FETCH drops the pool', sub {
        my $loop = Uvent::Loop->new;
        my $pool = Uvent::HTTP::Pool->new({}, $loop);
        my $keep = $pool;
        tie my $v, 'Uvent::Test::CountScalar', 7, sub { undef $pool };
        my $ret = $pool->idle_timeout($v);
        "ret=$ret now=" . $keep->idle_timeout;
    }, 'ret=7 now=7');

    shape_ok('a tied max_connections value whose FETCH drops the pool', sub {
        my $loop = Uvent::Loop->new;
        my $pool = Uvent::HTTP::Pool->new({}, $loop);
        tie my $v, 'Uvent::Test::CountScalar', 3, sub { undef $pool };
        "ret=" . $pool->max_connections($v);
    }, 'ret=3');

    shape_ok('an overloaded stats destination drops the pool', sub {
        my $loop = Uvent::Loop->new;
        my $pool = Uvent::HTTP::Pool->new({}, $loop);
        $pool->request({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub { } });
        $loop->run;
        my $st = $pool->stats(Uvent::Test::Sneaky->new($srv->url('/x'), sub { undef $pool }));
        "requests=" . ($st ? $st->{requests} : 'undef');
    }, 'requests=1');

    shape_ok('a tied stats tls hash whose FETCH drops the pool', sub {
        my $loop = Uvent::Loop->new;
        my $pool = Uvent::HTTP::Pool->new({}, $loop);
        tie my %tls, 'Uvent::Test::CountHash';
        %tls = (verify => 0);
        local $Uvent::Test::CountHash::hook = sub { undef $pool };
        my $st = $pool->stats('https://127.0.0.1:1/', \%tls);
        defined $st ? 'stats' : 'undef';
    }, 'undef');

    shape_ok('an overloaded header name drops the response', sub {
        my $loop = Uvent::Loop->new;
        my $pool = Uvent::HTTP::Pool->new({}, $loop);
        my $res;
        $pool->request({ uri => $srv->url('/echo'), timeout => 5, response_callback => sub { $res = $_[1] } });
        $loop->run;
        my $ct = $res->header(Uvent::Test::Sneaky->new('Content-Type', sub { undef $res }));
        "ct=" . ($ct // 'undef');
    }, 'ct=application/json');

    shape_ok('shutdown: the callbacks drop the pool and the loop', sub {
        my $loop = Uvent::Loop->new;
        my $pool = Uvent::HTTP::Pool->new({}, $loop);
        my @n = (0, 0, 0);
        for my $i (0 .. 2) {
            $pool->request({ uri => $srv->url('/sleep?s=2'), timeout => 5,
                response_callback => sub { $n[$i]++; undef $pool; undef $loop } });
        }
        $loop->run_nowait;
        $pool->shutdown;
        "n=@n";
    }, 'n=1 1 1');

    shape_ok('cancel: the callback drops the request, the pool and the loop', sub {
        my $loop = Uvent::Loop->new;
        my $pool = Uvent::HTTP::Pool->new({}, $loop);
        my ($n, $res, $err) = (0);
        my %keep;
        $keep{r} = Uvent::HTTP::Request->new({ uri => $srv->url('/sleep?s=2'), timeout => 5,
            response_callback => sub { $n++; (undef, $res, $err) = @_; delete $keep{r}; undef $pool; undef $loop } });
        $pool->request($keep{r});
        $loop->run_nowait;
        $keep{r}->cancel;
        outcome($n, $res, $err);
    }, 'n=1 error=cancelled');
};

# ---- get-magic: tied and magical values are read, each FETCH once ----

my $loop = Uvent::Loop->new;
my $pool = Uvent::HTTP::Pool->new({}, $loop);

sub echo {
    my (%p) = @_;
    my ($res, $err, $n) = (undef, undef, 0);
    my $ok = eval {
        $pool->request({ uri => $srv->url('/echo'), timeout => 5, %p,
            response_callback => sub { $n++; (undef, $res, $err) = @_ } });
        1;
    };
    return { croak => $@ } unless $ok;
    $loop->run;
    return { n => $n, err => $err, res => $res,
        headers => $res && $res->code == 200 ? JSON::PP::decode_json($res->body)->{headers} : [] };
}

sub sent {
    my ($r, $name) = @_;
    return join ',', map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $r->{headers} };
}

subtest 'tied headers hash' => sub {
    tie my %h, 'Uvent::Test::CountHash';
    %h = ('X-A' => 'one', 'X-B' => [ 'two', 'three' ]);
    local $Uvent::Test::CountHash::fetches = 0;
    my $r = echo(headers => \%h);
    is($r->{croak}, undef, 'no croak') or return;
    is($r->{n}, 1, 'one callback');
    is(sent($r, 'X-A'), 'one', 'X-A sent');
    is(sent($r, 'X-B'), 'two,three', 'X-B sent with both values');
    is($Uvent::Test::CountHash::fetches, 2, 'FETCH once per value');
};

subtest 'tied headers array, tied value arrays' => sub {
    tie my @a, 'Uvent::Test::CountArray';
    @a = ('X-A' => 'one', 'X-B' => 'two');
    tie my @vals, 'Uvent::Test::CountArray';
    @vals = ('v1', 'v2');
    local $Uvent::Test::CountArray::fetches = 0;
    my $r = echo(headers => \@a);
    is($r->{croak}, undef, 'array: no croak') or return;
    is(sent($r, 'X-A') . ' ' . sent($r, 'X-B'), 'one two', 'array: sent');
    is($Uvent::Test::CountArray::fetches, 4, 'array: FETCH once per element');
    $Uvent::Test::CountArray::fetches = 0;
    $r = echo(headers => { 'X-M' => \@vals });
    is($r->{croak}, undef, 'values: no croak') or return;
    is(sent($r, 'X-M'), 'v1,v2', 'values: sent');
    is($Uvent::Test::CountArray::fetches, 2, 'values: FETCH once per element');
};

subtest 'tied scalars: header names and values, request fields' => sub {
    local $Uvent::Test::CountScalar::fetches = 0;
    my %h;
    tie $h{'X-A'}, 'Uvent::Test::CountScalar', 'tied-value';
    my @a = (undef, undef);
    tie $a[0], 'Uvent::Test::CountScalar', 'X-Name';
    tie $a[1], 'Uvent::Test::CountScalar', 'named';
    my $r = echo(headers => \%h);
    is($r->{croak}, undef, 'hash value: no croak') or return;
    is(sent($r, 'X-A'), 'tied-value', 'hash value: sent');
    $r = echo(headers => \@a);
    is($r->{croak}, undef, 'array name and value: no croak') or return;
    is(sent($r, 'X-Name'), 'named', 'array name and value: sent');
    is($Uvent::Test::CountScalar::fetches, 3, 'FETCH once per tied scalar');

    $Uvent::Test::CountScalar::fetches = 0;
    my $req = Uvent::HTTP::Request->new({ uri => 'http://unused/', response_callback => sub { } });
    tie $req->{uri},     'Uvent::Test::CountScalar', $srv->url('/echo');
    tie $req->{method},  'Uvent::Test::CountScalar', 'POST';
    tie $req->{body},    'Uvent::Test::CountScalar', 'the body';
    tie $req->{timeout}, 'Uvent::Test::CountScalar', 5;
    tie $req->{headers}, 'Uvent::Test::CountScalar', [ 'X-T' => 't' ];
    my ($res, $err);
    $req->{response_callback} = sub { (undef, $res, $err) = @_ };
    ok(eval { $pool->request($req); 1 }, 'a request with tied fields is accepted') or diag($@);
    $loop->run;
    my $echo = $res && $res->code == 200 ? JSON::PP::decode_json($res->body) : {};
    is($echo->{method}, 'POST', 'tied method sent');
    is($echo->{body}, 'the body', 'tied body sent');
    is(sent($echo, 'X-T'), 't', 'tied headers field sent');
    is($Uvent::Test::CountScalar::fetches, 5, 'FETCH once per tied field');
};

subtest 'tied params hash' => sub {
    tie my %p, 'Uvent::Test::CountHash';
    my ($res, $n) = (undef, 0);
    %p = (uri => $srv->url('/echo'), method => 'PUT', body => 'x', headers => [ 'X-P' => 'p' ], timeout => 5,
          response_callback => sub { $n++; $res = $_[1] });
    local $Uvent::Test::CountHash::fetches = 0;
    ok(eval { $pool->request(\%p); 1 }, 'accepted') or diag($@);
    $loop->run;
    my $echo = $res && $res->code == 200 ? JSON::PP::decode_json($res->body) : {};
    is($n, 1, 'one callback');
    is($echo->{method}, 'PUT', 'method sent');
    is(sent($echo, 'X-P'), 'p', 'headers sent');
    is($Uvent::Test::CountHash::fetches, 6, 'FETCH once per parameter');
};

subtest 'tied tls hash' => sub {
    tie my %tls, 'Uvent::Test::CountHash';
    %tls = (verify => 'maybe');
    local $Uvent::Test::CountHash::fetches = 0;
    ok(!eval { Uvent::HTTP::Pool->new({ tls => \%tls }, $loop); 1 }, 'a bad tied value is read, and refused');
    like($@, qr/tls 'verify' must be 0 or 1, got 'maybe'/, 'naming it');
    ok(!eval { $pool->request({ uri => $srv->url('/ok'), tls => \%tls, response_callback => sub { } }); 1 },
        'the same for a request');
    like($@, qr/tls 'verify' must be 0 or 1, got 'maybe'/, 'naming it');
    %tls = (verify => 0, min_version => 'TLSv1.3', server_name => 'localhost');
    $Uvent::Test::CountHash::fetches = 0;
    ok(eval { Uvent::HTTP::Pool->new({ tls => \%tls }, $loop); 1 }, 'good tied values are accepted') or diag($@);
    is($Uvent::Test::CountHash::fetches, 3, 'FETCH once per value');
    %tls = (min_version => 'TLSv9');
    ok(!eval { $pool->stats('https://127.0.0.1:1/', \%tls); 1 }, 'stats reads a tied tls hash too');
    like($@, qr/tls 'min_version' must be 'TLSv1.2' or 'TLSv1.3', got 'TLSv9'/, 'naming the value');
};

subtest 'an overloaded uri that submits its own request' => sub {
    my ($n, $inner) = (0, 0);
    my $req;
    my $uri = Uvent::Test::Sneaky->new($srv->url('/ok'), sub { $pool->request($req) unless $inner++ });
    $req = Uvent::HTTP::Request->new({ uri => $uri, timeout => 5, response_callback => sub { $n++ } });
    ok(!eval { $pool->request($req); 1 }, 'the outer submission croaks');
    like($@, qr/^Uvent::HTTP::Pool->request: this request is already in progress at \Q$0\E line/, 'saying why');
    $loop->run;
    is($n, 1, 'the request ran once, with one callback');
};

subtest 'a tied scalar holding the request' => sub {
    my ($n, $res) = (0);
    tie my $arg, 'Uvent::Test::CountScalar', { uri => $srv->url('/ok'), timeout => 5, response_callback => sub { $n++; $res = $_[1] } };
    local $Uvent::Test::CountScalar::fetches = 0;
    ok(eval { $pool->request($arg); 1 }, 'accepted') or diag($@);
    $loop->run;
    is($n . ' ' . ($res ? $res->code : '-'), '1 200', 'sent, one callback');
    is($Uvent::Test::CountScalar::fetches, 1, 'FETCH once');
};

subtest 'tied numbers and destinations' => sub {
    local $Uvent::Test::CountScalar::fetches = 0;
    tie my $secs, 'Uvent::Test::CountScalar', 12;
    is($pool->idle_timeout($secs), 12, 'idle_timeout reads a tied value');
    tie my $n, 'Uvent::Test::CountScalar', 4;
    is($pool->max_connections($n), 4, 'max_connections reads a tied value');
    tie my $dest, 'Uvent::Test::CountScalar', $srv->url('/');
    ok(ref $pool->stats($dest), 'stats reads a tied destination');
    is($Uvent::Test::CountScalar::fetches, 3, 'FETCH once each');

    $Uvent::Test::CountScalar::fetches = 0;
    tie my $delay, 'Uvent::Test::CountScalar', 0.01;
    my $fired = 0;
    my $t = Uvent::Timer->new($loop)->start($delay, 0, sub { $fired++ });
    $loop->run;
    is($fired, 1, 'a timer started with a tied delay fires');
    is($Uvent::Test::CountScalar::fetches, 1, 'FETCH once');
};

subtest 'tied pool config' => sub {
    tie my %cfg, 'Uvent::Test::CountHash';
    %cfg = (timeout => 17, max_connections => 3);
    local $Uvent::Test::CountHash::fetches = 0;
    my $p = Uvent::HTTP::Pool->new(\%cfg, $loop);
    is($p->idle_timeout . ' ' . $p->max_connections, '17 3', 'the tied values are used');
    is($Uvent::Test::CountHash::fetches, 2, 'FETCH once per key');
};

subtest 'a tied tls value that frees the other values' => sub {
    # the tls strings are borrowed until the core has them: a FETCH that
    # deletes or rewrites a value read before must not leave it dangling
    my $path = '/nonexistent/uvent-test-ca-' . ('a' x 150) . '.pem';
    my @junk;
    for my $where ('request') {    # the pool's tls hash goes through the same code
        my %tls;
        my $hook = sub {
            return unless exists $tls{ca_file};
            $tls{ca_file} =~ tr/a/b/;    # rewritten in place: seen at once through a borrowed pointer
            delete $tls{ca_file};        # and freed (valgrind: invalid read)
            push @junk, map { 'X' x length $path } 1 .. 200;
        };
        # rebuild until ca_file is the first key read, so the FETCHes run after it
        for (1 .. 100) {
            %tls = (ca_file => "${path}x");
            chop $tls{ca_file};    # a buffer of its own, not shared copy-on-write
            tie $tls{ciphers},     'Uvent::Test::CountScalar', 'HIGH',      $hook;
            tie $tls{server_name}, 'Uvent::Test::CountScalar', 'localhost', $hook;
            tie $tls{min_version}, 'Uvent::Test::CountScalar', 'TLSv1.2',   $hook;
            last if (keys %tls)[0] eq 'ca_file';
        }
        my $loop = Uvent::Loop->new;
        my $calls = 0;
        eval {
            Uvent::HTTP::Pool->new($loop)->request({ uri => 'https://127.0.0.1:1/', tls => \%tls,
                response_callback => sub { $calls++ } });
        };
        like($@, qr/cannot load ca_file '\Q$path\E'/, "$where: the ca_file read before the FETCH is the one used");
        $loop->run;
        is($calls, 0, "$where: no callback after the croak");
    }
};

done_testing;
