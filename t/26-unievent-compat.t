# What a program written for UniEvent::HTTP can keep: Pool->new($loop),
# $request->cancel($error), error constants compared with ==, and the
# PORTING FROM UNIEVENT section that lists the rest.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Uvent;
use Uvent::Error qw(:codes);
use Uvent::Test::Server;

my $srv = Uvent::Test::Server->new;
my @warnings;
$SIG{__WARN__} = sub { push @warnings, @_ };

# run $loop until $cond or 10 s
sub run_until {
    my ($loop, $cond) = @_;
    my $stop = 0;
    my $t = Uvent::Timer->once(10, sub { $stop = 1 }, $loop);
    $loop->run_once until $cond->() || $stop;
    $t->stop;
    return $cond->();
}

subtest 'Pool->new takes a loop alone, as UniEvent does' => sub {
    my $loop = Uvent::Loop->new;
    my $pool = Uvent::HTTP::Pool->new($loop);
    isa_ok($pool, 'Uvent::HTTP::Pool');
    ok($pool->loop == $loop, 'on that loop');
    is($pool->max_connections, 10, 'default configuration');
    my $res;
    $pool->request({ uri => $srv->url('/ok'), response_callback => sub { $res = $_[1] } });
    $loop->run;
    is($res && $res->code, 200, 'its requests run on that loop');
    ok(Uvent::HTTP::Pool->new->loop->is_default, 'new() is on the default loop');
    ok(Uvent::HTTP::Pool->new({ max_connections => 3 })->loop->is_default, 'new(\%config) too');
    is(Uvent::HTTP::Pool->new({ max_connections => 3 }, $loop)->max_connections, 3, 'new(\%config, $loop)');
    ok(Uvent::HTTP::Pool->new(undef, $loop)->loop == $loop, 'new(undef, $loop)');
    my $class = 'Uvent::HTTP::Pool';
    for my $bad (
        [ [ $loop, {} ],      qr/^\Q$class\E->new: the loop comes after the config: new\(\\%config, \$loop\)/ ],
        [ [ 'x' ],            qr/^\Q$class\E->new: the config must be a hashref \(or give a Uvent::Loop alone\), got 'x'/ ],
        [ [ [] ],             qr/got a reference to ARRAY/ ],
        [ [ Uvent::Timer->new($loop) ], qr/got a Uvent::Timer object/ ],
        [ [ {}, 'x' ],        qr/the loop must be a Uvent::Loop, got 'x'/ ],
        [ [ {}, $loop, 1 ],   qr/expects \(\\%config, \$loop\), \(\\%config\), \(\$loop\) or nothing, got 3 arguments/ ],
    ) {
        my ($args, $re) = @$bad;
        eval { Uvent::HTTP::Pool->new(@$args) };
        like($@, $re, 'croaks: ' . join ', ', map { ref || $_ } @$args);
        like($@, qr/ at \Q$0\E line \d+\.$/, '... at the caller');
    }
};

subtest 'error constants' => sub {
    my @codes = qw(resolve connect connect_timeout timeout connection_closed protocol too_large cancelled
        queue_full queue_timeout tls proxy redirection_limit bad_redirect request_body nomem);
    is_deeply([ Uvent::Error->codes ], \@codes, 'codes() lists every code');
    for my $code (@codes) {
        no strict 'refs';
        is(&{"Uvent::Error::" . uc $code}(), $code, "Uvent::Error::" . uc($code) . " is '$code'");
        is(main->can(uc $code) && main->can(uc $code)->(), $code, uc($code) . ' exported by :codes');
    }
    ok(!eval { Uvent::Error->import('USAGE'); 1 }, 'no constant for usage errors');
};

subtest 'errors compare by code with == and eq, stringify as before' => sub {
    my $loop = Uvent::Loop->new;
    my $pool = Uvent::HTTP::Pool->new($loop);
    my $err;
    $pool->request({ uri => 'http://127.0.0.1:1/', response_callback => sub { $err = $_[2] } });
    $loop->run;
    isa_ok($err, 'Uvent::Error');
    is($err->code, 'connect', 'a refused connection');
    ok($err == CONNECT, '$err == CONNECT');
    ok($err == Uvent::Error::CONNECT, '$err == Uvent::Error::CONNECT');
    ok($err == 'connect', '$err == "connect"');
    ok(!($err == TIMEOUT), 'not == TIMEOUT');
    ok($err != TIMEOUT, '$err != TIMEOUT');
    ok(!($err != CONNECT), 'not != CONNECT');
    ok(CONNECT == $err, 'constant on the left');
    ok($err eq CONNECT, 'eq a code name');
    ok($err ne TIMEOUT, 'ne another code name');
    ok($err eq $err->message, 'eq its message, as before');
    ok($err ne 'something else', 'ne any other string');
    ok(!($err == undef), 'never == undef');
    ok(!($err == 0), 'never == a number');
    ok(!($err == 'connect ') && !($err == 'CONNECT'), 'codes compare exactly');
    is("$err", $err->message, 'stringifies to the message');
    like("$err", qr/^could not connect \(GET http:\/\/127\.0\.0\.1:1\/\): /, 'the message as documented');
    ok($err ? 1 : 0, 'true');
    my $other;
    $pool->request({ uri => 'http://127.0.0.1:1/x', response_callback => sub { $other = $_[2] } });
    $loop->run;
    ok($err == $other, 'two errors of one code are ==');
    ok($err eq $other, '... and eq');
    is(scalar @warnings, 0, 'no warnings') or diag @warnings;
};

subtest 'cancel takes an error, as UniEvent does' => sub {
    my $loop = Uvent::Loop->new;
    my $pool = Uvent::HTTP::Pool->new({ max_connections => 1 }, $loop);
    my (%err, %calls);
    my $mk = sub {
        my ($name, $path) = @_;
        return Uvent::HTTP::Request->new({ uri => $srv->url($path // '/stall'),
            response_callback => sub { $calls{$name}++; $err{$name} = $_[2] } });
    };
    my $running = $mk->('running');
    my $queued  = $mk->('queued', '/ok');
    $pool->request($running);
    $pool->request($queued);
    run_until($loop, sub { $srv->requests >= 1 }) or diag 'the running request never reached the server';
    my $before = $pool->stats->{errors};

    $queued->cancel(CONNECTION_CLOSED);
    is($calls{queued}, 1, 'queued request: callback ran inside cancel');
    ok($err{queued} == CONNECTION_CLOSED, '... with the given code');
    like("$err{queued}", qr/^connection closed before the response was complete \(GET http:\/\/127\.0\.0\.1:\d+\/ok\): cancelled by the application$/,
        '... and the message of that code, with the detail');
    is($err{queued}->errno, undef, '... no errno');

    $running->cancel(Uvent::Error::TIMEOUT);
    is($calls{running}, 1, 'running request: callback ran inside cancel');
    ok($err{running} == TIMEOUT, '... with timeout');
    like("$err{running}", qr/^request timed out \(GET http:\/\/127\.0\.0\.1:\d+\/stall\): cancelled by the application$/, '... message');
    my $after = $pool->stats->{errors};
    is($after->{timeout} - $before->{timeout}, 1, 'counted as a timeout');
    is($after->{connection_closed} - $before->{connection_closed}, 1, 'counted as connection_closed');
    is($after->{cancelled} - $before->{cancelled}, 0, 'not as cancelled');
    $loop->run;
    is($calls{running} + $calls{queued}, 2, 'no second callback, no retry');

    my $given = $err{running};
    my $r = $mk->('object');
    $pool->request($r);
    $r->cancel($given);
    ok($err{object} == TIMEOUT, 'a Uvent::Error gives its code');
    like("$err{object}", qr/\/stall\): cancelled by the application: request timed out \(GET /, '... and its message as the detail');

    $pool->request($r);
    $r->cancel;
    ok($err{object} == CANCELLED, 'cancel without an argument: cancelled');
    is("$err{object}" =~ /cancelled by the application/ ? 1 : 0, 0, '... with the message of before');
    $pool->request($r);
    $r->cancel(undef);
    ok($err{object} == CANCELLED, 'cancel(undef): cancelled');

    for my $code (Uvent::Error->codes) {
        $pool->request($r);
        $r->cancel($code);
        ok($err{object} == $code, "cancel('$code') delivers $code");
    }
    is($calls{object}, 3 + Uvent::Error->codes, 'one callback per cancel');

    $pool->request($r);
    for my $bad (
        [ 'nope',                                   qr/unknown error code 'nope' \(known: nomem, resolve, connect, / ],
        [ 'usage',                                  qr/unknown error code 'usage'/ ],
        [ 'inherited',                              qr/unknown error code 'inherited'/ ],
        [ "time\0out",                              qr/unknown error code 'time\\0out'/ ],
        [ "timeout\0x",                             qr/unknown error code 'timeout\\0x'/ ],
        [ [],                                       qr/the error must be an error code name \(such as Uvent::Error::TIMEOUT\) or a Uvent::Error/ ],
        [ bless({ code => 'timeout' }, 'Foo'),      qr/the error must be an error code name/ ],
        [ bless({ code => 'usage' }, 'Uvent::Error'), qr/unknown error code 'usage'/ ],
    ) {
        my ($arg, $re) = @$bad;
        eval { $r->cancel($arg) };
        like($@, qr/^Uvent::HTTP::Request->cancel: /, 'prefixed');
        like($@, $re, 'croaks for ' . (ref $arg || $arg =~ s/\0/\\0/r));
        like($@, qr/ at \Q$0\E line \d+\.$/, '... at the caller');
    }
    ok($r->active, 'a bad argument cancels nothing');
    {
        package Tied; sub TIESCALAR { bless [] } sub FETCH { 'queue_timeout' }
    }
    tie my $tied, 'Tied';
    my $t = $mk->('tied', '/ok');
    $pool->request($t);
    $t->cancel($tied);
    ok($err{tied} == QUEUE_TIMEOUT, 'a tied code name is read');
    $r->cancel;
    ok(!$r->active, 'cancelled');
    eval { $r->cancel('nope') };
    like($@, qr/unknown error code 'nope'/, 'a bad argument croaks on an inactive request too');
    $loop->run;
    is(scalar @warnings, 0, 'no warnings') or diag @warnings;
};

subtest 'PORTING FROM UNIEVENT lists the differences' => sub {
    open my $fh, '<', $INC{'Uvent.pm'} or die $!;
    my $pod = do { local $/; <$fh> };
    my ($section) = $pod =~ /^=head1 PORTING FROM UNIEVENT\n(.*?)^=head1 /ms;
    ok($section, 'the section exists') or return;
    for my $point ('ssl_ctx', 'tls', 'response_event', 'Uvent::HTTP::Pool::instance', 'http_request_sync',
        'follow_redirect', 'proxy', 'compress', 'partial_callback', 'form', 'cookies',
        'UniEvent::HTTP::Server', 'UniEvent::SystemError::timed_out', 'Uvent::Error::TIMEOUT', 'cancel($error)') {
        like($section, qr/\Q$point\E/, "mentions $point");
    }
    # what is still missing says so: the server side
    my ($streaming) = $section =~ /^streaming:(.*?)\n\n/ms;
    like($streaming // '', qr/partial_callback.*send_chunk/s, 'streaming: both directions, with UniEvent\'s names');
    unlike($streaming // 'Not yet', qr/Not yet/, 'streaming is there now');
    like($section, qr/^the server side:[^=]*?Uvent::HTTP::Manager[^=]*?PSGI[^=]*?Not yet/m, 'the server side: the server and the manager, PSGI "Not yet"');
    unlike($section, qr/^(?:proxies|compression|forms|cookies):[^=]*?Not yet/m, 'proxies, compression, forms and cookies are there now');
};

done_testing;
