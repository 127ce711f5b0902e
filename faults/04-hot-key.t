#!/usr/bin/perl
# Fault: hot keys while Redis is down. redis-server is killed; 8 workers
# then look up the same 3 items as fast as they can for 4 s. With no Redis
# the daemon reads DynamoDB; its gutter (limits.gutter_ttl, 1 s here: a
# short copy in the daemon's memory, memcache's gutter idea) must keep that
# to one read per key per gutter TTL.
# Target: DynamoDB reads (DDB STATS dynamodb_reads of the namespace) <= 3 x
# (4 s / 1 s + 1), 0 failed calls, 0 wrong values.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/../perl/lib";

use POSIX qw(floor);
use Test::More;
use Time::HiRes qw(sleep time);
use DDBCache::Client;
use DDBCache::TestEnv;
use DDBCache::TestEnv::Faults qw(seed_items check_item time_until figure);
use DDBCache::TestEnv::Workers;

my ($WORKERS, $HOT, $HOLD, $GUTTER) = (8, 3, 4, 1);

my $env = eval { DDBCache::TestEnv->new(config => { limits => { gutter_ttl => "${GUTTER}s" } }) };
my $note = '';
if (!$env) {
    $note = ' [this daemon does not know limits.gutter_ttl]';
    fail("the daemon starts with limits.gutter_ttl: ${GUTTER}s") or diag $@;
    # The figure all the same, from a daemon without the setting.
    $env = DDBCache::TestEnv->new;
}
my @keys = seed_items($env, 'hot', $HOT);
my $c    = $env->client(local_cache => 0);
ok(!defined check_item($c->get(profile => $_), $_), "$_ is cached") for @keys;

$env->stop_redis(signal => 'KILL');
my $down = time_until(3, sub { !$env->stats->{redis_connected} });
ok(defined $down, 'redis_connected false within 3 s') or diag 'going on: the daemon may not know yet';

my $reads0 = $env->stats('profile')->{dynamodb_reads};
my $w = DDBCache::TestEnv::Workers->new(
    n      => $WORKERS,
    client => sub { return $env->client(local_cache => 0) },
    call   => sub {
        my ($cl, $i, $n) = @_;
        my $key = $keys[($n + $i) % @keys];
        return check_item($cl->get(profile => $key), $key);
    },
)->start->go;
sleep $HOLD;    # the hot keys are looked up for this long while Redis is down: the scenario
my $s     = $w->stop;
my $reads = $env->stats('profile')->{dynamodb_reads} - $reads0;
my $max   = $HOT * (floor($s->{elapsed} / $GUTTER) + 1);
cmp_ok($reads, '<=', $max, "at most one DynamoDB read per key per gutter TTL ($max)");
is($s->{failed}, 0, '0 failed calls') or diag explain $s->{errors};
is($s->{wrong}, 0, '0 wrong values') or diag explain $s->{wrongs};
figure(sprintf 'hot-key redis-down %.1fs gutter_ttl=%ds %d keys %d workers: %d DynamoDB reads (target <= %d, %.1f per key per gutter TTL), %s',
    $s->{elapsed}, $GUTTER, $HOT, $WORKERS, $reads, $max, $reads / $HOT / ($s->{elapsed} / $GUTTER),
    DDBCache::TestEnv::Workers->summary($s) . $note);
$env->start_redis;

done_testing;
