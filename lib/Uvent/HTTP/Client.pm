package Uvent::HTTP::Client;
use strict;
use warnings;

our $VERSION = '0.01';

require Uvent;

1;
