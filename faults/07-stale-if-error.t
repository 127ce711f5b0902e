#!/usr/bin/perl
# Fault: items past their TTL while DynamoDB hangs (dynalite stopped with
# SIGSTOP), in a namespace with ttl 2s, stale_if_error 5m, load_timeout 1s.
# Target: every expired item is served (its last value), flagged stale
# (DDB STATS: the namespace's stale counter counts each).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/../perl/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use DDBCache::Client;
use DDBCache::TestEnv;
use DDBCache::TestEnv::Faults qw(seed_items check_item figure);

my ($TTL, $N) = (2, 20);
my $env = DDBCache::TestEnv->new(
    namespaces => { profile => { table => 'users', partition_key => 'user_id', redis_key => 'user_profile:{user_id}',
        ttl => "${TTL}s", stale_if_error => '5m', negative_ttl => '30s' } },
    config => { limits => { load_timeout => '1s' } },
);
my @keys = seed_items($env, 'st', $N);
my $c    = $env->client(local_cache => 0, timeout => 6);
ok(!defined check_item($c->get(profile => $_), $_), "$_ is cached") for @keys;
my $t_cached = time;

# The items must be past their TTL: this wait is the scenario, not a synchronizer.
my $left = $t_cached + $TTL + 0.5 - time;
sleep $left if $left > 0;
$env->pause_dynalite;
my $stale0 = $env->stats('profile')->{stale};
my ($served, $failed, $slowest, @msgs) = (0, 0, 0);
for my $key (@keys) {
    my $t0 = time;
    my $item = eval { $c->get(profile => $key) };
    my $took = time - $t0;
    $slowest = $took if $took > $slowest;
    if (!defined $item && $@) {
        $failed++;
        (my $m = $@) =~ s/ at \S+ line \d+\.\n\z//;
        push @msgs, $m;
        next;
    }
    $served++ unless defined check_item($item, $key);
}
my $stale = $env->stats('profile')->{stale} - $stale0;
$env->resume_dynalite;
is($served, $N, "all $N expired items served with their last value") or diag $msgs[0];
is($stale, $N, '... each counted stale');
figure(sprintf 'stale-if-error ttl=%ds dynamodb-hung: %d of %d expired items served, %d failed, %d counted stale, slowest %.2f s%s',
    $TTL, $served, $N, $failed, $stale, $slowest, @msgs ? " ($msgs[0])" : '');

done_testing;
