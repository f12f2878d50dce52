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
        [{ timeout => -1 },               qr/'timeout' must be >= 0 seconds/],
        [{ connect_timeout => -0.5 },     qr/'connect_timeout' must be >= 0 seconds/],
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

done_testing;
