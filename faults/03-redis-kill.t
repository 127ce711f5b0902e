#!/usr/bin/perl
# Fault: redis-server is killed (SIGKILL) under 8 workers and started again
# on the same port 4 s later, empty (no persistence). Once with the
# workers' local caches on, once off. While Redis is away the daemon reads
# DynamoDB; DDB STATS must say so.
# Targets: 0 failed calls, 0 wrong values; redis_connected (DDB STATS)
# false within 1.5 s of the kill; Redis used again (the daemon's fills
# appear in it) within 2 s of its return.
# DDBCACHE_FAULTS_QUICK=1 (make test) runs the local-cache-on case only.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/../perl/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use DDBCache::Client;
use DDBCache::TestEnv;
use DDBCache::TestEnv::Faults qw(seed_items check_item time_until figure);
use DDBCache::TestEnv::Workers;

my $WORKERS = 8;
my $OUTAGE  = 4;       # seconds without Redis
# The workers' load before the kill and after Redis is back, in seconds: the
# scenario's shape (the workers run from go; their local caches, when on,
# serve most lookups without the daemon counting them).
my ($BEFORE, $AFTER) = (1, 2);
my ($DOWN_WITHIN, $USED_WITHIN) = (1.5, 2);

my $env  = DDBCache::TestEnv->new;
my @keys = seed_items($env, 'rk', 200);

my @modes = $ENV{DDBCACHE_FAULTS_QUICK} ? ('on') : ('on', 'off');
for my $mode (@modes) {
    subtest "Redis killed for $OUTAGE s under $WORKERS workers, local cache $mode" => sub {
        my $w = DDBCache::TestEnv::Workers->new(
            n      => $WORKERS,
            client => sub { return $env->client(timeout => 6, local_cache => $mode eq 'on' ? 1000 : 0) },
            call   => sub {
                my ($c, $i, $n) = @_;
                my $key = $keys[($n * 7 + $i * 13) % @keys];
                return check_item($c->get(profile => $key), $key);
            },
        )->start->go;
        sleep $BEFORE;    # load before the fault (see $BEFORE)
        ok($env->stats->{redis_connected}, 'redis_connected before the kill');

        my $t_kill = time;
        $env->stop_redis(signal => 'KILL');
        my $down = time_until(10, sub { !$env->stats->{redis_connected} });
        my $took_down = defined $down ? time - $t_kill : undef;
        ok(defined $took_down && $took_down <= $DOWN_WITHIN,
            sprintf 'redis_connected false within %.1f s of the kill (%s)', $DOWN_WITHIN,
            defined $took_down ? sprintf('%.2f s', $took_down) : 'never, in 10 s');
        # The outage itself: Redis stays away this long, whatever happens.
        my $left = $t_kill + $OUTAGE - time;
        sleep $left if $left > 0;

        $env->start_redis;
        my $t_back = time;
        # Redis came back empty: the daemon's fills put keys in it.
        my $used = time_until(10, sub { $env->redis_cmd('DBSIZE') > 0 });
        my $took_used = defined $used ? time - $t_back : undef;
        ok(defined $took_used && $took_used <= $USED_WITHIN,
            sprintf 'Redis used again within %d s of its return (%s)', $USED_WITHIN,
            defined $took_used ? sprintf('%.2f s', $took_used) : 'not in 10 s');
        my $up = time_until(10, sub { $env->stats->{redis_connected} });
        my $took_up = defined $up ? time - $t_back : undef;
        ok(defined $up, 'redis_connected true again');
        sleep $AFTER;    # load after Redis is back (see $AFTER)

        my $s = $w->stop;
        is($s->{failed}, 0, '0 failed calls') or diag explain $s->{errors};
        is($s->{wrong}, 0, '0 wrong values') or diag explain $s->{wrongs};
        is_deeply($s->{died}, [], 'no worker died');
        figure(sprintf 'redis-kill-%ds local_cache=%s: %s, redis_connected false after %s, Redis used again %s after return, '
                . 'redis_connected true %s after return, slowest call %.2f s',
            $OUTAGE, $mode, DDBCache::TestEnv::Workers->summary($s),
            defined $took_down ? sprintf('%.2f s', $took_down) : 'never (10 s)',
            defined $took_used ? sprintf('%.2f s', $took_used) : 'never (10 s)',
            defined $took_up ? sprintf('%.2f s', $took_up) : 'never (10 s)',
            $s->{max_latency});
    };
}

done_testing;
