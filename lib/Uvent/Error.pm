package Uvent::Error;
use strict;
use warnings;

our $VERSION = '0.01';

use overload
    'bool'   => sub { 1 },
    '""'     => sub { $_[0]{message} },
    'eq'     => sub { "$_[0]" eq "$_[1]" },
    fallback => 1;

sub code    { $_[0]{code} }
sub errno   { $_[0]{errno} }
sub message { $_[0]{message} }

1;
