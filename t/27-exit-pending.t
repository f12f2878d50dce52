# A program that exits with requests still pending: what Uvent::Loop's
# POD promises under "At program exit". Each case runs in a child perl
# (exit, END blocks and global destruction are the point), which must
# end with its own exit status, no signal, nothing on stderr, and exactly
# the callback output documented.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Uvent::Test::Server;

my $srv = Uvent::Test::Server->new;

sub child {
    my ($code) = @_;
    # sent($loop, $then): once the server has logged the request (or after
    # 10 s), call $then; a fixed delay could end before the request is out
    my $prog = 'use strict; use warnings; use Uvent; use Uvent::HTTP; my $url = $ENV{UVENT_T_URL}; '
        . 'my $cb = sub { print "cb ", $_[2] ? $_[2]->code : "ok", "\n" }; '
        . 'sub sent { my ($loop, $then) = @_; my $n = 0; my $t = Uvent::Timer->new($loop); '
        . '$t->start(0.01, 0.01, sub { open my $f, "<", $ENV{UVENT_T_LOG} or return; local $/; my $log = <$f>; '
        . 'return unless $log =~ /"ev":"req"/ || ++$n > 1000; $t->stop; $then->() }); $t } ' . $code;
    local $ENV{UVENT_T_URL} = $srv->url('/stall');
    local $ENV{UVENT_T_LOG} = $srv->{logfile};
    my $err = "/tmp/uvent-t27-$$.err";
    my $pid = open my $fh, '-|';
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open STDERR, '>', $err or die;
        exec 'timeout', '30', $^X, (map {"-I$_"} @INC), '-e', $prog or POSIX::_exit(127);
    }
    my $out = do { local $/; <$fh> };
    close $fh;
    my $status = $?;
    my $stderr = do { open my $e, '<', $err; local $/; <$e> } // '';
    unlink $err;
    return ($status, $out, $stderr);
}

# [name, code, exit status, stdout, requests the server must have seen]
my @cases = (
    ['default loop never run', 'Uvent::HTTP::Pool->new->request({ uri => $url, response_callback => $cb });',
        0, '', 0],
    ['instance pool (http_get) never run', 'Uvent::HTTP::http_get($url, $cb);', 0, '', 0],
    ['private loop in a global, never run',
        'our $loop = Uvent::Loop->new; our $pool = Uvent::HTTP::Pool->new($loop); '
        . '$pool->request({ uri => $url, response_callback => $cb });', 0, '', 0],
    ['private loop in a file-scoped lexical, never run: cancelled while the program ends',
        'my $loop = Uvent::Loop->new; my $pool = Uvent::HTTP::Pool->new($loop); '
        . '$pool->request({ uri => $url, response_callback => $cb }) for 1, 2;', 0, "cb cancelled\ncb cancelled\n", 0],
    ['default loop stopped with a request in flight',
        'my $loop = Uvent::Loop->default; Uvent::HTTP::Pool->instance->request({ uri => $url, response_callback => $cb }); '
        . 'my $t = sent($loop, sub { $loop->stop }); $loop->run;', 0, '', 1],
    ['private loop in a global stopped with a request in flight',
        'our $loop = Uvent::Loop->new; our $pool = Uvent::HTTP::Pool->new($loop); '
        . '$pool->request({ uri => $url, response_callback => $cb }); '
        . 'my $t = sent($loop, sub { $loop->stop }); $loop->run;', 0, '', 1],
    ['exit from a timer callback of the default loop',
        'Uvent::HTTP::Pool->instance->request({ uri => $url, response_callback => $cb }); '
        . 'my $t = sent(Uvent::Loop->default, sub { exit 5 }); Uvent::Loop->default->run;', 5, '', 1],
    ['exit from a timer callback of a private loop in a global',
        'our $loop = Uvent::Loop->new; our $pool = Uvent::HTTP::Pool->new($loop); '
        . '$pool->request({ uri => $url, response_callback => $cb }); '
        . 'my $t = sent($loop, sub { exit 6 }); $loop->run;', 6, '', 1],
    ['shutdown in an END block completes them as cancelled',
        'our $pool = Uvent::HTTP::Pool->new; $pool->request({ uri => $url, response_callback => $cb }); '
        . 'END { $pool->shutdown if $pool }', 0, "cb cancelled\n", 0],
);

for my $case (@cases) {
    my ($name, $code, $want_status, $want_out, $want_requests) = @$case;
    $srv->reset_stats;
    my ($status, $out, $stderr) = child($code);
    subtest $name => sub {
        is($status & 127, 0, 'no signal');
        is($status >> 8, $want_status, "exit status $want_status");
        is($stderr, '', 'nothing on stderr');
        is($out, $want_out, $want_out eq '' ? 'no callback ran' : 'the documented callbacks ran');
        ok($srv->wait_for(sub { $_[0]->requests >= $want_requests }, 5), 'server saw what was sent') if $want_requests;
        is($srv->requests, $want_requests, "$want_requests request(s) reached the server");
    };
}

done_testing;
