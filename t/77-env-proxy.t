use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Socks5;
use Uvent::Test::Util qw(wait_all start_req ecode body);

# env_proxy => 1: the proxy environment variables as curl reads them, once,
# when the pool is created. Which way a request went is seen from the
# outcome: the "HTTP proxy" is the test server, which echoes the
# absolute-form target it got; the CONNECT proxy answers 502; a request that
# went direct to a name that does not exist fails to resolve.

my $loop = Uvent::Loop->new;
my $hp   = Uvent::Test::Server->new;                                        # http:// proxy, echoes
my $cp   = Uvent::Test::Socks5->new(http => 1, connect_answer => "HTTP/1.1 502 Bad Gateway\r\n\r\n");
my $s5   = Uvent::Test::Socks5->new(scheme => 'socks5h', reply => 2);      # SOCKS5: "not allowed"
my $HP   = 'http://127.0.0.1:' . $hp->port;
my $CP   = $cp->url;

my @VARS = qw(http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY REQUEST_METHOD);

# The way a request for $uri goes with the pool made under %env.
sub route {
    my ($pool, $uri, %p) = @_;
    my $r = start_req($pool, uri => $uri, timeout => 5, %p);
    wait_all($loop, $r);
    return 'none' unless $r->{calls} == 1;
    my $e = ecode($r);
    return 'socks5' if $e eq 'proxy' && $r->{error}->message =~ /SOCKS5 reply 2/;
    return 'connect-proxy' if $e eq 'proxy';
    return 'direct' if $e eq 'resolve' || $e eq 'connect';
    return 'connect-proxy' if $r->{response}->code == 502;    # its answer to an absolute-form request
    my ($target) = (body($r) // '') =~ /"target":"([^"]*)"/;
    return defined $target && $target =~ m{\Ahttp://} ? 'http-proxy' : "other ($e)";
}

sub pool_with {
    my (%env) = @_;
    local @ENV{@VARS};
    delete @ENV{@VARS};
    $ENV{$_} = $env{$_} for keys %env;
    return Uvent::HTTP::Pool->new({ env_proxy => 1, %{ delete $env{_config} // {} } }, $loop);
}

my $H = 'http://target.invalid/echo';
my $S = 'https://target.invalid/';

subtest 'each variable' => sub {
    my $p = pool_with(http_proxy => $HP);
    is(route($p, $H), 'http-proxy', 'http_proxy: http:// through it');
    is(route($p, $S), 'direct', '... https:// not');
    $p = pool_with(HTTP_PROXY => $HP);
    is(route($p, $H), 'http-proxy', 'HTTP_PROXY (upper case) outside CGI');
    $p = pool_with(https_proxy => $CP);
    is(route($p, $S), 'connect-proxy', 'https_proxy: https:// through it');
    is(route($p, $H), 'direct', '... http:// not');
    $p = pool_with(HTTPS_PROXY => $CP);
    is(route($p, $S), 'connect-proxy', 'HTTPS_PROXY');
    $p = pool_with(all_proxy => $CP);
    is(route($p, $S), 'connect-proxy', 'all_proxy: https://');
    is(route($p, $H), 'connect-proxy', '... and http:// (absolute form to the same proxy)');
    $p = pool_with(ALL_PROXY => $s5->url);
    is(route($p, $H), 'socks5', 'ALL_PROXY with socks5h: http:// through it');
    is(route($p, $S), 'socks5', '... https:// too');
    is($s5->log->[-1]{addr}, 'target.invalid', '... the name sent (socks5h)');
    $p = pool_with(http_proxy => $HP, all_proxy => $s5->url);
    is(route($p, $H), 'http-proxy', 'http_proxy before all_proxy');
    is(route($p, $S), 'socks5', '... all_proxy for the rest');
    $p = pool_with(http_proxy => '127.0.0.1:' . $hp->port);
    is(route($p, $H), 'http-proxy', 'a value without a scheme is an http:// proxy');
    $p = pool_with(http_proxy => '', HTTP_PROXY => $HP);
    is(route($p, $H), 'http-proxy', 'an empty value counts as unset');
    $p = pool_with();
    is(route($p, $H), 'direct', 'no variables: direct');
};

subtest 'lower case first; HTTP_PROXY ignored under CGI (httpoxy)' => sub {
    my $p = pool_with(http_proxy => $HP, HTTP_PROXY => 'http://127.0.0.1:1');
    is(route($p, $H), 'http-proxy', 'http_proxy wins over HTTP_PROXY');
    $p = pool_with(https_proxy => $CP, HTTPS_PROXY => 'http://127.0.0.1:1');
    is(route($p, $S), 'connect-proxy', 'https_proxy wins over HTTPS_PROXY');
    $p = pool_with(no_proxy => 'other.invalid', NO_PROXY => 'target.invalid', http_proxy => $HP);
    is(route($p, $H), 'http-proxy', 'no_proxy wins over NO_PROXY');
    $p = pool_with(HTTP_PROXY => $HP, REQUEST_METHOD => 'GET');
    is(route($p, $H), 'direct', 'HTTP_PROXY is ignored when REQUEST_METHOD is set');
    $p = pool_with(http_proxy => $HP, REQUEST_METHOD => 'GET');
    is(route($p, $H), 'http-proxy', '... http_proxy is not');
    $p = pool_with(HTTPS_PROXY => $CP, ALL_PROXY => $CP, REQUEST_METHOD => 'POST');
    is(route($p, $S), 'connect-proxy', '... nor HTTPS_PROXY');
    is(route($p, $H), 'connect-proxy', '... nor ALL_PROXY');
};

subtest 'no_proxy forms' => sub {
    my @cases = (
        ['target.invalid',         $H, 'direct',     'the host itself'],
        ['invalid',                $H, 'direct',     'a suffix'],
        ['.invalid',               $H, 'direct',     'a suffix with a leading dot'],
        ['get.invalid',            $H, 'http-proxy', 'not a suffix at a label start'],
        ['arget.invalid',          $H, 'http-proxy', '... nor inside a label'],
        ['*',                      $H, 'direct',     '*'],
        ['a.test, target.invalid', $H, 'direct',     'a list'],
        ['target.invalid:80',      $H, 'direct',     'host:port on that port'],
        ['target.invalid:8080',    $H, 'http-proxy', 'host:port on another port'],
        ['TARGET.INVALID',         $H, 'direct',     'case ignored'],
        ['127.0.0.1',              'http://127.0.0.1:1/echo', 'direct', 'an IPv4 literal'],
        ['0.0.1',                  'http://127.0.0.1:1/echo', 'http-proxy', 'no suffix match for an address'],
        ['[::1]:1',                'http://[::1]:1/echo', 'direct', 'an IPv6 literal with a port'],
        ['::1',                    'http://[::1]:1/echo', 'direct', 'an IPv6 literal without brackets'],
    );
    for my $c (@cases) {
        my ($np, $uri, $want, $name) = @$c;
        my $p = pool_with(http_proxy => $HP, no_proxy => $np);
        my $got = route($p, $uri);
        is($got, $want, "no_proxy '$np': $name");
    }
    my $p = pool_with(http_proxy => $HP, NO_PROXY => 'target.invalid');
    is(route($p, $H), 'direct', 'NO_PROXY (upper case)');
    $p = pool_with(http_proxy => $HP, no_proxy => '', NO_PROXY => 'target.invalid');
    is(route($p, $H), 'http-proxy', 'an empty no_proxy is set, as curl reads it: NO_PROXY is not read');
    $p = pool_with(http_proxy => "$HP/some/path?x=1");
    is(route($p, $H), 'http-proxy', "a proxy URL's path is ignored, as curl ignores it");
    $p = pool_with(http_proxy => $HP, _config => { proxy => $HP }, no_proxy => '*');
    is(route($p, $H), 'http-proxy', "no_proxy does not apply to the pool's own proxy");
};

subtest 'precedence: request, pool, environment; read at creation' => sub {
    my $p = pool_with(http_proxy => $HP, https_proxy => $CP);
    is(route($p, $H, proxy => undef), 'direct', 'proxy => undef in a request goes direct');
    is(route($p, $H, proxy => ''), 'direct', "proxy => '' too");
    is(route($p, $H, proxy => $s5->url), 'socks5', "a request's own proxy wins");
    $p = pool_with(http_proxy => 'http://127.0.0.1:1', _config => { proxy => $HP });
    is(route($p, $H), 'http-proxy', "the pool's proxy wins over the environment's");
    $p = pool_with(http_proxy => $HP);
    {
        local $ENV{http_proxy} = 'http://127.0.0.1:1';
        is(route($p, $H), 'http-proxy', 'the environment is read when the pool is created, not later');
    }
    {
        local @ENV{@VARS};
        delete @ENV{@VARS};
        $ENV{http_proxy} = $HP;
        my $plain = Uvent::HTTP::Pool->new({}, $loop);
        is(route($plain, $H), 'direct', 'without env_proxy the environment is ignored');
        $plain = Uvent::HTTP::Pool->new({ env_proxy => 0 }, $loop);
        is(route($plain, $H), 'direct', '... and with env_proxy => 0');
    }
    my $before = $hp->requests;
    my $stats = pool_with(http_proxy => $HP);
    route($stats, $H);
    is($stats->stats($H)->{requests}, 1, "stats(\$url) finds the environment's route");
};

subtest 'a bad variable croaks at new, naming it' => sub {
    local @ENV{@VARS};
    delete @ENV{@VARS};
    $ENV{HTTPS_PROXY} = 'ftp://p:1';
    ok(!eval { Uvent::HTTP::Pool->new({ env_proxy => 1 }, $loop); 1 }, 'HTTPS_PROXY=ftp://p:1');
    like($@, qr/\AUvent::HTTP::Pool->new: env_proxy: environment variable HTTPS_PROXY: invalid proxy URL 'ftp:\/\/p:1': unsupported scheme/,
        '... croaks naming the variable');
    $ENV{HTTPS_PROXY} = 'http://user:pw@p';
    ok(!eval { Uvent::HTTP::Pool->new({ env_proxy => 1 }, $loop); 1 }, 'no port');
    like($@, qr/no port/, '... croaks');
    unlike($@, qr/pw/, '... without the password');
};

done_testing;
