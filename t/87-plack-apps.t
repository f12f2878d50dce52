# Plack::Handler::Uvent running a set of applications wrapped in
# Plack::Middleware::Lint (which dies on any breach of the PSGI spec, in
# the environment the server builds or in the response it is handed), in
# one process and under the manager with two workers: a plain response, a
# delayed response, a streaming writer, a filehandle body, an upload read
# from psgi.input; a nonblocking application that calls Uvent's
# http_request (here: to the same server) and answers from its callback
# while the loop serves others; and psgix.harakiri under the manager (the
# worker exits after its response and is replaced).
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);
use lib 't/lib';

BEGIN {
    eval { require Plack::Middleware::Lint; 1 }
        or plan skip_all => "Plack is not installed (Debian: libplack-perl): $@";
}
use Uvent;
use Uvent::HTTP qw(http_request);
use Uvent::Test::Serve qw(plack_server);

my $port;    # the server's, for the nonblocking application's own request
my $app = sub {
    my ($env) = @_;
    my $p = $env->{PATH_INFO};
    return [ 200, [ 'Content-Type' => 'text/plain' ], ["hello $$"] ] if $p eq '/hello';
    if ($p eq '/delayed') {
        return sub {
            my ($respond) = @_;
            Uvent::Timer->once(0.2, sub { $respond->([ 200, [ 'Content-Type' => 'text/plain' ], ['delayed'] ]) });
        };
    }
    if ($p eq '/writer') {
        return sub {
            my ($respond) = @_;
            my $w = $respond->([ 200, [ 'Content-Type' => 'text/plain' ] ]);
            $w->write("piece $_;") for 1 .. 3;
            $w->close;
        };
    }
    if ($p eq '/fh') {
        open my $fh, '<', \"from a filehandle\n" or die;
        return [ 200, [ 'Content-Type' => 'text/plain' ], $fh ];
    }
    if ($p eq '/upload') {
        my $body = '';
        while ($env->{'psgi.input'}->read(my $buf, 8192)) { $body .= $buf }
        return [ 200, [ 'Content-Type' => 'text/plain' ], [ 'got ' . length($body) . " $env->{CONTENT_TYPE}" ] ];
    }
    if ($p eq '/slow') {
        return sub {
            my ($respond) = @_;
            Uvent::Timer->once(0.5, sub { $respond->([ 200, [ 'Content-Type' => 'text/plain' ], ["slow $$"] ]) });
        };
    }
    if ($p eq '/via') {
        # nonblocking: ask this same server for /slow, answer from the callback
        return sub {
            my ($respond) = @_;
            http_request({ uri => "http://127.0.0.1:$env->{SERVER_PORT}/slow", timeout => 10, response_callback => sub {
                my (undef, $resp, $err) = @_;
                $respond->([ 200, [ 'Content-Type' => 'text/plain' ], [ $err ? "error $err" : 'via ' . $resp->body ] ]);
            } });
        };
    }
    if ($p eq '/harakiri') {
        $env->{'psgix.harakiri.commit'} = $env->{'psgix.harakiri'};
        return [ 200, [ 'Content-Type' => 'text/plain' ], ["harakiri $$ " . ($env->{'psgix.harakiri'} ? 1 : 0)] ];
    }
    return [ 404, [ 'Content-Type' => 'text/plain' ], ['no'] ];
};
my $linted = Plack::Middleware::Lint->wrap($app);

# one request on a new connection: [status, body], or [0, why]
sub get {
    my ($path, %o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 10) or return [ 0, "connect: $!" ];
    my $body = $o{body} // '';
    my $head = ($o{body} ? 'POST' : 'GET') . " $path HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
        . ($o{body} ? "Content-Type: application/octet-stream\r\nContent-Length: " . length($body) . "\r\n" : '') . "\r\n";
    print {$s} $head . $body;
    local $/;
    my $r = <$s> // return [ 0, 'no answer' ];
    my ($code) = $r =~ m{\AHTTP/1\.1 (\d{3})} or return [ 0, substr($r, 0, 60) ];
    my ($h, $b) = split /\r\n\r\n/, $r, 2;
    if ($h =~ /^Transfer-Encoding: chunked/mi) {
        my $d = '';
        while ($b =~ s/\A([0-9a-f]+)\r\n//i && hex $1) { $d .= substr($b, 0, hex $1, ''); $b =~ s/\A\r\n// }
        $b = $d;
    }
    return [ $code, $b ];
}

for my $mode ([ 'one process', max_servers => 0 ], [ 'two workers', workers => 2 ]) {
    my ($name, @opts) = @$mode;
    subtest "Lint-wrapped applications, $name" => sub {
        my $pid;
        ($pid, $port) = plack_server($linted, @opts);
        ok($port, "listening on $port") or return;
        my %want = (
            '/hello'   => qr/\Ahello \d+\z/,
            '/delayed' => qr/\Adelayed\z/,
            '/writer'  => qr/\Apiece 1;piece 2;piece 3;\z/,
            '/fh'      => qr/\Afrom a filehandle\n\z/,
        );
        for my $path (sort keys %want) {
            my $r = get($path);
            is($r->[0], 200, "$path: 200 (Lint found nothing wrong)") or diag($r->[1]);
            like($r->[1], $want{$path}, "$path: the body");
        }
        my $r = get('/upload', body => 'u' x 100_000);
        is_deeply($r, [ 200, 'got 100000 application/octet-stream' ], 'an upload read from psgi.input');

        # the nonblocking application and a plain request at once
        my $t0 = time;
        my $via = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 10) or die "connect: $!";
        print {$via} "GET /via HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        sleep 0.1;
        my $fast = get('/hello');
        my $fast_at = time - $t0;
        my $via_out = do { local $/; <$via> } // '';
        my $via_at = time - $t0;
        like($via_out, qr{\r\n\r\nvia slow \d+\z}, '/via: http_request to the same server, answered from its callback');
        is($fast->[0], 200, 'another request meanwhile');
        ok($fast_at < $via_at && $fast_at < 0.45,
            sprintf('answered before /via (%.2f s against %.2f s): the loop was not blocked', $fast_at, $via_at));

        if ($name eq 'two workers') {
            my $h = get('/harakiri');
            my ($wpid, $flag) = $h->[1] =~ /\Aharakiri (\d+) (\d)\z/;
            is($flag, 1, 'psgix.harakiri is offered under the manager');
            ok($wpid && wait_gone($wpid, 10), "the worker ($wpid) exits after its response");
            my %seen;
            for (1 .. 20) { my $x = get('/hello'); $seen{$1}++ if $x->[1] =~ /hello (\d+)/ }
            ok(keys %seen && !$seen{ $wpid // 0 }, 'the others (and its replacement) answer: ' . join(' ', sort keys %seen));
        } else {
            my $h = get('/harakiri');
            like($h->[1], qr/\Aharakiri \d+ 0\z/, 'psgix.harakiri is false in one process');
            is(get('/hello')->[0], 200, 'and the process serves on');
        }
        kill 'TERM', $pid;
        waitpid $pid, 0;
        is($? >> 8, 0, 'TERM stops it cleanly');
    };
}

sub wait_gone {
    my ($pid, $secs) = @_;
    my $end = time + $secs;
    while (time < $end) { return 1 unless kill 0, $pid; sleep 0.05 }
    return !kill 0, $pid;
}

done_testing;
