#!/usr/bin/perl
# DDBCache::Client's local cache against the real daemon, redis-server and
# dynalite: a held item is served with no request to the daemon; writes
# through the daemon (by another client object, another process) are seen by
# the very next lookup; changes made straight in Redis within a bounded poll;
# a daemon restart, a lost Redis connection and a fork drop the entries;
# local_cache => 0, local_ttl, eviction, bad arguments; a daemon without
# DDB MGETC; and a randomized read-your-writes loop. How the client reads
# pushes, and a daemon without DDB TRACK: t/23.
use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl/lib";

use POSIX qw(_exit);
use Test::More;
use Time::HiRes qw(sleep time);
use DDBCache::Client;
use DDBCache::TestEnv;
use DDBCache::TestEnv::FakeTracker qw(fake_tracker);
use DDBCache::TestEnv::Faults qw(time_until);

binmode Test::More->builder->$_, ':encoding(UTF-8)' for qw(output failure_output todo_output);

eval { require Redis; 1 } or die "Redis.pm is missing; install it with: apt-get install -y libredis-perl (or run make deps)\n";

# How long a change made behind the daemon's back may take to be seen;
# time_until polls for it, since what it waits for (a change made in Redis
# reaching the daemon through Redis's tracking, and the daemon's push) sends
# the test no signal; the time it took is what the tests assert.
my $SEEN_WITHIN = 2;

my $env = DDBCache::TestEnv->new(namespaces => {
    orders => { table => 'orders', partition_key => 'user_id', sort_key => 'order_id' },
});
my $ddb    = $env->client(timeout => 5);    # the reader, local cache on (the default)
my $writer = $env->client(timeout => 5);
my $redis  = Redis->new(server => '127.0.0.1:' . $env->redis_port, reconnect => 0);

# seed($id, %attrs): an item written straight to DynamoDB, as another system
# would. (A write through the daemon would do too, but for 2 s after it the
# daemon reads the item from Redis uncached, and such values are not kept
# locally: the tests that need a held item seed it this way.)
sub seed {
    my ($id, %attrs) = @_;
    $env->put_item(users => { user_id => { S => $id }, map { $_ => { S => $attrs{$_} } } keys %attrs });
    return;
}

# daemon_lookups: the daemon's lookup counters for the namespace, summed.
sub daemon_lookups {
    my $s = $env->stats('profile');
    return $s->{hits_local} + $s->{hits_redis} + $s->{misses} + $s->{negative_hits};
}

# hot($client, @args): looks the item up until the local cache serves it,
# for at most 5 s; returns whether it did. A value just read from DynamoDB
# is not kept, nor one read while the daemon still holds the nil it cached
# before the fill (until Redis's invalidation of that nil reaches it);
# the next one, from the daemon's memory, is.
sub hot {
    my ($c, @args) = @_;
    return defined time_until(5, sub {
        my $hits = $c->local_stats->{hits};
        $c->get(@args);
        return $c->local_stats->{hits} > $hits;
    });
}


# dies_like(sub { ... }, qr/.../, $name): the code dies with a matching message.
sub dies_like {
    my ($code, $re, $name) = @_;
    my $ok = eval { $code->(); 1 };
    return ok(0, "$name: did not die") if $ok;
    return like($@, $re, $name);
}

subtest 'a held item is served from the local cache: no request to the daemon' => sub {
    seed('h1', name => 'Hot');
    my $s0 = $ddb->local_stats;
    is_deeply($s0, { hits => 0, misses => 0, invalidations => 0, flushes => 0, entries => 0, bytes => 0, bypassed => 0, bypassing => 0, enabled => 1 },
        'a new client: local cache on, empty');
    ok(hot($ddb, profile => 'h1'), 'h1 is held after a few lookups');
    my $json = $env->redis_cmd(qw(GET user_profile:h1));

    my $before = daemon_lookups();
    my $s1     = $ddb->local_stats;
    my $same   = 0;
    for (1 .. 100) {
        $same++ if $ddb->get(profile => 'h1')->{name} eq 'Hot';
    }
    $same++ if $ddb->get_json(profile => 'h1') eq $json;
    my $s2 = $ddb->local_stats;
    is($same, 101, '100 gets and a get_json return the item');
    is($s2->{hits} - $s1->{hits}, 101, '... all local hits');
    is($s2->{misses}, $s1->{misses}, '... no misses');
    is(daemon_lookups(), $before, 'the daemon counted no lookup');
    is($s2->{entries}, 1, 'one entry');

    my $item = $ddb->get(profile => 'h1');
    $item->{name} = 'changed by the caller';
    is($ddb->get(profile => 'h1')->{name}, 'Hot', 'each get decodes a hash of its own');
    ok(!utf8::is_utf8($ddb->get_json(profile => 'h1')), 'get_json: bytes, as from the daemon');

    my $named = $env->client(namespace => 'profile');
    ok(hot($named, 'profile', 'h1'), 'another client holds it too');
    my $hits = $named->local_stats->{hits};
    is($named->lookup('h1')->{name}, 'Hot', 'lookup');
    is($named->local_stats->{hits}, $hits + 1, '... is served locally too');
};

subtest 'what is not kept: missing items, fresh DynamoDB reads' => sub {
    my $before = daemon_lookups();
    is($ddb->get(profile => 'nobody') // 'undef', 'undef', 'a missing item') for 1 .. 3;
    is(daemon_lookups(), $before + 3, 'every lookup of a missing item asks the daemon');

    seed('h2', name => 'Fresh');
    my $s = $ddb->local_stats;
    is($ddb->get(profile => 'h2')->{name}, 'Fresh', 'a miss read from DynamoDB');
    is($ddb->local_stats->{entries}, $s->{entries}, '... is not kept (the daemon hears of no change of it yet)');
};

subtest 'a put through another client object is seen by the very next get' => sub {
    seed('w1', name => 'Old');
    ok(hot($ddb, profile => 'w1'), 'w1 is held');
    my $s = $ddb->local_stats;
    ok($writer->put(profile => { user_id => 'w1', name => 'New' }), 'another client object puts');
    is($ddb->get(profile => 'w1')->{name}, 'New', 'the next get sees it, at once');
    is($ddb->local_stats->{invalidations}, $s->{invalidations} + 1, 'the daemon pushed the invalidation');

    seed('w2', name => 'Doomed');
    ok(hot($ddb, profile => 'w2'), 'w2 is held');
    is($writer->delete(profile => 'w2'), 1, 'another client deletes it');
    is($ddb->get(profile => 'w2'), undef, 'the next get: gone');

    seed('w3', name => 'Before');
    ok(hot($ddb, profile => 'w3'), 'w3 is held');
    seed('w3', name => 'After');    # DynamoDB changed behind the cache's back ...
    is($writer->invalidate(profile => 'w3'), 1, '... and another client invalidates it');
    is($ddb->get(profile => 'w3')->{name}, 'After', 'the next get reads DynamoDB');

    seed('w4', name => 'Plain');
    ok(hot($ddb, profile => 'w4'), 'w4 is held');
    is($writer->redis(SET => 'user_profile:w4', '{"user_id":"w4","name":"Passthrough"}'), 'OK',
        'another client sets its Redis key through the daemon');
    is($ddb->get(profile => 'w4')->{name}, 'Passthrough', 'the next get sees it');

    seed('w5', name => 'Mine');
    ok(hot($ddb, profile => 'w5'), 'w5 is held');
    ok($ddb->put(profile => { user_id => 'w5', name => 'Mine 2' }), 'the client puts it itself');
    is($ddb->get(profile => 'w5')->{name}, 'Mine 2', 'and reads its own write');
};

subtest 'a put by another process is seen by the very next get' => sub {
    seed('p1', name => 'Parent');
    ok(hot($ddb, profile => 'p1'), 'p1 is held');
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $ok = eval {
            DDBCache::Client->new(socket => $env->socket_path)->put(profile => { user_id => 'p1', name => 'Other' });
        };
        _exit($ok ? 0 : 1);
    }
    waitpid($pid, 0);
    is($?, 0, 'another process put p1 and exited');
    is($ddb->get(profile => 'p1')->{name}, 'Other', 'the next get sees its write');
};

subtest 'changes made straight in Redis are seen within a bounded time' => sub {
    seed('r1', name => 'From DynamoDB');
    ok(hot($ddb, profile => 'r1'), 'r1 is held');
    my $s = $ddb->local_stats;
    ok($redis->set('user_profile:r1', '{"user_id":"r1","name":"From Redis"}'), 'a legacy writer SETs its key in Redis');
    my $took = time_until($SEEN_WITHIN, sub { $ddb->get(profile => 'r1')->{name} eq 'From Redis' });
    ok(defined $took, "a get sees it within $SEEN_WITHIN s") and note sprintf 'after %.1f ms', 1000 * $took;
    cmp_ok($ddb->local_stats->{invalidations}, '>', $s->{invalidations}, '... dropped by a push (local_ttl is 30 s)');

    ok(hot($ddb, profile => 'r1'), 'the new value is held');
    ok($redis->del('user_profile:r1'), 'the legacy writer DELetes the key');
    $took = time_until($SEEN_WITHIN, sub { $ddb->get(profile => 'r1')->{name} eq 'From DynamoDB' });
    ok(defined $took, "a get reads DynamoDB again within $SEEN_WITHIN s") and note sprintf 'after %.1f ms', 1000 * $took;
};

subtest 'a lost Redis connection empties the local cache' => sub {
    seed('k1', name => 'Kept');
    ok(hot($ddb, profile => 'k1'), 'k1 is held');
    my $flushes = $ddb->local_stats->{flushes};
    cmp_ok($env->redis_cmd(qw(CLIENT KILL TYPE normal)), '>', 0, "Redis drops the daemon's connections");
    ok(defined time_until($SEEN_WITHIN, sub { $ddb->local_stats->{flushes} > $flushes }),
        "the daemon pushes a flush within $SEEN_WITHIN s");
    is($ddb->local_stats->{entries}, 0, 'nothing is held');
    is($ddb->get(profile => 'k1')->{name}, 'Kept', 'lookups go on');
};

subtest 'a daemon restart drops the entries, and the client recovers' => sub {
    seed('s1', name => 'Before restart');
    ok(hot($ddb, profile => 's1'), 's1 is held');
    my $s = $ddb->local_stats;
    $env->stop_daemon;
    dies_like(sub { $ddb->get(profile => 's1') }, qr/\ADDBCache::Client: cannot connect to /,
        'while the daemon is down, a held item is not served: the lookup croaks');
    # Nobody hears of this change: it would go unnoticed by an entry kept.
    $env->redis_cmd(SET => 'user_profile:s1', '{"user_id":"s1","name":"Changed while down"}');
    $env->start_daemon;
    is($ddb->get(profile => 's1')->{name}, 'Changed while down', 'after the restart, the current value');
    cmp_ok($ddb->local_stats->{flushes}, '>', $s->{flushes}, 'the entries were flushed');
    ok(hot($ddb, profile => 's1'), 'and the local cache works again (a new tracking connection)');

    $env->restart_daemon(signal => 'KILL');
    is($ddb->get(profile => 's1')->{name}, 'Changed while down', 'after a crash and restart, a lookup works at once');
    ok(hot($ddb, profile => 's1'), '... and items are held again');
};

subtest 'a forked child uses neither the parent\'s entries nor its tracking connection' => sub {
    seed('f1', name => 'Parent value');
    seed('f2', name => 'Child hot');
    ok(hot($ddb, profile => 'f1'), 'the parent holds f1');
    my $parent = $ddb->local_stats;
    # The push for this write waits, unread, on the parent's tracking
    # connection: a child that read it would take it from the parent.
    ok($writer->put(profile => { user_id => 'f1', name => 'Written' }), 'f1 is written');

    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $r;
        my @report = eval {
            my $name = $ddb->get(profile => 'f1')->{name};    # the first call in the child
            my $s    = $ddb->local_stats;
            my $held = hot($ddb, profile => 'f2') ? 1 : 0;
            ($s->{entries}, $name, $s->{hits} - $parent->{hits}, $held);
        };
        print {$w} @report ? join("\t", @report) : "error\t$@", "\n";
        close $w;
        _exit(0);
    }
    close $w;
    chomp(my $line = <$r> // '');
    waitpid($pid, 0);
    my ($entries, $name, $hits, $held) = split /\t/, $line;
    is($entries, 0, 'the child holds none of the parent\'s entries');
    is($name, 'Written', 'the child sees the latest value');
    is($hits, 0, '... from the daemon, not from a local entry');
    is($held, 1, 'the child holds items of its own (its own tracking connection)');
    is($ddb->get(profile => 'f1')->{name}, 'Written', 'the parent sees the write too');
    is($ddb->local_stats->{invalidations}, $parent->{invalidations} + 1, '... by the push the child left for it');
};

subtest 'local_cache => 0 never serves locally' => sub {
    seed('o1', name => 'Off');
    my $off = $env->client(local_cache => 0);
    my $before = daemon_lookups();
    my $right = grep { $off->get(profile => 'o1')->{name} eq 'Off' } 1 .. 20;
    is($right, 20, '20 gets');
    is(daemon_lookups(), $before + 20, 'each asked the daemon');
    is_deeply($off->local_stats, { hits => 0, misses => 0, invalidations => 0, flushes => 0, entries => 0, bytes => 0, bypassed => 0, bypassing => 0, enabled => 0 },
        'local_stats: off, nothing counted');
};

subtest 'local_ttl bounds how long an entry is used' => sub {
    seed('t1', name => 'Short');
    my $c = $env->client(local_ttl => 0.3);
    ok(hot($c, profile => 't1'), 't1 is held');
    my $t0     = time;
    my $misses = $c->local_stats->{misses};
    my $took   = time_until(3, sub { $c->get(profile => 't1'); $c->local_stats->{misses} > $misses });
    ok(defined $took, 'a lookup asks the daemon again') or return;
    cmp_ok($took, '>=', 0.25, sprintf '... not before local_ttl (%.2f s)', $took);
    cmp_ok($took, '<', 1.5, '... nor long after it');
};

subtest 'at most local_cache items are held; the oldest inserted goes first' => sub {
    seed("e$_", name => "Evict $_") for 1 .. 5;
    my $c = $env->client(local_cache => 3);
    for my $i (1 .. 5) {
        ok(hot($c, profile => "e$i"), "e$i is held");
        cmp_ok($c->local_stats->{entries}, '<=', 3, '... and at most 3 items');
    }
    is($c->local_stats->{entries}, 3, '3 items held');
    my $s = $c->local_stats;
    $c->get(profile => $_) for qw(e3 e4 e5);
    is($c->local_stats->{hits}, $s->{hits} + 3, 'the last 3 inserted are held');
    $c->get(profile => 'e1');
    is($c->local_stats->{misses}, $s->{misses} + 1, 'the first was evicted');
};

subtest 'sort keys and non-ASCII keys are held and invalidated alike' => sub {
    $env->put_item(orders => { user_id => { S => 'u1' }, order_id => { S => '7' }, total => { N => '70' } });
    ok(hot($ddb, orders => 'u1', '7'), 'an item with a sort key is held');
    ok($writer->put(orders => { user_id => 'u1', order_id => '7', total => 71 }), 'and written');
    is($ddb->get(orders => 'u1', '7')->{total}, 71, 'the next get sees it');

    my $key = '東京-8';
    seed($key, name => 'Kyo');
    ok(hot($ddb, profile => $key), 'a key of characters is held');
    ok($writer->put(profile => { user_id => $key, name => 'Kyoto' }), 'and written');
    is($ddb->get(profile => $key)->{name}, 'Kyoto', 'the next get sees it');
};

subtest 'a stopped daemon: held items are served, other lookups time out' => sub {
    seed('z1', name => 'Held');
    my $c = $env->client(timeout => 0.5);
    ok(hot($c, profile => 'z1'), 'z1 is held');
    $env->pause_daemon;
    my $ok = eval {
        is($c->get(profile => 'z1')->{name}, 'Held', 'a held item is served (for at most local_ttl)');
        dies_like(sub { $c->get(profile => 'z2') }, qr/\ADDBCache::Client: DDB GET: timed out after 0\.5 s/,
            'another lookup times out as it would without the local cache');
        1;
    };
    $env->resume_daemon;
    die $@ unless $ok;
    is($c->get(profile => 'z2'), undef, 'after SIGCONT, lookups reach the daemon again');
};

subtest 'bad local_cache and local_ttl values croak' => sub {
    my @bad = (
        [[local_cache => -1],     qr/local_cache must be a number of items \(an integer, 0 turns the local cache off\), got '-1'/],
        [[local_cache => 1.5],    qr/local_cache must be a number of items .* got '1.5'/],
        [[local_cache => 'lots'], qr/local_cache must be a number of items .* got 'lots'/],
        [[local_cache => undef],  qr/local_cache must be a number of items .* got undef/],
        [[local_cache => []],     qr/local_cache must be a number of items .* got ARRAY reference/],
        [[local_ttl => 0],        qr/local_ttl must be a number of seconds above 0, got '0'/],
        [[local_ttl => -5],       qr/local_ttl must be a number of seconds above 0, got '-5'/],
        [[local_ttl => 'soon'],   qr/local_ttl must be a number of seconds above 0, got 'soon'/],
        [[local_ttl => 9**9**9],  qr/local_ttl must be a number of seconds above 0, got 'Inf'/],
        [[local_ttl => undef],    qr/local_ttl must be a number of seconds above 0, got undef/],
        [[local_ttl => {}],       qr/local_ttl must be a number of seconds above 0, got HASH reference/],
    );
    for my $case (@bad) {
        my ($args, $want) = @$case;
        dies_like(sub { DDBCache::Client->new(@$args) }, qr/\ADDBCache::Client->new: $want at \Q$0\E line \d+\.$/,
            'new(' . join(' => ', map { $_ // 'undef' } @$args) . ')');
    }
    ok(DDBCache::Client->new(local_cache => 0, local_ttl => 0.001), 'local_cache => 0, local_ttl => 0.001 are fine');
    ok(DDBCache::Client->new(local_cache => '25', local_ttl => '2.5'), 'so are numbers in strings');
};

subtest 'a daemon with GETC but no MGETC: mget falls back to plain DDB MGET' => sub {
    # The fallback keys on the daemon's error for an unknown subcommand:
    # this tree's daemon still words it the way the fake's older one does.
    my $real = Redis->new(sock => $env->socket_path, reconnect => 0);
    ok(!eval { $real->ddb('MGETZ', 'profile', 'a'); 1 }, 'the daemon refuses an unknown subcommand');
    like($@, qr/ERR unknown DDB subcommand 'MGETZ'; try /, '... in the words the fallback looks for');

    my ($path, $pid, $log) = fake_tracker();
    my $c = DDBCache::Client->new(socket => $path, timeout => 5);
    my $a1 = $c->get(profile => 'a')->{n};
    my $got = $c->mget(profile => ['a', 'b', 'c']);
    is_deeply([map { $got->{$_}{key} } qw(a b c)], ['a', 'b', 'c'], 'mget answers every key');
    is($got->{a}{n}, $a1, 'the held key came from the local cache');
    my $b2 = $c->mget(profile => ['b', 'a'])->{b}{n};
    is($c->get(profile => 'b')->{n}, $b2 + 1, 'a key read by plain MGET is not kept locally');
    open my $fh, '<', $log or die "$log: $!";
    is_deeply([grep { /DDB M?GET/ } map { chomp; $_ } <$fh>],
        ['2 DDB GETC profile a', '2 DDB MGETC profile b c', '2 DDB MGET profile b c', '2 DDB MGET profile b', '2 DDB GETC profile b'],
        'MGETC was tried once; the keys not held went by MGET from then on');
    kill 'KILL', $pid;
    waitpid $pid, 0;
};

subtest 'read-your-writes, randomized: 2 clients, 10 keys, 500 rounds' => sub {
    my $seed = $ENV{DDBCACHE_TEST_SEED} // (time ^ $$);
    srand $seed;
    note "seed $seed (DDBCACHE_TEST_SEED=$seed repeats the run)";
    my ($reader, $w) = ($env->client, $env->client);
    my @keys = map { "ryw$_" } 1 .. 10;
    my %version;
    for my $k (@keys) {
        seed($k, v => '0');
        $version{$k} = 0;
    }
    is(scalar(grep { hot($reader, profile => $_) } @keys), 10, 'the reader holds all 10 keys');
    my $before = $reader->local_stats;
    my ($n, @wrong, %written) = (0);
    my $check = sub {
        my ($k, $round) = @_;
        my $got = $reader->get(profile => $k);
        push @wrong, "round $round: $k is v" . ($got ? $got->{v} : 'undef') . ", the last put was v$version{$k}"
            unless $got && $got->{v} == $version{$k};
    };
    for my $round (1 .. 500) {
        $check->($keys[rand @keys], $round);
        my $k = $keys[rand @keys];
        $w->put(profile => { user_id => $k, v => ++$n });
        $version{$k} = $n;
        $written{$k} = 1;
        $check->($k, $round);
    }
    is(scalar @wrong, 0, 'every get saw the last acknowledged put') or diag join "\n", grep { defined } @wrong[0 .. 9];
    my $after = $reader->local_stats;
    cmp_ok($after->{hits} - $before->{hits}, '>', 0, 'some gets were served locally');
    cmp_ok($after->{invalidations} - $before->{invalidations}, '>=', scalar keys %written,
        'each key held and then written was dropped by a push');
};

done_testing;
