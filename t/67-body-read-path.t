use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Certs;
use Uvent::Test::Util qw(wait_all start_req response_ok ecode body);

# The read path of a body: read straight into the body's own buffer (a
# Content-Length or a close-delimited body, plain and TLS), grown as it
# arrives otherwise (chunked), then handed to Perl as the string itself.
# Every framing, split across reads, at and over max_body_size, head and
# body in one read, and the string's life after its response and pool.

my $loop = Uvent::Loop->new;
my $one  = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
my $pattern = sub { substr('0123456789' x ($_[0] / 10 + 1), 0, $_[0]) };

sub get {
    my ($pool, %p) = @_;
    my $r = start_req($pool, %p);
    wait_all($loop, $r);
    return $r;
}

my @servers = ([ plain => Uvent::Test::Server->new(raw => { one => $one }), {} ]);
my $no_tls = Uvent::Test::Server->tls_missing // Uvent::Test::Certs->missing;
my $certs;
if (!$no_tls) {
    $certs = Uvent::Test::Certs->new;
    push @servers, [ tls => Uvent::Test::Server->new(raw => { one => $one },
        tls => { cert_file => $certs->server_cert, key_file => $certs->server_key }),
        { tls => { ca_file => $certs->ca_cert } } ];
}

for my $s (@servers) {
    my ($name, $srv, $opts) = @$s;
    subtest "$name: every framing" => sub {
        my $pool = Uvent::HTTP::Pool->new({ timeout => 30, %$opts }, $loop);
        for my $size (1, 9, 10, 4096, 16383, 16384, 16385, 65536, 65537, 200_000, 1_048_576 + 10) {
            my $r = get($pool, uri => $srv->url("/big?size=$size"), timeout => 20);
            response_ok($r, "Content-Length $size");
            my $b = body($r) // '';
            is(length $b, $size, "Content-Length $size: length");
            ok($b eq $pattern->($size), "Content-Length $size: content");
        }
        my $r = get($pool, uri => $srv->url('/chunked?trailers=1'));
        is(body($r), 'hello world', 'chunked');
        $r = get($pool, uri => $srv->url('/chunked?split=1'));
        is(body($r), 'hello world', 'chunked, one byte a read');
        $r = get($pool, uri => $srv->url('/close-delimited'));
        is(body($r), 'close-delimited body', 'close-delimited');
        $r = get($pool, uri => $srv->url('/trickle?delay=0.002'));
        is(body($r), 'trickled', 'Content-Length, one byte a read (head and body)');
        $r = get($pool, uri => $srv->url('/headers-split'));
        is(body($r), 'split', 'head split across reads at random places');
        $r = get($pool, uri => $srv->url('/big?size=0'));
        is(body($r), '', 'Content-Length 0');
        $r = get($pool, uri => $srv->url('/big?size=100'), method => 'HEAD');
        is(body($r), '', 'HEAD: no body');
        # the raw route answers once and keeps the connection: a pool of its own
        my $raw = Uvent::HTTP::Pool->new({ %$opts }, $loop);
        $r = get($raw, uri => $srv->url('/raw/one'));
        is(body($r), 'hello world', 'head and body in one read');
    };

    subtest "$name: max_body_size" => sub {
        my $at = Uvent::HTTP::Pool->new({ max_body_size => 100_000, %$opts }, $loop);
        my $r = get($at, uri => $srv->url('/big?size=100000'));
        response_ok($r, 'Content-Length exactly at the limit');
        is(length(body($r) // ''), 100_000, 'whole');
        $r = get($at, uri => $srv->url('/big?size=100001'));
        is(ecode($r), 'too_large', 'Content-Length one over: too_large');
        my $cd = Uvent::HTTP::Pool->new({ max_body_size => 20, %$opts }, $loop);
        $r = get($cd, uri => $srv->url('/close-delimited'));
        is(body($r), 'close-delimited body', 'close-delimited exactly at the limit');
        my $cd19 = Uvent::HTTP::Pool->new({ max_body_size => 19, %$opts }, $loop);
        $r = get($cd19, uri => $srv->url('/close-delimited'));
        is(ecode($r), 'too_large', 'close-delimited one over: too_large');
        my $ch = Uvent::HTTP::Pool->new({ max_body_size => 11, %$opts }, $loop);
        is(body(get($ch, uri => $srv->url('/chunked'))), 'hello world', 'chunked exactly at the limit');
        my $ch10 = Uvent::HTTP::Pool->new({ max_body_size => 10, %$opts }, $loop);
        is(ecode(get($ch10, uri => $srv->url('/chunked'))), 'too_large', 'chunked one over: too_large');
    };

    subtest "$name: the string" => sub {
        my ($kept, $resp_kept);
        {
            my $pool = Uvent::HTTP::Pool->new({ %$opts }, $loop);
            my $r = get($pool, uri => $srv->url('/big?size=70000'));
            $kept = $r->{response}->body;
            my $again = $r->{response}->body;
            is($again, $kept, 'body twice: the same bytes');
            substr($again, 0, 5, 'XXXXX');
            is(substr($r->{response}->body, 0, 5), '01234', 'changing a copy leaves the body alone');
            is(substr($kept, 0, 5), '01234', '... and the other copies');
            my $r2 = get($pool, uri => $srv->url('/big?size=70000'));
            $resp_kept = $r2->{response};
            $r2->{response}->body =~ /^(.)/;    # taken into a string, then only the response holds it
            undef $r;
            undef $pool;
        }
        ok($kept eq $pattern->(70000), 'a body string outlives its response and its pool');
        my $late = $resp_kept->body;
        ok($late eq $pattern->(70000), 'a response outliving its pool still gives its body');
        undef $resp_kept;
        ok($late eq $pattern->(70000), '... and the string outlives that response');
        $kept .= 'more';
        is(length $kept, 70004, 'the string can grow');
    };
}

subtest 'no leaked SVs (Test::LeakTrace)' => sub {
    plan skip_all => 'Test::LeakTrace not installed' unless eval { require Test::LeakTrace; 1 };
    my ($name, $srv) = @{ $servers[0] };
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    get($pool, uri => $srv->url('/big?size=70000'));    # warm up: connection, buffers
    Test::LeakTrace::no_leaks_ok(sub {
        for my $path ('/big?size=70000', '/chunked', '/big?size=10') {
            my ($b, $c, $done);
            $pool->request({ uri => $srv->url($path), timeout => 5, response_callback => sub {
                my ($req, $resp) = @_;
                $done = 1;
                return if $path =~ /size=10\z/;    # never asked for its body
                $b = $resp->body;
                $c = $resp->body;
                $b .= 'x';
            } });
            my $turns = 0;
            $loop->run_once until $done || ++$turns > 100_000;
        }
    }, 'bodies taken, copied, changed, or never asked for');
};

done_testing;
