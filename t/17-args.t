use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use lib 't/lib';
use Uvent;
use Uvent::HTTP qw(http_request);
use Uvent::Test::Server;
use Uvent::Test::Util qw(run_until run_for wait_all start_req fetch ecode body hdr response_ok);

# ---- helpers: every loop run is bounded by a deadline ----

my $srv  = Uvent::Test::Server->new;
my $port = $srv->port;
my $loop = Uvent::Loop->new;
my $ok_uri = $srv->url('/ok');
my $calls  = 0;
my $cb     = sub { $calls++ };

# [ name, params (merged over a valid request), error pattern ]
my @bad = (
    [ 'missing uri',                 { uri => undef },                                 qr/uri/ ],
    [ 'empty uri',                   { uri => '' },                                    qr/uri|URL/i ],
    [ 'malformed uri: not a url',    { uri => 'not a url' },                           qr/URL/i ],
    [ 'malformed uri: bad port',     { uri => "http://127.0.0.1:abc/ok" },             qr/URL/i ],
    [ 'malformed uri: port range',   { uri => "http://127.0.0.1:70000/ok" },           qr/URL/i ],
    [ 'malformed uri: no scheme',    { uri => "127.0.0.1:$port/ok" },                  qr/URL|scheme/i ],
    [ 'malformed uri: unclosed [',   { uri => "http://[::1:$port/ok" },                qr/URL/i ],
    [ 'malformed uri: CRLF',         { uri => "http://127.0.0.1:$port/ok\r\nX: y" },   qr/URL/i ],
    [ 'malformed uri: space',        { uri => "http://127.0.0.1:$port/o k" },          qr/URL/i ],
    [ 'uri without host',            { uri => 'http:///ok' },                          qr/host/i ],
    [ 'uri with empty host and port', { uri => "http://:$port/ok" },                   qr/host/i ],
    [ 'uri with a 256-character host', { uri => 'http://' . ('a' x 252) . ".com:$port/ok" },
      qr/the host is longer than 255 characters/ ],
    [ 'unsupported scheme ftp',      { uri => "ftp://127.0.0.1:$port/ok" },            qr/scheme/i ],
    [ 'unsupported scheme httpx',    { uri => "httpx://127.0.0.1:$port/ok" },          qr/scheme/i ],
    [ 'CRLF in header value',        { headers => { 'X-A' => "a\r\nInjected: 1" } },   qr/header/i ],
    [ 'LF in header value',          { headers => { 'X-A' => "a\nInjected: 1" } },     qr/header/i ],
    [ 'CR in header value',          { headers => { 'X-A' => "a\rb" } },               qr/header/i ],
    [ 'NUL in header value',         { headers => { 'X-A' => "a\0b" } },               qr/header/i ],
    [ 'CRLF in header name',         { headers => { "X-A\r\nInjected" => 'v' } },      qr/header/i ],
    [ 'NUL in header name',          { headers => { "X-\0A" => 'v' } },                qr/header/i ],
    [ 'CRLF in arrayref header',     { headers => [ 'X-Ok' => 'fine', 'X-B' => "b\r\nC: d" ] }, qr/header/i ],
    [ 'LF in arrayref header name',  { headers => [ "X-B\n" => 'v' ] },                qr/header/i ],
    [ 'method with a space',         { method => 'GE T' },                             qr/method/i ],
    [ 'method with CRLF',            { method => "GET\r\n" },                          qr/method/i ],
    [ 'method with a separator',     { method => 'GET/1' },                            qr/method/i ],
    [ 'body is an array ref',        { method => 'POST', body => [1] },                qr/body/i ],
    [ 'body is a hash ref',          { method => 'POST', body => { a => 1 } },         qr/body/i ],
    [ 'body is a scalar ref',        { method => 'POST', body => \'x' },               qr/body/i ],
    [ 'callback is a string',        { response_callback => 'main::foo' },             qr/callback/i ],
    [ 'callback is an array ref',    { response_callback => [] },                      qr/callback/i ],
    [ 'callback is a hash ref',      { response_callback => {} },                      qr/callback/i ],
);

sub params_for {
    my ($over) = @_;
    my %p = (uri => $ok_uri, timeout => 5, response_callback => $cb, %$over);
    delete $p{uri} unless defined $p{uri};
    return \%p;
}

$srv->reset_stats;
my $pool = Uvent::HTTP::Pool->new({}, $loop);

subtest 'pool->request croaks on bad arguments' => sub {
    for my $case (@bad) {
        my ($name, $over, $re) = @$case;
        my $ret = eval { $pool->request(params_for($over)); 1 };
        ok(!$ret, "$name: croaks");
        like($@, $re, "$name: message matches $re");
    }
};

subtest 'Request->new (and sending it) croaks on bad arguments' => sub {
    for my $case (@bad) {
        my ($name, $over, $re) = @$case;
        my $ret = eval {
            my $req = Uvent::HTTP::Request->new(params_for($over));
            $pool->request($req);
            1;
        };
        ok(!$ret, "$name: croaks");
        like($@, $re, "$name: message matches $re");
    }
};

subtest 'http_request croaks on bad arguments' => sub {
    for my $case (@bad[ 0, 2, 9, 11, 13, 21, 24, 27 ]) {
        my ($name, $over, $re) = @$case;
        my $ret = eval { http_request(params_for($over), $loop); 1 };
        ok(!$ret, "$name: croaks");
        like($@, $re, "$name: message matches $re");
    }
};

subtest 'nothing was sent for the bad requests' => sub {
    my $t0 = time;
    $loop->run;
    cmp_ok(time - $t0, '<', 0.5, 'loop has nothing pending');
    is($calls, 0, 'no callback ran');
    is_deeply([ $pool->size, $pool->nbusy, $pool->nqueued ], [ 0, 0, 0 ], 'pool untouched');
    my $inst = Uvent::HTTP::Pool->instance($loop);
    is_deeply([ $inst->size, $inst->nbusy, $inst->nqueued ], [ 0, 0, 0 ], 'instance pool untouched');
    is($srv->requests, 0, 'server saw no request');
    is($srv->connections, 0, 'server saw no connection');
};

subtest 'valid edge cases are accepted' => sub {
    my @ok = (
        [ 'plain uri', { uri => $srv->url('/ok') } ],
        [ 'upper-case scheme',             { uri => "HTTP://127.0.0.1:$port/ok" } ],
        [ 'no path',                       { uri => "http://127.0.0.1:$port" } ],
        [ 'query only',                    { uri => "http://127.0.0.1:$port?a=b" } ],
        [ 'header with tab and utf-8-ish bytes', { headers => { 'X-Tab' => "a\tb", 'X-Hi' => "\xc3\xa9" } } ],
        [ 'empty header value',            { headers => [ 'X-Empty' => '' ] } ],
        [ 'extension method',              { method => 'PROPFIND' } ],
        [ 'body with NUL',                 { method => 'POST', body => "a\0b" } ],
        [ 'empty body',                    { method => 'POST', body => '' } ],
        [ 'numeric body',                  { method => 'POST', body => 12345 } ],
        [ 'fractional timeouts',           { timeout => 2.5, connect_timeout => 0.75 } ],
    );
    my @r;
    for my $case (@ok) {
        my ($name, $over) = @$case;
        my $res = { calls => 0, name => $name };
        my $lived = eval {
            $pool->request({ %{ params_for($over) }, response_callback => sub { $res->{calls}++; $res->{error} = $_[2] } });
            1;
        };
        ok($lived, "$name: accepted") or diag($@);
        push @r, $res if $lived;
    }
    ok(run_until($loop, sub { !grep { !$_->{calls} } @r }, 10), 'all called back');
    for (@r) {
        is($_->{calls}, 1, "$_->{name}: one callback");
        ok(!$_->{error}, "$_->{name}: no transport error") or diag("$_->{error}");
    }
};

$srv->stop;
done_testing;
