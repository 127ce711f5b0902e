#!/usr/bin/perl
# Fault: DynamoDB hangs (dynalite stopped with SIGSTOP: connections stay
# open, nothing is answered), limits.load_timeout 1 s.
# Targets: cached items served at normal latency (p99 while hung within
# 2x the p99 before, or 5 ms); lookups of uncached items fail within
# load_timeout + 100 ms, with an error.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/../perl/lib";

use Test::More;
use Time::HiRes qw(time);
use DDBCache::Client;
use DDBCache::TestEnv;
use DDBCache::TestEnv::Faults qw(seed_items check_item figure);

my ($LOAD_TIMEOUT, $SLACK, $CALLS) = (1, 0.1, 1000);

my $env  = DDBCache::TestEnv->new(config => { limits => { load_timeout => "${LOAD_TIMEOUT}s" } });
my @keys = seed_items($env, 'dh', 50);
my $c    = $env->client(local_cache => 0);    # every lookup reaches the daemon
ok(!defined check_item($c->get(profile => $_), $_), "$_ is cached") for @keys;

# p99($c): the 99th percentile and the wrong or failed count of $CALLS cached lookups.
sub p99 {
    my (@t, $bad);
    $bad = 0;
    for my $n (1 .. $CALLS) {
        my $key = $keys[$n % @keys];
        my $t0  = time;
        my $w   = eval { check_item($c->get(profile => $key), $key) // 'ok' } // "failed: $@";
        push @t, time - $t0;
        $bad++ if $w ne 'ok';
    }
    @t = sort { $a <=> $b } @t;
    return ($t[int(0.99 * $#t)], $bad);
}

my ($before) = p99();
$env->pause_dynalite;
my ($during, $bad) = p99();
my $limit = 2 * $before > 0.005 ? 2 * $before : 0.005;
cmp_ok($during, '<=', $limit, sprintf 'cached items at normal latency (p99 %.2f ms, before %.2f ms)', 1000 * $during, 1000 * $before);
is($bad, 0, 'all cached lookups right');

my ($slowest, $errors, @msgs) = (0, 0);
for my $n (1 .. 3) {
    my $t0 = time;
    my $ok = eval { $c->get(profile => "uncached$n"); 1 };
    my $took = time - $t0;
    $slowest = $took if $took > $slowest;
    if (!$ok) {
        $errors++;
        (my $m = $@) =~ s/ at \S+ line \d+\.\n\z//;
        push @msgs, $m;
    }
}
$env->resume_dynalite;
is($errors, 3, 'lookups of uncached items fail') or diag "@msgs";
cmp_ok($slowest, '<=', $LOAD_TIMEOUT + $SLACK, sprintf 'within load_timeout + 100 ms (slowest %.2f s)', $slowest);
figure(sprintf 'dynamodb-hang load_timeout=%ds: cached p99 %.2f ms (before %.2f ms), %d wrong or failed of %d; '
        . '%d of 3 misses failed, slowest after %.2f s (target <= %.1f s)%s',
    $LOAD_TIMEOUT, 1000 * $during, 1000 * $before, $bad, $CALLS, $errors, $slowest, $LOAD_TIMEOUT + $SLACK,
    @msgs ? " ($msgs[0])" : '');

done_testing;
