use strict;
use warnings;
use Test::More;
use JSON::PP qw(decode_json);
use Digest::MD5 qw(md5_hex);
use File::Temp qw(tempdir);
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Util qw(wait_all start_req ecode body response_ok);

# form (urlencoded and multipart), json and $response->json, and the
# croaks for wide characters and for bad values, which send nothing.

my $srv  = Uvent::Test::Server->new;
my $loop = Uvent::Loop->new;
my $pool = Uvent::HTTP::Pool->new({}, $loop);
my $dir  = tempdir(CLEANUP => 1);

sub fetch { my $r = start_req($pool, timeout => 30, @_); wait_all($loop, $r); is($r->{calls}, 1, 'exactly one callback'); $r }
sub echo { my $r = shift; my $e = eval { decode_json(body($r)) }; $e || { headers => [] } }
sub hvals { my ($e, $n) = @_; map { $_->[1] } grep { lc $_->[0] eq lc $n } @{ $e->{headers} } }
sub croaks {
    my ($params, $re, $name) = @_;
    my $before = $srv->requests;
    eval { $pool->request({ uri => $srv->url('/echo'), %$params }) };
    like($@, $re, $name);
    like($@, qr/ at \Q$0\E line \d+\.$/, "$name: at the caller's line");
    is($srv->requests, $before, "$name: nothing sent");
}

subtest 'urlencoded: the exact bytes' => sub {
    my $r = fetch(uri => $srv->url('/echo'),
        form => [ a => 'b c', 'x&y' => '=+%', e => "\x{e9}", smile => "\x{263a}", safe => '*-._', tilde => '~', a => 2 ]);
    response_ok($r, 'form');
    my $e = echo($r);
    is($e->{method}, 'POST', 'a form without a method is posted');
    is($e->{body}, 'a=b+c&x%26y=%3D%2B%25&e=%C3%A9&smile=%E2%98%BA&safe=*-._&tilde=%7E&a=2',
        'UTF-8, then percent-encoded, space as +, in the given order');
    is_deeply([ hvals($e, 'Content-Type') ], ['application/x-www-form-urlencoded'], 'Content-Type');
    is_deeply([ hvals($e, 'Content-Length') ], [ length $e->{body} ], 'Content-Length');
    $r = fetch(uri => $srv->url('/echo'), form => { b => 2, a => [ 1, 3 ], c => '' });
    is(echo($r)->{body}, 'a=1&a=3&b=2&c=', 'a hashref: sorted names, an arrayref repeats the name');
    $r = fetch(uri => $srv->url('/echo'), method => 'PUT', form => [ k => 'v' ],
        headers => [ 'content-type' => 'application/x-www-form-urlencoded; charset=UTF-8' ]);
    $e = echo($r);
    is($e->{method}, 'PUT', 'the given method');
    is_deeply([ hvals($e, 'Content-Type') ], ['application/x-www-form-urlencoded; charset=UTF-8'], "the user's Content-Type, once");
    $r = fetch(uri => $srv->url('/echo'), form => []);
    is(echo($r)->{body}, '', 'an empty form');
};

subtest 'multipart/form-data with a 20 MB file, checked byte for byte' => sub {
    my $path = "$dir/big.bin";
    open my $fh, '>:raw', $path or die $!;
    my $block = join '', map { chr(($_ * 7 + 3) % 256) } 0 .. 65535;
    print $fh $block for 1 .. 320;    # 20 MiB
    print $fh "\r\n------------------------Uvent";
    close $fh;
    my $want = do { open my $in, '<:raw', $path or die $!; local $/; md5_hex(<$in>) };
    my $r = fetch(uri => $srv->url('/multipart'), form => [
        title => "caf\x{e9}",
        note  => { content => "raw\x00bytes", filename => 'n "1".txt', content_type => 'text/plain' },
        data  => { file => $path },
    ]);
    response_ok($r, 'multipart');
    my $m = decode_json(body($r));
    ok($m->{boundary}, 'a boundary');
    is(scalar @{ $m->{parts} }, 3, 'three parts');
    my ($title, $note, $data) = @{ $m->{parts} };
    is_deeply($title->{headers}, ['Content-Disposition: form-data; name="title"'], 'a text field');
    is($title->{content}, "caf\xc3\xa9", 'its value in UTF-8');
    is_deeply($note->{headers}, [ 'Content-Disposition: form-data; name="note"; filename="n %221%22.txt"',
        'Content-Type: text/plain' ], 'content with filename and content_type (quotes escaped)');
    is($note->{content}, "raw\x00bytes", 'the bytes as given');
    is_deeply($data->{headers}, [ 'Content-Disposition: form-data; name="data"; filename="big.bin"',
        'Content-Type: application/octet-stream' ], 'a file: its name and the default type');
    is($data->{length}, 320 * 65536 + 31, 'the whole file');
    is($data->{md5}, $want, 'byte for byte');
    my ($log) = grep { $_->{target} eq '/multipart' } @{ $srv->log };
    like((map { $_->[1] } grep { lc $_->[0] eq 'content-type' } @{ $log->{headers} })[0],
        qr/\Amultipart\/form-data; boundary=\Q$m->{boundary}\E\z/, 'Content-Type names the boundary');
};

subtest 'json, with each encoder installed' => sub {
    my @backends = ('JSON::PP', eval { require Cpanel::JSON::XS; 1 } ? 'Cpanel::JSON::XS' : ());
    note "encoders: @backends";
    for my $backend (@backends) {
        local $Uvent::HTTP::Pool::JSON_BACKEND = $backend;
        my $r = fetch(uri => $srv->url('/echo'), json => { b => [ 1, 'x' ], a => "\x{263a}", c => undef });
        response_ok($r, "$backend: json");
        my $e = echo($r);
        is($e->{method}, 'POST', "$backend: posted");
        is($e->{body}, qq({"a":"\xe2\x98\xba","b":[1,"x"],"c":null}), "$backend: canonical UTF-8 JSON");
        is_deeply([ hvals($e, 'Content-Type') ], ['application/json'], "$backend: Content-Type");
        $r = fetch(uri => $srv->url('/echo'), json => [1], headers => { 'Content-Type' => 'application/vnd.x+json' });
        is_deeply([ hvals(echo($r), 'Content-Type') ], ['application/vnd.x+json'], "$backend: the user's Content-Type");
        is_deeply($r->{response}->json->{body}, '[1]', "$backend: \$response->json decodes");
        $r = fetch(uri => $srv->url('/ok'));
        eval { $r->{response}->json };
        like($@, qr/\AUvent::HTTP::Response->json: the body of the 200 response is not JSON: /, "$backend: a non-JSON body croaks");
        croaks({ json => { f => sub { 1 } } }, qr/'json' cannot be encoded as JSON: /, "$backend: unencodable data");
    }
    my $r = fetch(uri => $srv->url('/status/204'));
    eval { $r->{response}->json };
    like($@, qr/is not JSON: the body is empty/, 'an empty body croaks');
};

subtest 'body, form and json exclude each other' => sub {
    croaks({ body => 'x', form => [ a => 1 ] }, qr/'body', 'form' and 'json' exclude each other/, 'body and form');
    croaks({ form => [ a => 1 ], json => {} }, qr/'body', 'form' and 'json' exclude each other/, 'form and json');
    croaks({ body => 'x', json => 1 }, qr/'body', 'form' and 'json' exclude each other/, 'body and json');
};

subtest 'bad forms croak and send nothing' => sub {
    croaks({ form => 'a=1' }, qr/'form' must be an arrayref of name => value pairs or a hashref/, 'a string');
    croaks({ form => [ 'a' ] }, qr/'form' arrayref must hold name => value pairs/, 'odd list');
    croaks({ form => [ a => undef ] }, qr/form field 'a' must be a string/, 'undef value');
    croaks({ form => [ a => [] ] }, qr/form field 'a' must be a string, or a hashref/, 'arrayref value in a list');
    croaks({ form => [ f => { file => "$dir/none" } ] }, qr/form field 'f': cannot read file '.*none': No such file/, 'missing file');
    croaks({ form => [ f => { file => $dir } ] }, qr/cannot read file .*Is a directory/, 'a directory');
    croaks({ form => [ f => { file => "$dir/x", content => 'y' } ] }, qr/form field 'f' needs one of 'file' and 'content'/, 'both');
    croaks({ form => [ f => { name => 1 } ] }, qr/form field 'f': unknown key 'name' \(known: file, content, filename, content_type\)/, 'unknown key');
    croaks({ form => [ f => { content => "\x{263a}" } ] }, qr/Wide character in form field 'f' content/, 'wide content');
};

subtest 'wide characters croak naming the field' => sub {
    croaks({ body => "\x{263a}" }, qr/Wide character in 'body'/, 'body');
    croaks({ headers => [ 'X-A' => "\x{263a}" ] }, qr/Wide character in header 'X-A'/, 'a header value');
    croaks({ headers => [ "X-\x{263a}" => 'v' ] }, qr/Wide character in header/, 'a header name');
    croaks({ method => "G\x{263a}T" }, qr/Wide character in 'method'/, 'method');
    croaks({ uri => $srv->url("/\x{263a}") }, qr/Wide character in 'uri'/, 'uri');
    croaks({ tls => { ca_file => "\x{263a}" } }, qr/Wide character in 'ca_file'/, 'a tls setting');
    my $r = fetch(uri => $srv->url('/echo'), body => "caf\x{e9}", method => 'POST');
    is(echo($r)->{body}, "caf\xe9", 'characters up to 255 go as their bytes');
};

done_testing;
