package Uvent::HTTP::Pool;
use strict;
use warnings;
use Carp ();
use Scalar::Util ();

our $VERSION = '0.06';

require Uvent;

my %DEFAULT = (
    timeout => 60, max_connections => 10, max_headers_size => 65536, max_body_size => 1073741824,
    max_lifetime => 0, max_requests_per_connection => 0, max_queue => 0, queue_timeout => 0, max_total => 0,
    read_timeout => 0, happy_eyeballs_delay => 0.25, dns_cache_ttl => 60, decompress => 1, max_header_count => 1000,
    expect_timeout => 1,
);
# checked by the XS (xs/request.h), which requests take too; and `resolve`
my @SOCKET = qw(family tcp_nodelay tcp_keepalive so_linger socket_buffer_size local_address);
my %WHOLE = map { $_ => 1 } qw(max_connections max_headers_size max_body_size max_requests_per_connection max_queue max_total
    max_header_count);
my %SECONDS = map { $_ => 1 } qw(timeout max_lifetime queue_timeout read_timeout happy_eyeballs_delay dns_cache_ttl
    expect_timeout);
# request parameters the pool gives a default for, kept for the redirect
# step and the cookies (Pool.xs's _defaults); the others are the core's
my %REQUEST_DEFAULT = (follow_redirect => 1, redirection_limit => 20, allow_downgrade => 0, cookie_jar => undef);
# byte limits are size_t in the core; above 2**53 a Perl number is no longer exact
my %BYTES = map { $_ => 1 } qw(max_headers_size max_body_size);
my $MAX_BYTES = (~0 > 4294967295) ? 9007199254740992 : 4294967295;
# keys that are not numbers, each checked on its own
my @OTHER_KEYS = (qw(env_proxy proxy resolve tls), @SOCKET);
my %OTHER = map { $_ => 1 } @OTHER_KEYS;

sub new {
    my ($class, @args) = @_;
    my $is_loop = sub { Scalar::Util::blessed($_[0]) && $_[0]->isa('Uvent::Loop') };
    Carp::croak("$class->new: expects (\\%config, \$loop), (\\%config), (\$loop) or nothing, got "
        . @args . ' arguments') if @args > 2;
    # new($loop), as UniEvent::HTTP::Pool takes it
    return $class->_create(undef, $args[0], 0) if @args == 1 && $is_loop->($args[0]);
    Carp::croak("$class->new: the loop comes after the config: new(\\%config, \$loop)")
        if @args == 2 && $is_loop->($args[0]);
    return $class->_create(@args[0, 1], 0);
}

sub _create {
    my ($class, $config, $loop, $is_instance) = @_;
    $config //= {};
    Carp::croak("$class->new: the config must be a hashref (or give a Uvent::Loop alone), got "
        . _what($config)) unless ref $config eq 'HASH';
    if (my @unknown = grep { !exists $DEFAULT{$_} && !exists $REQUEST_DEFAULT{$_} && !$OTHER{$_} } keys %$config) {
        Carp::croak("$class->new: unknown config key" . (@unknown > 1 ? 's' : '') . ' '
            . join(', ', map { "'" . Uvent::_shown($_) . "'" } sort @unknown) . ' (known: '
            . join(', ', sort keys %DEFAULT, keys %REQUEST_DEFAULT, @OTHER_KEYS) . ')');
    }
    my %c = (%DEFAULT, %$config);
    my $tls = delete $c{tls};
    my $resolve = _resolve_entries($class, delete $c{resolve});
    my %socket = map { exists $c{$_} ? ($_ => delete $c{$_}) : () } @SOCKET;
    my $proxy = delete $c{proxy};
    my $env_proxy = delete $c{env_proxy};
    Carp::croak("$class->new: 'proxy' must be a proxy URL string (http://, https://, socks5:// or socks5h://), got " . _what($proxy))
        if ref $proxy;
    Carp::croak("$class->new: 'env_proxy' must be 0 or 1, got " . _what($env_proxy))
        if defined $env_proxy && (ref $env_proxy || $env_proxy !~ /\A[01]?\z/);
    # a flag: any defined plain value, true or false
    Carp::croak("$class->new: 'decompress' must be true or false, got "
        . (defined $c{decompress} ? _what($c{decompress}) : 'undef')) if !defined $c{decompress} || ref $c{decompress};
    $c{decompress} = $c{decompress} ? 1 : 0;
    my %request_default = (%REQUEST_DEFAULT, map { $_ => delete $c{$_} } grep { exists $c{$_} } keys %REQUEST_DEFAULT);
    _check_request_defaults("$class->new", \%request_default);
    for my $key (sort keys %c) {
        my $v = $c{$key};
        Carp::croak("$class->new: '$key' must be a number >= 0, got " . (defined $v ? "'" . Uvent::_shown($v) . "'" : 'undef'))
            unless defined $v && !ref $v && $v =~ /\A(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\z/;
    }
    for my $key (grep { $SECONDS{$_} } sort keys %c) {
        # the core refuses more than 1e9 s (its milliseconds must not overflow)
        Carp::croak("$class->new: '$key' must be a finite number of seconds >= 0 (at most 1e9), got '$c{$key}'")
            unless $c{$key} <= 1e9;
    }
    for my $key (grep { $WHOLE{$_} } sort keys %c) {
        Carp::croak("$class->new: '$key' must be a whole number, got '$c{$key}'") unless $c{$key} == int $c{$key};
        my $max = $BYTES{$key} ? $MAX_BYTES : 4294967295;
        Carp::croak("$class->new: '$key' is too large (at most $max), got '$c{$key}'") if $c{$key} > $max;
    }
    Carp::croak("$class->new: 'max_connections' must be a whole number >= 1") unless $c{max_connections} >= 1;
    $loop //= Uvent::Loop->default;
    Carp::croak("$class->new: the loop must be a Uvent::Loop, got " . _what($loop))
        unless Scalar::Util::blessed($loop) && $loop->isa('Uvent::Loop');
    my $pool = $class->_new($loop, \%c, $is_instance);
    $pool->_set_tls($tls) if defined $tls;
    $pool->_set_socket(\%socket) if %socket;
    $pool->_set_resolve(@$_) for @$resolve;
    $pool->_set_proxy(0, $proxy, 'proxy') if defined $proxy && length $proxy;
    _env_proxy($pool) if $env_proxy;
    $pool->_defaults(\%request_default);
    return $pool;
}

# `resolve => { 'host:port' => [IP, ...] }` as [host, port, [IP, ...]]
# (the core checks the addresses)
sub _resolve_entries {
    my ($class, $resolve) = @_;
    return [] unless defined $resolve;
    Carp::croak("$class->new: 'resolve' must be a hashref of 'host:port' => [addresses], got " . _what($resolve))
        unless ref $resolve eq 'HASH';
    my @entries;
    for my $key (sort keys %$resolve) {
        my ($host, $port) = $key =~ /\A\[?([^\[\]\s\x00-\x1f\/]+?)\]?:(\d{1,5})\z/;
        Carp::croak("$class->new: 'resolve' key '" . Uvent::_shown($key)
            . "' must be 'host:port' (such as 'example.com:443')") unless defined $port && $port >= 1 && $port <= 65535;
        my $ips = $resolve->{$key};
        $ips = [$ips] if defined $ips && !ref $ips;
        Carp::croak("$class->new: 'resolve' entry '" . Uvent::_shown($key) . "' must be an arrayref of IP addresses")
            unless ref $ips eq 'ARRAY' && @$ips && !grep { !defined || ref || /[\x00-\x20]/ } @$ips;
        push @entries, [$host, $port + 0, $ips];
    }
    return \@entries;
}

# The proxy environment variables, read once when the pool is created, as
# curl reads them: the lower-case name first, then the upper-case one,
# except HTTP_PROXY while REQUEST_METHOD is set (a CGI program's
# HTTP_PROXY comes from the request's Proxy: header: "httpoxy"); an empty
# value counts as unset; a value without a scheme is an http:// proxy.
sub _env_proxy {
    my ($pool) = @_;
    my $env = sub {
        my ($name, $no_upper) = @_;
        for my $n ($name, $no_upper ? () : uc $name) {
            return ($n, $ENV{$n}) if defined $ENV{$n} && length $ENV{$n};
        }
        return;
    };
    my @slots = ([1, 'http_proxy', defined $ENV{REQUEST_METHOD}], [2, 'https_proxy'], [3, 'all_proxy']);
    for my $slot (@slots) {
        my ($name, $url) = $env->(@$slot[1, 2]) or next;
        $url = "http://$url" unless $url =~ m{\A[A-Za-z][A-Za-z0-9+.-]*://};
        $url =~ s{\A([^:]+://[^/?#]*)[/?#].*\z}{$1}s;    # curl ignores a path
        $pool->_set_proxy($slot->[0], $url, "env_proxy: environment variable $name");
    }
    # no_proxy set but empty is set (curl reads it so): NO_PROXY is not read then
    my $no_proxy = $ENV{no_proxy} // $ENV{NO_PROXY};
    $pool->_set_no_proxy($no_proxy) if defined $no_proxy && length $no_proxy;
}

sub _check_request_defaults {
    my ($prefix, $d) = @_;
    my $limit = $d->{redirection_limit};
    Carp::croak("$prefix: 'redirection_limit' must be a whole number >= 0 (at most 1000000), got "
        . (defined $limit ? "'" . Uvent::_shown($limit) . "'" : 'undef'))
        unless defined $limit && !ref $limit && $limit =~ /\A\d+\z/ && $limit <= 1e6;
    _check_jar($prefix, $d->{cookie_jar}) if defined $d->{cookie_jar};
}

# A cookie jar is any object with HTTP::CookieJar's two methods, as HTTP::Tiny takes it.
sub _check_jar {
    my ($prefix, $jar) = @_;
    my @missing = grep { !(Scalar::Util::blessed($jar) && $jar->can($_)) } qw(add cookie_header);
    Carp::croak("$prefix: 'cookie_jar' must be an object with the methods add and cookie_header (as "
        . "HTTP::CookieJar has), got " . _what($jar) . (Scalar::Util::blessed($jar) ? ' without ' . join(' and ', @missing) : ''))
        if @missing;
}

# a bad argument, for a croak
sub _what {
    my ($v) = @_;
    return Scalar::Util::blessed($v) ? 'a ' . ref($v) . ' object'
        : ref $v ? 'a reference to ' . Scalar::Util::reftype($v)
        : "'" . Uvent::_shown($v) . "'";
}

sub request_f {
    my ($self, $request) = @_;
    _need('request_f', 'Future', '0.33', 'Future', 'libfuture-perl');
    require Uvent::Future;
    return Uvent::Future->_request_f($self, $request);
}

sub request_p {
    my ($self, $request) = @_;
    _need('request_p', 'Mojo::Promise', '', 'Mojolicious', 'libmojolicious-perl');
    require Uvent::Loop::Mojo;
    my $loop = $self->loop or Carp::croak("Uvent::HTTP::Pool->request_p: the pool's loop has been destroyed");
    my $promise = Mojo::Promise->new;
    # it settles from its Mojo::IOLoop: the Uvent loop must run from there
    $promise->ioloop(Uvent::Loop::Mojo->_for_promise($loop));
    _request_settling($self, 'request_p', $request, sub {
        my (undef, $res, $err) = @_;
        $err ? $promise->reject($err) : $promise->resolve($res);
    });
    return $promise;
}

# An optional module for one method, or a croak saying how to get it.
sub _need {
    my ($method, $module, $version, $dist, $deb) = @_;
    return if eval "require $module; 1" && (!$version || eval { $module->VERSION($version); 1 });
    Carp::croak("Uvent::HTTP::Pool->$method: needs the $module module" . ($version ? " ($version or later)" : '')
        . ": install it (cpanm $dist; Debian: apt-get install $deb)");
}

# Submit with the response callback wrapped: the user's callback runs,
# then $settle (the future's or promise's). A request object gets its own
# callback back as it finishes, so it can be submitted again as it was.
sub _request_settling {
    my ($pool, $method, $request, $settle) = @_;
    Carp::croak("Uvent::HTTP::Pool->$method: expects a hashref of parameters or a Uvent::HTTP::Request, got "
        . (defined $request ? _what($request) : 'undef'))
        unless ref $request eq 'HASH' || (Scalar::Util::blessed($request) && $request->isa('Uvent::HTTP::Request'));
    $request = Uvent::HTTP::Request->new($request) unless Scalar::Util::blessed($request);
    my $user_cb = $request->{response_callback};
    $request->{response_callback} = sub {
        $_[0]{response_callback} = $user_cb;
        $user_cb->(@_) if $user_cb;
        $settle->(@_);
    };
    unless (eval { $pool->request($request); 1 }) {
        my $err = $@;
        $request->{response_callback} = $user_cb;
        $err =~ s/Uvent::HTTP::Pool->request:/Uvent::HTTP::Pool->$method:/;
        die $err;
    }
    return $request;
}

sub instance {
    shift if @_ && defined $_[0] && !ref $_[0] && $_[0]->isa(__PACKAGE__);
    my $loop = shift // Uvent::Loop->default;
    return $loop->_instance // $loop->_instance(__PACKAGE__->_create({}, $loop, 1));
}

# ---- the redirect step, forms, JSON and cookies -------------------------
#
# A request goes straight to the core unless it has a form, json or a
# cookie jar (xs/pool.xsh calls _submit_first then). The core calls
# _hop_done (xs/callbacks.h's uvx_on_hop) for a redirect response of any
# request and for every response of a request submitted through here; it
# submits the next hop with _submit_hop, or calls the response_callback,
# once for the whole chain. The chain's state lives in the request hash
# under _uvent_chain while a hop runs.

# the fields a hop is built from (xs/request.h reads them from its hash)
my @CORE_FIELDS = qw(uri method headers body timeout connect_timeout read_timeout max_headers_size max_body_size
    retry idempotent tls chunked continue_callback expect_timeout partial_callback);
my %REDIRECT_CODE = map { $_ => 1 } 301, 302, 303, 307, 308;
# user headers that are sent only while the chain stays on the first origin
my %ORIGIN_BOUND = map { $_ => 1 } qw(authorization cookie proxy-authorization host);
# headers about the body, dropped with it when a redirect turns into GET (RFC 9110 15.4)
my %ABOUT_BODY = map { $_ => 1 } qw(content-length content-type content-encoding content-language content-location
    digest content-digest repr-digest last-modified);
my %MESSAGE = (redirection_limit => 'too many redirects', bad_redirect => 'unusable redirect',
    timeout => 'request timed out');

sub _submit_first {
    my ($pool, $request) = @_;
    my $prefix = 'Uvent::HTTP::Pool->request';
    my $chain = _chain_of($request, $pool->_defaults, $prefix);
    my $fields = _wire_fields($chain);
    $request->{_uvent_chain} = $chain;
    my ($client, $ok);
    $ok = eval { $client = $pool->_submit_hop($request, $fields); 1 };
    unless ($ok) {
        delete $request->{_uvent_chain};
        die $@;
    }
    return $client;
}

# The state of a chain at its first hop: the core fields, the body a form
# or json makes, the headers as pairs, the jar, the origin.
sub _chain_of {
    my ($request, $defaults, $prefix) = @_;
    my %f = map { exists $request->{$_} ? ($_ => $request->{$_}) : () } @CORE_FIELDS;
    my $jar = exists $request->{cookie_jar} ? $request->{cookie_jar} : $defaults ? $defaults->{cookie_jar} : undef;
    _check_jar($prefix, $jar) if defined $jar;
    my ($content_type, $multipart);
    # a form or JSON without a method is posted
    $f{method} = 'POST' if !defined $f{method} && (defined $request->{form} || defined $request->{json});
    if (defined $request->{form}) {
        ($f{body}, $content_type, $multipart) = _form_body($request->{form}, $prefix);
    } elsif (defined $request->{json}) {
        $f{body} = _json_encode($request->{json}, $prefix);
        $content_type = 'application/json';
    }
    my $h = $f{headers};
    my @headers = ref $h eq 'HASH' ? (map { my $k = $_; my $v = $h->{$k}; ref $v eq 'ARRAY' ? (map { [$k, $_] } @$v) : [$k, $v] } keys %$h)
        : ref $h eq 'ARRAY' && !(@$h % 2) ? (map { [$h->[2 * $_], $h->[2 * $_ + 1]] } 0 .. @$h / 2 - 1)
        : ();
    # a bad 'headers' value stays as it is: building the request croaks about it
    my $shape_ok = !defined $h || ref $h eq 'HASH' || (ref $h eq 'ARRAY' && !(@$h % 2));
    push @headers, ['Content-Type', $content_type]
        if $content_type && !grep { defined $_->[0] && lc $_->[0] eq 'content-type' } @headers;
    # files stream from disk: the length is known, so no chunked encoding
    push @headers, ['Content-Length', $multipart->{length}]
        if $multipart && !grep { defined $_->[0] && lc $_->[0] eq 'content-length' } @headers;
    my $uri = defined $f{uri} ? "$f{uri}" : undef;
    my ($key) = defined $uri ? Uvent::_url_info($uri) : ();
    return { fields => \%f, headers => $shape_ok ? \@headers : undef, jar => $jar, uri => $uri, key => $key,
        origin => $key, redirects => [], multipart => $multipart };
}

# The hash a hop is built from: the chain's fields, its headers, and the
# jar's cookies for the hop's URI (with a user's Cookie header, one
# Cookie header: RFC 6265 5.4 allows no more).
sub _wire_fields {
    my ($chain) = @_;
    my %f = %{ $chain->{fields} };
    # a multipart body with files is read afresh by each hop
    $f{body} = _multipart_reader($chain->{multipart}) if $chain->{multipart};
    return \%f unless $chain->{headers};
    my @headers = map { [@$_] } @{ $chain->{headers} };
    if ($chain->{jar} && defined $chain->{uri}) {
        my $cookies = $chain->{jar}->cookie_header(_no_fragment($chain->{uri}));
        if (defined $cookies && length $cookies) {
            my ($user) = grep { defined $_->[0] && lc $_->[0] eq 'cookie' } @headers;
            if ($user) { $user->[1] = "$user->[1]; $cookies" } else { push @headers, ['Cookie', $cookies] }
        }
    }
    $f{headers} = [map {@$_} @headers];
    return \%f;
}

sub _no_fragment { my ($u) = @_; $u =~ s/#.*\z//s; return $u }

sub _param {
    my ($request, $defaults, $name) = @_;
    return $request->{$name} if defined $request->{$name};
    return $defaults && exists $defaults->{$name} ? $defaults->{$name} : $REQUEST_DEFAULT{$name};
}

# A hop finished (see above). Gets ($request, $response, $error, $pool,
# $time_left): $pool undef when the Perl pool is gone, $time_left -1 when
# the request has no timeout.
sub _hop_done {
    my ($request, $response, $error, $pool, $left) = @_;
    my $chain = delete $request->{_uvent_chain};
    my $died;
    if ($chain && $chain->{jar} && $response->code) {
        for my $pair (@{ $response->header_list }) {
            next unless lc $pair->[0] eq 'set-cookie';
            next if eval { $chain->{jar}->add(_no_fragment($chain->{uri}), $pair->[1]); 1 };
            $died = $@;
            last;
        }
    }
    if (!$error && !defined $died && $REDIRECT_CODE{ $response->code } && $pool) {
        my $defaults = $pool->_defaults;
        if (_param($request, $defaults, 'follow_redirect')) {
            my ($followed, $err);
            # whatever happens here, the callback below runs once
            my $ok = eval {
                $chain //= _chain_of($request, $defaults, 'Uvent::HTTP::Pool->request');
                ($followed, $err) = _follow($pool, $request, $response, $chain, $defaults, $left, \$died);
                1;
            };
            $died //= $@ unless $ok;
            return if $followed;
            $error = $err;
        }
    }
    $response->_set_chain($chain->{uri}, $chain->{redirects}) if $chain && @{ $chain->{redirects} };
    my $cb = $request->{response_callback};
    if (defined $died) {
        # the hook's exception is the one run rethrows; the callback still runs once
        warn "Uvent: the response_callback died after a cookie jar or redirect_callback had: $@"
            unless eval { $cb->($request, $response, $error) if $cb; 1 };
        die $died;
    }
    $cb->($request, $response, $error) if $cb;
    return;
}

# Follow a redirect response: 1 when the next hop was submitted, else
# (undef, $error) with the error ending the chain, or () when the 3xx is
# the final response.
sub _follow {
    my ($pool, $request, $response, $chain, $defaults, $left, $died) = @_;
    my $code = $response->code;
    my @location = grep { lc $_->[0] eq 'location' } @{ $response->header_list };
    # no Location: nothing to follow, the response is the answer (as curl and browsers take it)
    return () unless @location && $location[0][1] =~ /\S/;
    my $fail = sub { (undef, _chain_error($pool, $request, $chain, @_)) };
    return $fail->('bad_redirect', "the $code response has " . @location . ' different Location headers')
        if grep { $_->[1] ne $location[0][1] } @location;
    my $limit = _param($request, $defaults, 'redirection_limit');
    return $fail->('redirection_limit', "more than $limit redirect" . ($limit == 1 ? '' : 's'))
        if @{ $chain->{redirects} } >= $limit;
    my $shown = Uvent::_shown($location[0][1]);
    my ($next, $key) = Uvent::_url_resolve($chain->{uri}, $location[0][1]);
    return $fail->('bad_redirect', "the $code response's Location '$shown' cannot be followed: $key")
        unless defined $next;
    return $fail->('bad_redirect', "refusing to follow the $code response from https to '" . _no_fragment($next)
        . "' (allow_downgrade is off)")
        if $chain->{key} =~ /\Ahttps:/ && $key =~ /\Ahttp:/ && !_param($request, $defaults, 'allow_downgrade');
    if ($left >= 0 && $left < 0.001) {
        my $timeout = defined $chain->{fields}{timeout} ? $chain->{fields}{timeout} : 20;
        return $fail->('timeout', "no complete response within $timeout s, over " . @{ $chain->{redirects} }
            . ' redirect' . (@{ $chain->{redirects} } == 1 ? '' : 's'));
    }
    if (my $rcb = $request->{redirect_callback}) {
        my $go;
        unless (eval { $go = $rcb->($request, $response, $next); 1 }) {
            $$died = $@;
            return ();
        }
        return () unless $go;
    }
    my %f = %{ $chain->{fields} };
    my @headers = $chain->{headers} ? @{ $chain->{headers} } : ();
    my $method = defined $f{method} ? $f{method} : 'GET';
    my $to_get = $code == 303 ? $method ne 'HEAD' : ($code == 301 || $code == 302) && $method ne 'GET' && $method ne 'HEAD';
    # a body read from a filehandle or a code ref, or pushed, cannot be
    # sent again: the 307 or 308 is the answer
    return () if !$to_get && !$chain->{multipart} && (ref $f{body} || (!defined $f{body} && $f{chunked}));
    my $multipart = $chain->{multipart};
    if ($to_get) {
        $f{method} = 'GET';
        delete @f{qw(body chunked)};
        undef $multipart;
        @headers = grep { !$ABOUT_BODY{ lc $_->[0] } } @headers;
    }
    my $left_origin = $chain->{left_origin} || $key ne $chain->{origin};
    @headers = grep { !$ORIGIN_BOUND{ lc $_->[0] } } @headers if $left_origin;
    $f{uri} = $next;
    $f{timeout} = $left if $left >= 0;
    my $hop = { %$chain, fields => \%f, headers => $chain->{headers} ? \@headers : undef, uri => $next, key => $key,
        left_origin => $left_origin, redirects => [@{ $chain->{redirects} }, $response], multipart => $multipart };
    my $fields;
    unless (eval { $fields = _wire_fields($hop); 1 }) {
        $$died = $@;
        return ();
    }
    $request->{_uvent_chain} = $hop;
    return 1 if eval { $pool->_submit_hop($request, $fields); 1 };
    my $why = $@;
    delete $request->{_uvent_chain};
    $why =~ s/\AUvent::HTTP::Pool->request: //;
    $why =~ s/ at \S+ line \d+\.?\n\z//;
    return $fail->('bad_redirect', "the $code response's Location '$shown' cannot be followed: $why");
}

# An error of the chain itself, worded as the core words its own.
sub _chain_error {
    my ($pool, $request, $chain, $code, $detail) = @_;
    my ($key, $target) = defined $chain->{uri} ? Uvent::_url_info($chain->{uri}) : ();
    my $method = defined $chain->{fields}{method} ? $chain->{fields}{method} : 'GET';
    $pool->_count_error($code);
    return bless { code => $code, errno => undef,
        message => "$MESSAGE{$code} ($method " . ($key // '') . ($target // '') . "): $detail" }, 'Uvent::Error';
}

# ---- forms

sub _form_body {
    my ($form, $prefix) = @_;
    my @pairs;
    if (ref $form eq 'HASH') {
        for my $name (sort keys %$form) {
            my $v = $form->{$name};
            push @pairs, ref $v eq 'ARRAY' ? (map { [$name, $_] } @$v) : [$name, $v];
        }
    } elsif (ref $form eq 'ARRAY') {
        Carp::croak("$prefix: 'form' arrayref must hold name => value pairs (odd number of elements)") if @$form % 2;
        @pairs = map { [$form->[2 * $_], $form->[2 * $_ + 1]] } 0 .. @$form / 2 - 1;
    } else {
        Carp::croak("$prefix: 'form' must be an arrayref of name => value pairs or a hashref, got " . _what($form));
    }
    for my $pair (@pairs) {
        Carp::croak("$prefix: form field names must be defined strings") if !defined $pair->[0] || ref $pair->[0];
        my $shown = Uvent::_shown($pair->[0]);
        my $v = $pair->[1];
        Carp::croak("$prefix: form field '$shown' must be a string, or a hashref with 'file' or 'content', got "
            . (defined $v ? _what($v) : 'undef'))
            if !defined $v || (ref $v && ref $v ne 'HASH');
    }
    return grep({ ref $_->[1] } @pairs) ? _multipart_body(_multipart_parts(\@pairs, $prefix))
        : (_urlencoded(\@pairs), 'application/x-www-form-urlencoded');
}

# Names and values are characters, sent as UTF-8 (as HTML forms and
# HTTP::Tiny do): a string of bytes is taken as Latin-1 characters.
sub _form_text { my ($s) = @_; $s = "$s"; utf8::encode($s); return $s }

sub _urlencoded {
    my ($pairs) = @_;
    my $enc = sub {
        my $s = _form_text($_[0]);
        $s =~ s/([^A-Za-z0-9*\-._ ])/sprintf('%%%02X', ord $1)/ge;
        $s =~ tr/ /+/;
        return $s;
    };
    return join '&', map { $enc->($_->[0]) . '=' . $enc->($_->[1]) } @$pairs;
}

# The parts of a multipart/form-data body: each a head and either its
# content or the file it is streamed from.
sub _multipart_parts {
    my ($pairs, $prefix) = @_;
    my @parts;
    my $quote = sub { my $s = _form_text($_[0]); $s =~ s/"/%22/g; $s =~ s/\r/%0D/g; $s =~ s/\n/%0A/g; $s };
    for my $pair (@$pairs) {
        my ($name, $v) = @$pair;
        my $shown = Uvent::_shown($name);
        my $disposition = 'Content-Disposition: form-data; name="' . $quote->($name) . '"';
        unless (ref $v) {
            push @parts, { head => "$disposition\r\n\r\n", content => _form_text($v) };
            next;
        }
        if (my @unknown = grep { !/\A(?:file|content|filename|content_type)\z/ } sort keys %$v) {
            Carp::croak("$prefix: form field '$shown': unknown key" . (@unknown > 1 ? 's ' : ' ')
                . join(', ', map { "'" . Uvent::_shown($_) . "'" } @unknown) . ' (known: file, content, filename, content_type)');
        }
        Carp::croak("$prefix: form field '$shown' needs one of 'file' and 'content'")
            unless defined $v->{file} xor defined $v->{content};
        my $part = {};
        my $filename = $v->{filename};
        if (defined $v->{file}) {
            my $path = $v->{file};
            Carp::croak("$prefix: form field '$shown': cannot read file '" . Uvent::_shown($path) . "': "
                . (-d $path ? 'Is a directory' : $!))
                unless -f $path && -r _;
            $part->{file} = $path;
            ($filename = $path) =~ s{.*[/\\]}{}s unless defined $filename;
        } else {
            my $content = $v->{content};
            Carp::croak("$prefix: form field '$shown': 'content' must be a string of bytes") if ref $content;
            $content = "$content";
            Carp::croak("$prefix: Wide character in form field '$shown' content: encode it to bytes first "
                . "(utf8::encode or Encode::encode_utf8)") if utf8::is_utf8($content) && !utf8::downgrade($content, 1);
            $part->{content} = $content;
        }
        my $type = defined $v->{content_type} ? "$v->{content_type}" : 'application/octet-stream';
        Carp::croak("$prefix: form field '$shown': 'content_type' must be printable ASCII")
            if $type =~ /[^\x20-\x7e]/;
        $part->{head} = $disposition . (defined $filename ? '; filename="' . $quote->($filename) . '"' : '')
            . "\r\nContent-Type: $type\r\n\r\n";
        push @parts, $part;
    }
    return \@parts;
}

# The body of the parts: a string when every part is in memory, else
# (undef, its type, { parts, boundary, length }) for _multipart_reader,
# which streams the files from disk.
sub _multipart_body {
    my ($parts) = @_;
    my $boundary;
    for (1 .. 100) {
        # 24 random characters: a file (not read here) holds them by chance with odds of 36**-24
        my $try = '------------------------Uvent' . join '', map { ('0' .. '9', 'a' .. 'z')[rand 36] } 1 .. 24;
        next if grep { (defined $_->{content} && index($_->{content}, $try) >= 0) || index($_->{head}, $try) >= 0 } @$parts;
        $boundary = $try;
        last;
    }
    Carp::croak('Uvent::HTTP::Pool->request: found no multipart boundary absent from the form') unless $boundary;
    my $type = "multipart/form-data; boundary=$boundary";
    unless (grep { defined $_->{file} } @$parts) {
        my $body = join '', map { "--$boundary\r\n$_->{head}$_->{content}\r\n" } @$parts;
        return ("$body--$boundary--\r\n", $type);
    }
    my $length = length("--$boundary--\r\n");
    for my $part (@$parts) {
        my $size = defined $part->{file} ? -s $part->{file} : length $part->{content};
        $length += length("--$boundary\r\n$part->{head}") + ($size // 0) + 2;
    }
    return (undef, $type, { parts => $parts, boundary => $boundary, length => $length });
}

# A code ref giving the multipart body piece by piece: a file 64 KiB at a
# time, so only one piece of it is in memory.
sub _multipart_reader {
    my ($mp) = @_;
    my ($i, $fh, $done) = (0);
    my $reader = sub {
        return '' if $done;
        my $parts = $mp->{parts};
        while (1) {
            if ($fh) {
                my $n = read($fh, my $piece, 65536);
                die "reading form file failed: $!\n" unless defined $n;
                return $piece if $n;
                undef $fh;
                $i++;
                return "\r\n";
            }
            if ($i == @$parts) {
                $done = 1;
                return "--$mp->{boundary}--\r\n";
            }
            my $part = $parts->[$i];
            my $head = "--$mp->{boundary}\r\n$part->{head}";
            unless (defined $part->{file}) {
                $i++;
                return "$head$part->{content}\r\n";
            }
            open $fh, '<:raw', $part->{file}
                or die "cannot read form file '" . Uvent::_shown($part->{file}) . "': $!\n";
            return $head;
        }
    };
    return bless $reader, 'Uvent::HTTP::Pool::_FormReader';
}

# The next piece of a streamed body, for the core (xs/callbacks.h's
# uvx_on_pull): '' at its end. A death ends the request with request_body,
# its message the detail.
sub _body_piece {
    my ($request) = @_;
    my $src = $request->{_uvent_body};
    my $piece;
    if (Scalar::Util::reftype($src) eq 'CODE') {
        unless (eval { $piece = $src->($request); 1 }) {
            die $@ if ref $src eq 'Uvent::HTTP::Pool::_FormReader';
            my $err = "$@";
            $err =~ s/\n\z//;
            die "the 'body' code ref died: $err\n";
        }
    } else {
        my $n = read($src, $piece, 65536);
        die "reading the 'body' filehandle failed: $!\n" unless defined $n;
    }
    return '' unless defined $piece;
    die "a piece of the 'body' must be a string of bytes, got " . _what($piece) . "\n" if ref $piece;
    die "Wide character in a piece of the 'body': encode it to bytes first (utf8::encode or Encode::encode_utf8)\n"
        if utf8::is_utf8($piece) && !utf8::downgrade($piece, 1);
    return $piece;
}

# ---- JSON

# Cpanel::JSON::XS when installed, else JSON::PP; canonical (sorted keys).
our $JSON_BACKEND;
my %JSON_CODER;
sub _json_coder {
    my $class = $JSON_BACKEND // (eval { require Cpanel::JSON::XS; 1 } ? 'Cpanel::JSON::XS' : 'JSON::PP');
    return $JSON_CODER{$class} //= do {
        (my $file = "$class.pm") =~ s{::}{/}g;
        require $file;
        $class->new->utf8->canonical->allow_nonref;
    };
}

sub _json_encode {
    my ($data, $prefix) = @_;
    my $json;
    return $json if eval { $json = _json_coder()->encode($data); 1 };
    (my $why = $@) =~ s/ at \S+ line \d+\.?\n\z//;
    Carp::croak("$prefix: 'json' cannot be encoded as JSON: $why");
}

# validate: the fields as request() would build them
sub _validate_fields {
    my ($request) = @_;
    my $chain = _chain_of($request, undef, 'Uvent::HTTP::Request->validate');
    return _wire_fields({ %$chain, jar => undef });
}

1;

__END__

=head1 NAME

Uvent::HTTP::Pool - HTTP/1.1 connection pool with per-destination limits and a request queue

=head1 SYNOPSIS

    use Uvent;

    my $loop = Uvent::Loop->default;
    my $pool = Uvent::HTTP::Pool->new({
        timeout         => 30,    # close connections idle for 30 s
        max_connections => 2,     # per destination
    }, $loop);

    my $done = 0;
    for my $n (1 .. 5) {
        my $client = $pool->request({
            uri               => "http://127.0.0.1:8080/?n=$n",
            method            => 'GET',
            headers           => [ 'Accept' => 'text/plain', 'X-Request-Id' => $n ],
            timeout           => 5,
            response_callback => sub {
                my ($request, $response, $error) = @_;
                $done++;
                if ($error) {
                    printf "%s failed (%s): %s\n", $request->uri, $error->code, $error;
                } else {
                    printf "%s: %d, %d bytes\n", $request->uri, $response->code, length $response->body;
                }
            },
        });
        print "request $n ", ($client ? "runs on " . $client->destination : "is queued"), "\n";
    }
    printf "open: %d, busy: %d, queued: %d\n", $pool->size, $pool->nbusy, $pool->nqueued;
    $loop->run;
    printf "%d callbacks, %d idle connection(s) kept\n", $done, $pool->size;

    # a POST with a body
    $pool->request({
        uri               => 'http://127.0.0.1:8080/upload',
        method            => 'POST',
        headers           => { 'Content-Type' => 'application/json' },
        body              => '{"a":1}',
        response_callback => sub { print "POST: ", $_[1]->code, "\n" },
    });
    $loop->run;

    # the shared pool of a loop
    my $shared = Uvent::HTTP::Pool->instance($loop);

HTTPS, not runnable as written: the host and the file names stand for your
own server, CA and client certificate.

    # verified against the system trust store by default
    $pool->request({
        uri               => 'https://example.com/',
        response_callback => sub { my (undef, $res, $err) = @_; print $err ? "failed: $err\n" : $res->code . "\n" },
    });
    $loop->run;

    # a private CA and a client certificate, for every request of a pool
    my $internal = Uvent::HTTP::Pool->new({
        tls => { ca_file => '/etc/myapp/ca.pem', cert_file => '/etc/myapp/client.pem', key_file => '/etc/myapp/client.key' },
    }, $loop);

=head1 DESCRIPTION

A pool runs HTTP/1.1 requests over connections that it opens, keeps and
reuses. It belongs to one L<Uvent::Loop>; requests make progress and
callbacks run only while that loop runs.

=head2 Destinations, reuse and queueing

A destination is the scheme, the lower-cased host and the port of the request
URI (C<http://example.com/> and C<http://EXAMPLE.com:80/x> share
connections; C<http://127.0.0.1/> and C<http://localhost/> do not), and for
C<https://> also the TLS settings in force (see L</HTTPS>), and the socket
options of a request that differ from its pool's (see L</Socket options>). For each
destination the pool keeps the connections it opened and a queue of waiting
requests. When a request is submitted:

=over 4

=item 1.

if the destination has an idle connection, the request is given to it (the
most recently used idle connection first); it is written to the socket by the
loop, after the pre-write check (see L</Requests are never lost>);

=item 2.

otherwise, if fewer than C<max_connections> connections to that destination
are open, a new connection is opened for it (DNS lookup, then TCP connect
to the addresses found; an IP address needs no lookup; see L</Connecting>). When
C<max_total> is set and that many connections are open over all
destinations, the least recently used idle connection of the pool is closed
to make room (normally one of another destination: an idle connection of
this one would have been used); when there is no idle connection to close,
the request is queued;

=item 3.

otherwise the request is queued, unless C<max_queue> requests of that
destination are already waiting: then it fails with C<queue_full>. Queued
requests of a destination are served first in, first out; only a request
that goes back to the queue (a retry, or a request whose connection was
found closed before it was written) is put back at its head.

=back

When a connection finishes a request and may be reused (see
L</CONNECTION REUSE>), the next queued request of the same destination starts
on it I<before> the finished request's callback runs; if it may not be reused,
it is closed and, if requests are queued, a new connection is opened for the
first of them, also before the callback. When a connection closes for any
other reason, a queued request of that destination opens a new one. With
C<max_total>, a connection that closes or goes idle anywhere also lets a
request queued for another destination open its connection.

Late binding: a request for which a new connection is being opened does not
have to wait for that connection. If another connection of the destination
becomes free first and no request is queued, the request moves to that
connection (the oldest such request first). The new connection goes on
connecting; when it is up it takes the first queued request of the
destination, or becomes idle. If it fails to connect or times out, it is
just closed: no request was waiting on it, so no callback sees an error.

Idle connections are watched: if the server closes one, resets it or sends
anything on it, it is closed and removed at once (L</size> drops). Idle
connections are also closed after the idle timeout (see L</CONFIGURATION>).
The idle timeout of each connection is shortened by a random amount of up to
5%, so that connections opened together do not all close together.

=head2 Requests are never lost

A request sent on a kept-alive connection can meet a server that closes
that connection at the same moment. The pool handles that race in two ways.

The pre-write check. A request given to an idle connection is not written
at once: it is written from the loop's check phase, after the loop has
processed that iteration's reads. A connection the server had already closed
(or reset, or written to) by then has been noticed, so it is never chosen: it
is closed (counted in C<idle_closed_peer>, see L</stats>), and the request,
of which nothing was sent, goes back to the head of the queue and runs on
another connection. This is not a retry: L<Uvent::HTTP::Response/retried>
stays false. It also means that a request given to an idle connection is
sent only when the loop runs.

Safe retry. When the server closes the connection after the request was
written, the request is sent again, but only if all of these hold:

=over 4

=item *

the connection was a reused one: it had served a request before this one.
A request on a new connection is never retried;

=item *

the connection ended (EOF, a reset, or a failed write) before any byte of a
response arrived; the error would otherwise be C<connection_closed>. Timeouts,
malformed responses and every other error are never retried;

=item *

the request is safe to repeat: its method is C<GET>, C<HEAD>, C<OPTIONS>,
C<TRACE>, C<PUT> or C<DELETE> (upper case, compared exactly), or it has an
C<Idempotency-Key> header (any value), or it was submitted with
C<< idempotent => 1 >>. A request of any method is also safe when not a
byte of it had been written (the write failed at once);

=item *

its body can be sent again: a string (or none), not a filehandle, a code
ref or a pushed body (L</STREAMED UPLOADS>);

=item *

it was not retried already: a request is sent again at most once;

=item *

its C<retry> parameter is not false (C<< retry => 0 >> disables retrying,
also for a request of which nothing was written);

=item *

its C<timeout> has not expired.

=back

The retry goes to the head of the destination's queue and is sent on a new
connection, never on another reused one; it takes the room the closed
connection left. It counts against the same C<timeout>, which is not
restarted (the new connection has its own C<connect_timeout>). A retried
request is still one request for the callback and for L</stats>
(C<requests>); the retry is counted in C<retried>, and
L<Uvent::HTTP::Response/retried> is true. If the retry fails too, the error
message contains C<after a retry on a new connection> (see
L<Uvent::Error/message>), unless it is a C<resolve> error, whose message has
its own form.

A C<POST> or C<PATCH> without C<Idempotency-Key> or C<< idempotent => 1 >>
that was written on a connection the server closed fails with
C<connection_closed>, since the server may have acted on it.

=head2 Connecting

A new connection first finds the addresses of its host: an IP address is
used as it is; a C<host:port> in the pool's C<resolve> option gets the
addresses given there (like curl's C<--resolve>); any other name is looked
up with C<getaddrinfo> (C</etc/hosts>, then DNS), through the pool's DNS
cache:

=over 4

=item *

a name looked up successfully is remembered for C<dns_cache_ttl> seconds
(default 60; 0 turns the cache off), a failed lookup for 1 second (the
requests in that second fail with the same C<resolve> error). The cache is
per name, for every port. It keeps at most 256 names.

=item *

connections that need the same name while its lookup is running share that
lookup: 100 requests submitted at once to a new name make one lookup.

=item *

C<stats> counts C<dns_lookups> (C<getaddrinfo> calls made), C<dns_cache_hits>
and C<dns_shared> (connections that joined a lookup in flight). IP addresses
and C<resolve> entries count in none of them.

=back

Then it connects with Happy Eyeballs (RFC 8305): the addresses of the
C<family> asked for (both by default) are sorted to alternate the families,
IPv6 first, each family in the resolver's order. The first address is tried;
while that attempt is pending, the next starts after
C<happy_eyeballs_delay> seconds (default 0.25), and so on, and an attempt
that fails (refused, unreachable) starts the next one at once. The first
connection up is used; the other attempts are closed. A host whose IPv6
path is broken and drops packets is therefore reached over IPv4 a quarter
of a second later, not after the C<connect_timeout>. When every attempt
fails, the request gets one C<connect> error whose message names each
address and its error:

    could not connect (GET http://he.test:8080/): [::1]:8080: connection refused; 127.0.0.1:8080: connection refused

C<connect_timeout> covers the lookup and all the attempts.

=head2 Socket options

C<family>, C<tcp_nodelay>, C<tcp_keepalive>, C<so_linger>,
C<socket_buffer_size> and C<local_address> (see L</CONFIGURATION>) are set
on every new socket before it connects. Each is a pool option and a request
option (see L</request>), a request's value overriding the pool's. A request
whose options differ from its pool's belongs to a destination of its own
(see L</Destinations, reuse and queueing>): connections are never shared
between different options, and L<Uvent::HTTP::Client/destination> still names
the target only. C<happy_eyeballs_delay>, C<resolve> and C<dns_cache_ttl>
are pool options only.

=head1 CONSTRUCTORS

=head2 new

    my $pool = Uvent::HTTP::Pool->new;
    my $pool = Uvent::HTTP::Pool->new(\%config);
    my $pool = Uvent::HTTP::Pool->new(\%config, $loop);
    my $pool = Uvent::HTTP::Pool->new($loop);

Creates a pool on C<$loop> (the default loop when omitted or undef) with the
configuration in C<\%config> (see L</CONFIGURATION>; omitted keys take their
defaults, and C<\%config> itself may be omitted or undef). A
L<Uvent::Loop> alone is the loop, with the default configuration, as
UniEvent::HTTP::Pool takes it. The pool holds a reference to its loop.

Croaks with (the class name is the one C<new> was called on):

=over 4

=item C<Uvent::HTTP::Pool-E<gt>new: the config must be a hashref (or give a Uvent::Loop alone), got WHAT>

WHAT is the value in quotes, C<a reference to ARRAY> or C<a CLASS object>

=item C<Uvent::HTTP::Pool-E<gt>new: the loop comes after the config: new(\%config, $loop)>

for C<< new($loop, \%config) >>

=item C<Uvent::HTTP::Pool-E<gt>new: expects (\%config, $loop), (\%config), ($loop) or nothing, got N arguments>

=item C<Uvent::HTTP::Pool-E<gt>new: unknown config key 'KEY' (known: allow_downgrade, cookie_jar, decompress, dns_cache_ttl, env_proxy, expect_timeout, family, follow_redirect, happy_eyeballs_delay, local_address, max_body_size, max_connections, max_header_count, max_headers_size, max_lifetime, max_queue, max_requests_per_connection, max_total, proxy, queue_timeout, read_timeout, redirection_limit, resolve, so_linger, socket_buffer_size, tcp_keepalive, tcp_nodelay, timeout, tls)>

(C<keys> and a list when several are unknown)

=item C<Uvent::HTTP::Pool-E<gt>new: 'KEY' must be a number E<gt>= 0, got 'VALUE'>

also for an undef value (C<got undef>) or a reference. Numbers are written
in decimal, optionally with an exponent (C<1e3>); no sign. C<NaN> and
C<Inf> are not numbers here.

=item C<Uvent::HTTP::Pool-E<gt>new: 'KEY' must be a finite number of seconds E<gt>= 0 (at most 1e9), got 'VALUE'>

for C<timeout>, C<max_lifetime>, C<queue_timeout>, C<happy_eyeballs_delay> or
C<dns_cache_ttl> above 1e9 seconds (about 31 years), such as C<1e308>

=item C<Uvent::HTTP::Pool-E<gt>new: 'KEY' must be a whole number, got 'VALUE'>

for a fraction given to C<max_connections>, C<max_headers_size>,
C<max_body_size>, C<max_header_count>, C<max_requests_per_connection>,
C<max_queue> or C<max_total>

=item C<Uvent::HTTP::Pool-E<gt>new: 'decompress' must be true or false, got WHAT>

for undef or a reference

=item C<Uvent::HTTP::Pool-E<gt>new: 'KEY' is too large (at most MAX), got 'VALUE'>

for a count (C<max_connections>, C<max_requests_per_connection>,
C<max_queue>, C<max_total>, C<max_header_count>) above 4294967295, or a byte limit
(C<max_headers_size>, C<max_body_size>) above 2**53 (9007199254740992; on
a 32-bit perl 4294967295)

=item C<Uvent::HTTP::Pool-E<gt>new: 'max_connections' must be a whole number E<gt>= 1>

=item C<Uvent::HTTP::Pool-E<gt>new: 'redirection_limit' must be a whole number E<gt>= 0 (at most 1000000), got 'VALUE'>

=item C<Uvent::HTTP::Pool-E<gt>new: 'cookie_jar' must be an object with the methods add and cookie_header (as HTTP::CookieJar has), got WHAT>

=item C<Uvent::HTTP::Pool-E<gt>new: the loop must be a Uvent::Loop, got WHAT>

=item C<Uvent::HTTP::Pool-E<gt>new: cannot load ca_file 'FILE': No such file or directory>

and the other messages about C<tls> settings listed in L</ERRORS>: the
pool's default TLS settings are checked, and their files read, by C<new>

=item C<Uvent::HTTP::Pool-E<gt>new: 'proxy' must be a proxy URL string (http://, https://, socks5:// or socks5h://), got WHAT>

=item C<Uvent::HTTP::Pool-E<gt>new: proxy: invalid proxy URL 'URL': REASON>

=item C<Uvent::HTTP::Pool-E<gt>new: env_proxy: environment variable NAME: invalid proxy URL 'URL': REASON>

REASON as for a request's C<proxy> (L</ERRORS>); the credentials in the URL
are shown as C<***>

=item C<Uvent::HTTP::Pool-E<gt>new: 'env_proxy' must be 0 or 1, got WHAT>

=back

=head2 instance

    my $pool = Uvent::HTTP::Pool->instance;
    my $pool = Uvent::HTTP::Pool->instance($loop);
    my $pool = Uvent::HTTP::Pool::instance($loop);

Returns the instance pool of C<$loop> (the default loop when omitted or
undef), creating it with the default configuration on first use. The same
loop always gives the same pool, different loops give different pools. It
can be called as a class method or as a plain function.
L<Uvent::HTTP/http_request> and the asynchronous L<Uvent::HTTP/http_get> use
it.

The instance pool belongs to its loop and does not keep the loop alive: when
a C<< Uvent::Loop->new >> loop is destroyed, its instance pool goes with it
(its pending requests are cancelled, see L<Uvent::Loop/OBJECT LIFETIME>).
Its configuration can be changed with L</idle_timeout> and
L</max_connections>.

=head1 CONFIGURATION

=over 4

=item timeout

Idle timeout in seconds (fractional allowed; default 60): a kept-alive
connection that has been idle this long is closed. 0 means idle connections
are never closed for idleness (they are still closed when the server closes
them, or at C<max_lifetime>). A C<Keep-Alive: timeout=N> response header can
shorten it for one connection (see L</CONNECTION REUSE>). Each time a
connection becomes idle, its limit is shortened by a random amount of up to
5% (jitter), so that connections opened together do not close together; it is
never lengthened. This is not a request timeout; see the
C<timeout> parameter of L</request> for that.

=item max_connections

The most connections open at the same time to one destination (default 10,
a whole number E<gt>= 1). Connections being resolved or connected count. See
C<max_total> for a limit across destinations.

=item max_total

The most connections open at the same time over all destinations (default
0, no limit; a whole number). Connections being resolved or connected count.
When a request needs a new connection and the limit is reached, the least
recently used idle connection of the pool, whatever its destination, is
closed to make room; when no connection is idle, the request is queued until
a connection closes or goes idle somewhere. Such a close counts in
C<connections_closed> only, not as an idle timeout or a server close.

=item max_queue

The most requests that may wait in the queue of one destination (default 0,
no limit; a whole number). A request that would make the queue longer than
that fails with C<queue_full> without being sent. That callback never runs inside the
C<request> call: it runs from the loop, at its next iteration. Requests put
back at the head of the queue (retries, and requests whose connection was
found closed before they were written) are not limited.

=item queue_timeout

Seconds (fractional allowed) a request may wait in the queue for a
connection (default 0, no limit). A request that waited that long leaves the
queue and fails with C<queue_timeout>; it was never sent. A request that is
running is not limited by it. When the request's own C<timeout> comes first,
the error is C<timeout>.

Queued requests whose time is up (by C<queue_timeout> or their own
C<timeout>) are called back in the order of those times, earliest first and
first queued among equal ones, across all destinations of the pool. The
pool keeps their deadlines in one heap, so queuing, leaving the queue,
cancelling and expiring cost O(log n) for n queued requests: a queue of
100,000 costs no more per request than one of 1,000 (see
F<bench/queue.pl>).

=item max_lifetime

Seconds (fractional allowed) after its connect during which a connection may
be reused (default 0, no limit). A connection older than that is closed after
the response it is running; an idle one is closed when it reaches that age
(counted in C<idle_closed_timeout>).

=item max_requests_per_connection

The most requests one connection carries (default 0, no limit; a whole
number). The connection is closed after the response to its last one. A
server's C<Keep-Alive: max=N> header can lower the limit for one connection
(see L</CONNECTION REUSE>).

=item follow_redirect, redirection_limit, allow_downgrade

The defaults of the requests' parameters of the same names (1, 20 and 0);
see L</REDIRECTS>. C<redirection_limit> is a whole number of at most
1000000.

=item cookie_jar

A cookie jar all requests use unless they give their own (default none);
see L</COOKIES>.

=item expect_timeout

The default C<expect_timeout> of the pool's requests (default 1 second):
how long a request carrying C<Expect: 100-continue> waits for the C<100>
before it sends its body anyway. See L</EXPECT: 100-CONTINUE>.

=item read_timeout

The default C<read_timeout> of the pool's requests (see L</request>):
seconds (fractional allowed) without a single byte arriving while a
response is awaited or read (default 0, none).

=item max_headers_size

The most bytes a response's header block may have, counted about as on the
wire: status line, headers and chunked trailers together (default 65536; 0
means no limit). A response that
exceeds it fails with C<too_large>. Requests can override it.

=item max_body_size

The most bytes a response body may have after de-chunking (default
1073741824, 1 GiB; 0 means no limit). Bodies are buffered in memory, so the
default keeps a server that sends an endless body from growing the process
without bound; ask for 0 only when you trust the servers. A response that
exceeds the limit fails with C<too_large> as soon as the limit is crossed, or
at once when its C<Content-Length> says it will; the body is never read
further, and the message names the limit, e.g. C<response body exceeds
max_body_size (1073741824 bytes); raise max_body_size, or set it to 0 for no
limit>. Requests can override it. A body Uvent decodes counts its decoded
bytes (see L</DECOMPRESSION>): a decompression bomb fails as soon as it has
expanded past the limit.

=item max_header_count

The most header lines a response may have, its chunked trailers included
(default 1000; a whole number, 0 means no limit). A response with more fails
with C<too_large> as the line over the limit arrives, e.g. C<response has
more than max_header_count (1000) header and trailer lines; raise
max_header_count, or set it to 0 for no limit>; the connection is closed.
The header lines of a C<1xx> response are not counted (C<max_headers_size>
bounds them). Requests can override it.

=item decompress

Whether requests ask for compressed bodies and decode them (default 1,
true; any true or false value). See L</DECOMPRESSION>. Requests can
override it.

=item happy_eyeballs_delay

Seconds between the start of one connect attempt and the next while the
earlier ones are pending (default 0.25; see L</Connecting>). 0 starts every
address at once.

=item resolve

A hashref of C<'host:port' =E<gt> [IP addresses]>: connections to that host
and port use these addresses, in this order, with no lookup, like curl's
C<--resolve> (e.g. C<< { 'api.test:443' => ['::1', '127.0.0.1'] } >>; one
address may be given as a plain string; host names match case-insensitively;
an IPv6 host may be written in brackets, C<'[::1]:80'>). Each address must
be an IPv4 or IPv6 literal.

=item dns_cache_ttl

Seconds a successful lookup is remembered (default 60; 0 turns the cache
off); a failed one is remembered for 1 second (see L</Connecting>).

=item family

C<4> (IPv4 only), C<6> (IPv6 only) or C<0> (both, the default): the
addresses of a name that are tried. A name (or IP address) with no address
of that family fails with C<resolve>, saying so.

=item tcp_nodelay

C<1> (the default) sets C<TCP_NODELAY>: a request goes out at once, not
held back by Nagle's algorithm; C<0> leaves it off.

=item tcp_keepalive

Seconds a connection may idle before the system sends TCP keepalive probes
(C<SO_KEEPALIVE> with C<TCP_KEEPIDLE>); 0 (the default) leaves keepalive
off. A whole number up to 32767. It keeps idle connections alive through
firewalls and NAT that forget silent ones.

=item so_linger

C<SO_LINGER> in seconds: how long closing a socket may wait for unsent data
(0 resets the connection at close). -1 (the default) leaves the system's
default. A whole number up to 65535.

=item socket_buffer_size

C<SO_RCVBUF> and C<SO_SNDBUF> in bytes (the system may round or double it,
as Linux does); 0 (the default) leaves the system's. A whole number up to
1073741824.

=item local_address

An IPv4 or IPv6 address the socket is bound to before it connects (e.g.
C<127.0.0.2>, or one of the machine's addresses to choose the outgoing
interface); default none. An address of the target of the other family is
skipped, and when none is left the request fails with C<connect>, whose
message says C<skipped, local_address 127.0.0.2 is IPv4>.

=item tls

A hashref of default TLS settings for the pool's C<https://> requests (see
L</HTTPS> for the keys). A request's own C<tls> settings override these key
by key. The settings are checked when the pool is created: a file that
cannot be loaded croaks there.

=item proxy

The default proxy of the pool's requests: an C<http://>, C<https://>,
C<socks5://> or C<socks5h://> URL with an optional C<user:password@> (see L</ROUTES AND
PROXIES>); undef or C<''> (the default): none. A request's own C<proxy>
overrides it (undef or C<''> there goes direct). A bad URL croaks at
C<new>, naming C<proxy>.

=item env_proxy

1: take proxies from the environment as curl does (C<http_proxy>,
C<https_proxy>, C<all_proxy>, C<no_proxy>; see L</ROUTES AND PROXIES>),
read once, when the pool is created. Default 0: the environment is
ignored. A bad value in a variable croaks at C<new>, naming the variable.

=back

Every value must be a number E<gt>= 0, and the keys described as whole
numbers must be whole numbers. For C<max_total>, C<max_queue>,
C<queue_timeout>, C<max_lifetime> and C<max_requests_per_connection>, 0 (the
default) means no limit. Unknown keys croak. C<tls> is the one key whose
value is a hashref, C<proxy> a string and C<env_proxy> 0 or 1.

=head1 METHODS

=head2 request

    my $client = $pool->request(\%params);
    my $client = $pool->request($request);    # a Uvent::HTTP::Request

Submits a request. C<\%params> holds the parameters below; a hashref is
turned into a L<Uvent::HTTP::Request> with C<< Uvent::HTTP::Request->new >>,
which is the object the callback receives. An existing request object can be
given instead; one whose previous exchange has finished can be submitted
again.

Returns the L<Uvent::HTTP::Client> (connection) the request was given to, or
undef when the request was queued (or will fail with C<queue_full>); called
in void context it makes no Client object. The
request may still end up on another connection: by late binding, by the
pre-write check or by a retry (see L</DESCRIPTION>). Either way the request
is under way: the callback will be called exactly once (see L</CALLBACKS>).
When C<request> croaks, nothing is sent and the callback is never called.

Parameters (undef values mean "the default"):

=over 4

=item uri

Required. An absolute C<http://> or C<https://> URI:
C<http[s]://[user:password@]host[:port][/path][?query][#fragment]>
(the default port is 80 for C<http>, 443 for C<https>).
The host may be a name, an IPv4 address or an IPv6 literal in brackets
(C<http://[::1]:8080/>). The scheme is case-insensitive, the host is
lower-cased and at most 255 characters long (DNS names are at most 253).
The fragment is not sent. The URI must be ASCII without spaces or
control characters (percent-encode anything else). An object (such as a
L<URI>) is used through its string form.

=item method

The request method (default C<GET>), sent exactly as given. It must be an
HTTP token. Give it in upper case: the special handling of C<HEAD> (no
response body), the automatic C<Content-Length: 0> for C<POST>, C<PUT> and
C<PATCH>, and the methods that may be retried (see L</Requests are never
lost>) are case-sensitive.

=item headers

Extra request headers, either a hashref or an arrayref of name/value pairs.
With a hashref, headers are sent in Perl's hash order; a value may be an
arrayref to send the header once per element. With an arrayref, headers are
sent in the given order and names may repeat. Names must be HTTP tokens;
values must not contain CR, LF, NUL or other control characters (tab is
allowed). See L<Uvent::HTTP::Request/THE REQUEST ON THE WIRE> for the headers
Uvent adds and the ones you cannot set. An C<Idempotency-Key> header (any
value) makes the request safe to retry whatever its method.

=item body

The request body, a string of bytes (a string with characters above 255
croaks with C<Wide character>; encode it first), of at most 4 GiB - 1
bytes. It is sent with a C<Content-Length> header (chunked with C<<
chunked => 1 >>); over TLS it is encrypted 256 KiB at a time as the socket
takes it. A filehandle or a code reference streams the body instead; see
L</STREAMED UPLOADS>.

=item chunked

True: the body goes out with C<Transfer-Encoding: chunked>, a string body
too. With no C<body> the body is pushed with
L<Uvent::HTTP::Request/send_chunk>. With a C<Content-Length> header it
croaks. See L</STREAMED UPLOADS>.

=item continue_callback

Called with C<($request)> when a C<100 Continue> arrives for a request
carrying C<Expect: 100-continue>, just before its body goes out (a piece
pushed from it goes first). See L</EXPECT: 100-CONTINUE>.

=item expect_timeout

Seconds a request carrying C<Expect: 100-continue> waits for the C<100>
before it sends its body anyway. Default: the pool's C<expect_timeout>
(default 1).

=item timeout

Seconds (fractional) for the whole request, from the call to C<request> until
the response is complete, time spent in the queue and on a retry included.
Default 20; 0 means no limit. When it expires, a queued request leaves the
queue and a running one is aborted and its connection closed; the callback
gets a C<timeout> error.

=item connect_timeout

Seconds for the DNS lookup and the TCP connect of a new connection. Default:
the value of C<timeout>. 0 means no separate limit (C<timeout> still
applies). Through a proxy it also covers the proxy's handshake (CONNECT or
SOCKS5); with TLS, the TLS handshake too. It does not apply when the request is sent on an idle connection;
a retry's new connection gets the full C<connect_timeout> again.
When it expires, the callback gets a C<connect_timeout> error. Whichever of
C<timeout> and C<connect_timeout> expires first wins.

=item read_timeout

Seconds (fractional) without a single byte arriving, while the response is
awaited or being read: the clock starts when the request's last byte has
been written (or at the response's first byte, if that comes earlier) and
starts again with every byte read, so a slow but steady download never
hits it, and a server that stalls does. Default: the pool's C<read_timeout>
(0, none). When it expires, the callback gets a C<timeout> error whose
message says it was the read timeout and how many bytes of the response had
arrived, e.g. C<timeout: read timeout: no byte arrived for 0.5 s (120 bytes
of the response had arrived)>; the connection is closed. It is separate
from C<timeout>, which bounds the whole request; whichever expires first
wins. Over TLS a byte of ciphertext counts, so a server that trickles one
record byte by byte is not timed out.

=item max_headers_size

=item max_body_size

=item max_header_count

Limits for this request's response, overriding the pool's
L</CONFIGURATION> (same meaning, 0 = no limit; a request that sets none
gets the pool's, by default 65536 bytes, 1073741824 bytes and 1000 lines).

=item decompress

True: send C<Accept-Encoding> and decode the body; false: neither. Undef
(the default) takes the pool's C<decompress> (by default true). See
L</DECOMPRESSION>. A C<headers> entry named C<Accept-Encoding> turns
decoding off for the request whatever this says.

=item retry

Whether the request may be sent again on a new connection when the reused
connection it was written on is closed by the server before any response
byte (default 1, true). The request must also be safe to repeat; see
L</Requests are never lost> for the exact rules. C<< retry => 0 >> disables
it: the request then fails with C<connection_closed>. A body from a
filehandle, a code ref or pushed is never sent twice, so such a request is
never retried.

=item idempotent

Treat the request as safe to repeat whatever its method (default 0, false),
for example for a C<POST> the server de-duplicates. An C<Idempotency-Key>
header has the same effect.

=item tls

A hashref of TLS settings for an C<https://> request, over the pool's
C<tls> key by key (an undef value leaves that key to the pool); see
L</HTTPS>. Ignored for C<http://>.

=item family

=item tcp_nodelay

=item tcp_keepalive

=item so_linger

=item socket_buffer_size

=item local_address

Socket options of the connection opened for this request, over the pool's
(same values as in L</CONFIGURATION>). A request whose options differ from
the pool's has a destination of its own (see L</Socket options>).

=item proxy

The proxy to go through, an C<http://>, C<https://>, C<socks5://> or C<socks5h://> URL
with optional C<user:password@> (see L</ROUTES AND PROXIES>). A key present
with undef or C<''> goes direct, whatever the pool's C<proxy> or
C<env_proxy> say; an absent key takes the pool's route. A bad URL croaks
(C<invalid 'proxy' 'URL': why>, the credentials not shown) and nothing is
sent.

=item response_callback

A CODE reference called when the request is finished; see L</CALLBACKS>.
Optional: without one the request runs and its result is dropped.

=item follow_redirect

Whether a C<301>, C<302>, C<303>, C<307> or C<308> response with a
C<Location> is followed (default: the pool's, by default 1); see
L</REDIRECTS>.

=item redirection_limit

The most redirects one request follows, a whole number (default: the
pool's, by default 20). One more ends the request with
C<redirection_limit>; 0 refuses the first.

=item allow_downgrade

Whether a redirect from C<https://> to C<http://> is followed (default: the
pool's, by default 0: it ends the request with C<bad_redirect>).

=item redirect_callback

A CODE reference called before each redirect is followed, with
C<($request, $response, $next_uri)>; a false return stops there. See
L</REDIRECTS> and L</CALLBACKS>.

=item form

A form to send: an arrayref of name/value pairs (sent in that order, names
may repeat) or a hashref (sent in the sorted order of its names; an
arrayref value repeats the name). Sent as
C<application/x-www-form-urlencoded>: names and values are taken as
characters and encoded as UTF-8, then percent-encoded as HTML forms are
(C<A-Z a-z 0-9 * - . _> as they are, a space as C<+>, the rest as
C<%XX>), joined with C<&>; so a string of bytes above 0x7F is taken as
Latin-1 characters, as L<HTTP::Tiny/www_form_urlencode> does.

A value that is a hashref makes it C<multipart/form-data> (with a random
boundary of 24 letters and digits, checked not to occur in the parts held
in memory; files are not read for it): C<< { file => $path } >>
sends the file (its name without the directory as the C<filename>), C<<
{ content => $bytes } >> sends the bytes (a character above 255 croaks
with C<Wide character in form field 'NAME' content>); both take
C<filename> and C<content_type> (default C<application/octet-stream>).
Plain values are text parts in UTF-8. Quotes, CR and LF in names and file
names are sent as C<%22>, C<%0D> and C<%0A>, as browsers do. Files are
streamed from disk 64 KiB at a time as the socket drains (the body is sent
with its C<Content-Length>, from the files' sizes at submit; a file that
changes size meanwhile fails the request with C<request_body>), so a form
with a large file costs a piece of it in memory; a redirect that keeps the
body (C<307>, C<308>) reads the files again. Each file must be readable
when the request is submitted.

The C<Content-Type> is set unless C<headers> has one; the method is
C<POST> unless C<method> is given. C<form>, C<json> and C<body> exclude
each other.

=item json

Data to send as JSON: encoded with L<Cpanel::JSON::XS> when it is
installed, else L<JSON::PP> (core), canonical (hash keys sorted), as
UTF-8, with C<Content-Type: application/json> unless C<headers> has a
C<Content-Type>; the method is C<POST> unless C<method> is given. Data the
encoder refuses croaks with C<'json' cannot be encoded as JSON: ...>.
C<$Uvent::HTTP::Pool::JSON_BACKEND> (C<'JSON::PP'> or
C<'Cpanel::JSON::XS'>) chooses the encoder, and the decoder of
L<Uvent::HTTP::Response/json>.

=item cookie_jar

A cookie jar for this request, instead of the pool's; C<< cookie_jar =>
undef >> sends and stores no cookies even when the pool has a jar. See
L</COOKIES>.

=item partial_callback

A CODE reference that streams the response body instead of holding it
(a download): called with C<($request, $response, $error)> when the head
has arrived, for each piece of the body, and a last time when it is
over; see L</STREAMING DOWNLOADS>.

=back

Unknown parameter names croak. C<request> croaks with the messages listed in
L</ERRORS>.

Tied and other magical values are read like plain ones, each exactly once:
a tied C<headers> hash or array, tied header names and values, tied
parameters or a tied parameters hash, a tied C<tls> hash. Perl code that
C<request> runs while it reads the parameters (an overloaded C<uri>, a tied
C<FETCH>) may drop the last reference to the pool, its loop or the request
object: all three are held until C<request> returns, and the request is
submitted as usual. If that code dropped the loop, the request is cancelled
when the loop goes, at the end of the statement that called C<request>,
with one callback as always (see L<Uvent::Loop/OBJECT LIFETIME>). If that
code submitted the same request object, C<request> croaks with
C<this request is already in progress>.

=head2 request_f

    my $future = $pool->request_f(\%params);     # or a Uvent::HTTP::Request
    my $response = $future->get;

Submits the request as L</request> does and returns a L<Uvent::Future> (a
L<Future>): done with C<($response)> for every response, whatever its
status; failed with C<($error-E<gt>message, 'http', $error, $response,
$request)> when the request got an error. C<< ->get >> runs the pool's loop
(or the host loop it is attached to) until it is ready; C<< ->cancel >>
cancels the request, whose own C<response_callback>, if it has one, still
runs once with C<cancelled>. A given request object keeps its
C<response_callback>: it runs first, and the object has it back by the time
the future settles. Needs L<Future> 0.33 or later, loaded on the first call
(C<Uvent::HTTP::Pool-E<gt>request_f: needs the Future module (0.33 or
later): install it (...)> without it). Bad parameters croak as for
L</request>, naming C<request_f>, and send nothing.

    use Future::AsyncAwait;
    async sub fetch_both {
        my ($pool, $u) = @_;
        my $first  = await $pool->request_f({ uri => "$u/a" });
        my $second = await $pool->request_f({ uri => "$u/b" });
        return ($first, $second);
    }

=head2 request_p

    $pool->request_p(\%params)->then(sub { my ($response) = @_; ... }, sub { my ($error) = @_; ... });

The same with a L<Mojo::Promise>: resolved with the response (whatever its
status), rejected with the L<Uvent::Error>. The promise settles from
Mojo::IOLoop, so a pool whose loop is not attached to anything is attached
to C<< Mojo::IOLoop->singleton >> by the first C<request_p> (see
L<Uvent::Loop::Mojo>); C<< $promise->wait >> and C<< Mojo::IOLoop->start >>
then run it. Needs Mojolicious, loaded on the first call.

=head2 loop

    my $loop = $pool->loop;

Returns the L<Uvent::Loop> the pool runs on, or undef if that loop has been
destroyed (possible only for an instance pool).

=head2 size

    my $open = $pool->size;

The number of open connections, over all destinations: busy, idle, and
those still being resolved or connected.

=head2 nbusy

    my $busy = $pool->nbusy;

The number of connections that are running a request (including those still
being resolved or connected for their request; a connection whose request
moved to another connection by late binding is not busy while it connects).

=head2 nqueued

    my $waiting = $pool->nqueued;

The number of requests waiting in the queues of all destinations.

=head2 idle_timeout

    my $seconds = $pool->idle_timeout;
    $pool->idle_timeout($seconds);

Gets or sets the idle timeout (the C<timeout> config key). Setting it takes
effect at once: connections that are idle now get a new deadline counted
from the moment of the call. Returns the (new) value. Croaks, changing
nothing, with C<Uvent::HTTP::Pool-E<gt>idle_timeout: 'seconds' must be a number, got '...'> or
C<Uvent::HTTP::Pool-E<gt>idle_timeout: 'seconds' must be a finite number of seconds E<gt>= 0 (at most 1e9), got '...'>
(for a negative value, C<NaN>, C<Inf> or C<1e308>).

=head2 max_connections

    my $n = $pool->max_connections;
    $pool->max_connections($n);

Gets or sets C<max_connections>. Raising it starts queued requests on new
connections at once. Lowering it closes nothing: it limits the opening of new
connections, while connections that are already open keep serving their
destination's queue. Returns the (new) value. Croaks with
C<Uvent::HTTP::Pool-E<gt>max_connections: 'n' must be a number, got '...'> or
C<Uvent::HTTP::Pool-E<gt>max_connections: must be a whole number E<gt>= 1 (at most 1000000), got '...'>,
and, for an instance pool whose loop is gone, with
C<Uvent::HTTP::Pool-E<gt>max_connections: the pool's loop has been destroyed>.

=head2 max_headers_size

    my $bytes = $pool->max_headers_size;

Returns the pool's C<max_headers_size> (see L</CONFIGURATION>). It is
read-only: it is set with C<new>, and per request with the request parameter
of the same name.

=head2 max_body_size

    my $bytes = $pool->max_body_size;

Returns the pool's C<max_body_size> (see L</CONFIGURATION>), read-only like
L</max_headers_size>.

=head2 stats

    my $stats = $pool->stats;
    printf "%d requests, %d reused a connection, %d timed out\n",
        $stats->{requests}, $stats->{reused}, $stats->{errors}{timeout};

    my $one = $pool->stats($destination);    # e.g. 'http://127.0.0.1:8080'
    print "unknown destination\n" unless $one;
    my $tls = $pool->stats('https://127.0.0.1:8443', { cert_file => $cert });

Without an argument, returns a new hashref of counters kept since the pool
was created, over all destinations:

=over 4

=item requests

requests accepted by L</request> (a retried request counts once; each hop
of a redirect chain counts: see L</REDIRECTS>);

=item responses

requests that completed with a response (C<$error> undef);

=item errors

a hashref from each error code of L<Uvent::Error> (C<resolve>, C<connect>,
C<connect_timeout>, C<timeout>, C<connection_closed>, C<protocol>,
C<too_large>, C<cancelled>, C<queue_full>, C<queue_timeout>, C<tls>,
C<proxy>, C<redirection_limit>, C<bad_redirect>, C<request_body>, C<nomem>) to the number of requests
that ended with it; every key is always present. The redirect step's
errors (C<redirection_limit>, C<bad_redirect>, a C<timeout> between hops)
count here only, not in a destination's counters, and the redirect they
came with counts as a response;

=item connections_opened

=item connections_closed

connections opened and closed so far (the difference is L</size>);

=item reused

requests that were given to a connection that had already served a request
(a request that the pre-write check moves on to another such connection
counts twice);

=item retried

requests that were sent a second time, on a new connection, after the
server closed the reused connection they had been written on (see
L</Requests are never lost>);

=item idle_closed_timeout

idle connections closed by the idle timeout or at C<max_lifetime>;

=item idle_closed_peer

idle connections closed because the server closed or reset them or sent
something unsolicited, including those the pre-write check found so after a
request had been given to them;

=item queued

requests waiting now, the same as L</nqueued>;

=item max_queued

the most requests that were waiting at the same time;

=item queue_wait

the total time, in seconds, that requests spent waiting in the queue;

=item tls_handshakes

TLS handshakes completed with a full key exchange;

=item tls_resumed

TLS handshakes that resumed an earlier session of the destination (see
L</HTTPS>);

=item dns_lookups

DNS lookups made (C<getaddrinfo> calls; IP addresses and C<resolve> entries
make none);

=item dns_cache_hits

new connections whose host the DNS cache answered, with its addresses or a
failure remembered;

=item dns_shared

new connections that joined a lookup of the same name already running (see
L</Connecting>).

=back

With a C<$destination>, returns the same counters for that destination only,
in a hashref with the same keys (C<queued> and C<max_queued> then count that
destination's queue). Any URL of the destination will do: only its scheme,
host and port are used, so C<http://host:port>, C<http://host/> and
C<http://host/any/path?x=1> give the same answer. Returns undef for a
destination the pool does not know. For C<https://> the TLS settings are
part of the destination: those of the pool, over which an optional second
argument, a C<tls> hashref, applies as a request's would. Croaks with
C<Uvent::HTTP::Pool-E<gt>stats: invalid URL '...': ...> (the messages of
L</ERRORS>) when C<$destination> is not a valid C<http://> or C<https://>
URL, and on bad C<tls> keys.

A destination is known from its first request on. While it has no
connection and no request, it is still kept for its counters, as long as
the pool knows at most 256 destinations; beyond that, a destination is
forgotten as soon as it has neither (its counters remain in the pool-wide
totals).

The counters are always kept and cannot be reset.

=head2 shutdown

    $pool->shutdown;

Cancels every queued and running request of the pool and closes every
connection, busy or idle. The callbacks run before C<shutdown> returns, queued
requests first, each with a C<cancelled> error whose message ends in
C<pool shut down>. The pool stays usable: later requests open new
connections. An exception thrown by one of those callbacks propagates out of
C<shutdown>.

=head1 HTTPS

C<https://> requests go through the same pool, methods and callbacks as
C<http://> ones. TLS runs inside the C core, with OpenSSL over the loop's
non-blocking sockets: nothing blocks, whatever the size of the bodies.

=head2 Secure by default

The server's certificate chain is verified against the system trust store
(Debian: the C<ca-certificates> package), and the certificate must be valid
for the URI's host name, or for its address when the host is an IP literal
(no partial wildcards). The host name is sent as SNI (never an address).
TLS 1.2 is the minimum version, and ALPN offers C<http/1.1>.

A failed verification or handshake fails the request with the error code
C<tls> and a message that names the destination and says why, in words:

    TLS failure (GET https://localhost:8443/): certificate verify failed: the server's certificate has expired (X509 error 10)

Other reasons read C<is self-signed>, C<has an unknown issuer>,
C<hostname mismatch: the server's certificate is not valid for 'NAME'>,
C<IP address mismatch: ...>, C<is not yet valid>, C<handshake failed: ...>
with OpenSSL's reason (such as C<the server does not speak TLS here> or a
protocol version the server does not share), and
C<the server refused the client certificate or wants one (...)>, which can
also arrive with the response, after the handshake, as TLS 1.3 servers
check client certificates then. Nothing of the request is sent before the
server's certificate has been verified.

=head2 Settings

Per request (C<tls> parameter) and as pool defaults (C<tls> configuration
key); every key is optional:

=over 4

=item verify

1 (default): verify as above. 0: accept any certificate, for any name.
B<This is unsafe>: anyone between you and the server can read and change
the traffic. Prefer C<ca_file> for private or self-signed servers.
Only 0 and 1 (Perl's own true and false included) are accepted, so that a
value such as C<''> or C<'no'> read from a configuration file cannot turn
the check off (or on) by accident; C<undef> means the default.

=item ca_file

A PEM file of CA certificates trusted instead of the system store.

=item ca_path

A directory of CA certificates in OpenSSL's hashed layout
(C<openssl rehash>), trusted instead of the system store.

=item cert_file

A client certificate (PEM; the chain may follow it in the same file), for
servers that require one.

=item key_file

The private key of C<cert_file>, unencrypted PEM (an encrypted key croaks
with C<key_file 'FILE' is encrypted: give an unencrypted key>; Uvent never
asks for a passphrase). Default: C<cert_file> itself, for a file that holds
both. A request that sets C<cert_file> or C<key_file> takes both from its
own settings, never one from the pool's.

=item ciphers

An OpenSSL cipher list for TLS 1.2 (C<openssl ciphers -v 'LIST'>). TLS 1.3
suites are OpenSSL's defaults.

=item min_version

C<'TLSv1.2'> (default) or C<'TLSv1.3'>.

=item server_name

The name sent as SNI and checked against the certificate, instead of the
URI's host: for connecting to an address (or another name) while verifying
the name the certificate was made for. The C<Host> header still comes from
the URI. A trailing dot (C<example.com.>) is dropped for SNI and the check.
At most 255 characters. Give it per request: as a pool default it would
apply to every https destination of the pool, and a certificate for that
one name would then be accepted for all of them.

=back

Settings that cannot work croak in C<request> (or in C<new> for the pool's)
before anything is sent: a file that cannot be read or is not PEM, a key
that does not match its certificate, a cipher list with nothing usable. See
L</ERRORS>.

=head2 Pooling and session resumption

The TLS settings, by value, are part of the destination: requests with
different client certificates, CA files, verification or C<server_name>
never share a connection, and requests with equal settings do, however
their hashes were built. The core builds one OpenSSL context per distinct
setting and caches the 16 most recently used per pool, so files are read
once, not per connection. Settings are compared by their text (file
names, not file contents): a file replaced later is read by contexts built
later, for new destinations or once its context has left the cache, and a
file removed by then makes such a request croak. To rotate certificates,
give the new files new names (new settings, new connections) or make a
new pool.

Each destination keeps the newest TLS sessions it was given (up to 16: TLS
1.3 tickets, or a TLS 1.2 ticket or session ID) and offers one when a new
connection's TCP connect is done, which saves the certificate exchange and
its verification. A TLS 1.3 ticket is offered once (RFC 8446 advises it);
servers send new ones on every connection, and only when many connections
open together and no unused ticket is left is the last one offered again.
A TLS 1.2 session serves every connection until it expires. L</stats> counts full and resumed
handshakes in C<tls_handshakes> and C<tls_resumed>; a handshake counts when
the client side is done, so with TLS 1.3 one whose client certificate the
server then refuses counts too. TLS 1.2 renegotiation is refused.

=head2 Connections

C<connect_timeout> covers name resolution, the TCP connect and the TLS
handshake; a handshake that does not finish in time fails with
C<connect_timeout> and C<TLS handshake not finished within N s>. A server
that closes an idle TLS connection (with close_notify or not) closes it
like a plain one. When the pool closes a connection itself (idle timeout,
C<Connection: close>, limits, the pool going away) it sends close_notify
first; a child process after a fork drops inherited connections without a
word, so the parent's sessions go on.

A response body delimited by the connection's close (no C<Content-Length>,
not chunked) is complete only if the server ends it with close_notify; a
plain close there fails with C<tls> (the body may have been cut short by an
attacker).

=head1 ROUTES AND PROXIES

A request goes one of these routes to its target:

=over 4

=item direct

A TCP connection to the target (then TLS for C<https://>).

=item via an HTTP proxy (C<http://> target, C<proxy =E<gt> 'http://...'>)

A TCP connection to the proxy, which gets the request in absolute form
(C<GET http://host:port/path HTTP/1.1>, with the target's C<Host>) and, when
the proxy URL has C<user:password@>, C<Proxy-Authorization: Basic> (unless
the request sets that header itself). The connection is kept alive to the
proxy by the usual rules (L</CONNECTION REUSE>); the proxy's own answers
(a C<407>, a C<502>) are responses like any other.

=item CONNECT tunnel, TLS over it (C<https://> target, HTTP proxy)

A TCP connection to the proxy, C<CONNECT host:port HTTP/1.1> with C<Host>
and the credentials, then TLS end to end with the target through the
tunnel: SNI and the certificate check use the target's name (or its
C<tls> C<server_name>), never the proxy's. A non-2xx answer (C<407>
included) fails the request with C<proxy>, the message carrying the status
line, and the connection is closed. A tunnel is kept alive like a direct
TLS connection.

=item via an https:// proxy (C<http://> target, C<proxy =E<gt> 'https://...'>)

The same as through an C<http://> proxy, over TLS to the proxy: its
certificate is verified against the proxy's name with the request's and the
pool's C<tls> settings (C<ca_file> and so on; C<server_name> is the
target's and does not apply). An C<https://> target through an C<https://>
proxy would need TLS inside TLS, which Uvent does not do: C<request>
croaks with C<an https:// target through the https:// proxy HOST:PORT is
not supported (TLS inside TLS)>; an C<http://> proxy URL for the same
proxy, if it takes plain connections, still carries TLS end to end through
its CONNECT tunnel.

=item SOCKS5 (C<socks5://>, C<socks5h://>)

A TCP connection to the proxy and a SOCKS5 handshake (RFC 1928): no
authentication, or username/password (RFC 1929) when the URL has
credentials. With C<socks5://> Uvent resolves the target and sends its
address; with C<socks5h://> the proxy gets the name and resolves it. Then
the request (plain, or TLS to the target as above). A failure reply, a
refused method or refused credentials fail the request with C<proxy>,
naming the reason in words.

=back

Which route: a request's own C<proxy> if it has the key (undef or C<''>:
direct), else the pool's C<proxy>, else with C<env_proxy> the environment's,
else direct.

B<env_proxy> reads the variables when the pool is created, as curl does:
for C<http://> targets C<http_proxy>, for C<https://> targets
C<https_proxy> (then C<HTTPS_PROXY>), and for either C<all_proxy> (then
C<ALL_PROXY>) when the scheme's own is unset. The lower-case name comes
first. C<HTTP_PROXY> in upper case is used only when C<REQUEST_METHOD> is
not set: in a CGI program it comes from the request's C<Proxy:> header
("httpoxy"). An empty value is unset; a value without a scheme is an
C<http://> proxy (an C<https://> one there serves C<http://> targets only,
see above); a path after the proxy's address is ignored. C<no_proxy> (then
C<NO_PROXY>, unless C<no_proxy> is set, even empty), a list separated by
commas or spaces, exempts targets from the environment's proxies (not from
C<proxy> set in code): an entry matches the host itself and every name
below it (C<example.com> and C<.example.com> both match C<example.com> and
C<www.example.com>, never C<badexample.com>), an IP address matches only
that address, compared as an address (C<::1>, C<[::1]> or C<0:0::1>), a CIDR block the addresses in it
(C<10.0.0.0/8>, C<fd00::/8>), C<*> matches everything, and
C<host:port> matches only on that port. Case and a trailing dot are
ignored.

B<Destinations.> The destination key includes the proxy by value (scheme,
host, port and credentials), so connections through different proxies,
with different credentials, or direct ones are never shared, and each has
its own C<max_connections> and queue. C<$client-E<gt>destination> still
names the target, and C<stats($url)> counts the route a request for C<$url>
would take now.

B<Timeouts.> C<connect_timeout> covers the proxy's name lookup, the TCP
connect to it, its handshake (CONNECT or SOCKS5, and a SOCKS5 lookup of the
target) and TLS; a stalled handshake fails with C<connect_timeout>, the
message naming the proxy and the step (C<proxy 127.0.0.1:1080: SOCKS5
handshake waiting for the CONNECT reply, not finished within 2 s>). The
total C<timeout> covers everything. A proxy that cannot be reached fails
with C<connect> (C<proxy 127.0.0.1:3128: connection refused>) or C<resolve>
(C<could not resolve proxy host 'NAME'>).

=head1 DECOMPRESSION

By default every request carries C<Accept-Encoding: gzip, deflate>, followed
by C<, br> and C<, zstd> when Uvent was built with libbrotlidec and libzstd
(C<Makefile.PL> looks for them with pkg-config and reports what it found;
L<Uvent/decoders> lists them at run time), and a response body whose
C<Content-Encoding> is exactly one of those codings is decoded as it
arrives: zlib's streaming inflate writes straight into the response's body,
so the coded body is never held (a few dozen KiB of decoder state and
window at most; 8 MiB for zstd, whose larger windows are refused). Both
forms servers send as C<deflate> are decoded, zlib-wrapped (RFC 1950) and
raw (RFC 1951), told apart by the first two bytes; a gzip body may hold
several members; C<x-gzip> counts as C<gzip>.

A decoded response follows Go's rule: C<Content-Encoding> and
C<Content-Length> (which described the coded bytes) are removed from its
headers, and L<Uvent::HTTP::Response/decoded> names the coding (the empty
string when the body was not decoded). C<max_body_size> counts the decoded
bytes, so a decompression bomb fails with C<too_large> as soon as it has
expanded past the limit and memory stays bounded by it; the coded bytes
are held to it as well.

Left alone, with C<decoded> empty and every header as sent:

=over 4

=item *

a request with C<< decompress => 0 >> (or a pool with it): no
C<Accept-Encoding> is sent either;

=item *

a request with its own C<Accept-Encoding> header: it is sent as given, and
the body, whatever its coding, is the application's to decode;

=item *

anything but exactly one known coding: C<identity>, an unknown coding,
stacked codings (C<gzip, br>, or two C<Content-Encoding> headers), a coding
this build lacks;

=item *

responses without a body: C<HEAD>, C<204>, C<304> and C<Content-Length: 0>
(a chunked or close-delimited body with no bytes decodes to an empty body).

=back

A coded stream that is corrupt (a bad header or checksum, cut short at the
end of the body, followed by other bytes) fails the request with
C<protocol>, naming the coding (C<corrupt gzip-encoded body: incorrect data
check>), and the connection is closed.

=head1 CALLBACKS

    response_callback => sub {
        my ($request, $response, $error) = @_;
        ...
    },

The C<response_callback> is called exactly once for every request that
C<request> accepted, with:

=over 4

=item C<$request>

the L<Uvent::HTTP::Request> object (the one you passed, or the one made from
your hashref);

=item C<$response>

a L<Uvent::HTTP::Response>, always, even on errors; its C<code> is 0 when no
status line arrived;

=item C<$error>

undef when a complete response arrived, whatever its status code, otherwise a
L<Uvent::Error>.

=back

It is called from inside L<Uvent::Loop/run> (or C<run_once>, C<run_nowait>)
of the pool's loop; synchronously from inside L<Uvent::HTTP::Request/cancel>
and L</shutdown>; and from the loop's destruction when the loop goes away
with the request pending. It is never called from inside the C<request> call
that submitted it (not even for C<queue_full>). In a child process after
C<fork>, requests inherited from the parent are dropped without calling
their callbacks there (see L</FORK>). The return value is ignored. The
callback is looked up in the request object when the request finishes, so
changing C<< $request->response_callback >> while the request is pending
changes which code is called.

When the callback runs, the request is already finished (C<< $request->active
>> is false) and the pool's counters are up to date; a queued request may
already have taken over the connection. The callback may do anything: submit
requests (also the same request object again), cancel other requests, shut
the pool down, drop the last reference to the pool or to the request.

If the callback dies, the exception propagates out of C<< $loop->run >> (or
out of C<cancel>/C<shutdown> when it ran from there). The pool had finished
its bookkeeping before calling it, so the loop, the pool and the other
requests stay usable, and a later C<< $loop->run >> continues with them. See
L<Uvent/EXCEPTIONS IN CALLBACKS>.

For a request that followed redirects, the callback runs once, after the
last hop (see L</REDIRECTS>).

=head2 redirect_callback

    redirect_callback => sub {
        my ($request, $response, $next_uri) = @_;
        return 1;    # follow; false: stop, $response is the final response
    },

Called before each redirect is followed, once the redirect's own checks
(the limit, the Location, the downgrade rule) have passed, with the
request, the redirect response and the absolute URI the next hop will go
to (with the fragment it keeps). A true return follows it; a false one
ends the chain with that redirect as the response and no error. It runs
from the loop, like C<response_callback>, between two hops: the request is
not active then. If it dies, the chain stops as for a false return, the
C<response_callback> runs once with the redirect, and the exception
propagates out of C<< $loop->run >>.

=head2 partial_callback

    partial_callback => sub {
        my ($request, $response, $error) = @_;
        if ($response->is_done) { ... }          # the last call: $error set if it failed
        elsif (length(my $piece = $response->body)) { print $fh $piece }
        else { ... }                             # the head: code and headers, no body yet
    },

Called from the loop, like C<response_callback>, while the request is
still active; see L</STREAMING DOWNLOADS> for when. It may call
C<< $request->pause >>, C<resume> and C<cancel>. If it dies, the request is
cancelled (error C<cancelled>, the message ending in C<the partial_callback
died>; its connection is closed, never reused), the C<partial_callback>
is not called again, the C<response_callback> runs once with that error,
and the exception propagates out of C<< $loop->run >>. If it dies in its
last call (C<is_done> true), the request is over already: the
C<response_callback> runs as usual, and the exception propagates the same
way.

=head1 STREAMING DOWNLOADS

    my $fh;
    $pool->request({
        uri              => 'http://127.0.0.1:8080/big.iso',
        max_body_size    => 0,    # the limit counts streamed bytes too
        partial_callback => sub {
            my ($request, $response, $error) = @_;
            if (!$response->is_done && !length $response->body) {    # the head
                open $fh, '>:raw', 'big.iso' or die "big.iso: $!";
            } elsif (!$response->is_done) {
                print $fh $response->body;
            } else {
                close $fh;
            }
        },
        response_callback => sub {
            my ($request, $response, $error) = @_;
            warn "download failed: $error\n" if $error;
        },
    });

With a C<partial_callback> the response body is not accumulated: the
callback gets it piece by piece as it arrives, and neither Perl nor the
core holds more than one piece (about one socket read, at most 64 KiB; a
decoded body is fed to its decoder 4 KiB at a time, and a piece is what
that decodes to: for gzip and deflate at most about 4 MiB, usually a few
KiB). The calls are, in this order:

=over 4

=item * once when the head of the final response has arrived:
C<< $response->code >>, C<headers> and so on are set, C<body> is empty
and C<is_done> is false;

=item * once for each piece of the body, C<< $response->body >> holding
only that piece (a new string each time: keep it, or copy what you need;
a later call of C<body> on the same response object returns the current
piece);

=item * a last time with C<< $response->is_done >> true and C<$error>
undef, or the L<Uvent::Error> when the request failed or was cancelled
after the head (the body is then cut short);

=item * then the C<response_callback> runs as usual, once, with an empty
body (C<< $response->streamed >> is true).

=back

A request that fails before a head arrives gets no C<partial_callback>
call, only its C<response_callback>. A response with no body (C<HEAD>,
C<204>, C<304>) gets the head call and the last one. A body whose
C<Content-Encoding> is decoded (see L</DECOMPRESSION>) streams its decoded
bytes. C<max_body_size> still counts every byte streamed (decoded bytes
for a decoded body): set it to 0 for downloads larger than 1 GiB.

Redirects: a C<301>, C<302>, C<303>, C<307> or C<308> response is never
streamed, whether it is followed or not. Its body is buffered as without
a C<partial_callback> (the redirect step reads it), and C<partial_callback>
runs only for the response that ends the chain when it is not such a
redirect. A chain that ends with a redirect (C<follow_redirect> off, the
C<redirection_limit>, a false C<redirect_callback>) delivers it to the
C<response_callback> with its body and no C<partial_callback> call.

Back-pressure: C<< $request->pause >> stops reading from the socket
(C<uv_read_stop>), so the server's bytes wait in the socket buffers and the
server stops sending when they are full: a paused 1 GB download holds a
few socket buffers, not the file. What was already read is still
delivered. C<< $request->resume >> starts reading again. While the user
has paused a request its C<read_timeout> does not run (it starts over at
the resume); its total C<timeout> does. A request paused before its
response starts reads the first bytes of it, then stops. The pause ends
with the request (a next hop of a redirect chain starts unpaused).

Cancelling a request in the middle of its body (C<< $request->cancel >>
from any callback) closes its connection: the rest of the body is never
read, and the connection is never reused.

=head1 STREAMED UPLOADS

    # from a file, as the socket drains (chunked, or with your Content-Length)
    open my $fh, '<:raw', $path or die $!;
    $pool->request({ uri => $url, method => 'PUT', body => $fh,
        headers => { 'Content-Length' => -s $path }, response_callback => $cb });

    # generated: called for each next piece, '' or undef ends the body
    my $left = 1000;
    $pool->request({ uri => $url, method => 'POST', response_callback => $cb,
        body => sub { my ($request) = @_; $left-- > 0 ? 'x' x 65536 : '' } });

    # pushed: chunked => 1 and no body
    my $request = Uvent::HTTP::Request->new({ uri => $url, method => 'POST', chunked => 1,
        response_callback => $cb });
    $pool->request($request);
    $request->send_chunk($_) for @pieces;
    $request->send_final_chunk;

A C<body> that is a filehandle (a glob, a reference to one, an
L<IO::Handle>) is read 64 KiB at a time with C<read>; a code reference is
called with C<($request)> for each next piece and returns a string of
bytes, C<''> or undef at the end. Either is asked for its next piece only
once the previous one has been written to the socket (over TLS: encrypted
and written), so one piece of the body is in memory at a time, whatever its
size. C<< chunked => 1 >> without a C<body> declares a pushed body: the
application gives the pieces with L<Uvent::HTTP::Request/send_chunk> and
ends it with L<Uvent::HTTP::Request/send_final_chunk>, at any time after
C<request> (pieces given faster than the socket takes them wait in the
request).

A streamed body goes out with C<Transfer-Encoding: chunked>, unless the
request carries a C<Content-Length> header: then it is sent as it is and
must have exactly that many bytes. More, or fewer when it ends, fails the
request with C<request_body> (C<the body is longer than its
Content-Length (more than N of M bytes)>, C<the body ended after N bytes,
short of its Content-Length of M>), and the connection is closed. So does
a code reference that dies (C<the 'body' code ref died: ...>), a
filehandle whose read fails (C<reading the 'body' filehandle failed:
...>), and a piece with characters above 255. In every case the callback
runs once, with that error.

A body that streams cannot be sent twice: such a request is never retried
after a stale kept-alive connection (it fails with C<connection_closed>),
and a C<307> or C<308> redirect ends the chain with that response itself
(redirects that turn into C<GET> are followed). A multipart C<form> with
files is read again from disk instead, so it is retried and follows
redirects as a string body does.

If the server sends its final response before the upload has ended (a
C<413> for a body too large, say), the response is delivered as usual, the
rest of the upload is abandoned (the code ref is not called again, pushed
pieces are dropped and C<send_chunk> returns false) and the connection is
closed: the server would take what follows as the rest of the body.

=head1 EXPECT: 100-CONTINUE

    $pool->request({ uri => $url, method => 'PUT', body => $fh,
        headers => { Expect => '100-continue' }, expect_timeout => 2,
        continue_callback => sub { my ($request) = @_; ... },
        response_callback => $cb });

A request with an C<Expect: 100-continue> header and a body sends its head
alone, then waits, and its body (any kind) goes out when one of these
comes first:

=over 4

=item a C<100 Continue>

L</continue_callback> runs with C<($request)>, then the body goes. A
pushed body may be given from it. If it dies the exception is rethrown by
the loop's C<run>, as for any callback, and the body is still sent.

=item a final response

the response is delivered and the body is never sent; the connection is
closed (whatever the response's framing: the server may still wait for
the body it was told of, so it is never reused). A C<417 Expectation
Failed> is such a response; sending the request again without the header
is the application's choice.

=item C<expect_timeout>

seconds (default 1, the request's or the pool's) without either: the body
is sent anyway, as RFC 9110 10.1.1 asks of clients, for servers that do not
answer C<100>.

=back

The wait counts toward the request's C<timeout>; the C<read_timeout>
starts once the body has been sent. A request without a body sends the
header and does not wait.

=head1 REDIRECTS

A response C<301>, C<302>, C<303>, C<307> or C<308> with a C<Location>
header is followed, unless C<follow_redirect> is off: the next request
(a I<hop>) goes to the URI it names, and so on until a response that is
not followed. The request's C<response_callback> runs once, for the whole
chain, with the last response; L<Uvent::HTTP::Response/redirects> lists
the earlier ones, oldest first, and L<Uvent::HTTP::Response/uri> is the
URI the response came from.

=over 4

=item The method

C<303>, and C<301> and C<302> for any method but C<GET> and C<HEAD>,
turn the next hop into a C<GET> (a C<HEAD> stays a C<HEAD> after a C<303>)
without a body, and without the headers about it (C<Content-Length>,
C<Content-Type>, C<Content-Encoding>, C<Content-Language>,
C<Content-Location>, C<Digest>, C<Content-Digest>, C<Repr-Digest>,
C<Last-Modified>), as browsers do and RFC 9110 15.4 allows. C<307> and
C<308> keep the method and send the body again.

=item The Location

It may be absolute, protocol-relative (C<//host/path>), absolute-path,
relative (C<../x>, C<x?y>), a query (C<?q>) or a fragment (C<#f>) only: it
is resolved against the URI of the hop that got it as RFC 3986 section 5
says, dot segments removed; spaces and bytes above 0x7E are
percent-encoded. A Location without a fragment keeps the fragment of the
URI before (RFC 9110 10.2.2), so the first request's fragment stays on the
final URI; fragments are never sent.

=item When nothing is followed

A redirect without a C<Location> (or with an empty one), a C<300>, C<304>
or any other status, and any redirect when C<follow_redirect> is 0, is the
response, with no error. So is the redirect at which a
C<redirect_callback> returned false, and a redirect whose pool object has
been dropped (a pool that is gone starts no new requests).

=item Errors

The chain ends with an error (and the redirect as the response) when the
redirect would be the C<redirection_limit>+1-th (C<redirection_limit>),
when the C<Location> cannot be used (C<bad_redirect>: a URI that does not
parse, a scheme other than C<http> and C<https>, several different
C<Location> headers), and when it leads from C<https://> to C<http://>
without C<< allow_downgrade => 1 >> (C<bad_redirect>, the message naming
C<allow_downgrade>). Refusing the downgrade is an error rather than a
plain response so that a program checking C<$error> alone does not take
the C<3xx> for the page; the response is still there to look at.

=item Credentials

The C<Authorization>, C<Cookie>, C<Proxy-Authorization> and C<Host> headers
you gave are sent only while the chain stays on the first request's origin
(scheme, host and port): from the first hop to another origin on they are
dropped, also when a later hop comes back (and an https-to-http downgrade
is another origin). Userinfo in the first URI is not carried to a
resolved Location of another origin either. Cookies of a
C<cookie_jar> are sent to each hop as the jar decides (see L</COOKIES>).

=item Time, the pool, retries

The request's C<timeout> covers the whole chain: each hop gets what is
left of it, and a chain out of time ends with C<timeout>. Each hop is a
request of the pool (counted in L</stats> as one, with its own response):
it goes to its destination's connections and queue with their limits.
Retries apply to each hop as to any request. C<connect_timeout> and
C<read_timeout> apply to each hop afresh.

=item Cancel

L<Uvent::HTTP::Request/cancel> during any hop ends the chain: the
callback runs once, with C<cancelled>. L<Uvent::HTTP::Request/active> is
true for the whole chain, except inside C<redirect_callback>.

=back

=head1 COOKIES

With a C<cookie_jar> (a pool option, or a request parameter that replaces
it; C<undef> in a request sends and stores none), every hop of a request
sends the C<Cookie> header the jar gives for its URI, and every
C<Set-Cookie> header of every response of the chain goes to the jar,
before the next hop or the callback. The jar is any object with
L<HTTP::CookieJar>'s two methods, as L<HTTP::Tiny> takes it:

    $jar->add($uri, $set_cookie_header_value);    # once per Set-Cookie
    my $cookies = $jar->cookie_header($uri);      # '' or undef for none

called with the hop's URI without its fragment. L<HTTP::CookieJar> (Debian:
libhttp-cookiejar-perl) is one:

    use HTTP::CookieJar;
    my $pool = Uvent::HTTP::Pool->new({ cookie_jar => HTTP::CookieJar->new });

A C<Cookie> header you give is sent too: the jar's cookies are appended
to it with C<; > (one C<Cookie> header, as RFC 6265 5.4 wants), where
HTTP::Tiny would replace it by the jar's. A jar without both methods
croaks at C<new> or C<request>, naming them. If a jar's method dies, the
chain stops there (the response whose cookie could not be stored, or the
redirect, is the response), the callback runs once as always, and the
exception comes out of the loop's C<run> (see L</CALLBACKS>).

A request with a cookie jar, a C<form> or C<json> is prepared in Perl,
costing more per request than one without (a few microseconds).

=head1 CONNECTION REUSE

After a successful response, the connection goes back to the pool only if
all of these hold:

=over 4

=item *

the response is HTTP/1.1 without C<Connection: close>, or HTTP/1.0 with
C<Connection: keep-alive>;

=item *

the request had no C<Connection: close> header (add one to disable reuse for
a request);

=item *

the body was framed by C<Content-Length> or chunked encoding, or there was
none (C<HEAD>, 204, 304); a body delimited by the server closing the
connection is complete but the connection is not reused;

=item *

the response carried no C<Keep-Alive> header with C<timeout=0>, and the
connection has not used up the requests allowed by a C<Keep-Alive: max=N>
header (see below);

=item *

the connection has not yet carried C<max_requests_per_connection> requests
(the one just finished included) and is younger than C<max_lifetime>, when
those are set;

=item *

nothing arrived after the end of the response, and the whole request had
been written (a server that answers before reading an upload is not reused);

=item *

the pool is still referenced by its owner and its loop exists.

=back

L<Uvent::HTTP::Response/keep_alive> tells whether it happened. A connection
whose request failed, timed out or was cancelled is always closed.

A response header C<Keep-Alive: timeout=N> lowers the idle timeout of that
connection (never raises it) to N minus a margin of min(1 s, N/10), so that
Uvent closes it before the server does; the jitter of up to 5% applies to the
result as well. The value is remembered for the connection's later requests.

A response header C<Keep-Alive: max=N> is honoured: the connection carries at
most N more requests after that response, and is closed after the last one
even if the server does not close it (C<max=0>: it is not reused at all). A
later C<max> can lower the count but never raise it.

Both parameters take a decimal number (C<timeout> may have a fraction;
optional spaces around C<=> and a quoted value are accepted); a parameter
whose value is anything else (C<max=-1>, C<timeout=5s>) is ignored, as if it
were absent.

=head1 ERRORS

Errors of a submitted request are reported to its callback as a
L<Uvent::Error>; see there for the codes C<resolve>, C<connect>,
C<connect_timeout>, C<timeout>, C<connection_closed>, C<protocol>,
C<too_large>, C<cancelled>, C<queue_full>, C<queue_timeout>, C<tls>,
C<proxy>, C<redirection_limit>, C<bad_redirect>, C<request_body> and C<nomem> (the two redirect
codes, and a C<timeout> between two hops, are the redirect step's: see
L</REDIRECTS>). What the response parser refuses as C<protocol> is listed there
under L<Uvent::Error/protocol>.

Bad arguments make C<request> croak before anything is sent. The messages
start with C<Uvent::HTTP::Pool-E<gt>request:> unless noted, and name the
caller's line:

=over 4

=item C<expects a hashref of parameters or a Uvent::HTTP::Request>

=item C<Uvent::HTTP::Request-E<gt>new: unknown parameter 'NAME' (known: uri, method, headers, body, timeout, connect_timeout, read_timeout, max_headers_size, max_body_size, retry, idempotent, tls, response_callback, family, tcp_nodelay, tcp_keepalive, so_linger, socket_buffer_size, local_address, proxy, decompress, max_header_count, follow_redirect, redirection_limit, allow_downgrade, redirect_callback, form, json, cookie_jar, partial_callback)>

=item C<Uvent::HTTP::Request-E<gt>new: unknown parameter 'NAME' (known: uri, method, headers, body, timeout, connect_timeout, read_timeout, max_headers_size, max_body_size, retry, idempotent, tls, response_callback, family, tcp_nodelay, tcp_keepalive, so_linger, socket_buffer_size, local_address, proxy, decompress, max_header_count, follow_redirect, redirection_limit, allow_downgrade, redirect_callback, form, json, cookie_jar, chunked, continue_callback, expect_timeout)>

(without the C<request> prefix)

=item C<this request is already in progress>

The request object is queued or running; wait for its callback or cancel it.

=item C<the pool's loop has been destroyed>

=item C<'uri' is required>

=item C<'uri' must be a string, not a reference>

=item C<invalid URL 'URI': unsupported scheme (only http:// and https:// are supported)>

for C<ftp://> and every other scheme

=item C<invalid URL 'URI': no host>

=item C<invalid URL 'URI': the host is longer than 255 characters>

=item C<invalid URL 'URI': malformed (it must be an absolute http:// URL with no spaces or control characters)>

(also for C<https://> URLs)

also for a bad port (0, above 65535, not a number) or a bad IPv6 literal

=item C<invalid method 'METHOD': a method must be a non-empty token (letters, digits, !#$%&'*+-.^_`|~)>

=item C<'headers' must be a hashref or an arrayref of name =E<gt> value pairs>

=item C<'headers' arrayref must hold name =E<gt> value pairs (odd number of elements)>

=item C<header names and values must be defined strings (header 'NAME')>

for undef or reference names or values (other than the arrayref of values
allowed in a hashref)

=item C<invalid header name 'NAME': it must be a non-empty token (no spaces, colons, CR, LF or NUL)>

=item C<invalid value for header 'NAME': it contains CR, LF, NUL or another control character>

=item C<header 'Transfer-Encoding' cannot be set: Uvent frames the body itself (give chunked =E<gt> 1 for chunked encoding)>

=item C<header 'Content-Length' does not match the body length N (leave it out: Uvent sets it)>

=item C<header 'Content-Length' of a streamed body must be a number of bytes>

=item C<header 'Content-Length' cannot be sent with chunked =E<gt> 1 (leave one of them out)>

=item C<'body' must be a string, a filehandle or a CODE reference, got a reference to TYPE>

=item C<'continue_callback' must be a CODE reference>

=item C<'expect_timeout' must be a finite number of seconds E<gt>= 0 (at most 1e9), got 'VALUE'>

=item C<'body' is too large (N bytes; at most 4294967295)>

=item C<'timeout' must be a finite number of seconds E<gt>= 0 (at most 1e9), got 'VALUE'>

also for C<connect_timeout>: for a negative value, C<NaN>, C<Inf>, or a
value above 1e9 seconds such as C<1e308>. Such a value never falls back to
the default.

=item C<'timeout' must be a number, got 'VALUE'>

(without the prefix) for a value that does not look like a number; likewise
C<'connect_timeout'>, C<'max_headers_size'>, C<'max_body_size'> and
C<'max_header_count'>

=item C<'max_header_count' must be a whole number E<gt>= 0, got 'VALUE'>

=item C<invalid 'proxy' 'URL': REASON>

The request's C<proxy> is not a proxy URL. REASON is one of:
C<unsupported scheme (use http://, https://, socks5:// or socks5h://)>, C<it must be
a URL such as http://host:port, socks5://host:port or socks5h://host:port>,
C<no host>, C<no port (write host:port, e.g. http://proxy:3128)>, C<the
port must be a number from 1 to 65535>, C<a proxy URL has no path, query or
fragment (at most a final '/')>, C<it contains a space, a control character
(CR, LF, NUL) or a non-ASCII byte>, C<its user name or password decodes to a
control character (CR, LF, NUL)>, C<the user name in its userinfo is
empty>, C<malformed host>, C<a SOCKS5 user name and password are at most
255 bytes each>. The URL is shown with C<***> for its credentials.
C<Uvent::HTTP::Pool-E<gt>new: proxy: invalid proxy URL 'URL': REASON> and
C<Uvent::HTTP::Pool-E<gt>new: env_proxy: environment variable NAME:
invalid proxy URL 'URL': REASON> are the pool's.

=item C<'proxy' must be a proxy URL string (or undef or '' to go direct), not a reference>

=item C<'response_callback' must be a CODE reference>

=item C<'partial_callback' must be a CODE reference>

=item C<'tls' must be a hashref>

=item C<unknown tls key 'KEY' (known: verify, ca_file, ca_path, cert_file, key_file, ciphers, min_version, server_name)>

=item C<tls 'KEY' must be a plain value, not a reference>

=item C<tls 'verify' must be 0 or 1, got 'VALUE'>

=item C<tls 'min_version' must be 'TLSv1.2' or 'TLSv1.3', got 'VALUE'>

=item C<tls KEY must be a non-empty string without control characters>

also for a NUL byte anywhere in the value

=item C<tls server_name is longer than 255 characters>

=item C<'KEY' must be a number, got 'VALUE'>

=item C<'KEY' must be a whole number, got 'VALUE'>

for the socket options C<family>, C<tcp_nodelay>, C<tcp_keepalive>,
C<so_linger> and C<socket_buffer_size> (in C<new> and C<request>); also for
C<NaN> and C<Inf>

=item C<'family' must be 4 (IPv4), 6 (IPv6) or 0 (both), got 'VALUE'>

=item C<'tcp_nodelay' must be 0 or 1, got 'VALUE'>

=item C<'tcp_keepalive' must be a whole number of seconds from 0 (off) to 32767, got 'VALUE'>

=item C<'so_linger' must be -1 (the system's default) or a whole number of seconds from 0 to 65535, got 'VALUE'>

=item C<'socket_buffer_size' must be a whole number of bytes from 0 (the system's default) to 1073741824, got 'VALUE'>

=item C<'local_address' must be an IPv4 or IPv6 address (such as 127.0.0.2 or ::1), got 'VALUE'>

=item C<'local_address' must be a string, not a reference>

=item C<'resolve' must be a hashref of 'host:port' =E<gt> [addresses], got WHAT>

=item C<'resolve' key 'KEY' must be 'host:port' (such as 'example.com:443')>

=item C<'resolve' entry 'KEY' must be an arrayref of IP addresses>

=item C<resolve 'HOST:PORT': 'VALUE' is not an IPv4 or IPv6 address>

the C<resolve> ones from C<new> only

=item C<cannot load ca_file 'FILE': REASON>

likewise C<ca_path>, C<cert_file> and C<key_file>; REASON is the system's
(C<No such file or directory>) or OpenSSL's (C<no certificate or crl found>)

=item C<tls key_file 'FILE' given without cert_file>

=item C<key_file 'FILE' does not match cert_file 'FILE'>

=item C<key_file 'FILE' is encrypted: give an unencrypted key>

=item C<tls ciphers 'LIST': no usable cipher>

=item C<Wide character in 'uri': encode it to bytes first (utf8::encode or Encode::encode_utf8)>

likewise C<'method'>, C<'body'>, C<header 'NAME'> (its name or a value)
and the string C<tls> settings, for a value with characters above 255
(a C<form> and C<json> encode characters as UTF-8 themselves)

=item C<'redirection_limit' must be a whole number E<gt>= 0 (at most 1000000), got 'VALUE'>

=item C<'redirect_callback' must be a CODE reference>

=item C<'body', 'form' and 'json' exclude each other: give one of them>

=item C<'form' must be an arrayref of name =E<gt> value pairs or a hashref, got WHAT>

=item C<'form' arrayref must hold name =E<gt> value pairs (odd number of elements)>

=item C<form field names must be defined strings>

=item C<form field 'NAME' must be a string, or a hashref with 'file' or 'content', got WHAT>

=item C<form field 'NAME' needs one of 'file' and 'content'>

=item C<form field 'NAME': unknown key 'KEY' (known: file, content, filename, content_type)>

=item C<form field 'NAME': cannot read file 'PATH': REASON>

=item C<form field 'NAME': 'content' must be a string of bytes>

=item C<Wide character in form field 'NAME' content: encode it to bytes first (utf8::encode or Encode::encode_utf8)>

=item C<form field 'NAME': 'content_type' must be printable ASCII>

=item C<'json' cannot be encoded as JSON: REASON>

REASON is the encoder's, e.g. for a code reference

=item C<'cookie_jar' must be an object with the methods add and cookie_header (as HTTP::CookieJar has), got WHAT>

WHAT ends with C<without add and cookie_header> (or the one missing) for
an object

=back

A value shown in a message (a URI, a method, a header name, a number, a
config key) is shown with its control characters escaped, as C<\0>,
C<\t>, C<\n>, C<\r> or C<\xNN>, and cut after 100 characters with
C<...>: a NUL or a line break in it can neither hide the rest of the
message nor split it.

=head1 OBJECT LIFETIME

A pool lives as long as you reference it, with one extension: when the last
reference goes away,

=over 4

=item *

its idle connections are closed at once;

=item *

requests that are running or queued still run to completion and get their
callbacks, each on a fresh or still open connection; no connection is kept for
reuse any more, and each is closed when its request is done;

=item *

the pool's reference to its loop is dropped. If that was the last reference to
a C<< Uvent::Loop->new >> loop, the loop is destroyed right away and the
pending requests are cancelled instead (see L<Uvent::Loop/OBJECT LIFETIME>).
Keep the loop if the requests should finish. When this happens in a
callback while the loop runs, the loop waits for its C<run> to return.

=back

A L<Uvent::HTTP::Client> returned by C<request> does not keep the pool
alive; its C<pool> method returns undef once the pool object is gone.

The instance pool of a loop lives as long as the loop.

When the program ends with requests still pending, their callbacks are
called only if their loop is destroyed before global destruction; during
global destruction nothing is done, so requests on the default loop (or on
a loop still referenced from a global) get no callback. See
L<Uvent::Loop/At program exit>, and call L</shutdown> in an C<END> block
to have them called.

=head1 FORK

A pool is fork-safe: the parent and a child can both go on using it. In the
child, the first use of the pool (any of L</request>, L</size>, L</nbusy>,
L</nqueued>, L</stats>, L</max_connections> with an argument, L</shutdown>,
or dropping the pool), or the first C<run>, C<run_once> or C<run_nowait> of
its loop, or the destruction of the loop, first drops everything inherited
from the parent:

=over 4

=item *

the libuv loop is re-created for the child (C<uv_loop_fork>), so the child no
longer shares the parent's event descriptor;

=item *

every inherited connection, idle or busy, is closed in the child without a
byte being written to it or read from it; the parent's copy stays open and
the server sees nothing;

=item *

every inherited request, running or queued, is dropped silently: its
callback is not called in the child, and it is not counted in the child's
C<errors>. The parent still gets the callbacks of those requests, exactly
once, as if there had been no fork.

=back

After that the pool is empty (L</size> 0) and usable in the child: new
requests open new connections. The DNS cache is emptied too (the child looks
names up afresh); C<resolve> entries stay. The counters of L</stats> carry on from their
values at the fork (the dropped connections count as closed). The same holds
for the instance pool of a loop.

L<Uvent::HTTP::Request/cancel> on an inherited request in the child does
nothing (it, too, drops the inherited state first): the request belongs to
the parent.

One limit comes from libuv's thread pool: a host name being resolved at the
moment of the fork (IP literals are never resolved) is never answered in the
child, so that inherited connection cannot finish closing there, and
destroying the child's copy of the loop, or running it until nothing is
left, can wait forever. Fork between requests, or use IP literals, when
children must use inherited pools.

A child should still end with C<POSIX::_exit> or C<exec>; see L<Uvent/FORK>.

=head1 SEE ALSO

L<Uvent>, L<Uvent::HTTP::Request>, L<Uvent::HTTP::Response>,
L<Uvent::Error>, L<Uvent::HTTP::Client>, L<Uvent::Loop>, L<Uvent::HTTP>.

=head1 AUTHOR

Uvent developers.

=head1 COPYRIGHT AND LICENSE

This library is free software; you can redistribute it and/or modify it
under the same terms as Perl itself.

=cut
