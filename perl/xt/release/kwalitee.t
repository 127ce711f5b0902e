#!/usr/bin/perl
# The distribution's Kwalitee (CPANTS's core metrics), run in the directory
# of an unpacked `make dist` tarball: prove xt/release/kwalitee.t. The
# repository's t/07-dist.t does that. Not run by make test: the metrics
# follow the toolchain, not this code.
use strict;
use warnings;

use Test::More;

eval { require Test::Kwalitee; 1 }
    or die "Test::Kwalitee is missing; install it with: apt-get install -y libtest-kwalitee-perl (or cpanm Test::Kwalitee)\n";
Test::Kwalitee->import('kwalitee_ok');
kwalitee_ok();
done_testing;
