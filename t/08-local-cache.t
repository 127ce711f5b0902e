#!/usr/bin/perl
# DDBCache::Client's local cache against the real daemon, redis-server and
# dynalite: a held item is served with no request to the daemon; writes
# through the daemon (by another client object, another process) are seen by
# the very next lookup; changes made straight in Redis within a bounded poll;
# a daemon restart, a lost Redis connection and a fork drop the entries;
# local_cache => 0, local_ttl, eviction, bad arguments; a daemon without
# DDB TRACK; and a randomized read-your-writes loop.
use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl/lib";

use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::UNIX;
use POSIX qw(_exit);
use Test::More;
use Time::HiRes qw(sleep time);
use DDBCache::Client;
use DDBCache::TestEnv;
use DDBCache::TestEnv::FakeDaemon;
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

sub bulk { my ($s) = @_; return '$' . length($s) . "\r\n$s\r\n" }

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

subtest 'a daemon without DDB TRACK: the local cache turns itself off' => sub {
    my $fake = DDBCache::TestEnv::FakeDaemon->new(script => [
        ["-ERR unknown DDB subcommand 'TRACK'; try GET, MGET, PUT, DEL, INVALIDATE, STATS or NAMESPACES\r\n"],
        [bulk('{"n":1}'), bulk('{"n":2}')],
    ]);
    my $c = DDBCache::Client->new(socket => $fake->path, timeout => 5);
    is_deeply($c->get(profile => 'k'), { n => 1 }, 'the first get is answered');
    is_deeply($c->get(profile => 'k'), { n => 2 }, 'so is the second, by the daemon again');
    is_deeply([$fake->requests], ['1 DDB TRACK', '2 DDB GET profile k', '2 DDB GET profile k'],
        'DDB TRACK was tried once; then plain DDB GETs');
    is($c->local_stats->{enabled}, 0, 'local_stats says the local cache is off');

    # Too many clients is no reason to give up: it is tried again later.
    $fake = DDBCache::TestEnv::FakeDaemon->new(script => [
        ["-ERR max number of clients reached\r\n"],
        [bulk('{"n":3}'), bulk('{"n":4}')],
    ]);
    $c = DDBCache::Client->new(socket => $fake->path, timeout => 5);
    is_deeply($c->get(profile => 'k'), { n => 3 }, 'tracking refused: the get is answered');
    is_deeply($c->get(profile => 'k'), { n => 4 }, 'and the next');
    is_deeply([$fake->requests], ['1 DDB TRACK', '2 DDB GET profile k', '2 DDB GET profile k'],
        'DDB TRACK is not retried at once');
    is($c->local_stats->{enabled}, 1, 'the local cache stays on, for a later try');
};

# fake_tracker([\%opts,] @pings): a scripted daemon on a Unix socket, in a
# child process, that serves both connections of a client: DDB TRACK (+OK,
# or the n-th element of $opts{greetings} at the n-th DDB TRACK),
# DDB GETC ns key (a new value each time, {"key":KEY,"n":N}, with Redis key
# rk:KEY and max-age 60 s; 100 ms for keys short*; 0 for keys nokeep*), DDB
# GET ns key (the same value, as a bulk reply), DDB MGET ns key… (such
# values, an array of bulks), DDB MGETC refused as a daemon from before
# MGETC refused it (a daemon of this tree's error text, checked by the
# test that relies on it), and
# PING: before it answers the n-th PING it writes the n-th element of @pings
# to the latest tracking connection (a string, or 'close' to close it).
# Returns (socket path, pid, request log path).
sub fake_tracker {
    my (@pings) = @_;
    my %opts = ref $pings[0] eq 'HASH' ? %{ shift @pings } : ();
    my @greetings = @{ $opts{greetings} || [] };
    my $dir = tempdir('ddbcache-track-XXXXXX', DIR => '/tmp', CLEANUP => 1);
    my ($path, $log) = ("$dir/fake.sock", "$dir/requests.log");
    my $listener = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $path, Listen => 8)
        or die "listen on $path: $!";
    my $parent = $$;
    my $pid = fork // die "fork: $!";
    return ($path, $pid, $log) if $pid;

    open my $logfh, '>>', $log or die "$log: $!";
    $logfh->autoflush(1);
    my $sel = IO::Select->new($listener);
    my (%buf, %id, $tracker);
    my ($conns, $n) = (0, 0);
    while (getppid == $parent) {    # not left behind by a test that died
        for my $fh ($sel->can_read(1)) {
            if ($fh == $listener) {
                my $conn = $listener->accept or next;
                $sel->add($conn);
                ($buf{$conn}, $id{$conn}) = ('', ++$conns);
                next;
            }
            if (!sysread $fh, $buf{$fh}, 65_536, length $buf{$fh}) {
                $sel->remove($fh);
                close $fh;
                next;
            }
            while ($buf{$fh} =~ s/\A\*([0-9]+)\r\n((?:\$[0-9]+\r\n[^\r]*\r\n)*)//) {
                my @args = $2 =~ /\$[0-9]+\r\n([^\r]*)\r\n/g;
                print {$logfh} "$id{$fh} @args\n";
                my $cmd = uc join ' ', @args[0 .. ($args[0] eq 'DDB' ? 1 : 0)];
                if ($cmd eq 'DDB TRACK') {
                    $tracker = $fh;
                    syswrite $fh, shift(@greetings) // "+OK\r\n";
                } elsif ($cmd eq 'DDB GET') {
                    syswrite $fh, bulk(sprintf '{"key":"%s","n":%d}', $args[3], ++$n);
                } elsif ($cmd eq 'DDB GETC') {
                    my $key = $args[3];
                    my $value = sprintf '{"key":"%s","n":%d}', $key, ++$n;
                    my $age = $key =~ /\Ashort/ ? 100 : $key =~ /\Anokeep/ ? 0 : 60_000;
                    syswrite $fh, '*3' . "\r\n" . bulk($value) . bulk("rk:$key") . ":$age\r\n";
                } elsif ($cmd eq 'DDB MGETC') {    # a daemon from before MGETC
                    syswrite $fh, "-ERR unknown DDB subcommand 'MGETC'; try GET, GETC, MGET, PUT, DEL, INVALIDATE, TRACK, STATS or NAMESPACES\r\n";
                } elsif ($cmd eq 'DDB MGET') {
                    my @keys = @args[3 .. $#args];
                    syswrite $fh, '*' . @keys . "\r\n" . join '', map { bulk(sprintf '{"key":"%s","n":%d}', $_, ++$n) } @keys;
                } elsif ($cmd eq 'PING') {
                    my $push = shift(@pings) // '';
                    if ($push eq 'close') {
                        $sel->remove($tracker);
                        close $tracker;
                    } elsif (length $push) {
                        syswrite $tracker, $push;
                    }
                    syswrite $fh, "+PONG\r\n";
                } else {
                    syswrite $fh, "-ERR unknown command\r\n";
                }
            }
        }
    }
    _exit(0);
}

# invalidate(@keys): the push that invalidates Redis keys.
sub invalidate {
    my (@keys) = @_;
    return "*2\r\n" . bulk('invalidate') . '*' . @keys . "\r\n" . join '', map { bulk($_) } @keys;
}

subtest 'pushes: in pieces, several at once, keys not held, the flush form, garbage, EOF' => sub {
    my $push_a = invalidate('rk:a');
    my ($path, $pid, $log) = fake_tracker(
        substr($push_a, 0, 17), substr($push_a, 17),    # a push in two pieces
        invalidate('rk:zzz'),                            # a key not held
        invalidate('rk:a') . invalidate('rk:b', 'rk:c'),    # two pushes in one read
        "*2\r\n\$10\r\ninvalidate\r\n*-1\r\n",           # the flush form
        "+what\r\n",                                     # no push
        'close',                                         # EOF
    );
    my $c = DDBCache::Client->new(socket => $path, timeout => 5);
    my $n = sub { my ($key) = @_; return $c->get(profile => $key)->{n} };
    my $held = sub {    # (key, n): the key's value is still n, served locally
        my ($key, $want, $name) = @_;
        my $hits = $c->local_stats->{hits};
        is($n->($key), $want, "$name: $key is the same");
        is($c->local_stats->{hits}, $hits + 1, "$name: ... from the local cache");
    };
    my $a1 = $n->('a');
    $held->(a => $a1, 'held');

    ok($c->ping, 'the first piece of a push');
    $held->(a => $a1, 'half a push');
    ok($c->ping, 'the rest');
    my $a2 = $n->('a');
    isnt($a2, $a1, 'the whole push: a is read again');
    is($c->local_stats->{invalidations}, 1, 'one invalidation');

    my ($b1, $c1) = ($n->('b'), $n->('c'));
    $held->(b => $b1, 'b');
    ok($c->ping, 'a push of a key not held');
    $held->(a => $a2, 'ignored');

    ok($c->ping, 'two pushes in one write');
    my %before = (a => $a2, b => $b1, c => $c1);
    is(scalar(grep { $n->($_) != $before{$_} } qw(a b c)), 3, 'a, b and c are read again');
    is($c->local_stats->{invalidations}, 4, 'four invalidations');

    my $s = $c->local_stats;
    ok($s->{entries} >= 3, "$s->{entries} entries");
    ok($c->ping, 'the flush form');
    $s = $c->local_stats;
    is_deeply([@$s{qw(entries flushes)}], [0, 1], 'all entries dropped: one flush');

    my $a3 = $n->('a');
    $held->(a => $a3, 'after the flush');
    ok($c->ping, 'bytes that are no push');
    isnt($n->('a'), $a3, 'all dropped');
    ok($c->ping, 'the daemon closes the tracking connection');
    my $a4 = $n->('a');
    is($c->local_stats->{flushes}, 3, 'all dropped again');
    $held->(a => $a4, 'a new tracking connection');

    my $k1 = $n->('nokeep');
    isnt($n->('nokeep'), $k1, 'max-age 0: not kept');
    my $short = $n->('short');
    $held->(short => $short, 'max-age 100 ms');
    my $took = time_until(2, sub { $n->('short') != $short });
    ok(defined $took && $took >= 0.05, sprintf 'read again after its max-age (%.2f s)', $took // -1);

    kill 'KILL', $pid;
    waitpid($pid, 0);
    open my $fh, '<', $log or die "$log: $!";
    my @tracks = grep { /\A([0-9]+) DDB TRACK\z/ } map { chomp; $_ } <$fh>;
    is(scalar @tracks, 3, 'DDB TRACK three times: at first, after the garbage, after the EOF')
        or diag "@tracks";
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

# The daemon writes pushes to a tracking connection as soon as it is
# subscribed, right behind the +OK of DDB TRACK: with many processes
# filling cold keys at once, the client's first read of the connection
# often holds the +OK and a push, or a part of one.
subtest 'a push that comes with the +OK of DDB TRACK is no error' => sub {
    my $flush = "*2\r\n\$10\r\ninvalidate\r\n*-1\r\n";
    my $push  = invalidate('rk:zz');
    my @cases = (
        # [name, greeting, pings, local cache flushes expected after the pings]
        ['a push with the +OK',            "+OK\r\n" . $push,                              [],                        0],
        ['two pushes with the +OK',        "+OK\r\n" . $push . invalidate('rk:y', 'rk:z'), [],                        0],
        ['the flush form with the +OK',    "+OK\r\n" . $flush,                             [],                        1],
        ['a part of a push with the +OK',  "+OK\r\n" . substr($push, 0, 14),               [substr($push, 14)],       0],
        ['bytes that are no push after +OK', "+OK\r\n+what\r\n",                         [],                        1],
    );
    for my $case (@cases) {
        my ($name, $greeting, $pings, $flushes) = @$case;
        my ($path, $pid) = fake_tracker({ greetings => [$greeting] }, @$pings);
        my $c = DDBCache::Client->new(socket => $path, timeout => 5);
        my $first = eval { $c->get(profile => 'a') };
        ok($first, "$name: the first get is answered") or diag $@;
        my $ok = eval {
            $c->ping for @$pings;
            my $second = $c->get(profile => 'a');
            my $s      = $c->local_stats;
            is($s->{flushes}, $flushes, "$name: $flushes flush(es)");
            if ($flushes) {
                ok(1, "$name: the local cache started again");
            } else {
                is($second->{n}, $first->{n}, "$name: the item is held (the push named other keys)");
            }
            is(($c->get(profile => 'a') // {})->{n}, $c->get(profile => 'a')->{n}, "$name: and lookups go on");
            1;
        };
        ok($ok, "$name: no error") or diag $@;
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
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
