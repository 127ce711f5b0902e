#!/usr/bin/perl
# Changes follows the CPAN::Changes specification, and its newest release
# is the version of DDBCache::Client.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../../lib";

use Test::More;

eval { require Test::CPAN::Changes; 1 }
    or die "Test::CPAN::Changes is missing; install it with: apt-get install -y libcpan-changes-perl (or cpanm CPAN::Changes)\n";
Test::CPAN::Changes->import;
require DDBCache::Client;

changes_file_ok("$FindBin::Bin/../../Changes", { version => DDBCache::Client->VERSION });
done_testing;
