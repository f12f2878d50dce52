use strict;
use warnings;
use Test::More;
use JSON::PP qw(decode_json);
use lib 't/lib';
use Uvent;
use Uvent::Test::Server;
use Uvent::Test::Util qw(run_until wait_all start_req ecode body response_ok);

# cookie_jar: any object with add($url, $set_cookie) and
# cookie_header($url); every hop of a chain stores and sends through it.

my $srv  = Uvent::Test::Server->new;
my $loop = Uvent::Loop->new;

sub esc { my $s = shift; $s =~ s/([^A-Za-z0-9\-._~\/])/sprintf '%%%02X', ord $1/ge; $s }
sub fetch { my ($pool, @p) = @_; my $r = start_req($pool, @p); wait_all($loop, $r); is($r->{calls}, 1, 'exactly one callback'); $r }
sub echo { my $r = shift; my $e = eval { decode_json(body($r)) }; $e || { headers => [] } }
sub cookies { my $e = echo(shift); [ map { $_->[1] } grep { lc $_->[0] eq 'cookie' } @{ $e->{headers} } ] }

# A jar that records its calls and keeps one cookie string per test.
package Fake::Jar {
    sub new { bless { calls => [], header => $_[1] }, $_[0] }
    sub add { my ($self, $url, $v) = @_; push @{ $self->{calls} }, [ add => $url, $v ] }
    sub cookie_header { my ($self, $url) = @_; push @{ $self->{calls} }, [ cookie_header => $url ]; $self->{header} }
}
package Dying::Jar {
    sub new { bless {}, shift }
    sub add { die "jar is full\n" }
    sub cookie_header { '' }
}

my $set = $srv->url('/redirect?code=302&to=/echo&cookie=' . esc('s=1; Path=/') . '&cookie2=' . esc('p=2; Path=/redirect'));

subtest 'HTTP::CookieJar across a redirect to another path' => sub {
    plan skip_all => 'HTTP::CookieJar is not installed' unless eval { require HTTP::CookieJar; 1 };
    my $jar = HTTP::CookieJar->new;
    my $pool = Uvent::HTTP::Pool->new({ cookie_jar => $jar }, $loop);
    my $r = fetch($pool, uri => $set);
    response_ok($r, 'the chain');
    is_deeply(cookies($r), ['s=1'], 'the next hop sends the cookie for its path, not the one for /redirect');
    is_deeply([ sort map { $_->{name} } $jar->cookies_for($srv->url('/redirect')) ], [qw(p s)], 'both stored');
    $r = fetch($pool, uri => $srv->url('/echo'));
    is_deeply(cookies($r), ['s=1'], 'a later request of the pool sends it');
    $r = fetch($pool, uri => $srv->url('/echo'), headers => [ Cookie => 'u=0' ]);
    is_deeply(cookies($r), ['u=0; s=1'], "a user's Cookie header and the jar's: one header");
    $r = fetch($pool, uri => $srv->url('/echo'), cookie_jar => undef);
    is_deeply(cookies($r), [], 'cookie_jar => undef in a request: no jar');
    my $other = HTTP::CookieJar->new;
    $r = fetch($pool, uri => $srv->url('/redirect?code=200&cookie=' . esc('o=3; Path=/')), cookie_jar => $other);
    is_deeply([ map { $_->{name} } $other->cookies_for($srv->url('/')) ], ['o'], "a request's own jar stores");
    ok(!grep({ $_->{name} eq 'o' } $jar->cookies_for($srv->url('/'))), "and the pool's does not");
    my $plain = Uvent::HTTP::Pool->new({}, $loop);
    $r = fetch($plain, uri => $set, cookie_jar => $jar);
    is_deeply(cookies($r), ['s=1'], 'a jar given to a request of a pool without one');
};

subtest 'the calls a jar gets' => sub {
    my $jar = Fake::Jar->new('k=v');
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $r = fetch($pool, uri => "$set#frag", cookie_jar => $jar);
    response_ok($r, 'the chain');
    is_deeply(cookies($r), ['k=v'], 'cookie_header is sent');
    (my $first = $set) =~ s/#.*//;
    is_deeply($jar->{calls}, [
        [ cookie_header => $first ],
        [ add => $first, 's=1; Path=/' ],
        [ add => $first, 'p=2; Path=/redirect' ],
        [ cookie_header => $srv->url('/echo') ],
    ], 'cookie_header before each hop, add for each Set-Cookie, with the hop URL without its fragment');
    my $empty = Fake::Jar->new('');
    $r = fetch($pool, uri => $srv->url('/echo'), cookie_jar => $empty);
    is_deeply(cookies($r), [], 'an empty cookie_header sends no Cookie header');
};

subtest 'a jar must have both methods' => sub {
    my $pool = Uvent::HTTP::Pool->new({}, $loop);
    my $before = $srv->requests;
    eval { $pool->request({ uri => $srv->url('/echo'), cookie_jar => {} }) };
    like($@, qr/'cookie_jar' must be an object with the methods add and cookie_header \(as HTTP::CookieJar has\), got a reference to HASH/, 'a hash');
    like($@, qr/ at \Q$0\E line \d+\.$/, "at the caller's line");
    eval { $pool->request({ uri => $srv->url('/echo'), cookie_jar => bless({}, 'Dying::Nothing') }) };
    like($@, qr/got a Dying::Nothing object without add and cookie_header/, 'an object without them');
    is($srv->requests, $before, 'nothing sent');
    eval { Uvent::HTTP::Pool->new({ cookie_jar => 'jar' }, $loop) };
    like($@, qr/\AUvent::HTTP::Pool->new: 'cookie_jar' must be an object with the methods add and cookie_header/, 'new checks it too');
};

subtest 'a jar that dies: one callback, run rethrows' => sub {
    my $pool = Uvent::HTTP::Pool->new({ cookie_jar => Dying::Jar->new }, $loop);
    my ($calls, $code) = (0);
    $pool->request({ uri => $set, timeout => 5, response_callback => sub { $calls++; $code = $_[1]->code } });
    my $ok = eval { run_until($loop, sub { $calls }, 5); 1 };
    like($ok ? '' : $@, qr/jar is full/, 'the exception comes out of run');
    is($calls, 1, 'one callback');
    is($code, 302, 'the chain stopped at the response whose cookie could not be stored');
};

done_testing;
