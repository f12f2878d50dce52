# Uvent::Loop::Mojo under Mojo::Reactor::Poll (what Mojo uses without EV):
# t/62-loop-mojo.t with MOJO_REACTOR=Mojo::Reactor::Poll.
use strict;
use warnings;
BEGIN { $ENV{MOJO_REACTOR} = 'Mojo::Reactor::Poll' }
do './t/62-loop-mojo.t' or die($@ || $!);
