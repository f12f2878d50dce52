package Uvent::HTTP::Request;
use strict;
use warnings;
use Carp ();

our $VERSION = '0.01';

require Uvent;

my @FIELDS = qw(uri method headers body timeout connect_timeout max_headers_size max_body_size response_callback);
my %FIELD = map { $_ => 1 } @FIELDS;

sub new {
    my ($class, $params) = @_;
    Carp::croak("$class->new: expects a hashref of parameters")
        unless ref $params eq 'HASH';
    if (my @unknown = grep { !$FIELD{$_} } keys %$params) {
        Carp::croak("$class->new: unknown parameter" . (@unknown > 1 ? 's' : '') . ' '
            . join(', ', map {"'$_'"} sort @unknown) . ' (known: ' . join(', ', @FIELDS) . ')');
    }
    return bless {%$params}, $class;
}

for my $field (@FIELDS) {
    no strict 'refs';
    *$field = sub {
        my $self = shift;
        $self->{$field} = shift if @_;
        return $self->{$field};
    };
}

1;
