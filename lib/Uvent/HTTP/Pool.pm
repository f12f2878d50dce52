package Uvent::HTTP::Pool;
use strict;
use warnings;
use Carp ();
use Scalar::Util ();

our $VERSION = '0.01';

require Uvent;

my %DEFAULT = (timeout => 60, max_connections => 10, max_headers_size => 65536, max_body_size => 0);

sub new {
    my ($class, $config, $loop) = @_;
    return $class->_create($config, $loop, 0);
}

sub _create {
    my ($class, $config, $loop, $is_instance) = @_;
    $config //= {};
    Carp::croak("$class->new: the config must be a hashref") unless ref $config eq 'HASH';
    if (my @unknown = grep { !exists $DEFAULT{$_} } keys %$config) {
        Carp::croak("$class->new: unknown config key" . (@unknown > 1 ? 's' : '') . ' '
            . join(', ', map {"'$_'"} sort @unknown) . ' (known: ' . join(', ', sort keys %DEFAULT) . ')');
    }
    my %c = (%DEFAULT, %$config);
    for my $key (sort keys %c) {
        my $v = $c{$key};
        Carp::croak("$class->new: '$key' must be a number >= 0, got " . (defined $v ? "'$v'" : 'undef'))
            unless defined $v && !ref $v && $v =~ /\A(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\z/;
    }
    Carp::croak("$class->new: 'max_connections' must be a whole number >= 1")
        unless $c{max_connections} >= 1 && $c{max_connections} == int $c{max_connections};
    $loop //= Uvent::Loop->default;
    Carp::croak("$class->new: the loop must be a Uvent::Loop")
        unless Scalar::Util::blessed($loop) && $loop->isa('Uvent::Loop');
    return $class->_new($loop, @c{qw(timeout max_connections max_headers_size max_body_size)}, $is_instance);
}

sub instance {
    shift if @_ && defined $_[0] && !ref $_[0] && $_[0]->isa(__PACKAGE__);
    my $loop = shift // Uvent::Loop->default;
    return $loop->_instance // $loop->_instance(__PACKAGE__->_create({}, $loop, 1));
}

1;
