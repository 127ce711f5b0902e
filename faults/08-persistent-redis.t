#!/usr/bin/perl
# Fault: writes during an outage of a persistent Redis (append-only file),
# two daemons (two hosts) on it. The items are cached in Redis and in both
# daemons; Redis is then hung (SIGSTOP) or killed and started again with
# its data; meanwhile items are written through both daemons (each write
# either refused, failed with an error, or done); then Redis recovers.
# A write done in DynamoDB whose invalidation did not reach Redis would
# leave the old value in Redis (it comes back from the AOF) for its TTL.
# Target: after recovery, 0 keys differ from DynamoDB on either daemon.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/../perl/lib";

use Test::More;
use Time::HiRes qw(time);
use DDBCache::Client;
use DDBCache::TestEnv;
use DDBCache::TestEnv::Faults qw(seed_items check_item time_until figure);

my ($N, $WRITES) = (30, 6);

my $env = DDBCache::TestEnv->new(redis_aof => 1);
my @sockets = ($env->socket_path, $env->start_extra_daemon);

for my $variant (qw(sigstop kill-restart)) {
    subtest "Redis $variant, writes through two daemons" => sub {
        # Every write reaches the AOF before its reply, so that the values
        # cached before the kill come back with Redis (a new redis-server
        # starts with the default, everysec).
        is($env->redis_cmd(qw(CONFIG SET appendfsync always)), 'OK', 'appendfsync always');
        my @keys    = seed_items($env, "pr-$variant-", $N);
        my @readers = map { DDBCache::Client->new(socket => $_, local_cache => 0) } @sockets;
        for my $r (@readers) {
            is(scalar(grep { !defined check_item($r->get(profile => $_), $_) } @keys), $N, 'all cached');
        }

        $variant eq 'sigstop' ? $env->pause_redis : $env->stop_redis(signal => 'KILL');
        my @writers = map { DDBCache::Client->new(socket => $_, local_cache => 0, timeout => 2) } @sockets;
        my %outcome;
        for my $i (1 .. $WRITES) {
            my $key = $keys[$i];
            my $ok  = eval { $writers[$i % 2]->put(profile => { user_id => $key, v => "written-$i" }); 1 };
            $outcome{ $ok ? 'done' : $@ =~ /timed out/ ? 'timed out' : 'refused or failed' }++;
        }
        $variant eq 'sigstop' ? $env->resume_redis : $env->start_redis;
        my $t_back = time;
        for my $path (@sockets) {
            ok(defined time_until(10, sub { $env->stats_of($path)->{redis_connected} }), "$path: redis_connected");
        }
        my $recovered = time - $t_back;

        my ($differ, @which) = (0);
        for my $d (0 .. $#readers) {
            for my $key (@keys) {
                my $dyn  = $env->get_item(users => { user_id => { S => $key } });
                my $want = $dyn ? $dyn->{v}{S} : undef;
                my $got  = eval { $readers[$d]->get(profile => $key) };
                my $have = $got ? $got->{v} : $@ ? 'error' : undef;
                next if ($have // 'undef') eq ($want // 'undef');
                $differ++;
                push @which, "daemon " . ($d + 1) . " $key: " . ($have // 'undef') . ' != DynamoDB ' . ($want // 'undef');
            }
        }
        is($differ, 0, '0 keys differ from DynamoDB on either daemon') or diag join "\n", @which[0 .. ($#which < 5 ? $#which : 5)];
        figure(sprintf 'persistent-redis %s, %d writes through 2 daemons (%s): %d of %d key reads differ from DynamoDB after recovery '
                . '(both daemons redis_connected %.2f s after Redis came back)',
            $variant, $WRITES, join(', ', map { "$outcome{$_} $_" } sort keys %outcome), $differ, 2 * $N, $recovered);
    };
}

done_testing;
