use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use Scalar::Util qw(refaddr);
use JSON::PP qw(decode_json);
use MIME::Base64 qw(encode_base64);
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Util qw(run_until run_for wait_all start_req fetch ecode body hdr response_ok);

# ---- helpers: every loop run is bounded by a deadline ----

# Values of request header $name (case-insensitive) as the server saw them via /echo.
sub echo_vals {
    my ($e, $name) = @_;
    return map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $e->{headers} };
}

sub echo_of {
    my ($r) = @_;
    my $e = eval { decode_json(body($r) // '') };
    ok($e, 'echo body is JSON') or diag(body($r));
    return $e || { headers => [] };
}

my $srv  = Uvent::Test::Server->new;
my $port = $srv->port;
my $loop = Uvent::Loop->new;

subtest 'pool construction and accessors' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    isa_ok($pool, 'Uvent::HTTP::Pool');
    is(refaddr($pool->loop), refaddr($loop), 'pool->loop');
    is($pool->idle_timeout, 60, 'default idle timeout 60');
    is($pool->max_connections, 10, 'default max_connections 10');
    is($pool->size, 0, 'size 0');
    is($pool->nbusy, 0, 'nbusy 0');
    is($pool->nqueued, 0, 'nqueued 0');

    my $p2 = Uvent::HTTP::Pool->new({ timeout => 2.5, max_connections => 3 }, $loop);
    is($p2->idle_timeout, 2.5, 'timeout option sets idle_timeout (fractional)');
    is($p2->max_connections, 3, 'max_connections option');
    $p2->idle_timeout(7);
    is($p2->idle_timeout, 7, 'idle_timeout setter');
    $p2->max_connections(5);
    is($p2->max_connections, 5, 'max_connections setter');
};

subtest 'GET /ok and response accessors' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $r    = fetch($loop, $pool, uri => $srv->url('/ok'));
    response_ok($r, 'GET /ok');
    my $resp = $r->{response};
    isa_ok($resp, 'Uvent::HTTP::Response');
    is($r->{error}, undef, 'error is undef on success');
    is($resp->body, 'ok', 'body');
    is($resp->message, 'OK', 'message');
    is($resp->http_version, '1.1', 'http_version');
    ok($resp->keep_alive, 'keep_alive true');
    is($resp->header('Content-Length'), '2', 'header() Content-Length');
    is($resp->header('content-length'), '2', 'header() is case-insensitive (lower)');
    is($resp->header('CONTENT-LENGTH'), '2', 'header() is case-insensitive (upper)');
    is($resp->headers->{'content-length'}, '2', 'headers hashref has lower-case names');
    ok(!exists $resp->headers->{'Content-Length'}, 'no mixed-case keys in headers');
    like($resp->header('X-Conn'), qr/^\d+$/, 'X-Conn header');
    is($resp->header('X-Seq'), '1', 'first request on its connection');
    is($resp->header('X-No-Such-Header'), undef, 'missing header is undef');
    is(ref $resp->trailers, 'HASH', 'trailers is a hashref');
    is_deeply($resp->trailers, {}, 'no trailers');

    my $req = $r->{request};
    isa_ok($req, 'Uvent::HTTP::Request', 'callback gets the request object');
    is($req->uri, $srv->url('/ok'), 'request uri');
};

subtest 'header accessors agree with each other' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    for my $path ('/many-headers?n=20', '/echo', '/ok') {
        my $r = fetch($loop, $pool, uri => $srv->url($path));
        response_ok($r, $path);
        my $resp = $r->{response} or next;
        my $list = $resp->header_list;
        is(ref $list, 'ARRAY', "$path: header_list is an arrayref");
        ok(!grep({ ref $_ ne 'ARRAY' || @$_ != 2 } @$list), "$path: header_list items are [name, value]");
        cmp_ok(scalar @$list, '>=', ($path =~ /many/ ? 20 : 3), "$path: header count");
        my (%joined, %count);
        for (@$list) {
            push @{ $joined{ lc $_->[0] } }, $_->[1];
            $count{ lc $_->[0] }++;
        }
        is_deeply($resp->headers, { map { $_ => join(', ', @{ $joined{$_} }) } keys %joined },
            "$path: headers = header_list lower-cased, repeats joined with ', ' in wire order");
        for my $pair (@$list) {
            next if $count{ lc $pair->[0] } > 1;
            is($resp->header(uc $pair->[0]), $pair->[1], "$path: header(uc '$pair->[0]')");
        }
    }
};

subtest 'Client object' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my ($calls, $resp, $err) = (0);
    my $client = $pool->request({
        uri               => $srv->url('/sleep?s=0.1'),
        timeout           => 5,
        response_callback => sub { $calls++; (undef, $resp, $err) = @_ },
    });
    ok(defined $client, 'request on an empty pool returns a client (not queued)');
    isa_ok($client, 'Uvent::HTTP::Client');
    is(refaddr($client->pool), refaddr($pool), 'client->pool');
    is(refaddr($client->loop), refaddr($loop), 'client->loop');
    is($client->destination, "http://127.0.0.1:$port", 'client->destination');
    ok($client->busy, 'busy while the request runs');
    is($client->requests_served, 0, 'no request served yet');
    is($pool->nbusy, 1, 'pool nbusy 1');
    is($pool->size, 1, 'pool size 1');
    ok(run_until($loop, sub { $calls }), 'request completed');
    is($calls, 1, 'one callback');
    ok(!$err, 'no error') or diag("$err");
    is($resp && $resp->code, 200, 'code 200');
    ok(!$client->busy, 'not busy after completion');
    is($client->requests_served, 1, 'one request served');

    my $c2 = 0;
    my $client2 = $pool->request({
        uri => $srv->url('/ok'), timeout => 5, response_callback => sub { $c2++ },
    });
    ok(defined $client2, 'second request runs at once (idle connection)');
    is($client2 && $client2->destination, $client->destination, 'same destination');
    ok(run_until($loop, sub { $c2 }), 'second request completed');
    is($client->requests_served, 2, 'the first client object served the second request too (reused)');
    is($pool->size, 1, 'still one connection');
};

subtest 'request wire format (/echo)' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);

    my $r = fetch($loop, $pool, uri => $srv->url('/echo?a=1&b=two'));
    response_ok($r, 'GET /echo');
    my $e = echo_of($r);
    is($e->{method}, 'GET', 'method GET');
    is($e->{target}, '/echo?a=1&b=two', 'query kept in the target');
    like($e->{version}, qr/1\.1/, 'HTTP/1.1 request');
    is_deeply([ echo_vals($e, 'Host') ], ["127.0.0.1:$port"], 'exactly one Host with the non-default port');
    my @ua = echo_vals($e, 'User-Agent');
    is(scalar @ua, 1, 'one User-Agent');
    like($ua[0] // '', qr{^Uvent/}, 'default User-Agent is Uvent/<version>');
    is_deeply([ echo_vals($e, 'Content-Length') ], [], 'no Content-Length on a GET without body');
    is_deeply([ echo_vals($e, 'Transfer-Encoding') ], [], 'no Transfer-Encoding');

    $r = fetch($loop, $pool, uri => $srv->url('/echo'), headers => { 'User-Agent' => 'MyAgent/1.0', 'X-Test' => 'yes' });
    $e = echo_of($r);
    is_deeply([ echo_vals($e, 'User-Agent') ], ['MyAgent/1.0'], 'custom User-Agent kept, no default added');
    is_deeply([ echo_vals($e, 'X-Test') ], ['yes'], 'hashref header sent');

    $r = fetch($loop, $pool, uri => $srv->url('/echo#fragment'));
    $e = echo_of($r);
    is($e->{target}, '/echo', 'fragment not sent');

    $r = fetch($loop, $pool, uri => $srv->url('/echo?x=1#frag?y=2'));
    $e = echo_of($r);
    is($e->{target}, '/echo?x=1', 'fragment after the query not sent');

    $srv->reset_stats;
    $r = fetch($loop, $pool, uri => "http://127.0.0.1:$port");
    is($r->{calls}, 1, 'request without a path completed');
    my $log = $srv->log;
    is($log->[-1] && $log->[-1]{target}, '/', 'empty path is sent as /');
};

subtest 'bodies and Content-Length' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);

    my $r = fetch($loop, $pool, uri => $srv->url('/echo'), method => 'POST', body => 'hello=world&x=1');
    response_ok($r, 'POST with body');
    my $e = echo_of($r);
    is($e->{method}, 'POST', 'method POST');
    is($e->{body}, 'hello=world&x=1', 'body arrived');
    is_deeply([ echo_vals($e, 'Content-Length') ], ['15'], 'Content-Length of the body');

    for my $m (qw(POST PUT)) {
        $r = fetch($loop, $pool, uri => $srv->url('/echo'), method => $m);
        $e = echo_of($r);
        is($e->{method}, $m, "method $m");
        is_deeply([ echo_vals($e, 'Content-Length') ], ['0'], "$m without body sends Content-Length: 0");
        is($e->{body} // '', '', "$m without body: empty body");
    }

    $r = fetch($loop, $pool, uri => $srv->url('/echo'), method => 'PUT', body => '');
    $e = echo_of($r);
    is_deeply([ echo_vals($e, 'Content-Length') ], ['0'], 'PUT with empty body: Content-Length: 0');

    $r = fetch($loop, $pool, uri => $srv->url('/echo'), method => 'DELETE');
    $e = echo_of($r);
    is($e->{method}, 'DELETE', 'method DELETE');

    $r = fetch($loop, $pool, uri => $srv->url('/echo'), method => 'PATCH', body => "line1\r\nline2\0end");
    $e = echo_of($r);
    is($e->{method}, 'PATCH', 'method PATCH');
    is($e->{body}, "line1\r\nline2\0end", 'body with CR LF NUL arrives intact');
    is_deeply([ echo_vals($e, 'Content-Length') ], ['16'], 'its Content-Length');
};

subtest 'arrayref headers keep order and repeats' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $r = fetch($loop, $pool,
        uri     => $srv->url('/echo'),
        headers => [ 'X-A' => '1', 'X-B' => '2', 'X-A' => '3', 'X-Empty' => '' ]);
    response_ok($r, 'echo');
    my $e = echo_of($r);
    my @mine = map { [ lc $_->[0], $_->[1] ] } grep { $_->[0] =~ /^x-(?:a|b|empty)$/i } @{ $e->{headers} };
    is_deeply(\@mine, [ [ 'x-a', '1' ], [ 'x-b', '2' ], [ 'x-a', '3' ], [ 'x-empty', '' ] ],
        'user headers sent in the given order, repeats preserved');
    is(scalar(echo_vals($e, 'Host')), 1, 'still exactly one Host');
};

subtest 'userinfo becomes Authorization: Basic' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $r = fetch($loop, $pool, uri => "http://user:secret\@127.0.0.1:$port/echo");
    response_ok($r, 'echo with userinfo');
    my $e = echo_of($r);
    is_deeply([ echo_vals($e, 'Authorization') ], [ 'Basic ' . encode_base64('user:secret', '') ], 'Authorization header');
    is_deeply([ echo_vals($e, 'Host') ], ["127.0.0.1:$port"], 'userinfo not in Host');
    is($e->{target}, '/echo', 'userinfo not in the target');

    $r = fetch($loop, $pool, uri => "http://us%40er:p%3Ass\@127.0.0.1:$port/echo");
    $e = echo_of($r);
    is_deeply([ echo_vals($e, 'Authorization') ], [ 'Basic ' . encode_base64('us@er:p:ss', '') ],
        'percent-encoded userinfo is decoded before encoding');

    $r = fetch($loop, $pool, uri => $srv->url('/echo'));
    $e = echo_of($r);
    is_deeply([ echo_vals($e, 'Authorization') ], [], 'no Authorization without userinfo');
};

subtest 'Uvent::HTTP::Request object' => sub {
    my $pool  = Uvent::HTTP::Pool->new({}, $loop);
    my @got;
    my $req = Uvent::HTTP::Request->new({
        uri               => $srv->url('/echo'),
        method            => 'POST',
        headers           => [ 'X-One' => 'a' ],
        body              => 'payload',
        timeout           => 3,
        connect_timeout   => 1,
        response_callback => sub { push @got, [@_] },
    });
    isa_ok($req, 'Uvent::HTTP::Request');
    is($req->uri, $srv->url('/echo'), 'uri accessor');
    is($req->method, 'POST', 'method accessor');
    is($req->body, 'payload', 'body accessor');
    is($req->timeout, 3, 'timeout accessor');
    is($req->connect_timeout, 1, 'connect_timeout accessor');
    ok(defined $req->headers, 'headers accessor');

    my $client = $pool->request($req);
    isa_ok($client, 'Uvent::HTTP::Client', 'request(object) returns a client');
    ok(run_until($loop, sub { @got >= 1 }), 'completed');
    run_for($loop, 0.05);
    is(scalar @got, 1, 'one callback');
    my ($greq, $resp, $err) = @{ $got[0] || [] };
    is(refaddr($greq), refaddr($req), 'callback gets the same request object');
    ok(!$err, 'no error') or diag("$err");
    my $e = eval { decode_json($resp->body) } || {};
    is($e->{method}, 'POST', 'method on the wire');
    is($e->{body}, 'payload', 'body on the wire');
    is_deeply([ echo_vals($e, 'X-One') ], ['a'], 'header on the wire');
};

subtest 'a Client object only for a caller who takes it' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $made = 0;
    my $destroy = \&Uvent::HTTP::Client::DESTROY;
    no warnings 'redefine';
    local *Uvent::HTTP::Client::DESTROY = sub { $made++; $destroy->(@_) };
    my $calls = 0;
    $pool->request({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub { $calls++ } });
    is($made, 0, 'none made in void context');
    ok(run_until($loop, sub { $calls }), 'the request completed');
    my $client = $pool->request({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub { $calls++ } });
    isa_ok($client, 'Uvent::HTTP::Client', 'in scalar context');
    ok(run_until($loop, sub { $calls == 2 }), 'that one completed too');
    undef $client;
    is($made, 1, 'and freed once');
};

subtest 'a response kept past its callback' => sub {
    my $l = Uvent::Loop->new;
    my $pool = Uvent::HTTP::Pool->new({}, $l);
    my $kept;
    $pool->request({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub { $kept = $_[1] } });
    ok(run_until($l, sub { $kept }), 'the request completed');
    undef $pool;
    undef $l;
    is($kept->code, 200, 'its code after the pool and loop are gone');
    ok(defined $kept->body, 'and its body');
    # the core response is released by magic when the object goes: no
    # DESTROY method call per response
    ok(!Uvent::HTTP::Response->can('DESTROY'), 'no DESTROY method');
};

subtest 'a callback that replaces or deletes itself while it runs' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    for my $how ('replace', 'delete') {
        my ($calls, $after) = (0, 'unset');
        $pool->request({ uri => $srv->url('/ok'), timeout => 5, response_callback => sub {
            my ($req) = @_;
            $calls++;
            if ($how eq 'replace') { $req->{response_callback} = sub { $calls += 100 } }
            else { delete $req->{response_callback} }
            my $x = [ (1) x 100 ];    # reuse freed memory, if any was freed
            $after = 'ran on';
        } });
        ok(run_until($loop, sub { $calls }), "$how: the request completed");
        is($calls, 1, "$how: the callback ran once, not its replacement");
        is($after, 'ran on', "$how: and to its end");
    }
};

$srv->stop;
done_testing;
