# The fields of a request are one list, kept by the XS (xs/request.h) and
# read by Uvent::HTTP::Request: new(), the accessors and request(\%params)
# all know the same ones.
use strict;
use warnings;
use Test::More;
use Uvent;

my @fields = Uvent::HTTP::Request::_fields();
is_deeply([sort @fields],
          [sort qw(uri method headers body timeout connect_timeout max_headers_size max_body_size retry
                   idempotent tls response_callback)],
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

done_testing;
