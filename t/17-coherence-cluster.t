#!/usr/bin/perl
# The randomized coherence checker (DDBCache::TestEnv::Coherence, as in
# t/09) on a Redis Cluster of 3 masters and 3 replicas, across two daemons,
# with a CLUSTER FAILOVER of the master of the most-read key while the
# readers and writers run: no read may be older than a write acknowledged
# before it began (by its own daemon) or more than 1 s before it (by the
# other); a failed lookup may happen only in the failover's window, and
# its one retry must not fail. DDBCACHE_COHERENCE_RUN (seconds) runs it
# longer (make faults).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl/lib";

use Test::More;
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);
use DDBCache::TestEnv;
use DDBCache::TestEnv::Coherence qw(run_coherence);

my $RUN = $ENV{DDBCACHE_COHERENCE_RUN} // 6;
my $env = DDBCache::TestEnv->new(redis_cluster => 1);

run_coherence(env => $env, run => $RUN, change => sub {
    my ($t0) = @_;
    # The traffic runs a third of the time before the failover: it is what
    # is observed, the wait is not a synchronizer.
    Time::HiRes::sleep($RUN / 3);
    my $start = clock_gettime(CLOCK_MONOTONIC);
    my $port  = $env->cluster->failover('user_profile:coh00');
    my $end   = clock_gettime(CLOCK_MONOTONIC);
    note sprintf 'CLUSTER FAILOVER to 127.0.0.1:%d took %.3f s', $port, $end - $start;
    return { what => 'CLUSTER FAILOVER', start => $start, end => $end };
});

done_testing;
