# Plack's own server conformance suite (Plack::Test::Suite, Debian's
# libplack-perl) against Plack::Handler::Uvent: in single-process mode
# (--max-servers 0) and under Uvent::HTTP::Manager with two workers; then
# that the server's options (max_body_size, max_multipart_size) pass through.
use strict;
use warnings;
use Test::More;
use POSIX ();
use lib 't/lib';

BEGIN {
    eval { require Plack::Test::Suite; require Test::TCP; 1 }
        or plan skip_all => "Plack::Test::Suite is not installed (Debian: libplack-perl): $@";
}
use Uvent::Test::Serve qw(raw_exchange);

for my $mode ([ 'single process' => max_servers => 0 ], [ 'two workers' => workers => 2 ]) {
    my ($name, @opts) = @$mode;
    subtest "Plack::Test::Suite, $name" => sub {
        local $SIG{ALRM} = sub { die "the suite took over 120 s\n" };
        alarm 120;
        Plack::Test::Suite->run_server_tests('Uvent', undef, undef, @opts);
        alarm 0;
    };
}

# the server's options reach Uvent::HTTP::Server: max_multipart_size beside
# max_body_size, each seen in what a client gets
subtest 'server options pass through (max_body_size, max_multipart_size)' => sub {
    require Plack::Handler::Uvent;
    my $app = sub {
        my ($env) = @_;
        my $got = read($env->{'psgi.input'}, my $body, $env->{CONTENT_LENGTH} // 0) // 0;
        return [ 200, [ 'Content-Type' => 'text/plain' ], [ "got $got" ] ];
    };
    my $post = sub {
        my ($port, $type, $n, $body) = @_;
        my $head = "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: $type\r\nContent-Length: $n\r\nConnection: close\r\n\r\n";
        return raw_exchange($port, $head . ($body ? 'b' x $n : ''), limit => 10);
    };
    local $SIG{ALRM} = sub { die "the pass-through test took over 60 s\n" };
    alarm 60;
    Test::TCP::test_tcp(
        server => sub {
            my ($port) = @_;
            Plack::Handler::Uvent->new(host => '127.0.0.1', port => $port, max_servers => 0, max_body_size => 1000,
                max_multipart_size => 100)->run($app);
            POSIX::_exit(0);    # stopped by the TERM: no "does not block" warning from Test::TCP
        },
        client => sub {
            my ($port) = @_;
            like($post->($port, 'multipart/form-data; boundary=x', 500, 0), qr{\AHTTP/1\.1 413 },
                'max_multipart_size 100: a declared 500-byte multipart body gets 413 from its head alone');
            like($post->($port, 'text/plain', 500, 1), qr{\AHTTP/1\.1 200 .*got 500\z}s,
                'max_body_size 1000: a 500-byte text/plain body is taken');
            like($post->($port, 'text/plain', 1001, 0), qr{\AHTTP/1\.1 413 }, 'and one over 1000 gets 413');
        },
    );
    alarm 0;
};

done_testing;
