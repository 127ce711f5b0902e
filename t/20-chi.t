#!/usr/bin/perl
# CHI::Driver::DDBCache with CHI from Debian's libchi-perl, against the real
# daemon, redis-server and dynalite: the constructor's checks, read-through
# get (one key, many, sort keys), set as a DynamoDB write, remove and expire
# as invalidations (or a delete), compute/add/replace, expiry owned by
# ddbcache, and what croaks. CHI's own driver suite (CHI::t::Driver) is not
# run: it stores arbitrary scalars, lists and clears namespaces, which a
# read-through cache of a table does not do; the table below covers the
# CHI calls a read-through driver answers.
use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl/lib";

use Test::More;
use DDBCache::TestEnv;

BEGIN {
    eval { require CHI; 1 }
        or die "CHI is missing; install it with: apt-get install -y libchi-perl (or run make deps)\n$@";
}
use CHI::Constants qw(CHI_Max_Time);

binmode Test::More->builder->$_, ':encoding(UTF-8)' for qw(output failure_output todo_output);

my $env = DDBCache::TestEnv->new(namespaces => {
    orders => { table => 'orders', partition_key => 'user_id', sort_key => 'order_id' },
});

# cache(%args): a CHI cache on the test daemon.
sub cache {
    my (%args) = @_;
    return CHI->new(driver => 'DDBCache', namespace => 'profile', socket => $env->socket_path, %args);
}

sub reads { my ($ns) = @_; return $env->stats($ns // 'profile')->{dynamodb_reads} }

sub user {
    my ($id, %attrs) = @_;
    $env->put_item(users => { user_id => { S => $id }, map { $_ => { S => $attrs{$_} } } keys %attrs });
    return;
}

sub dynamo_user {
    my ($id) = @_;
    my $item = $env->get_item(users => { user_id => { S => "$id" } });
    return $item ? { map { $_ => $item->{$_}{S} // $item->{$_}{N} } keys %$item } : undef;
}

# dies_like($code, qr/.../, $name)
sub dies_like {
    my ($code, $re, $name) = @_;
    my $ok = eval { $code->(); 1 };
    return ok(0, "$name: did not die") if $ok;
    return like($@, $re, $name);
}

my $D = qr/CHI::Driver::DDBCache: /;

subtest 'new' => sub {
    my $cache = cache();
    isa_ok($cache, 'CHI::Driver::DDBCache');
    isa_ok($cache, 'CHI::Driver');
    is($cache->namespace, 'profile', 'the CHI namespace is the ddbcache namespace');
    isa_ok($cache->client, 'DDBCache::Client');
    is($cache->client->socket_path, $env->socket_path, 'socket is passed to the client');
    is($cache->client->namespace, 'profile', '... and so is the namespace');
    my $client = $env->client;
    is(CHI->new(driver => 'DDBCache', namespace => 'orders', client => $client)->client, $client, 'a shared client');

    my @bad = (
        [[],                                      qr/${D}namespace is required/],
        [[namespace => 'profile', sock => '/x'],  qr/${D}unknown argument 'sock' \(known: client, every, /],
        [[namespace => 'profile', l1_cache => { driver => 'Memory', datastore => {} }],
            qr/${D}l1_cache is not supported: DDBCache::Client's local cache/],
        [[namespace => 'profile', max_size => 10], qr/${D}max_size is not supported/],
        [[namespace => 'profile', on_set => 'store'], qr/${D}on_set must be one of put, invalidate, die; got 'store'/],
        [[namespace => 'profile', on_remove => 'drop'], qr/${D}on_remove must be one of invalidate, delete, die/],
        [[namespace => 'profile', client => $client, timeout => 1], qr/${D}pass either client or socket\/timeout/],
        [[namespace => 'profile', client => {}],  qr/${D}client must be a DDBCache::Client/],
        [[namespace => 'profile', socket => ''],  qr/DDBCache::Client->new: socket must be a path/],
        [[namespace => 'a b'],                    qr/DDBCache::Client->new: namespace must be a name without spaces/],
    );
    for my $case (@bad) {
        my ($args, $want) = @$case;
        dies_like(sub { CHI->new(driver => 'DDBCache', @$args) }, $want, "new(@$args)");
    }
};

subtest 'get reads through to DynamoDB' => sub {
    my $cache = cache();
    user('g1', name => 'Ann', plan => 'pro');
    my $before = reads();
    is_deeply($cache->get('g1'), { user_id => 'g1', name => 'Ann', plan => 'pro' }, 'an item never cached: the item');
    is(reads(), $before + 1, '... read from DynamoDB once');
    is_deeply($cache->get('g1'), { user_id => 'g1', name => 'Ann', plan => 'pro' }, 'again');
    is(reads(), $before + 1, '... from the cache');
    my $a = $cache->get('g1');
    $a->{name} = 'changed';
    is($cache->get('g1')->{name}, 'Ann', 'each get returns a hash of its own');
    is($cache->get('nobody'), undef, 'an item that does not exist: undef');
    ok($cache->is_valid('g1'), 'is_valid: the item exists');
    ok(!$cache->is_valid('nobody'), '... not for one that does not');
    is($cache->get_expires_at('g1'), CHI_Max_Time, 'items never expire in CHI');
    ok(!$cache->exists_and_is_expired('g1'), '... so none is expired');
    my $obj = $cache->get_object('g1');
    is($obj->value->{name}, 'Ann', 'get_object');

    user('g2', name => 'Bob');
    is_deeply($cache->get_multi_arrayref([qw(g1 nobody g2)]),
        [{ user_id => 'g1', name => 'Ann', plan => 'pro' }, undef, { user_id => 'g2', name => 'Bob' }],
        'get_multi_arrayref: in order, undef for what does not exist');
    my $h = $cache->get_multi_hashref([qw(g2 nobody)]);
    is($h->{g2}{name}, 'Bob', 'get_multi_hashref');
    ok(exists $h->{nobody} && !defined $h->{nobody}, '... an absent item is undef');
    is_deeply($cache->get_multi_arrayref([]), [], 'no keys');

    my $name = 'Zoë 東京';
    user('東京-1', name => $name);
    is($cache->get('東京-1')->{name}, $name, 'a text key, a text value');
};

subtest 'a namespace with a sort key' => sub {
    my $orders = cache(namespace => 'orders');
    $env->put_item(orders => { user_id => { S => 'u1' }, order_id => { S => "$_" }, total => { N => "" . 10 * $_ } })
        for 1 .. 2;
    is($orders->get(['u1', '2'])->{total}, 20, 'get([$key, $sort])');
    is($orders->get("u1$;1")->{total}, 10, 'get("$key$;$sort")');
    is_deeply([map { $_ && $_->{total} } @{ $orders->get_multi_arrayref([['u1', '1'], ['u1', '9'], "u1$;2"]) }],
        [10, undef, 20], 'get_multi_arrayref of pairs');
    ok($orders->set(['u1', '3'], { total => 30 }), 'set a pair');
    is_deeply($env->get_item(orders => { user_id => { S => 'u1' }, order_id => { S => '3' } })->{total}, { N => '30' },
        '... both key attributes filled in');
    dies_like(sub { $orders->get('u1') }, qr/error during cache get for namespace='orders', key='u1'.*needs a sort key/,
        'a partition key alone: the daemon says it needs a sort key');
    dies_like(sub { $orders->set('u1', { total => 1 }) }, qr/${D}namespace 'orders' has a sort key \(order_id\)/,
        'set of a partition key alone');
    dies_like(sub { $orders->get(['u1']) }, qr/${D}a key reference must be a \[\$key, \$sort\] pair/, 'a one-element pair');
    dies_like(sub { $orders->get({}) }, qr/${D}a key must be a string or a \[\$key, \$sort\] pair, got HASH/, 'a hash key');
};

subtest 'set writes the item to DynamoDB' => sub {
    my $cache = cache();
    my @cases = (
        ['key attribute filled in',   's1', { name => 'Ann' },                   { user_id => 's1', name => 'Ann' }],
        ['key attribute agrees',      's2', { user_id => 's2', name => 'Bob' }, { user_id => 's2', name => 'Bob' }],
        ['text with wide characters', 's3', { name => 'Zoë 🙂' },                 { user_id => 's3', name => 'Zoë 🙂' }],
        # ddbcache keys are DynamoDB strings (S): a Perl number must not become an N.
        ['a number as the key',       7,    { name => 'Num' },                   { user_id => '7', name => 'Num' }],
        ['a number in the item',      8,    { user_id => 8, name => 'Num' },     { user_id => '8', name => 'Num' }],
    );
    for my $case (@cases) {
        my ($name, $key, $value, $want) = @$case;
        is_deeply($cache->set($key, $value), $value, "$name: set returns the value");
        is_deeply(dynamo_user($key), $want, "$name: DynamoDB holds the item");
        is_deeply($cache->get($key), $want, "$name: get returns it");
    }
    my $value = { name => 'Cid' };
    $cache->set('s4', $value);
    is_deeply($value, { name => 'Cid' }, "the caller's hash is not changed");

    is($cache->get('s1')->{name}, 'Ann', 's1 is cached');
    $cache->set('s1', { name => 'Ann 2' }, '1s');
    is($cache->get('s1')->{name}, 'Ann 2', 'a set is seen by the next get (the daemon invalidated)');
    is($cache->get_expires_at('s1'), CHI_Max_Time, "CHI's expires_in is ignored");
    my $ttl = $env->redis_cmd(TTL => 'user_profile:s1');
    cmp_ok($ttl, '>', 1800, "the Redis entry has the namespace's ttl (1h, 10% jitter), not 1s: $ttl s");

    dies_like(sub { $cache->set('s5', { user_id => 's6' }) }, qr/error during cache set .*${D}the item's user_id 's6' is not its key 's5'/,
        'a key attribute that disagrees with the key');
    is(dynamo_user('s5') // dynamo_user('s6'), undef, '... writes nothing');
    dies_like(sub { $cache->set('s5', 'text') }, qr/${D}set takes an item \(a hash reference\) as its value, got 'text'/,
        'a value that is not a hash');
    dies_like(sub { $cache->set('s5', [1]) }, qr/got ARRAY reference/, '... nor an array');
    is($cache->set('s5', undef), undef, 'set of undef does nothing (CHI)');
    is(dynamo_user('s5'), undef, '... writes nothing');
    $cache->set_multi({ m1 => { name => 'M1' }, m2 => { name => 'M2' } });
    is_deeply([map { $_->{name} } @{ $cache->get_multi_arrayref([qw(m1 m2)]) }], [qw(M1 M2)], 'set_multi');
};

subtest 'compute, add, replace' => sub {
    my $cache = cache();
    my $calls = 0;
    my $code  = sub { $calls++; return { name => 'Computed' } };
    user('c1', name => 'Exists');
    is($cache->compute('c1', $code)->{name}, 'Exists', 'compute of an existing item: the item');
    is($calls, 0, '... without calling the code');
    is($cache->compute('c2', '10m', $code)->{name}, 'Computed', 'compute of a missing item: what the code returns');
    is($calls, 1, '... called once');
    is_deeply(dynamo_user('c2'), { user_id => 'c2', name => 'Computed' }, '... and written to DynamoDB');
    is($cache->compute('c2', $code)->{name}, 'Computed', 'compute again');
    is($calls, 1, '... the code is not called');

    $cache->add('c1', { name => 'Added' });
    is(dynamo_user('c1')->{name}, 'Exists', 'add of an existing item writes nothing');
    $cache->add('c3', { name => 'Added' });
    is(dynamo_user('c3')->{name}, 'Added', 'add of a missing item writes it');
    $cache->replace('c4', { name => 'Replaced' });
    is(dynamo_user('c4'), undef, 'replace of a missing item writes nothing');
    $cache->replace('c1', { name => 'Replaced' });
    is(dynamo_user('c1')->{name}, 'Replaced', 'replace of an existing item writes it');
};

subtest 'remove and expire invalidate; DynamoDB keeps the item' => sub {
    my $cache = cache();
    my @calls = (
        ['remove',        sub { $cache->remove($_[0]) }],
        ['remove_multi',  sub { $cache->remove_multi([$_[0], 'never-cached']) }],
        ['expire',        sub { $cache->expire($_[0]) }],
    );
    my $n = 0;
    for my $call (@calls) {
        my ($name, $code) = @$call;
        my $id = 'r' . ++$n;
        user($id, name => 'Old');
        is($cache->get($id)->{name}, 'Old', "$name: cached");
        user($id, name => 'New');    # behind the cache's back: no invalidation
        is($cache->get($id)->{name}, 'Old', "$name: a write behind the cache is not seen yet");
        my $before = reads();
        $code->($id);
        is(($cache->get($id) // {})->{name}, 'New', "$name: then get reads DynamoDB again");
        is(reads(), $before + 1, "$name: ... one DynamoDB read");
        ok(dynamo_user($id), "$name: the item is still in DynamoDB");
    }

    my $deleting = cache(on_remove => 'delete');
    user('r9', name => 'Doomed');
    is($deleting->get('r9')->{name}, 'Doomed', "on_remove => 'delete': cached");
    $deleting->remove('r9');
    is(dynamo_user('r9'), undef, '... remove deletes the item from DynamoDB');
    is($deleting->get('r9'), undef, '... and get sees it gone');
};

subtest 'on_set and on_remove refuse or only invalidate' => sub {
    my $inval = cache(on_set => 'invalidate');
    user('o1', name => 'Old');
    is($inval->get('o1')->{name}, 'Old', 'cached');
    user('o1', name => 'Written elsewhere');
    $inval->set('o1', { name => 'ignored' });
    is(dynamo_user('o1')->{name}, 'Written elsewhere', "on_set => 'invalidate': set does not write DynamoDB");
    is($inval->get('o1')->{name}, 'Written elsewhere', '... it drops the entry, so get reads the item afresh');

    my $refuse = cache(on_set => 'die', on_remove => 'die');
    dies_like(sub { $refuse->set('o2', { name => 'x' }) }, qr/${D}set is refused \(on_set => 'die'\)/, "on_set => 'die'");
    is(dynamo_user('o2'), undef, '... writes nothing');
    dies_like(sub { $refuse->remove('o1') }, qr/${D}remove is refused \(on_remove => 'die'\)/, "on_remove => 'die'");
    my $logged = cache(on_set => 'die', on_set_error => 'ignore');
    is_deeply($logged->set('o2', { name => 'x' }), { name => 'x' }, "on_set_error => 'ignore' is CHI's to choose");
    is(dynamo_user('o2'), undef, '... still writes nothing');
};

subtest 'what a read-through cache of a table does not do' => sub {
    my $cache = cache();
    for my $method (qw(clear get_keys get_namespaces purge dump_as_hash is_empty)) {
        dies_like(sub { $cache->$method }, qr/${D}$method is not supported: ddbcache reads through to a DynamoDB table/,
            $method);
    }
    dies_like(sub { $cache->append('g1', 'x') }, qr/${D}append is not supported/, 'append');
    dies_like(sub { $cache->get('g1', busy_lock => 10) }, qr/${D}busy_lock is not supported/, 'busy_lock');
    ok(!defined $cache->get('g1', expire_if => sub { 1 }), 'expire_if is honoured');
    ok($cache->get('g1', expire_if => sub { 0 }), '... both ways');
};

# get takes a short way when nothing asks for CHI's machinery (see get in
# the driver); with CHI's stats on it takes CHI's. Both must answer alike.
subtest "the driver's get and CHI's get agree" => sub {
    my $fast = cache();
    CHI->stats->enable;
    my $full = cache();
    my $orders_full = cache(namespace => 'orders');
    CHI->stats->disable;
    my $orders_fast = cache(namespace => 'orders');
    ok(!$fast->{ns_stats} && $full->{ns_stats}, 'one cache without CHI stats, one with');
    my @cases = (
        ['an item',                 $fast,        $full,        'g1'],
        ['no such item',            $fast,        $full,        'nobody'],
        ['a text key',              $fast,        $full,        '東京-1'],
        ['a pair',                  $orders_fast, $orders_full, ['u1', '2']],
        ['a pair as a string',      $orders_fast, $orders_full, "u1$;1"],
        ['a bad key',               $orders_fast, $orders_full, ['u1']],
        ['a key the daemon refuses', $orders_fast, $orders_full, 'u1'],
    );
    for my $case (@cases) {
        my ($name, $a, $b, $key) = @$case;
        my @got = map {
            my $cache = $_;
            my $v = eval { $cache->get($key) };
            (my $err = $@) =~ s/ at \S+ line \d+\.?\n//;
            [$v, $err];
        } $a, $b;
        is_deeply($got[0], $got[1], "$name: the same value or error") or diag explain \@got;
    }
    my $stats = CHI->stats->data->{DDBCache}{profile};
    cmp_ok($stats->{hits} // 0, '>=', 2, "CHI's get counted its hits: " . ($stats->{hits} // 0));
    CHI->stats->clear;
};

subtest 'errors are not misses' => sub {
    dies_like(sub { cache(namespace => 'nope')->get(1) },
        qr/error during cache get for namespace='nope', key='1', cache='DDBCache': DDBCache::Client: DDB GET: ERR unknown namespace 'nope'/,
        'an unknown namespace');
    my $down = CHI->new(driver => 'DDBCache', namespace => 'profile', socket => $env->tmpdir . '/none.sock',
        reconnect => 0);
    dies_like(sub { $down->get(1) }, qr/DDBCache::Client: cannot connect to .*none\.sock/, 'no daemon: get dies');
    dies_like(sub { $down->compute(1, sub { die "must not run\n" }) }, qr/cannot connect/,
        '... and compute does not take it for a miss');
    my $logging = CHI->new(driver => 'DDBCache', namespace => 'profile', socket => $env->tmpdir . '/none.sock',
        reconnect => 0, on_get_error => 'ignore');
    is($logging->get(1), undef, "on_get_error => 'ignore' makes it a miss, if asked");
};

done_testing;
