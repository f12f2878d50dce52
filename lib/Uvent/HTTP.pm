package Uvent::HTTP;
use strict;
use warnings;
use Carp ();
use Scalar::Util ();

our $VERSION = '0.01';

use Uvent;
use Exporter 'import';
our @EXPORT_OK = qw(http_request http_get http_request_sync);

sub http_request {
    my ($request, $loop) = @_;
    return Uvent::HTTP::Pool::instance($loop)->request($request);
}

sub http_get {
    my ($uri, $cb, $loop) = @_;
    return http_request_sync({ uri => $uri }) unless $cb;
    return http_request({ uri => $uri, response_callback => $cb }, $loop);
}

our $IN_SYNC;

sub http_request_sync {
    my ($request) = @_;
    Carp::croak('http_request_sync: cannot run a synchronous request from inside a callback of another one')
        if $IN_SYNC;
    $request = Uvent::HTTP::Request->new($request)
        unless Scalar::Util::blessed($request) && $request->isa('Uvent::HTTP::Request');
    my $user_cb = $request->{response_callback};
    my ($response, $error);
    local $request->{response_callback} = sub {
        (undef, $response, $error) = @_;
        $user_cb->(@_) if $user_cb;
    };
    my $loop = Uvent::Loop->new;
    {
        local $IN_SYNC = 1;
        my $pool = Uvent::HTTP::Pool->new({}, $loop);
        $pool->request($request);
        $loop->run;
    }
    return wantarray ? ($response, $error) : $response;
}

1;
