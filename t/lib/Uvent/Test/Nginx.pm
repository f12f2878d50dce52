package Uvent::Test::Nginx;

# A private nginx instance on 127.0.0.1 for interoperability tests.
#
#   my $why = Uvent::Test::Nginx->missing;    # undef, or why nginx cannot run here
#   plan skip_all => $why if $why;
#   my $ng = Uvent::Test::Nginx->new(keepalive_timeout => 75, keepalive_requests => 10000);
#   $ng->url('/hello.txt'); $ng->file_content('1m.bin'); $ng->stop;
#   $ng->url("/gzip/words.txt");   # the same files, gzip-encoded when the client accepts it
#
# nginx runs in the foreground (daemon off, master_process off) as a direct
# child of the test process, with every path it writes inside a temp dir.
# A tiny watchdog process kills it if the test process dies without calling
# stop() (e.g. SIGKILL): it blocks on a pipe only the test process writes to.
#
# With tls => { cert_file, key_file, client_ca_file } two more servers serve
# the same locations over TLS (1.2 and 1.3, session cache and tickets on):
#
#   $ng->https_url('/hello.txt', 'localhost');   # https_port
#   $ng->https_client_url('/hello.txt');         # https_client_port
#
# Their responses carry X-Session-Reused ("r" or ".") and X-TLS-Protocol;
# the https_client server requires a client certificate that verifies
# against client_ca_file (without one nginx answers 400 "No required SSL
# certificate was sent", with a bad one 400 "The SSL certificate error") and
# adds X-Client-Verify (SUCCESS, NONE, FAILED:...) and X-Client-DN.

use strict;
use warnings;

use Digest::MD5 ();
use File::Temp ();
use IO::Socket::INET ();
use POSIX ();
use Uvent::Test::Process ();
use Time::HiRes ();

# Served files.  The .bin contents are an MD5 chain: deterministic and not
# periodic, so offset bugs cannot hide behind a repeating pattern.
my %FILES = (
    'hello.txt' => 'Hello, World!',
    '4k.bin'    => _pattern(4096),
    '64k.bin'   => _pattern(65536),
    '1m.bin'    => _pattern(1048576),
    'words.txt' => join('', map { "word $_ " . ($_ * 7919 % 10007) . "\n" } 1 .. 20000),
);

sub _pattern {
    my $len = shift;
    my $out = '';
    my $i = 0;
    $out .= Digest::MD5::md5('uvent-' . $i++) while length $out < $len;
    return substr $out, 0, $len;
}

# The nginx to run: $ENV{UVENT_NGINX} if set, else the first nginx in
# PATH, /usr/sbin or /usr/local/sbin (often not in a user's PATH).
sub binary {
    if (defined(my $bin = $ENV{UVENT_NGINX})) {
        return -f $bin && -x _ ? $bin : undef;
    }
    for my $d ((split /:/, $ENV{PATH} // ''), '/usr/sbin', '/usr/local/sbin') {
        return "$d/nginx" if length $d && -f "$d/nginx" && -x _;
    }
    return undef;
}

# Why the nginx tests cannot run here (undef when they can); with
# tls => 1, also when this nginx was built without the ssl module.
sub missing {
    my ($class, %need) = @_;
    my $bin = binary();
    if (!defined $bin) {
        return "UVENT_NGINX=$ENV{UVENT_NGINX} is not an executable file" if defined $ENV{UVENT_NGINX};
        return 'nginx not found in PATH, /usr/sbin or /usr/local/sbin (set UVENT_NGINX to its path)';
    }
    if ($need{tls}) {
        my $v = _capture($bin, '-V');
        return "$bin was built without http_ssl_module" unless $v =~ /--with-http_ssl_module\b/;
    }
    return undef;
}

sub available { !defined $_[0]->missing }

sub new {
    my ($class, %opts) = @_;
    my $bin = binary() // die 'Uvent::Test::Nginx: ' . $class->missing . "\n";
    my $self = bless {
        bin                => $bin,
        keepalive_timeout  => $opts{keepalive_timeout}  // 75,
        keepalive_requests => $opts{keepalive_requests} // 10000,
        server_extra       => $opts{server_extra} // '',
        tls                => $opts{tls},
        owner              => $$,
    }, $class;
    if (my $tls = $self->{tls}) {
        for my $k (qw(cert_file key_file client_ca_file)) {
            defined $tls->{$k} or die "Uvent::Test::Nginx: tls needs $k\n";
        }
    }

    my $dir = $self->{dir} = File::Temp::tempdir('uvent-nginx-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    mkdir "$dir/$_" or die "mkdir $dir/$_: $!" for qw(html logs tmp);
    for my $name (keys %FILES) {
        open my $fh, '>:raw', "$dir/html/$name" or die "write $name: $!";
        print $fh $FILES{$name};
        close $fh or die "close $name: $!";
    }

    # The port is chosen by binding port 0 and closing it, so another
    # process may grab it before nginx does: retry with a fresh one.
    my $err = '';
    for my $attempt (1 .. 5) {
        my $port = _free_port();
        my @tls_ports = $self->{tls} ? (_free_port(), _free_port()) : ();
        $self->_write_config($port, @tls_ports);
        if ($self->_start($port)) {
            # nginx binds every listener before it accepts on any.
            @$self{qw(https_port https_client_port)} = @tls_ports;
            return $self;
        }
        $err = $self->_slurp("$dir/stderr.log") . $self->_slurp("$dir/logs/error.log");
    }
    die "Uvent::Test::Nginx: nginx did not start:\n$err";
}

sub port { $_[0]{port} }
sub pid  { $_[0]{pid} }
sub dir  { $_[0]{dir} }

sub url {
    my ($self, $path) = @_;
    $path //= '/';
    return "http://127.0.0.1:$self->{port}$path";
}

sub https_port        { $_[0]{https_port} }
sub https_client_port { $_[0]{https_client_port} }

# $host must resolve to 127.0.0.1 (the servers listen there only).
sub https_url {
    my ($self, $path, $host) = @_;
    die "Uvent::Test::Nginx: started without tls\n" unless $self->{https_port};
    return 'https://' . ($host // '127.0.0.1') . ":$self->{https_port}" . ($path // '/');
}

sub https_client_url {
    my ($self, $path, $host) = @_;
    die "Uvent::Test::Nginx: started without tls\n" unless $self->{https_client_port};
    return 'https://' . ($host // '127.0.0.1') . ":$self->{https_client_port}" . ($path // '/');
}

sub file_content {
    my ($self, $name) = @_;
    $name =~ s{\A/}{};
    return $FILES{$name};
}

sub file_md5 {
    my ($self, $name) = @_;
    my $c = $self->file_content($name);
    return defined $c ? Digest::MD5::md5_hex($c) : undef;
}

sub files { return sort keys %FILES }

sub stop {
    my $self = shift;
    return if $$ != $self->{owner};
    return Uvent::Test::Process::stop($self);    # TERM: nginx's fast shutdown
}

sub DESTROY {
    my $self = shift;
    local ($?, $!, $@);
    $self->stop;
}

# --- internals ----------------------------------------------------------------

sub _free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', Listen => 1)
        or die "Uvent::Test::Nginx: cannot bind 127.0.0.1: $@";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub _write_config {
    my ($self, $port, $https_port, $client_port) = @_;
    my $dir  = $self->{dir};
    my $user = $> == 0 ? "user root;\n" : '';

    # Shared by every server.  The add_header lines stay at server level: a
    # location with add_header of its own would drop all inherited ones.
    my $locations = <<"LOC";
        root $dir/html;

        # `return` alone would answer before the request body is read (nginx
        # discards it afterwards).  proxy_pass buffers the whole body first,
        # so the answer only comes once the upload has been received.
        location = /upload {
            client_max_body_size         16m;
            client_body_buffer_size      16m;
            client_body_in_single_buffer on;
            proxy_pass http://127.0.0.1:$port/upload-sink;
            proxy_hide_header X-Conn;
            proxy_hide_header X-Conn-Req;
        }
        location = /upload-sink {
            allow 127.0.0.1;
            deny all;
            client_max_body_size 16m;
            return 200 "\$content_length\\n";
        }

        location = /status/204 { return 204; }
        location = /redirect   { return 302 /hello.txt; }
        # a chain: /moved/X -> 301 /moved2/X -> 302 /X
        location /moved/  { rewrite ^/moved/(.*)\$ /moved2/\$1 permanent; }
        location /moved2/ { rewrite ^/moved2/(.*)\$ /\$1 redirect; }

        # the same files gzip-encoded when asked (Accept-Encoding: gzip)
        location /gzip/ {
            alias $dir/html/;
            gzip on;
            gzip_types *;
            gzip_min_length 1;
        }

$self->{server_extra}
LOC

    my $tls_servers = '';
    if (my $tls = $self->{tls}) {
        my $common = <<"TLS";
        ssl_certificate     $tls->{cert_file};
        ssl_certificate_key $tls->{key_file};
        ssl_protocols       TLSv1.2 TLSv1.3;
        ssl_session_tickets on;
        ssl_session_timeout 5m;

        add_header X-Conn           \$connection always;
        add_header X-Conn-Req       \$connection_requests always;
        add_header X-Session-Reused \$ssl_session_reused always;
        add_header X-TLS-Protocol   \$ssl_protocol always;
TLS
        $tls_servers = <<"SRV";

    server {
        listen 127.0.0.1:$https_port ssl;
        server_name localhost;
        ssl_session_cache shared:uvent:1m;
$common
$locations
    }

    server {
        listen 127.0.0.1:$client_port ssl;
        server_name localhost;
        ssl_session_cache shared:uvent_client:1m;
        ssl_verify_client      on;
        ssl_client_certificate $tls->{client_ca_file};
        ssl_verify_depth       2;
$common
        add_header X-Client-Verify \$ssl_client_verify always;
        add_header X-Client-DN     \$ssl_client_s_dn always;

$locations
    }
SRV
    }

    my $conf = <<"CONF";
${user}daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
lock_file $dir/nginx.lock;
error_log $dir/logs/error.log warn;

events {
    worker_connections 1024;
}

http {
    access_log off;
    client_body_temp_path $dir/tmp/client_body;
    proxy_temp_path       $dir/tmp/proxy;
    fastcgi_temp_path     $dir/tmp/fastcgi;
    uwsgi_temp_path       $dir/tmp/uwsgi;
    scgi_temp_path        $dir/tmp/scgi;

    types {
        text/plain               txt;
        application/octet-stream bin;
    }
    default_type application/octet-stream;

    keepalive_timeout  $self->{keepalive_timeout};
    keepalive_requests $self->{keepalive_requests};

    server {
        listen 127.0.0.1:$port;
        server_name localhost;

        add_header X-Conn     \$connection always;
        add_header X-Conn-Req \$connection_requests always;

$locations
    }
$tls_servers}
CONF
    open my $fh, '>', "$dir/nginx.conf" or die "write nginx.conf: $!";
    print $fh $conf;
    close $fh or die "close nginx.conf: $!";
}

sub _start {
    my ($self, $port) = @_;
    my $dir = $self->{dir};
    unlink "$dir/logs/error.log", "$dir/stderr.log";

    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open STDIN,  '<', '/dev/null';
        open STDOUT, '>', "$dir/stderr.log";
        open STDERR, '>&', \*STDOUT;
        # Perl marks descriptors above $^F close-on-exec, so nginx inherits
        # none of the test's sockets.
        exec($self->{bin}, '-p', "$dir/", '-c', "$dir/nginx.conf") or POSIX::_exit(127);
    }

    # Wait (bounded) until it accepts connections, or notice it died.
    my $deadline = Time::HiRes::time() + 5;
    while (Time::HiRes::time() < $deadline) {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            return 0;    # exited: most likely the port was taken
        }
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 1);
        if ($s) {
            close $s;
            $self->{pid}  = $pid;
            $self->{port} = $port;
            $self->_start_watchdog($pid);
            return 1;
        }
        Time::HiRes::sleep(0.02);
    }
    kill 'KILL', $pid;
    waitpid $pid, 0;
    return 0;
}

sub _start_watchdog {
    my ($self, $child) = @_;
    @$self{qw(watchdog wd_pipe)} = Uvent::Test::Process::watchdog($child, 'nginx');
}

# stdout and stderr of a command, without a shell
sub _capture {
    my (@cmd) = @_;
    my $pid = open(my $fh, '-|') // return '';
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        exec(@cmd) or POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return $out;
}

sub _slurp {
    my ($self, $file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return scalar <$fh>;
}

1;
