#!/usr/bin/perl
# The local cache's coherence under concurrency, randomized, on one Redis:
# two daemons, two writers, three readers (see DDBCache::TestEnv::Coherence;
# t/17-coherence-cluster.t runs it on a Redis Cluster through a failover).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl/lib";

use Test::More;
use DDBCache::TestEnv;
use DDBCache::TestEnv::Coherence qw(run_coherence);

run_coherence(env => DDBCache::TestEnv->new);

done_testing;
