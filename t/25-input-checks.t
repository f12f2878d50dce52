# Checks added after review: croak paths free what they built, numeric
# limits are validated, keep_alive is false after an error, long header
# names survive, validate() checks what request() checks.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use IO::Socket::INET;
use POSIX ();
use Uvent;
use Uvent::Test::Server;

my $srv  = Uvent::Test::Server->new;
my $loop = Uvent::Loop->new;
my $pool = Uvent::HTTP::Pool->new({}, $loop);

subtest 'bad numbers and negative limits croak, naming the field' => sub {
    for my $case (
        [{ timeout => 'soon' },           qr/'timeout' must be a number, got 'soon'/],
        [{ timeout => -1 },               qr/'timeout' must be a finite number of seconds >= 0 \(at most 1e9\), got '-1'/],
        [{ connect_timeout => -0.5 },     qr/'connect_timeout' must be a finite number of seconds >= 0 \(at most 1e9\), got '-0.5'/],
        [{ max_body_size => -1 },         qr/'max_body_size' must be a whole number of bytes >= 0/],
        [{ max_headers_size => 1.5 },     qr/'max_headers_size' must be a whole number of bytes >= 0/],
        [{ max_headers_size => 'big' },   qr/'max_headers_size' must be a number/],
        [{ method => [] },                qr/'method' must be a string/],
    ) {
        my ($extra, $re) = @$case;
        eval { $pool->request({ uri => $srv->url('/ok'), %$extra }) };
        like($@, qr/^Uvent::HTTP::Pool->request: /, 'prefixed message');
        like($@, $re, join(', ', %$extra));
        like($@, qr/ at \Q$0\E line \d+\.$/, 'reported at the caller');
    }
    is($srv->requests, 0, 'nothing was sent');
};

subtest 'croaks free the request they were building' => sub {
    plan skip_all => 'Test::LeakTrace not installed' unless eval { require Test::LeakTrace; 1 };
    my $body = 'x' x 10000;
    my $n = 0;
    Test::LeakTrace::no_leaks_ok(sub {
        for (1 .. 50) {
            eval { $pool->request({ uri => $srv->url('/ok'), body => $body, timeout => 'x' }) };
            $n++ if $@;
            eval { $pool->request({ uri => $srv->url('/ok'), body => "\x{263a}" }) };
            $n++ if $@ =~ /Wide character/;
            eval { Uvent::HTTP::Request->new({ uri => $srv->url('/ok'), max_body_size => -1 })->validate };
            $n++ if $@;
        }
    }, 'no SV leaks on croak paths');
    # the core request is plain C memory: watch RSS over many croaks
    my $rss = sub { open my $fh, '<', '/proc/self/status'; (map { /(\d+)/ } grep {/^VmRSS/} <$fh>)[0] };
    my $before = $rss->();
    eval { $pool->request({ uri => $srv->url('/ok'), body => $body, timeout => 'x' }) } for 1 .. 2000;
    cmp_ok($rss->() - $before, '<', 4096, 'RSS stays flat over 2000 croaks with a 10 KB body (+20 MB when leaking)');
    ok($n >= 150, 'every case croaked');
};

subtest 'validate checks what request checks' => sub {
    my $r = Uvent::HTTP::Request->new({ uri => $srv->url('/ok'), body => 'abc', headers => ['Content-Length' => 5] });
    eval { $r->validate };
    like($@, qr/^Uvent::HTTP::Request->validate: header 'Content-Length' does not match the body length 3/, 'mismatch');
    $r = Uvent::HTTP::Request->new({ uri => $srv->url('/ok'), body => 'abc', headers => ['Content-Length' => 3] });
    ok(eval { $r->validate; 1 }, 'matching Content-Length is fine');
    # a sign, a second number or an overflow that wraps round to the length must not pass
    for my $cl ('+3', '-18446744073709551613', '3 3', '0x3', '', '18446744073709551619', "3\t") {
        my $bad = Uvent::HTTP::Request->new({ uri => $srv->url('/ok'), body => 'abc', headers => ['Content-Length' => $cl] });
        if ($cl eq "3\t") {
            ok(eval { $bad->validate; 1 }, 'Content-Length with a trailing tab is fine') or diag $@;
            next;
        }
        ok(!eval { $bad->validate; 1 }, "Content-Length '$cl' is refused");
        like($@, qr/header 'Content-Length' does not match the body length 3/, "Content-Length '$cl': message");
    }
    is($srv->requests, 0, 'validate sends nothing');
};

subtest 'keep_alive is false after an error' => sub {
    my ($res, $err);
    $pool->request({ uri => $srv->url('/big?size=100000'), max_body_size => 1000,
        response_callback => sub { (undef, $res, $err) = @_ } });
    $loop->run;
    is($err && $err->code, 'too_large', 'too_large');
    is($res->code, 200, 'the head had arrived');
    ok(!$res->keep_alive, 'keep_alive false: the connection was discarded');
};

# a one-shot raw server for responses the test server does not produce
sub raw_server {
    my ($response) = @_;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 5) or die $!;
    my $pid = fork // die;
    if (!$pid) {
        alarm 10;
        my $c = $l->accept;
        my $buf = '';
        sysread($c, $buf, 65536, length $buf) until $buf =~ /\r\n\r\n/;
        syswrite $c, $response;
        sleep 5;    # holds the connection open until killed
        POSIX::_exit(0);
    }
    my $port = $l->sockport;
    close $l;
    return ($pid, "http://127.0.0.1:$port/");
}

subtest 'long header names are kept whole' => sub {
    my $name = 'X-' . ('n' x 400);
    my ($pid, $url) = raw_server("HTTP/1.1 200 OK\r\n$name: v\r\nContent-Length: 2\r\n\r\nok");
    my $res;
    $pool->request({ uri => $url, response_callback => sub { $res = $_[1] } });
    $loop->run;
    kill 'KILL', $pid;
    waitpid $pid, 0;
    is($res->headers->{ lc $name }, 'v', 'full lower-cased name in headers');
    is($res->header($name), 'v', 'header() by full name');
};

subtest '101 without an upgrade is a protocol error that says so' => sub {
    my ($pid, $url) = raw_server("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n");
    my $err;
    $pool->request({ uri => $url, response_callback => sub { $err = $_[2] } });
    $loop->run;
    kill 'KILL', $pid;
    waitpid $pid, 0;
    is($err && $err->code, 'protocol', 'protocol');
    like("$err", qr/unexpected 101 Switching Protocols/, 'message names the 101');
};

subtest 'user values in croaks are shown whole, escaped, on one line' => sub {
    $srv->reset_stats;
    my $req = sub { my %p = @_; eval { $pool->request({ uri => $srv->url('/ok'), response_callback => sub { }, %p }) }; $@ };
    for my $case (
        [ 'NUL in the uri',          $req->(uri => "http://127.0.0.1/a\0after"),       qr/invalid URL 'http:\/\/127\.0\.0\.1\/a\\0after': malformed/ ],
        [ 'CR LF in the uri',        $req->(uri => "http://127.0.0.1/a\r\nX: y"),      qr/invalid URL 'http:\/\/127\.0\.0\.1\/a\\r\\nX: y'/ ],
        [ 'other control byte',      $req->(uri => "http://127.0.0.1/a\x01\x7f"),      qr/'http:\/\/127\.0\.0\.1\/a\\x01\\x7f'/ ],
        [ 'NUL in the method',       $req->(method => "GE\0T"),                        qr/invalid method 'GE\\0T'/ ],
        [ 'CR LF in a header name',  $req->(headers => { "X\r\nInjected" => 1 }),      qr/invalid header name 'X\\r\\nInjected'/ ],
        [ 'NUL in a timeout',        $req->(timeout => "1\0x"),                        qr/'timeout' must be a number, got '1\\0x'/ ],
        [ 'NUL in tls min_version',  $req->(tls => { min_version => "TLSv1.2\0x" }),   qr/got 'TLSv1\.2\\0x'/ ],
        [ 'NUL in tls verify',       $req->(tls => { verify => "1\0" }),               qr/got '1\\0'/ ],
        [ 'NUL in a tls key',        $req->(tls => { "ca_file\0x" => 1 }),             qr/unknown tls key 'ca_file\\0x'/ ],
        [ 'a long uri is cut',       $req->(uri => 'ftp://' . ('a' x 300)),            qr/'ftp:\/\/a{94}\.\.\.': unsupported scheme/ ],
        [ 'NUL in a parameter name', do { eval { Uvent::HTTP::Request->new({ "uri\0x" => 1 }) }; $@ },  qr/unknown parameter 'uri\\0x'/ ],
        [ 'NUL in a config key',     do { eval { Uvent::HTTP::Pool->new({ "timeout\0x" => 1 }) }; $@ }, qr/unknown config key 'timeout\\0x'/ ],
        [ 'LF in a config value',    do { eval { Uvent::HTTP::Pool->new({ timeout => "1\n2" }) }; $@ }, qr/got '1\\n2'/ ],
    ) {
        my ($name, $err, $re) = @$case;
        like($err, $re, $name);
        unlike($err, qr/[\x00-\x08\x0b-\x1f\x7f]|\n(?!\z)/, "$name: no control character, one line");
        like($err, qr/ at \Q$0\E line \d+\.\n\z/, "$name: names the caller's line");
    }
    is($srv->requests, 0, 'nothing was sent');
};

subtest 'Wide character croaks name the parameter and the caller, also through Uvent::HTTP' => sub {
    require Uvent::HTTP;
    $srv->reset_stats;
    my $wide = $srv->url("/\x{263a}");
    my @cases = (
        [ 'http_get, synchronous',  sub { Uvent::HTTP::http_get($wide) },                        __LINE__, qr/Wide character in 'uri'/ ],
        [ 'http_get, with a callback', sub { Uvent::HTTP::http_get($wide, sub { }, $loop) },    __LINE__, qr/Wide character in 'uri'/ ],
        [ 'http_request_sync',      sub { Uvent::HTTP::http_request_sync({ uri => $wide }) },     __LINE__, qr/Wide character in 'uri'/ ],
        [ 'http_request',           sub { Uvent::HTTP::http_request({ uri => $wide }, $loop) },  __LINE__, qr/Wide character in 'uri'/ ],
        [ 'a wide body',            sub { $pool->request({ uri => $srv->url('/ok'), body => "\x{263a}" }) }, __LINE__, qr/Wide character in 'body'/ ],
        [ 'a wide method',          sub { $pool->request({ uri => $srv->url('/ok'), method => "G\x{263a}" }) }, __LINE__, qr/Wide character in 'method'/ ],
        [ 'a wide header value',    sub { $pool->request({ uri => $srv->url('/ok'), headers => { 'X-A' => "\x{263a}" } }) }, __LINE__, qr/Wide character in header 'X-A'/ ],
        [ 'a wide tls setting',     sub { $pool->request({ uri => $srv->url('/ok'), tls => { ca_file => "\x{263a}" } }) }, __LINE__, qr/Wide character in 'ca_file'/ ],
    );
    for my $case (@cases) {
        my ($name, $code, $line, $re) = @$case;
        eval { $code->() };
        like($@, $re, $name);
        like($@, qr/: encode it to bytes first/, "$name: says what to do");
        like($@, qr/ at \Q$0\E line $line\.\n\z/, "$name: at the caller's line $line");
    }
    $loop->run;
    is($srv->requests, 0, 'nothing was sent for the wide ones');
    my $latin1 = "caf\xe9";
    utf8::upgrade($latin1);
    my $sent;
    $pool->request({ uri => $srv->url('/upload'), method => 'POST', body => $latin1,
        response_callback => sub { $sent = $_[1]->body } });
    $loop->run;
    require Digest::MD5;
    is($sent, '4 ' . Digest::MD5::md5_hex("caf\xe9"), 'an upgraded string of characters up to 255 is sent as its bytes, not as UTF-8');
};

subtest 'NaN, Inf and huge seconds croak instead of falling back to a default' => sub {
    $srv->reset_stats;
    my $inf = 9**9**9;
    my $nan = -sin($inf);
    my @bad = ('NaN', 'nan', 'Inf', '-Inf', 'Infinity', $inf, -$inf, $nan, 1e308, '1e10', 1e9 + 1);
    for my $field (qw(timeout connect_timeout)) {
        for my $v (@bad) {
            my $called = 0;
            my $ok = eval {
                $pool->request({ uri => $srv->url('/ok'), $field => $v, response_callback => sub { $called++ } });
                1;
            };
            like($@, qr/^Uvent::HTTP::Pool->request: '$field' must be a finite number of seconds >= 0 \(at most 1e9\), got '\Q$v\E' at \Q$0\E line \d+\.$/,
                "request $field => $v");
            ok(!$ok, "request $field => $v croaked");
            $ok = eval { Uvent::HTTP::Request->new({ uri => $srv->url('/ok'), $field => $v })->validate; 1 };
            like($@, qr/^Uvent::HTTP::Request->validate: '$field' must be a finite number of seconds/, "validate $field => $v");
            $loop->run;
            is($called, 0, "no callback for $field => $v");
        }
        ok(eval { $pool->request({ uri => $srv->url('/ok'), $field => 1e9, response_callback => sub { } }); 1 },
            "$field => 1e9 is accepted") or diag($@);
        $pool->request({ uri => $srv->url('/ok'), $field => 0 + 0, response_callback => sub { } });
        $loop->run;
    }
    is($srv->requests, 4, 'only the valid requests were sent');

    for my $key (qw(timeout queue_timeout max_lifetime)) {
        for my $v ('NaN', 'Inf', $inf, $nan, 1e308, '1e10') {
            ok(!eval { Uvent::HTTP::Pool->new({ $key => $v }, $loop); 1 }, "pool $key => $v croaks");
            like($@, qr/^Uvent::HTTP::Pool->new: '$key' must be a (?:number >= 0|finite number of seconds >= 0 \(at most 1e9\)), got '\Q$v\E' at \Q$0\E line/,
                "pool $key => $v: message");
        }
    }
    for my $v ('NaN', 'Inf', $inf, $nan, 1e308, -1) {
        my $before = $pool->idle_timeout;
        ok(!eval { $pool->idle_timeout($v); 1 }, "idle_timeout($v) croaks");
        like($@, qr/^Uvent::HTTP::Pool->idle_timeout: 'seconds' must be a finite number of seconds >= 0 \(at most 1e9\), got '\Q$v\E' at \Q$0\E line/,
            "idle_timeout($v): message");
        is($pool->idle_timeout, $before, "idle_timeout($v) left the value alone");
    }
    for my $v ('NaN', 'Inf', $inf, $nan, 1e308, -1) {
        my $fired = 0;
        ok(!eval { Uvent::Timer->once($v, sub { $fired++ }, $loop); 1 }, "Timer->once($v) croaks");
        like($@, qr/^Uvent::Timer: 'delay' must be a finite number of seconds >= 0 \(at most 1e9\), got '\Q$v\E' at \Q$0\E line/,
            "Timer->once($v): message");
        my $t = Uvent::Timer->new($loop);
        ok(!eval { $t->start(0, $v, sub { $fired++ }); 1 }, "Timer->start repeat $v croaks");
        like($@, qr/^Uvent::Timer: 'repeat' must be a finite number of seconds/, "Timer->start repeat $v: message");
        ok(!$t->active, 'the timer was not started');
        $loop->run;
        is($fired, 0, 'no timer fired');
    }
};

done_testing;
