#!/usr/bin/perl
# Fault: the randomized coherence checker (DDBCache::TestEnv::Coherence, as
# in t/09 and t/17) on a Redis Cluster of 3 masters and 3 replicas, across
# two daemons, for 20 s: a CLUSTER FAILOVER of the master of the most-read
# key after 5 s, then a SIGKILL of the master of another key after 12 s
# (the cluster fails it over itself, after cluster-node-timeout, 1 s).
# Targets: 0 reads older than a write acknowledged before they began (by
# their own daemon) or more than 1 s before (by the other); lookups failed
# only from the first change's start to 2 s after the last one's end; no
# retried lookup failed. DDBCACHE_COHERENCE_RUN (seconds) runs it longer.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/../perl/lib";

use Test::More;
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);
use DDBCache::TestEnv;
use DDBCache::TestEnv::Coherence qw(run_coherence);

my $RUN = $ENV{DDBCACHE_COHERENCE_RUN} // 20;
# An invalidation acknowledged by a master that then dies must not come
# back with its replica: invalidations wait for one replica (WAIT 1).
my $env = DDBCache::TestEnv->new(redis_cluster => 1, config => { redis => { wait_replicas => 1 } });

sub now { return clock_gettime(CLOCK_MONOTONIC) }

# The killed master's connections drop the readers' local caches (flushes),
# which then serve fewer reads until they are tracked again.
run_coherence(env => $env, run => $RUN, min_local_share => 0.3, change => sub {
    my ($t0) = @_;
    # The traffic runs between the changes: it is what is observed; the
    # waits are the scenario's shape, not synchronizers.
    Time::HiRes::sleep($RUN / 4);
    my $start = now();
    my $port  = $env->cluster->failover('user_profile:coh00');
    note sprintf 'CLUSTER FAILOVER to 127.0.0.1:%d took %.3f s', $port, now() - $start;
    Time::HiRes::sleep($t0 + 0.6 * $RUN - now());
    my $kill = now();
    $port = $env->cluster->kill_master_of('user_profile:coh01');
    my $end = now();
    note sprintf 'a SIGKILLed master replaced by 127.0.0.1:%d in %.3f s', $port, $end - $kill;
    return { what => 'CLUSTER FAILOVER, then a master SIGKILLed', start => $start, end => $end };
});

done_testing;
