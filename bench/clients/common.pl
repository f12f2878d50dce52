# Shared by the benchmark clients: arguments, the stop rule, the report.
# Every client is run as:
#   CLIENT URL CONCURRENCY SECONDS MAX_REQUESTS EXPECTED_BODY_LENGTH [CA_FILE [MODE]]
# and prints one JSON line: {requests, errors, bytes, seconds, cpu}.
# For https:// URLs CA_FILE is the CA the server certificate must verify
# against (verification stays on); MODE is 'keepalive' (the default) or
# 'close': a new connection for every request, with client-side TLS session
# resumption turned on where the library offers it.
use strict;
use warnings;
use Time::HiRes ();
use JSON::PP ();

our ($URL, $CONCURRENCY, $SECONDS, $MAX, $LEN, $CA, $MODE) = @ARGV;
die "usage: $0 URL CONCURRENCY SECONDS MAX_REQUESTS BODY_LENGTH [CA_FILE [keepalive|close]]\n" unless defined $LEN;
$CA = undef unless defined $CA && length $CA;
$MODE //= 'keepalive';
die "$0: mode must be keepalive or close, not '$MODE'\n" unless $MODE =~ /\A(?:keepalive|close)\z/;
our $CLOSE = $MODE eq 'close';
die "$0: an https URL needs CA_FILE\n" if $URL =~ /\Ahttps:/i && !$CA;
our ($T0, @CPU0);

# For the IO::Socket::SSL clients in close mode: one context for every
# connection, verifying against $CA, with a client session cache. Sessions are
# cached per context, and IO::Socket::SSL drops a context's sessions when the
# context goes, so without this (a context per connection) nothing resumes.
sub bench_ssl_context {
    require IO::Socket::SSL;
    return IO::Socket::SSL::SSL_Context->new(SSL_ca_file => $CA, SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_PEER(),
        SSL_session_cache_size => 64)
        || die "IO::Socket::SSL context: " . IO::Socket::SSL::errstr() . "\n";
}

sub bench_start { @CPU0 = times; $T0 = Time::HiRes::time }

# true while another request may start
sub bench_more { my ($started) = @_; $started < $MAX && Time::HiRes::time - $T0 < $SECONDS }

# The Uvent clients' one script: a pool on $loop keeps $CONCURRENCY
# requests in flight while bench_more allows, checking every response;
# $finished (if given) is called when the last one is done, for a host loop
# to stop. Returns the sub that reports (extra fields as its arguments).
sub bench_uvent_pool {
    my ($loop, $finished) = @_;
    my $pool = Uvent::HTTP::Pool->new({
        max_connections => $CONCURRENCY,
        $CLOSE ? (max_requests_per_connection => 1) : (),
        $CA ? (tls => { ca_file => $CA }) : (),
    }, $loop);
    my ($started, $done, $errors, $bytes) = (0, 0, 0, 0);
    my $on_response;
    $on_response = sub {
        my ($request, $response, $error) = @_;
        $done++;
        if ($error || $response->code != 200 || length($response->body) != $LEN) { $errors++ }
        else { $bytes += $LEN }
        if (bench_more($started)) {
            $started++;
            $pool->request({ uri => $URL, response_callback => $on_response });
        } elsif ($done == $started && $finished) {
            $finished->();
        }
    };
    bench_start();
    for (1 .. $CONCURRENCY) {
        $started++;
        $pool->request({ uri => $URL, response_callback => $on_response });
    }
    return sub { undef $on_response; bench_report($done, $errors, $bytes, @_) };
}

sub bench_report {
    my ($requests, $errors, $bytes, %extra) = @_;
    my $elapsed = Time::HiRes::time - $T0;
    my @cpu = times;
    print JSON::PP->new->canonical->encode({
        requests => $requests, errors => $errors, bytes => $bytes, seconds => $elapsed,
        cpu => ($cpu[0] - $CPU0[0]) + ($cpu[1] - $CPU0[1]), %extra,
    }), "\n";
}

1;
