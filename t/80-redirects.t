use strict;
use warnings;
use Test::More;
use JSON::PP qw(decode_json);
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Nginx;
use Uvent::Test::Certs;
use Uvent::Test::Util qw(run_until run_for wait_all start_req ecode body hdr response_ok);

# Redirects: every code and method rule, Location forms, the limit and
# loops, headers dropped across origins, the downgrade rule,
# redirect_callback, the timeout over the chain, cancel mid-chain,
# $response->redirects and ->uri; one callback per chain throughout.

my $srv  = Uvent::Test::Server->new;
my $srv2 = Uvent::Test::Server->new;    # another host:port, another origin
my $loop = Uvent::Loop->new;
my $pool = Uvent::HTTP::Pool->new({}, $loop);

sub esc { my $s = shift; $s =~ s/([^A-Za-z0-9\-._~\/])/sprintf '%%%02X', ord $1/ge; $s }
# /redirect on $s answering `code` with Location `to`
sub redir { my ($s, $code, $to, %q) = @_; $s->url("/redirect?code=$code" . (defined $to ? '&to=' . esc($to) : '') . join '', map { "&$_=" . esc($q{$_}) } sort keys %q) }
sub fetch { my $r = start_req($pool, @_); wait_all($loop, $r); is($r->{calls}, 1, 'exactly one callback'); $r }
sub echo { my $r = shift; my $e = eval { decode_json(body($r)) }; $e || { headers => [] } }
sub hvals { my ($e, $n) = @_; map { $_->[1] } grep { lc $_->[0] eq lc $n } @{ $e->{headers} } }
sub emsg { my $r = shift; $r->{error} ? $r->{error}->message : '' }

subtest 'every code and method: which hops become GET without a body' => sub {
    for my $code (301, 302, 303, 307, 308) {
        for my $method (qw(GET HEAD POST PUT DELETE)) {
            my $has_body = $method eq 'POST' || $method eq 'PUT';
            my $r = fetch(uri => redir($srv, $code, '/echo'), method => $method,
                $has_body ? (body => 'payload', headers => [ 'Content-Type' => 'text/plain', 'X-Keep' => 'k' ])
                          : (headers => [ 'X-Keep' => 'k' ]));
            response_ok($r, "$code $method");
            my $to_get = $code == 303 ? $method ne 'HEAD'
                : ($code == 301 || $code == 302) ? ($method ne 'GET' && $method ne 'HEAD') : 0;
            my $want = $to_get ? 'GET' : $method;
            my ($last) = grep { $_->{target} eq '/echo' } @{ $srv->log };
            $srv->reset_stats;
            is($last && $last->{method}, $want, "$code $method: the next hop is $want");
            if ($has_body) {
                if ($to_get) {
                    is($last->{body_length}, 0, "$code $method: no body after the switch");
                    ok(!grep({ lc $_->[0] eq 'content-type' || lc $_->[0] eq 'content-length' } @{ $last->{headers} }),
                        "$code $method: Content-Type and Content-Length dropped");
                } else {
                    is($last->{body_length}, 7, "$code $method: the body is sent again");
                    is_deeply([ map { $_->[1] } grep { lc $_->[0] eq 'content-type' } @{ $last->{headers} } ],
                        ['text/plain'], "$code $method: Content-Type kept");
                }
            }
            is_deeply([ map { $_->[1] } grep { $_->[0] eq 'X-Keep' } @{ $last->{headers} } ], ['k'],
                "$code $method: other headers kept");
            is(scalar @{ $r->{response}->redirects }, 1, "$code $method: one earlier response");
            is($r->{response}->redirects->[0]->code, $code, "$code $method: it is the $code");
        }
    }
};

subtest 'Location forms: relative, dot segments, query and fragment only, protocol-relative, absolute' => sub {
    my $port = $srv->port;
    my %case = (
        'echo?a=1'                           => '/echo?a=1',            # relative to /redirect
        './echo'                             => '/echo',
        '../x/../echo'                       => '/echo',
        '/echo?q'                            => '/echo?q',
        "//127.0.0.1:$port/echo?p"           => '/echo?p',
        "http://127.0.0.1:$port/echo"        => '/echo',
        "HTTP://127.0.0.1:$port/./echo?z#f2" => '/echo?z',
    );
    for my $loc (sort keys %case) {
        my $r = fetch(uri => redir($srv, 302, $loc));
        response_ok($r, "Location '$loc'");
        is(echo($r)->{target}, $case{$loc}, "Location '$loc' asks for $case{$loc}");
    }
    # ?query only: the same path with another query
    my $r = fetch(uri => $srv->url('/redirect?code=302&to=%3Fcode%3D200%26to%3D'));
    response_ok($r, 'Location ?query only');
    is(echo($r)->{target}, '/redirect?code=200&to=', 'the same path, the new query');
};

subtest 'fragments: kept from the original when the Location has none, never sent' => sub {
    my $r = fetch(uri => redir($srv, 302, '/echo') . '#orig');
    response_ok($r, 'original fragment');
    is(echo($r)->{target}, '/echo', 'no fragment on the wire');
    like($r->{response}->uri, qr{/echo#orig\z}, 'the final URI keeps the original fragment (RFC 9110 10.2.2)');
    $r = fetch(uri => redir($srv, 302, '/echo#new') . '#orig');
    like($r->{response}->uri, qr{/echo#new\z}, "the Location's own fragment wins");
    # '#f' only: the same resource again, with that fragment
    my $next;
    my $self = $srv->url('/redirect?code=302&to=%23f2');
    $r = fetch(uri => "$self#f1", redirect_callback => sub { $next = $_[2]; 0 });
    is($next, "$self#f2", "a Location '#f2' names the same URI with its fragment");
    $r = fetch(uri => $srv->url('/redirect?code=200&to=/echo'));
    is($r->{response}->code, 200, 'a 200 with a Location is not followed');
};

subtest 'response->uri and ->redirects' => sub {
    my $start = redir($srv, 301, redir($srv, 307, '/echo'));
    my $r = fetch(uri => $start);
    response_ok($r, 'two hops');
    is($r->{response}->uri, $srv->url('/echo'), 'uri is the final URI');
    my @earlier = @{ $r->{response}->redirects };
    is_deeply([ map { $_->code } @earlier ], [301, 307], 'redirects: the earlier responses, oldest first');
    is($earlier[0]->uri, $start, 'each earlier response has its own uri');
    is_deeply($earlier[0]->redirects, [], 'an earlier response has no redirects of its own');
    is($r->{request}->uri, $start, 'the request object keeps its own uri');
    $r = fetch(uri => $srv->url('/ok'));
    is($r->{response}->uri, $srv->url('/ok'), 'without redirects uri is the request uri');
    is_deeply($r->{response}->redirects, [], 'and redirects is empty');
};

subtest 'follow_redirect => 0, a missing Location, other 3xx: the 3xx is the response' => sub {
    my $r = fetch(uri => redir($srv, 302, '/echo'), follow_redirect => 0);
    is(ecode($r), 'none', 'no error');
    is($r->{response}->code, 302, 'follow_redirect => 0 gives the 302');
    my $p0 = Uvent::HTTP::Pool->new({ follow_redirect => 0 }, $loop);
    my $q = start_req($p0, uri => redir($srv, 302, '/echo'));
    wait_all($loop, $q);
    is($q->{response}->code, 302, 'follow_redirect => 0 as the pool default');
    $q = start_req($p0, uri => redir($srv, 302, '/echo'), follow_redirect => 1);
    wait_all($loop, $q);
    is($q->{response}->code, 200, 'a request overrides the pool default');
    $r = fetch(uri => redir($srv, 302, undef));
    is(ecode($r), 'none', 'no Location: no error');
    is($r->{response}->code, 302, 'no Location: the 302 is the response');
    $r = fetch(uri => redir($srv, 300, '/echo'));
    is($r->{response}->code, 300, '300 is not followed');
    $r = fetch(uri => redir($srv, 304, '/echo'));
    is($r->{response}->code, 304, '304 is not followed');
};

subtest 'bad_redirect: unusable Location' => sub {
    for my $case (['ftp://127.0.0.1/x', qr/scheme is not http or https/], ['http://', qr/URL has no host|malformed/],
                  ["http://[zz/x", qr/malformed URL/], ["http://h:99999/", qr/port|malformed/]) {
        my ($loc, $why) = @$case;
        my $r = fetch(uri => redir($srv, 302, $loc));
        is(ecode($r), 'bad_redirect', "Location '" . Uvent::_shown($loc) . "': bad_redirect");
        like(emsg($r), $why, 'the message says why');
        like(emsg($r), qr/\Aunusable redirect \(GET http:\/\/127\.0\.0\.1:\d+\/redirect\?/, 'the message names the request');
        is($r->{response}->code, 302, 'the response is the 302');
    }
    my $r = fetch(uri => $srv->url('/redirect?code=302&to=/a&to2=/b'));
    is(ecode($r), 'bad_redirect', 'two different Locations: bad_redirect');
    is($pool->stats->{errors}{bad_redirect} > 0, 1, 'counted in stats');
};

subtest 'the limit and loops' => sub {
    my $r = fetch(uri => $srv->url('/loop'));
    is(ecode($r), 'redirection_limit', 'a loop ends with redirection_limit');
    like(emsg($r), qr/\Atoo many redirects \(GET http:\/\/127\.0\.0\.1:\d+\/loop\): more than 20 redirects\z/, 'message');
    is(scalar @{ $r->{response}->redirects }, 20, 'after 20 redirects (the default limit)');
    is($r->{response}->code, 302, 'the response is the last 302');
    $srv->reset_stats;
    $r = fetch(uri => $srv->url('/loop'), redirection_limit => 3);
    is(ecode($r), 'redirection_limit', 'redirection_limit => 3');
    is($srv->requests, 4, 'the first request and three redirects went out');
    $r = fetch(uri => redir($srv, 302, redir($srv, 302, '/echo')), redirection_limit => 2);
    response_ok($r, 'two redirects within a limit of 2');
    $r = fetch(uri => redir($srv, 302, '/echo'), redirection_limit => 0);
    is(ecode($r), 'redirection_limit', 'redirection_limit => 0 refuses the first');
    my $p3 = Uvent::HTTP::Pool->new({ redirection_limit => 1 }, $loop);
    my $q = start_req($p3, uri => $srv->url('/loop'));
    wait_all($loop, $q);
    is(scalar @{ $q->{response}->redirects }, 1, 'redirection_limit as the pool default');
};

subtest 'credentials stay on the first origin' => sub {
    my @h = (Authorization => 'Bearer secret', Cookie => 'c=1', 'Proxy-Authorization' => 'Basic x', 'X-Other' => 'o');
    my $r = fetch(uri => redir($srv, 302, '/echo'), headers => [@h]);
    my $e = echo($r);
    is_deeply([ map { [hvals($e, $_)] } qw(Authorization Cookie Proxy-Authorization) ],
        [ ['Bearer secret'], ['c=1'], ['Basic x'] ], 'same origin: all kept');
    $r = fetch(uri => redir($srv, 302, $srv2->url('/echo')), headers => [@h]);
    $e = echo($r);
    response_ok($r, 'to another port');
    is_deeply([ map { [hvals($e, $_)] } qw(Authorization Cookie Proxy-Authorization) ], [ [], [], [] ],
        'another host:port: Authorization, Cookie and Proxy-Authorization dropped');
    is_deeply([ hvals($e, 'X-Other') ], ['o'], 'other headers kept');
    $r = fetch(uri => redir($srv, 302, redir($srv2, 302, $srv->url('/echo'))), headers => [@h]);
    is_deeply([ hvals(echo($r), 'Authorization') ], [], 'not sent again after coming back');
    $r = fetch(uri => redir($srv, 302, $srv2->url('/echo')), headers => { Host => 'example.test' });
    isnt((hvals(echo($r), 'Host'))[0], 'example.test', 'a given Host is not sent to another origin');
    # userinfo in the first URI: its Authorization is not sent to the other origin either
    (my $ui = redir($srv, 302, $srv2->url('/echo'))) =~ s{http://}{http://u:p\@};
    $r = fetch(uri => $ui);
    is_deeply([ hvals(echo($r), 'Authorization') ], [], "the URI's userinfo does not travel");
};

subtest 'redirect_callback: sees each hop, may stop the chain' => sub {
    my @seen;
    my $r = fetch(uri => redir($srv, 301, redir($srv, 302, '/echo')),
        redirect_callback => sub { my ($req, $res, $next) = @_; push @seen, [ ref $req, $res->code, $next ]; 1 });
    response_ok($r, 'followed');
    is_deeply([ map { $_->[1] } @seen ], [301, 302], 'called before each hop');
    is($seen[0][0], 'Uvent::HTTP::Request', 'with the request');
    is($seen[1][2], $srv->url('/echo'), 'and the next URI');
    @seen = ();
    $r = fetch(uri => redir($srv, 301, redir($srv, 302, '/echo')), redirect_callback => sub { push @seen, 1; @seen < 2 });
    is(ecode($r), 'none', 'stopping is no error');
    is($r->{response}->code, 302, 'the 3xx it stopped at is the response');
    is(scalar @{ $r->{response}->redirects }, 1, 'with the earlier one');
    eval { $pool->request({ uri => $srv->url('/ok'), redirect_callback => 'x' }) };
    like($@, qr/'redirect_callback' must be a CODE reference/, 'must be code');
};

subtest 'a redirect_callback that dies: the callback still runs once, run rethrows' => sub {
    my $calls = 0;
    my $code;
    $pool->request({ uri => redir($srv, 302, '/echo'), timeout => 5, redirect_callback => sub { die "hook died\n" },
        response_callback => sub { $calls++; $code = $_[1]->code } });
    my $ok = eval { run_until($loop, sub { $calls }, 5); 1 };
    like($ok ? '' : $@, qr/hook died/, 'the exception comes out of run');
    run_until($loop, sub { $calls }, 5) unless $calls;
    is($calls, 1, 'one callback');
    is($code, 302, 'with the 3xx');
};

subtest 'the timeout covers the whole chain' => sub {
    my $slow = sub { my $to = shift; $srv->url('/redirect?code=302&sleep=0.4&to=' . esc($to)) };
    my $r = fetch(uri => $slow->($slow->($slow->($slow->('/echo')))), timeout => 1);
    is(ecode($r), 'timeout', 'four slow hops of 0.4 s do not fit in 1 s');
    $r = fetch(uri => $slow->('/echo'), timeout => 3);
    response_ok($r, 'one slow hop fits');
};

subtest 'cancel mid-chain: one callback, cancelled' => sub {
    my $calls = 0;
    my ($err, $hops);
    my $req = Uvent::HTTP::Request->new({ uri => $srv->url('/redirect?code=302&to=' . esc('/redirect?code=302&sleep=2&to=/echo')),
        timeout => 5, redirect_callback => sub { $hops++; 1 },
        response_callback => sub { $calls++; $err = $_[2] } });
    $pool->request($req);
    run_until($loop, sub { $hops }, 5);
    ok($req->active, 'active during the second hop');
    $req->cancel;
    is($calls, 1, 'cancel calls back once');
    is($err && $err->code, 'cancelled', 'cancelled');
    run_for($loop, 0.2);
    is($calls, 1, 'and never again');
};

subtest 'the pool dropped mid-chain' => sub {
    my $p = Uvent::HTTP::Pool->new({}, $loop);
    my $calls = 0;
    my $code;
    $p->request({ uri => redir($srv, 302, '/echo'), timeout => 5, response_callback => sub { $calls++; $code = $_[1]->code } });
    undef $p;
    run_until($loop, sub { $calls }, 5);
    is($calls, 1, 'one callback');
    is($code, 302, 'a dropped pool follows no redirect: the 302 is the response');
};

subtest 'each hop goes through the pool and its limits' => sub {
    my $p = Uvent::HTTP::Pool->new({ max_connections => 1 }, $loop);
    my @r = map { start_req($p, uri => redir($srv2, 302, $srv->url("/echo?n=$_"))) } 1 .. 3;
    wait_all($loop, @r);
    is(scalar(grep { !$_->{error} && $_->{response}->code == 200 } @r), 3, 'three chains over one connection per destination');
    is($p->stats->{requests}, 6, 'each hop is a request of the pool');
    is($p->stats("http://127.0.0.1:" . $srv->port)->{requests}, 3, "the hops counted for their own destination");
};

subtest 'retries apply to each hop' => sub {
    my $p = Uvent::HTTP::Pool->new({ max_connections => 1 }, $loop);
    my $q = start_req($p, uri => $srv2->url('/drop-second'));
    wait_all($loop, $q);
    # the redirect goes out on the armed connection, is dropped unanswered, and is sent again
    $q = start_req($p, uri => redir($srv2, 302, '/echo'));
    wait_all($loop, $q);
    is(ecode($q), 'none', 'the chain succeeds');
    is($q->{response}->code, 200, 'with the last response');
    is($p->stats->{retried}, 1, 'after one retry of its first hop');
    ok($q->{response}->redirects->[0]->retried, 'the redirect says it was retried');
};

subtest 'a POST answered 307 is sent again whole, with its retry rules' => sub {
    my $r = fetch(uri => redir($srv, 307, '/upload'), method => 'POST', body => 'x' x 100_000);
    response_ok($r, '307 POST');
    like(body($r), qr/\A100000 /, 'the whole body the second time');
};

subtest 'https -> http only with allow_downgrade' => sub {
    my $no_tls = Uvent::Test::Server->tls_missing // Uvent::Test::Certs->missing;
    plan skip_all => $no_tls if $no_tls;
    my $certs = Uvent::Test::Certs->new;
    my $tls = Uvent::Test::Server->new(tls => { cert_file => $certs->server_cert, key_file => $certs->server_key });
    my %tlsp = (tls => { ca_file => $certs->ca_cert });
    my $to_http = $tls->url('/redirect?code=302&to=' . esc($srv->url('/echo')));
    my $r = fetch(uri => $to_http, %tlsp, headers => [ Authorization => 'Bearer s' ]);
    is(ecode($r), 'bad_redirect', 'https -> http refused by default');
    like(emsg($r), qr/allow_downgrade is off/, 'the message names allow_downgrade');
    is($r->{response}->code, 302, 'the response is the 302');
    $r = fetch(uri => $to_http, %tlsp, allow_downgrade => 1, headers => [ Authorization => 'Bearer s' ]);
    response_ok($r, 'allow_downgrade => 1 follows it');
    is_deeply([ hvals(echo($r), 'Authorization') ], [], 'without the credentials');
    my $up = redir($srv, 302, $tls->url('/echo'));
    $r = fetch(uri => $up, %tlsp);
    response_ok($r, 'http -> https is followed');
    my $same = $tls->url('/redirect?code=302&to=/echo');
    $r = fetch(uri => $same, %tlsp, headers => [ Authorization => 'Bearer s' ]);
    is_deeply([ hvals(echo($r), 'Authorization') ], ['Bearer s'], 'https same origin keeps the credentials');
};

subtest 'nginx: a return 301 chain' => sub {
    my $why = Uvent::Test::Nginx->missing;
    plan skip_all => $why if $why;
    my $ng = Uvent::Test::Nginx->new;
    my $r = fetch(uri => $ng->url('/moved/hello.txt'));
    response_ok($r, 'nginx chain');
    is(body($r), 'Hello, World!', 'the file at the end of the chain');
    is_deeply([ map { $_->code } @{ $r->{response}->redirects } ], [301, 302], 'a 301 then a 302');
};

subtest 'no leaked SVs over chains, forms, json and a jar (Test::LeakTrace)' => sub {
    plan skip_all => 'Test::LeakTrace not installed' unless eval { require Test::LeakTrace; 1 };
    package Leak::Jar { sub new { bless {}, shift } sub add { 1 } sub cookie_header { 'a=1' } }
    my $jar = Leak::Jar->new;
    my $run = sub {
        my $done = 0;
        for my $p ({ uri => redir($srv, 307, redir($srv, 302, '/echo')) . '#f', form => [ a => 1, f => { content => 'x' } ] },
                   { uri => redir($srv, 303, '/echo'), json => { a => [1] }, cookie_jar => $jar },
                   { uri => $srv->url('/loop'), redirection_limit => 2 },
                   { uri => redir($srv, 302, 'ftp://x/') }) {
            $pool->request({ %$p, timeout => 5, response_callback => sub {
                my ($req, $res, $err) = @_;
                my @r = (@{ $res->redirects }, $res->uri, $err ? "$err" : '');
                $done++;
            } });
        }
        $loop->run_once while $done < 4;
    };
    $run->() for 1 .. 2;    # caches (the JSON coder, stashes) are made here
    Test::LeakTrace::no_leaks_ok(sub { $run->() }, 'no leaks');
};

subtest 'exit while a chain is in flight: one callback, a clean exit' => sub {
    # (the callbacks hold no reference to the loop: see Uvent::Loop's "At program exit")
    for my $case ([ 'a private loop in a lexical: cancelled at exit', 'my', "cb cancelled\n" ],
                  [ 'the default loop in a global: no callback at exit', 'our', '' ]) {
        my ($name, $scope, $want) = @$case;
        my $loop_expr = $scope eq 'my' ? 'Uvent::Loop->new' : 'Uvent::Loop->default';
        my $prog = "use strict; use warnings; use Uvent; $scope \$loop = $loop_expr; $scope \$pool = Uvent::HTTP::Pool->new(\$loop); "
            . '$pool->request({ uri => $ENV{UVENT_T_URL}, timeout => 20, redirect_callback => sub { $main::hop = 1 }, '
            . 'response_callback => sub { print "cb ", $_[2] ? $_[2]->code : "ok", "\n" } }); '
            . 'my $n = 0; $loop->run_once until $main::hop || ++$n > 1000; print "exiting\n";';
        local $ENV{UVENT_T_URL} = $srv->url('/redirect?code=302&to=' . esc('/redirect?code=302&sleep=5&to=/echo'));
        my $out = `timeout 30 $^X -Mblib -e '$prog' 2>&1`;
        is($? >> 8, 0, "$name: exit 0");
        is($out, "exiting\n$want", "$name: output");
    }
};

done_testing;
