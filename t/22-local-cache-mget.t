#!/usr/bin/perl
# DDBCache::Client's mget through the local cache, against the real daemon,
# redis-server and dynalite: keys held locally make no request to the
# daemon (DDB MGETC asks only for the others, none when all are held),
# hits and misses are counted per key; a put, delete or invalidate through
# another client object is seen by the very next mget (the daemon pushed it
# before acknowledging the write); local_cache => 0 sends a plain DDB MGET.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl/lib";

use Test::More;
use DDBCache::Client;
use DDBCache::TestEnv;
use DDBCache::TestEnv::Faults qw(time_until);

my $env = DDBCache::TestEnv->new(namespaces => {
    orders => { table => 'orders', partition_key => 'user_id', sort_key => 'order_id' },
});
my $ddb    = $env->client(timeout => 5);    # the reader, local cache on (the default)
my $writer = $env->client(timeout => 5);

# seed($id, $name): an item written straight to DynamoDB (a value written
# through the daemon is not kept locally for a while: see t/08's seed).
sub seed {
    my ($id, $name) = @_;
    $env->put_item(users => { user_id => { S => "$id" }, name => { S => "$name" } });
    return;
}

# daemon_lookups($ns): the daemon's lookup counters for the namespace, summed.
sub daemon_lookups {
    my $s = $env->stats(shift);
    return $s->{hits_local} + $s->{hits_redis} + $s->{misses} + $s->{negative_hits};
}

# hot_mget($client, $ns, \@keys): mgets the keys until the local cache
# serves all of them, for at most 5 s; returns whether it did. A value
# just read from DynamoDB is not kept (see t/08's hot); the next one is.
sub hot_mget {
    my ($c, $ns, $keys) = @_;
    return defined time_until(5, sub {
        my $hits = $c->local_stats->{hits};
        $c->mget($ns, $keys);
        return $c->local_stats->{hits} - $hits == @$keys;
    });
}

# counted($client, $ns, $code): runs $code; returns (its result, local
# hits, local misses, daemon lookups) as the differences it made.
sub counted {
    my ($c, $ns, $code) = @_;
    my ($s0, $d0) = ($c->local_stats, daemon_lookups($ns));
    my $r  = $code->();
    my $s1 = $c->local_stats;
    return ($r, $s1->{hits} - $s0->{hits}, $s1->{misses} - $s0->{misses}, daemon_lookups($ns) - $d0);
}

seed($_, "User $_") for 1 .. 6;
$env->put_item(orders => { user_id => { S => 'u1' }, order_id => { S => "$_" }, total => { N => q{} . 10 * $_ } }) for 1 .. 2;

subtest 'held keys make no request; the others one DDB MGETC' => sub {
    my @cases = (
        # name, namespace, keys to hold first, keys asked, want (key => field value), hits, misses
        ['all held', 'profile', [1, 2, 3], [1, 2, 3], { 1 => 'User 1', 2 => 'User 2', 3 => 'User 3' }, 3, 0],
        ['held and not held', 'profile', [1, 2], [1, 4, 2], { 1 => 'User 1', 2 => 'User 2', 4 => 'User 4' }, 2, 1],
        ['a missing key among held ones', 'profile', [1, 2], [2, 404, 1], { 1 => 'User 1', 2 => 'User 2' }, 2, 1],
        ['none held', 'profile', [], [5, 405], { 5 => 'User 5' }, 0, 2],
        ['a key twice', 'profile', [3], [3, 3], { 3 => 'User 3' }, 2, 0],
        ['sort-key pairs', 'orders', [['u1', 1]], [['u1', 1], ['u1', 2]], { "u1$;1" => 10, "u1$;2" => 20 }, 1, 1],
    );
    for my $case (@cases) {
        my ($name, $ns, $hold, $ask, $want, $hits, $misses) = @$case;
        ok(hot_mget($ddb, $ns, $hold), "$name: the keys to hold are held") if @$hold;
        my ($r, $h, $m, $d) = counted($ddb, $ns, sub { $ddb->mget($ns, $ask) });
        my $field = $ns eq 'orders' ? 'total' : 'name';
        is_deeply({ map { $_ => $r->{$_}{$field} } keys %$r }, $want, "$name: the items");
        is($h, $hits,   "$name: $hits local hits");
        is($m, $misses, "$name: $misses local misses");
        is($d, $misses, "$name: the daemon looked up only the $misses keys not held");
    }
    # get and mget share the entries.
    ok(hot_mget($ddb, 'profile', [6]), 'held by mget');
    my (undef, $h, undef, $d) = counted($ddb, 'profile', sub { $ddb->get(profile => 6) });
    is_deeply([$h, $d], [1, 0], 'then get serves it locally');
};

subtest 'a write through another client is seen by the next mget' => sub {
    my @cases = (
        ['put', sub { $writer->put(profile => { user_id => '1', name => 'Put' }) }, 'Put'],
        ['delete', sub { $writer->delete(profile => 1) }, undef],
        # Changed behind the daemon's back, then invalidated: only the push
        # of the invalidation can tell the reader.
        ['invalidate', sub {
            seed(1, 'Behind');
            $writer->invalidate(profile => 1);
        }, 'Behind'],
    );
    for my $case (@cases) {
        my ($name, $write, $want) = @$case;
        seed(1, 'User 1');
        $writer->invalidate(profile => 1);
        ok(hot_mget($ddb, 'profile', [1, 2]), "$name: held");
        $write->();
        my $r = $ddb->mget(profile => [1, 2]);
        is($r->{1} && $r->{1}{name}, $want, "$name: the next mget sees it");
        is($r->{2}{name}, 'User 2', "$name: the other key is unchanged");
    }
};

subtest 'local_cache => 0: a plain DDB MGET each time' => sub {
    my $plain = $env->client(timeout => 5, local_cache => 0);
    for my $round (1 .. 2) {
        my ($r, $h, $m, $d) = counted($plain, 'profile', sub { $plain->mget(profile => [2, 3, 404]) });
        is_deeply({ map { $_ => $r->{$_}{name} } keys %$r }, { 2 => 'User 2', 3 => 'User 3' }, "round $round: the items");
        is_deeply([$h, $m, $d], [0, 0, 3], "round $round: no local hit or miss; the daemon looked up all 3 keys");
    }
};

done_testing;
