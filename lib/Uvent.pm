package Uvent;
use strict;
use warnings;

our $VERSION = '0.01';

use Carp ();
# errors raised inside Uvent name the caller's line
$Carp::Internal{$_}++ for qw(Uvent Uvent::Loop Uvent::Timer Uvent::HTTP Uvent::HTTP::Pool
    Uvent::HTTP::Request Uvent::HTTP::Response Uvent::HTTP::Client);

# called by the XS glue: a Perl frame for Carp to skip
sub _croak { Carp::croak(@_) }

require XSLoader;
XSLoader::load('Uvent', $VERSION);

require Uvent::Error;
require Uvent::Loop;
require Uvent::Timer;
require Uvent::HTTP::Request;
require Uvent::HTTP::Response;
require Uvent::HTTP::Client;
require Uvent::HTTP::Pool;

1;
