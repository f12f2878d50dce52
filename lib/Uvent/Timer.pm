package Uvent::Timer;
use strict;
use warnings;

our $VERSION = '0.01';

require Uvent;

sub new {
    my ($class, $loop) = @_;
    return $class->_new($loop // Uvent::Loop->default);
}

sub once {
    my ($class, $after, $cb, $loop) = @_;
    my $timer = $class->new($loop);
    $timer->_start($after, 0, $cb, 1);
    return $timer;
}

sub start {
    my ($self, $after, $repeat, $cb) = @_;
    $self->_start($after, $repeat // 0, $cb, 0);
    return $self;
}

1;
