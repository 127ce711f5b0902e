#!/usr/bin/perl
# What DDBCache::Client's local cache may cost, against the real daemon,
# redis-server and dynalite. Memory: a worker that looks up many 100 KB items
# holds no more than local_cache_bytes of values (the cache's own byte
# counter, checked against what it holds) and its RSS stays within the bound
# + 30 MiB, and one that holds many small items grows by no more than the
# counter says (it counts Perl's bookkeeping per entry, not only the values);
# a value larger than the bound is served but not kept. Time: a
# local cache that (nearly) never hits steps aside (adapting), and comes
# back when lookups hit again; local_adapt => 0 keeps it. Bad values croak.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl/lib";

use JSON::PP;
use List::Util qw(sum);
use POSIX qw(_exit);
use Test::More;
use DDBCache::Client;
use DDBCache::TestEnv;
use DDBCache::TestEnv::Faults qw(time_until);

my $ITEMS = 160;            # 16 MB of values: twice the bound
my $BLOB  = 100_000;        # bytes of each item's payload
my $BOUND = 8 * 1024 * 1024;
my $SLACK = 30 * 1024 * 1024;    # what a worker may hold besides the cache (the issue's target)

my $env = DDBCache::TestEnv->new;

# Items written straight to DynamoDB, 25 to a request, as another system would.
my @ids = map { sprintf "big%04d", $_ } 1 .. $ITEMS;    # one length: one JSON length
for (my $i = 0; $i < @ids; $i += 25) {
    my @batch = @ids[$i .. ($i + 24 < $#ids ? $i + 24 : $#ids)];
    my $res = $env->dynamo(BatchWriteItem => { RequestItems => { users => [
        map { { PutRequest => { Item => { user_id => { S => $_ }, blob => { S => "x" x $BLOB } } } } } @batch
    ] } });
    $env->put_item(users => $_->{PutRequest}{Item}) for @{ $res->{UnprocessedItems}{users} || [] };
}

# hot($client, $id): looks the item up until the local cache serves it (the
# first read, from DynamoDB, is not kept; nor, in a full cache, the first
# miss), for at most 5 s; returns whether it did, and dies if a lookup
# returns anything but the item.
sub hot {
    my ($c, $id) = @_;
    return defined time_until(5, sub {
        my $hits = $c->local_stats->{hits};
        my $item = $c->get(profile => $id);
        die "get($id) returned the wrong item\n"
            unless $item && $item->{user_id} eq $id && (!exists $item->{blob} || length $item->{blob} == $BLOB);
        return $c->local_stats->{hits} > $hits;
    });
}

# status_bytes($field): a field of /proc/self/status (VmRSS, VmHWM), in bytes.
sub status_bytes {
    my ($field) = @_;
    open my $fh, '<', '/proc/self/status' or die "cannot read /proc/self/status: $!\n";
    my @lines = <$fh>;
    close $fh;
    for (@lines) { return 1024 * $1 if /^\Q$field\E:\s+([0-9]+) kB/ }
    die "no $field in /proc/self/status\n";
}

subtest 'a worker fetching many 100 KB items stays under local_cache_bytes' => sub {
    pipe my $r, my $w or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        # The worker: a process of its own, as a preforked web worker is.
        close $r;
        my %out = (max_bytes => 0, consistent => 1, held => 0);
        my $ok = eval {
            my $c = $env->client(local_cache_bytes => $BOUND, local_adapt => 0);
            for my $id (@ids) {
                $out{held}++ if hot($c, $id);
                my $s = $c->local_stats;
                $out{max_bytes} = $s->{bytes} if $s->{bytes} > $out{max_bytes};
                # Every item's JSON and keys have the same lengths: the
                # counter must be exactly entries x what one entry counts for.
                my $json = $c->get_json(profile => $id);
                my $per = DDBCache::Client::LocalCache::entry_bytes("profile\0$id", $json, "user_profile:$id");
                $out{consistent} = 0 if $s->{bytes} != $s->{entries} * $per;
                $out{per} = $per;
            }
            my $s = $c->local_stats;
            @out{qw(bytes entries rss hwm)} = ($s->{bytes}, $s->{entries}, status_bytes('VmRSS'), status_bytes('VmHWM'));
            1;
        };
        $out{error} = $@ unless $ok;
        print {$w} JSON::PP->new->encode(\%out);
        close $w;
        _exit(0);
    }
    close $w;
    my $json = do { local $/; <$r> };
    waitpid $pid, 0;
    my $out = eval { JSON::PP->new->decode($json) } || { error => "the worker said: $json" };
    is($out->{error}, undef, 'the worker ran') or return;
    cmp_ok($out->{held}, '>=', $ITEMS * 0.9, "most items were held at some point ($out->{held} of $ITEMS)");
    cmp_ok($out->{max_bytes}, '<=', $BOUND, "the byte counter never went over the bound ($out->{max_bytes})");
    ok($out->{consistent}, 'the byte counter is what the held entries count for, summed, after every lookup');
    cmp_ok($out->{per}, '<', $BLOB + 2048, "... an entry counts for its value and about 1 KB ($out->{per} B)");
    my $fit = int($BOUND / $out->{per});
    cmp_ok($out->{entries}, '<=', $fit, "at most $fit items held");
    cmp_ok($out->{entries}, '>=', $fit - 1, '... and the cache is full: evicted by bytes, not by count');
    cmp_ok($out->{rss}, '<=', $BOUND + $SLACK, sprintf 'RSS %.1f MiB <= bound + 30 MiB', $out->{rss} / 2**20);
    diag(sprintf 'worker: RSS %.1f MiB, peak %.1f MiB, %d entries, %d bytes held', $out->{rss} / 2**20,
        $out->{hwm} / 2**20, $out->{entries}, $out->{bytes});
};

# Profiles of about 300 B, as the typical workload has, for the test below.
my $PROFILES = 4000;
my $SMALL_BOUND = 2 * 1024 * 1024;
my @profiles = map { sprintf "prof%05d", $_ } 1 .. $PROFILES;
for (my $i = 0; $i < @profiles; $i += 25) {
    my $res = $env->dynamo(BatchWriteItem => { RequestItems => { users => [
        map { { PutRequest => { Item => { user_id => { S => $_ }, name => { S => "User $_" }, bio => { S => 'y' x 250 } } } } }
            @profiles[$i .. $i + 24]
    ] } });
    $env->put_item(users => $_->{PutRequest}{Item}) for @{ $res->{UnprocessedItems}{users} || [] };
}

# The worker of the test below: a fresh perl, not a fork of this test
# (whose heap, already resident, would hide what the worker allocates),
# with nothing loaded but the client, as a web worker is. Arguments: the
# socket, the bound, the ids; prints its findings as JSON.
my $SMALL_WORKER = <<'PERL';
use strict; use warnings;
use DDBCache::Client; use JSON::PP ();
my ($socket, $bound, @ids) = @ARGV;
sub rss { open my $fh, '<', '/proc/self/status' or die "$!\n"; for (<$fh>) { return 1024 * $1 if /^VmRSS:\s+([0-9]+) kB/ } die "no VmRSS\n" }
my %out;
my $ok = eval {
    # The default entry bound (50 000), so that bytes decide.
    my $c = DDBCache::Client->new(socket => $socket, local_cache_bytes => $bound, local_adapt => 0);
    $c->get(profile => $ids[0]) for 1 .. 2;    # connections open, code paths run once
    my $before = rss();
    # Twice through every profile: the first pass fills the cache and then
    # the admission's memory (keys seen once), the second admits those at
    # their second miss, evicting.
    for my $id (@ids, @ids) {
        my $item = $c->get(profile => $id);
        die "get($id) returned the wrong item\n" unless $item && $item->{user_id} eq $id;
    }
    my $s = $c->local_stats;
    @out{qw(bytes entries grew rss per)} = ($s->{bytes}, $s->{entries}, rss() - $before, rss(),
        DDBCache::Client::LocalCache::entry_bytes("profile\0$ids[0]", $c->get_json(profile => $ids[0]), "user_profile:$ids[0]"));
    1;
};
$out{error} = $@ unless $ok;
print JSON::PP->new->encode(\%out);
PERL

subtest 'small items: local_cache_bytes counts what Perl takes per entry, not only the values' => sub {
    open my $r, '-|', $^X, "-I$FindBin::Bin/../perl/lib", '-e', $SMALL_WORKER, $env->socket_path, $SMALL_BOUND, @profiles
        or die "cannot run $^X: $!";
    my $json = do { local $/; <$r> };
    close $r;
    my $out = eval { JSON::PP->new->decode($json) } || { error => "the worker said: $json" };
    is($out->{error}, undef, 'the worker ran') or return;
    cmp_ok($out->{bytes}, '<=', $SMALL_BOUND, "the byte counter stays under the bound ($out->{bytes})");
    cmp_ok($out->{bytes} + $out->{per}, '>', $SMALL_BOUND, '... and the cache is full: bytes decided, not the count');
    cmp_ok($out->{entries}, '<', $PROFILES / 2, "... with fewer entries than the values alone would allow ($out->{entries})");
    # Had the counter taken the values only, the worker would hold all
    # the profiles, and grow by about 2.6 MiB more than it counts.
    cmp_ok($out->{grew}, '<=', $out->{bytes} + 2**20,
        sprintf 'the worker grew by %.2f MiB, no more than the counter says (%.2f MiB) + 1 MiB',
        $out->{grew} / 2**20, $out->{bytes} / 2**20);
    cmp_ok($out->{rss}, '<=', $SMALL_BOUND + $SLACK, sprintf 'RSS %.1f MiB <= bound + 30 MiB', $out->{rss} / 2**20);
    diag(sprintf 'worker: RSS %.1f MiB, grew %.2f MiB, %d entries, %d bytes counted, %d per entry', $out->{rss} / 2**20,
        $out->{grew} / 2**20, @$out{qw(entries bytes per)});
};

subtest 'a value larger than local_cache_bytes is served, not kept' => sub {
    my $c = $env->client(local_cache_bytes => $BLOB / 2);
    for (1 .. 3) {
        is($c->get(profile => $ids[0])->{user_id}, $ids[0], 'the item is returned');
    }
    my $s = $c->local_stats;
    is_deeply([@$s{qw(hits entries bytes enabled)}], [0, 0, 0, 1], 'nothing held, the local cache still on');
};

subtest 'local_cache_bytes => 0 turns the local cache off' => sub {
    my $c = $env->client(local_cache_bytes => 0);
    is($c->get(profile => $ids[1])->{user_id}, $ids[1], 'the item is returned');
    is($c->local_stats->{enabled}, 0, 'local_stats says off');
};

# Items the adapting tests cycle through: more than their local cache holds.
my @small = map { sprintf "small%04d", $_ } 1 .. 50;
for (my $i = 0; $i < @small; $i += 25) {
    $env->dynamo(BatchWriteItem => { RequestItems => { users => [
        map { { PutRequest => { Item => { user_id => { S => $_ }, name => { S => "Small $_" } } } } } @small[$i .. $i + 24]
    ] } });
}

# cycle($client, $lookups): looks the small items up in turn; dies if one
# comes back wrong.
sub cycle {
    my ($c, $n) = @_;
    for my $i (0 .. $n - 1) {
        my $id = $small[ $i % @small ];
        my $item = $c->get(profile => $id);
        die "get($id) returned the wrong item\n" unless $item && $item->{name} eq "Small $id";
    }
    return;
}

subtest 'a local cache that does not hit steps aside, and comes back' => sub {
    # 50 items in turn through 1 entry: 2 % of hits (the entry that the
    # admission keeps; without it, none).
    my $c = $env->client(local_cache => 1);
    cycle($c, 1100);
    my $s = $c->local_stats;
    cmp_ok($s->{hits}, '<=', 0.03 * 1100, "few hits ($s->{hits})");
    is($s->{bypassing}, 1, 'after 1000 misses at that hit ratio the local cache is bypassed');
    cmp_ok($s->{misses}, '<=', 1001, '... having counted the misses of one window');
    cmp_ok($s->{bypassed}, '>', 0, '... and the lookups since go to the daemon as plain lookups');
    is($s->{hits} + $s->{misses} + $s->{bypassed}, 1100, '... every lookup a hit, a miss or bypassed');
    my $daemon = $env->stats('profile');
    cycle($c, 1000);
    my $after = $env->stats('profile');
    is($c->local_stats->{bypassed}, $s->{bypassed} + 1000, 'bypassed lookups are counted');
    is($c->local_stats->{misses}, $s->{misses}, '... not as misses');
    my $asked = sum(map { $after->{$_} - $daemon->{$_} } qw(hits_local hits_redis misses negative_hits));
    is($asked, 1000, '... and each was a lookup the daemon answered');

    # A single hot item from now on: once the bypass (10 000 lookups) is
    # over, the window after it sees hits and the local cache stays on.
    my $hot = $small[0];
    my $took = 0;
    $took++ until !$c->local_stats->{bypassing} || $took > 20_000 || !$c->get(profile => $hot);
    is($c->local_stats->{bypassing}, 0, "the bypass ends (after $took lookups)");
    my $hits = $c->local_stats->{hits};
    $c->get(profile => $hot) for 1 .. 2000;
    cmp_ok($c->local_stats->{hits}, '>=', $hits + 1990, 'the hot item is served locally again');
    is($c->local_stats->{bypassing}, 0, '... and the local cache stays on');
};

subtest 'a full local cache keeps a key at its second miss, not its first' => sub {
    my $c = $env->client(local_cache => 2, local_adapt => 0);
    ok(hot($c, $small[$_]), "$small[$_] is held: there is room") for 0, 1;
    my $s = $c->local_stats;
    $c->get(profile => $small[2]) for 1 .. 2;
    is($c->local_stats->{misses}, $s->{misses} + 2, 'a third item misses twice');
    $c->get(profile => $small[2]);
    is($c->local_stats->{hits}, $s->{hits} + 1, '... and is then held');
    is($c->local_stats->{entries}, 2, '... in place of one of the two');
    $c->get(profile => $small[$_]) for 3 .. 20;    # each read once
    $s = $c->local_stats;
    $c->get(profile => $small[2]);
    is($c->local_stats->{hits}, $s->{hits} + 1, 'items read once do not evict it');
};

subtest 'local_adapt => 0: the local cache never steps aside' => sub {
    my $c = $env->client(local_cache => 1, local_adapt => 0);
    cycle($c, 1500);
    my $s = $c->local_stats;
    is_deeply([@$s{qw(bypassing bypassed)}], [0, 0], 'no bypass');
    is($s->{hits} + $s->{misses}, 1500, 'every lookup a hit or a miss');
    cmp_ok($s->{misses}, '>=', 1400, '... mostly misses');
};

subtest 'bad local_cache_bytes and local_adapt values croak' => sub {
    for my $case (
        [[local_cache_bytes => -1],     qr/local_cache_bytes must be a number of bytes \(an integer, 0 turns the local cache off\), got '-1'/],
        [[local_cache_bytes => '1MB'],  qr/local_cache_bytes must be a number of bytes .* got '1MB'/],
        [[local_cache_bytes => undef],  qr/local_cache_bytes must be a number of bytes .* got undef/],
        [[local_adapt => 2],            qr/local_adapt must be 0 or 1, got '2'/],
        [[local_adapt => []],           qr/local_adapt must be 0 or 1, got ARRAY reference/],
    ) {
        my ($args, $re) = @$case;
        ok(!eval { DDBCache::Client->new(socket => $env->socket_path, @$args); 1 }, "@$args[0] croaks");
        like($@, qr/\ADDBCache::Client->new: $re/, '... saying why');
    }
};

done_testing;
