use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use Digest::MD5 qw(md5_hex);
use List::Util qw(max);
use lib 't/lib';
use Uvent::Test::Util qw(run_until run_for wait_all start_req fetch ecode body hdr response_ok);
use Uvent;
use Uvent::Test::Nginx;

my $no_nginx = Uvent::Test::Nginx->missing;
plan skip_all => $no_nginx if $no_nginx;

# ---- helpers: every loop run is bounded by a deadline ----

my $ng   = Uvent::Test::Nginx->new(keepalive_timeout => 75, keepalive_requests => 10000);
my $loop = Uvent::Loop->new;

subtest 'hello.txt' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $ng->url('/hello.txt'));
    response_ok($r, 'hello.txt');
    is(body($r), 'Hello, World!', 'body');
    is(length(body($r) // ''), 13, '13 bytes');
    is(hdr($r, 'Content-Length'), 13, 'Content-Length');
    is($r->{response}->http_version, '1.1', 'HTTP/1.1');
    ok($r->{response}->keep_alive, 'keep-alive');
    like(hdr($r, 'Server') // '', qr/nginx/i, 'served by nginx');
};

subtest '100 sequential requests use one connection' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my (@conn, @nreq);
    my $fail = 0;
    for my $i (1 .. 100) {
        my $r = start_req($pool, uri => $ng->url('/hello.txt'));
        wait_all($loop, $r);
        $fail++ if $r->{calls} != 1 || $r->{error} || (body($r) // '') ne 'Hello, World!';
        push @conn, hdr($r, 'X-Conn') // 'none';
        push @nreq, hdr($r, 'X-Conn-Req') // 0;
    }
    is($fail, 0, 'all 100 succeeded with exactly one callback each');
    my %c = map { $_ => 1 } @conn;
    is(scalar keys %c, 1, 'X-Conn constant') or diag(join ' ', sort keys %c);
    is_deeply(\@nreq, [ 1 .. 100 ], 'X-Conn-Req counts 1..100');
    is($pool->size, 1, 'pool size 1');
};

subtest '50 concurrent requests with max_connections 8' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60, max_connections => 8 }, $loop);
    my @r = map { start_req($pool, uri => $ng->url("/hello.txt?i=$_")) } 1 .. 50;
    is(scalar(grep { !$_->{queued} } @r), 8, '8 started');
    is(scalar(grep { $_->{queued} } @r), 42, '42 queued');
    is_deeply([ $pool->nbusy, $pool->nqueued, $pool->size ], [ 8, 42, 8 ], 'counters');
    my $max_size = 0;
    ok(run_until($loop, sub { $max_size = max($max_size, $pool->size); !grep { !$_->{calls} } @r }, 20), 'all completed');
    cmp_ok($max_size, '<=', 8, 'never more than 8 connections');
    is(scalar(grep { $_->{calls} == 1 && !$_->{error} && (body($_) // '') eq 'Hello, World!' } @r), 50, 'all 50 succeeded');
    my %c = map { (hdr($_, 'X-Conn') // 'none') => 1 } @r;
    cmp_ok(scalar keys %c, '<=', 8, 'at most 8 distinct connections');
    cmp_ok($pool->size, '<=', 8, 'size <= 8');
    is_deeply([ $pool->nbusy, $pool->nqueued ], [ 0, 0 ], 'nothing busy or queued');
};

subtest 'binary bodies' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    for my $case ([ '/4k.bin', 4096 ], [ '/64k.bin', 65536 ], [ '/1m.bin', 1048576 ]) {
        my ($path, $len) = @$case;
        my $r = fetch($loop, $pool, uri => $ng->url($path), timeout => 20);
        response_ok($r, $path);
        my $body = body($r) // '';
        is(length $body, $len, "$path: length $len");
        is(hdr($r, 'Content-Length'), $len, "$path: Content-Length");
        is(md5_hex($body), $ng->file_md5($path), "$path: same bytes as the served file");
        ok($body eq ($ng->file_content($path) // ''), "$path: content identical");
    }
};

subtest '1 MB upload' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    # chr($_ % 251) for 0 .. 1048575, made from one period (a list of a
    # million strings costs far more than the string)
    my $payload = substr((join '', map { chr($_ % 251) } 0 .. 250) x (1048576 / 251 + 1), 0, 1048576);
    my $r = fetch($loop, $pool, uri => $ng->url('/upload'), method => 'POST', body => $payload, timeout => 20);
    response_ok($r, 'upload');
    is(body($r), "1048576\n", 'nginx saw 1048576 bytes');
    my $r2 = fetch($loop, $pool, uri => $ng->url('/upload'), method => 'POST');
    response_ok($r2, 'POST without body');
    like(body($r2) // '', qr/\A0?\n\z/, 'empty body');
};

subtest '204, HEAD and 302' => sub {
    my $pool = Uvent::HTTP::Pool->new({ timeout => 60 }, $loop);
    my $r = fetch($loop, $pool, uri => $ng->url('/status/204'));
    ok(!$r->{error}, '204: no error');
    is($r->{response} && $r->{response}->code, 204, 'code 204');
    is(body($r) // '', '', 'no body');

    my $h = fetch($loop, $pool, uri => $ng->url('/hello.txt'), method => 'HEAD');
    response_ok($h, 'HEAD');
    is(body($h) // '', '', 'no body');
    is(hdr($h, 'Content-Length'), 13, 'Content-Length 13');

    my $x = fetch($loop, $pool, uri => $ng->url('/redirect'), follow_redirect => 0);
    ok(!$x->{error}, '302: no error');
    is($x->{response} && $x->{response}->code, 302, 'code 302: redirect not followed');
    ok(defined hdr($x, 'Location'), 'Location header');

    my $after = fetch($loop, $pool, uri => $ng->url('/hello.txt'));
    is(body($after), 'Hello, World!', 'connection still in sync');
    is(hdr($after, 'X-Conn'), hdr($r, 'X-Conn'), 'all on one connection');
};

done_testing;
