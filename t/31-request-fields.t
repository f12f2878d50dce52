# The fields of a request are one list, kept by the XS (xs/request.h) and
# read by Uvent::HTTP::Request: new(), the accessors and request(\%params)
# all know the same ones.
use strict;
use warnings;
use Test::More;
use Uvent;

my @fields = Uvent::HTTP::Request::_fields();
is_deeply([sort @fields],
          [sort qw(uri method headers body timeout connect_timeout read_timeout max_headers_size max_body_size retry
                   idempotent tls response_callback family tcp_nodelay tcp_keepalive so_linger
                   socket_buffer_size local_address proxy decompress max_header_count follow_redirect
                   redirection_limit allow_downgrade redirect_callback form json cookie_jar chunked continue_callback
                   expect_timeout partial_callback)],
          'the list of request fields');

for my $f (@fields) {
    my $r = Uvent::HTTP::Request->new({ $f => 'v' });
    is($r->$f, 'v', "new() takes '$f' and its accessor reads it");
}

eval { Uvent::HTTP::Request->new({ nope => 1 }) };
like($@, qr/unknown parameter 'nope' \(known: \Q@{[join ', ', @fields]}\E\)/, 'new() names the known fields from the list');

my $loop = Uvent::Loop->new;
my $pool = Uvent::HTTP::Pool->new({}, $loop);
eval { $pool->request({ uri => 'http://127.0.0.1:1/', nope => 1 }) };
like($@, qr/unknown parameter 'nope' \(known: \Q@{[join ', ', @fields]}\E\)/, 'request(\%params) refuses the same way');

# The XS reads a request object's fields in one walk over a plain hash
# (not its iterator), and FETCHes them from a tied one: each field is
# seen and a caller's `each` goes on.
my %bad = (method => [ \'GET', qr/'method' must be a string/ ], headers => [ 'x', qr/'headers' must be a hashref/ ],
    body => [ \'b', qr/'body' must be a string/ ], timeout => [ -1, qr/'timeout' must be/ ],
    connect_timeout => [ -1, qr/'connect_timeout' must be/ ], read_timeout => [ -1, qr/'read_timeout' must be/ ],
    max_headers_size => [ -1, qr/'max_headers_size' must be/ ],
    max_body_size => [ -1, qr/'max_body_size' must be/ ], tls => [ 'x', qr/'tls' must be a hashref/ ],
    proxy => [ 'x', qr/invalid 'proxy' 'x'/ ],
    response_callback => [ 'x', qr/'response_callback' must be a CODE/ ],
    redirection_limit => [ -1, qr/'redirection_limit' must be a whole number/ ],
    redirect_callback => [ 'x', qr/'redirect_callback' must be a CODE/ ],
    partial_callback => [ 'x', qr/'partial_callback' must be a CODE/ ],
    cookie_jar => [ 'x', qr/'cookie_jar' must be an object with the methods add and cookie_header/ ],
    form => [ 'x', qr/'form' must be an arrayref of name => value pairs or a hashref/ ],
    continue_callback => [ 'x', qr/'continue_callback' must be a CODE/ ],
    expect_timeout => [ -1, qr/'expect_timeout' must be/ ]);
for my $f (sort keys %bad) {
    my $r = Uvent::HTTP::Request->new({ uri => 'http://127.0.0.1:1/', retry => 0, idempotent => 1,
        $f => $bad{$f}[0] });
    eval { $r->validate };
    like($@, $bad{$f}[1], "validate reads '$f' from a plain hash");
}
eval { Uvent::HTTP::Request->new({ method => 'GET' })->validate };
like($@, qr/'uri' is required/, 'validate misses an absent uri');
{
    require Tie::Hash;
    tie my %h, 'Tie::StdHash';
    %h = (uri => 'http://127.0.0.1:1/', timeout => -1);
    my $r = bless \%h, 'Uvent::HTTP::Request';
    eval { $r->validate };
    like($@, qr/'timeout' must be/, 'validate reads the fields of a tied request hash');
    $h{timeout} = 5;
    ok(eval { $r->validate; 1 }, 'and takes them when they are good') or diag($@);
}
{
    my $r = Uvent::HTTP::Request->new({ uri => 'http://127.0.0.1:1/', timeout => 5, body => 'b', method => 'PUT' });
    my @seen;
    keys %$r;
    while (my ($k) = each %$r) {
        push @seen, $k;
        $r->validate;
    }
    is_deeply([sort @seen], [qw(body method timeout uri)], "validate leaves a caller's each going");
}

# request() takes a Uvent::HTTP::Request by its class at once and a
# subclass through @ISA; any other object is refused.
@My::Request::ISA = ('Uvent::HTTP::Request');
for my $class ('Uvent::HTTP::Request', 'My::Request') {
    my $calls = 0;
    my $r = bless { uri => 'http://127.0.0.1:1/', timeout => 5, response_callback => sub { $calls++ } }, $class;
    ok(eval { $pool->request($r); 1 }, "request() takes a $class") or diag($@);
    $pool->shutdown;
    my $deadline = time + 5;
    $loop->run_once while !$calls && time < $deadline;
    is($calls, 1, "its callback ran once");
    $pool = Uvent::HTTP::Pool->new({}, $loop);
}
eval { $pool->request(bless { uri => 'http://127.0.0.1:1/' }, 'Not::A::Request') };
like($@, qr/expects a hashref of parameters or a Uvent::HTTP::Request/, 'another class is refused');

done_testing;
