#!/usr/bin/perl
# DDBCache::Client against the real daemon, redis-server and dynalite:
# hits, misses and negative entries, get_json, lookup, mget, put, delete,
# invalidate, sort keys, Unicode, a 390 KB item, big numbers, the Redis
# passthrough, error replies, argument checks, AUTH and the JSON backends.
use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl/lib";

use JSON::PP;
use Test::More;
use DDBCache::TestEnv;
use DDBCache::Client;

binmode Test::More->builder->$_, ':encoding(UTF-8)' for qw(output failure_output todo_output);

my $json = JSON::PP->new->utf8->canonical;
my $env  = DDBCache::TestEnv->new(namespaces => {
    orders => { table => 'orders', partition_key => 'user_id', sort_key => 'order_id' },
});
my $ddb = $env->client(timeout => 5, namespace => 'profile');

sub counters { return $env->stats('profile') }
sub hits     { my ($s) = @_; return $s->{hits_local} + $s->{hits_redis} }

# dynamo_user seeds an item straight into DynamoDB, behind the cache's back.
sub dynamo_user {
    my ($id, $name) = @_;
    $env->put_item(users => { user_id => { S => $id }, name => { S => $name } });
    return;
}

# dies_like(sub { ... }, qr/.../, $name): the code dies with a matching message.
sub dies_like {
    my ($code, $re, $name) = @_;
    my $ok = eval { $code->(); 1 };
    return ok(0, "$name: did not die") if $ok;
    return like($@, $re, $name);
}

subtest 'the JSON backend is the fastest one installed' => sub {
    is(DDBCache::Client->json_backend, 'Cpanel::JSON::XS', 'Cpanel::JSON::XS (libcpanel-json-xs-perl) is used');
    is($ddb->json_backend, DDBCache::Client->json_backend, 'also as an instance method');
};

subtest 'a miss reads DynamoDB, then the item is a hit' => sub {
    dynamo_user('c1', 'Ann');
    my $before = counters();
    is_deeply($ddb->get(profile => 'c1'), { user_id => 'c1', name => 'Ann' }, 'get returns the item as a hash');
    my $mid = counters();
    is($mid->{dynamodb_reads}, $before->{dynamodb_reads} + 1, 'the miss read DynamoDB once');
    is($ddb->get(profile => 'c1')->{name}, 'Ann', 'the second get');
    my $after = counters();
    is($after->{dynamodb_reads}, $mid->{dynamodb_reads}, '... did not read DynamoDB');
    is(hits($after), hits($mid) + 1, '... and was a hit');
};

subtest 'a missing item is undef, and then a negative hit' => sub {
    my $before = counters();
    is($ddb->get(profile => 'nobody'), undef, 'get of a missing item is undef');
    my @list = $ddb->get(profile => 'nobody');
    is_deeply(\@list, [undef], 'one undef in list context too');
    my $after = counters();
    is($after->{dynamodb_reads}, $before->{dynamodb_reads} + 1, 'only the first lookup read DynamoDB');
    is($after->{negative_hits}, $before->{negative_hits} + 1, 'the second was a negative hit');
    is($ddb->get_json(profile => 'nobody'), undef, 'get_json is undef too');
};

subtest 'get_json returns the stored JSON bytes; lookup uses the default namespace' => sub {
    my $raw = $ddb->get_json(profile => 'c1');
    is($raw, $env->redis_cmd(qw(GET user_profile:c1)), 'the bytes under the legacy key in Redis');
    ok(!utf8::is_utf8($raw), 'a byte string');
    is_deeply($ddb->lookup('c1'), $ddb->get(profile => 'c1'), 'lookup(key) is get(default namespace, key)');
    is($ddb->namespace, 'profile', 'namespace accessor');
    dies_like(sub { $env->client->lookup('c1') }, qr/lookup needs a default namespace/,
        'lookup without a default namespace croaks');
};

subtest 'mget: hits, misses and absent items in one call' => sub {
    dynamo_user('c2', 'Bob');
    dynamo_user('c3', 'Cy');
    ok($ddb->get(profile => 'c2'), 'c2 is cached; c3 is not');
    my $before = counters();
    my $items = $ddb->mget(profile => [qw(c2 ghost1 c3 ghost2 c1)]);
    is_deeply([sort keys %$items], [qw(c1 c2 c3)], 'keys of absent items are absent');
    is($items->{c2}{name}, 'Bob', 'a hit');
    is($items->{c3}{name}, 'Cy', 'a miss, read from DynamoDB');
    is($items->{c1}{name}, 'Ann', 'another hit');
    is(counters()->{dynamodb_reads}, $before->{dynamodb_reads} + 1, 'all misses in one DynamoDB request');
    is_deeply($ddb->mget(profile => []), {}, 'no keys: an empty hash, no request');
    is_deeply($ddb->mget(profile => [qw(ghost1 ghost2)]), {}, 'only absent items: an empty hash');
};

subtest 'put, then get sees it; put_json' => sub {
    is($ddb->put(profile => { user_id => 'c4', name => 'Dee', age => 42, tags => ['a', 'b'] }), 1, 'put returns 1');
    is_deeply($ddb->get(profile => 'c4'), { user_id => 'c4', name => 'Dee', age => 42, tags => ['a', 'b'] },
        'get returns it');
    is_deeply($env->get_item(users => { user_id => { S => 'c4' } })->{age}, { N => '42' },
        'a Perl number is a DynamoDB number');
    ok($ddb->put(profile => { user_id => 'c4', name => 'Dee 2' }), 'overwrite a cached item');
    is_deeply($ddb->get(profile => 'c4'), { user_id => 'c4', name => 'Dee 2' }, 'the next get sees the write');

    is($ddb->get(profile => 'c5'), undef, 'an item cached as missing');
    ok($ddb->put_json(profile => '{"user_id":"c5","name":"Eve"}'), 'put_json');
    is($ddb->get(profile => 'c5')->{name}, 'Eve', 'the negative entry was dropped');
};

# The README's "Byte strings" paragraph: put's JSON encoder takes a byte
# string (no UTF-8 flag) as Latin-1, one character per byte; put_json and
# keys send bytes as they are.
subtest 'put takes byte strings as Latin-1; decoded text, put_json and keys as UTF-8' => sub {
    my $octets = "Zo\xc3\xab";    # 'Zoë' as UTF-8 bytes, as legacy code reads it from a file or DBI
    ok(!utf8::is_utf8($octets), 'a byte string');
    ok($ddb->put(profile => { user_id => 'b1', name => $octets }), 'put of a byte string');
    is($ddb->get(profile => 'b1')->{name}, "Zo\x{c3}\x{ab}", 'comes back as two Latin-1 characters (ZoÃ«)');
    is($env->get_item(users => { user_id => { S => 'b1' } })->{name}{S}, "Zo\x{c3}\x{ab}",
        'and is so in DynamoDB: double-encoded');

    my $text = $octets;
    utf8::decode($text);
    ok($ddb->put(profile => { user_id => 'b2', name => $text }), 'put after utf8::decode');
    is($ddb->get(profile => 'b2')->{name}, 'Zoë', 'comes back as the text');
    is($ddb->get_json(profile => 'b2'), qq({"name":"Zo\xc3\xab","user_id":"b2"}), 'stored as UTF-8 bytes');

    ok($ddb->put_json(profile => qq({"user_id":"b3","name":"$octets"})), 'put_json of UTF-8 bytes');
    is($ddb->get(profile => 'b3')->{name}, 'Zoë', 'are taken as they are');

    ok($ddb->put(profile => { user_id => 'Zoë', name => 'key' }), 'an item keyed by text');
    is($ddb->get(profile => $octets)->{name}, 'key', 'a byte-string key finds it');
};

subtest 'delete' => sub {
    is($ddb->get(profile => 'c5')->{name}, 'Eve', 'cached');
    is($ddb->delete(profile => 'c5'), 1, 'delete of an existing item returns 1');
    is($ddb->get(profile => 'c5'), undef, 'get is undef at once');
    is($env->get_item(users => { user_id => { S => 'c5' } }), undef, 'gone from DynamoDB');
    is($ddb->delete(profile => 'c5'), 0, 'delete again returns 0');
};

subtest 'invalidate drops cache entries, not items' => sub {
    ok($ddb->get(profile => 'c2'), 'c2 cached');
    ok($ddb->get(profile => 'c3'), 'c3 cached');
    is($ddb->invalidate(profile => qw(c2 c3 never-cached)), 2, 'returns how many had an entry');
    is($env->redis_cmd(qw(EXISTS user_profile:c2 user_profile:c3)), 0, 'their Redis keys are gone');
    my $before = counters();
    is($ddb->get(profile => 'c2')->{name}, 'Bob', 'the item is still there');
    is(counters()->{dynamodb_reads}, $before->{dynamodb_reads} + 1, '... read again from DynamoDB');
    is($ddb->invalidate('profile'), 0, 'no keys: 0, no request');
};

subtest 'a namespace with a sort key' => sub {
    ok($ddb->put(orders => { user_id => 'u1', order_id => "$_", total => 10 * $_ }), "order $_") for 1 .. 3;
    is($ddb->get(orders => 'u1', '2')->{total}, 20, 'get with a sort key');
    my $items = $ddb->mget(orders => [['u1', '1'], ['u1', '9'], ['u1', '3']]);
    is_deeply([sort keys %$items], [sort map { join $;, 'u1', $_ } 1, 3], 'mget of pairs, keyed by $key, $sort');
    is($items->{ 'u1', '3' }{total}, 30, '$items->{$key, $sort} finds the item');
    is($ddb->invalidate(orders => ['u1', '1'], ['u1', '3']), 2, 'invalidate pairs');
    is($ddb->delete(orders => 'u1', '2'), 1, 'delete with a sort key');
    is($ddb->get(orders => 'u1', '2'), undef, 'gone');
    dies_like(sub { $ddb->get(orders => 'u1') }, qr/ERR bad key: namespace 'orders' needs a sort key/,
        'a missing sort key: the daemon says so');
};

subtest 'Unicode round-trips as characters' => sub {
    my $name = 'Zoë 東京 🙂';
    ok($ddb->put(profile => { user_id => 'c6', name => $name }), 'put a non-ASCII name');
    is($env->get_item(users => { user_id => { S => 'c6' } })->{name}{S}, $name, 'DynamoDB holds the same text');
    my $item = $ddb->get(profile => 'c6');
    is($item->{name}, $name, 'get returns the same character string');
    ok(utf8::is_utf8($item->{name}), '... decoded, not bytes');
    my $raw = $ddb->get_json(profile => 'c6');
    utf8::encode(my $bytes = $name);
    ok(index($raw, $bytes) >= 0, 'get_json has it as UTF-8 bytes');
    is($json->decode($raw)->{name}, $name, '... which decode to the same text');

    my $key = '東京-7';
    ok($ddb->put(profile => { user_id => $key, name => 'Kyo' }), 'a non-ASCII key');
    is($ddb->get(profile => $key)->{user_id}, $key, 'found by its text');
    utf8::encode(my $key_bytes = $key);
    is($ddb->get(profile => $key_bytes)->{name}, 'Kyo', '... and by its UTF-8 bytes');
    is_deeply([keys %{ $ddb->mget(profile => [$key]) }], [$key], 'mget keys the result by the key as given');
};

subtest 'an item near DynamoDB\'s 400 KB limit' => sub {
    my $bio = join '', map { chr(0x61 + $_ % 26) } 1 .. 390 * 1024;
    ok($ddb->put(profile => { user_id => 'big', name => 'Big', bio => $bio }), 'put a 390 KB item');
    my $item = $ddb->get(profile => 'big');
    is(length $item->{bio}, length $bio, 'get returns all of it');
    ok($item->{bio} eq $bio, '... unchanged');
    ok($ddb->get(profile => 'big')->{bio} eq $bio, 'again, from the cache');
    my $items = $ddb->mget(profile => [qw(big c1 big)]);
    ok($items->{big}{bio} eq $bio && $items->{c1}{name} eq 'Ann', 'and through mget');
    dies_like(sub { $ddb->put(profile => { user_id => 'huge', bio => 'x' x (1024 * 1024 + 1) }) },
        qr/\ADDBCache::Client: DDB PUT: ERR value too large/, 'an item over max_value_bytes (1 MiB): the daemon refuses it');
    ok($ddb->ping, 'the connection is still usable');
};

subtest 'numbers: big integers keep their digits' => sub {
    ok($ddb->put_json(profile => '{"user_id":"c7","balance":123456789012345678901234,"ratio":0.5}'), 'put_json');
    my $item = $ddb->get(profile => 'c7');
    is($item->{balance}, '123456789012345678901234', 'a 24-digit number comes back with every digit');
    is($item->{ratio}, 0.5, 'a float');
};

subtest 'error replies croak with the daemon\'s message' => sub {
    my @cases = (
        ['unknown namespace',        sub { $ddb->get(nope => 1) },          qr/DDB GET: ERR unknown namespace 'nope'/],
        ['get without a key',        sub { $ddb->get('profile') },          qr/ERR DDB GET takes 2 or 3 arguments/],
        ['get with too many keys',   sub { $ddb->get(profile => 1, 2, 3) }, qr/ERR DDB GET takes 2 or 3 arguments/],
        ['a sort key too many',      sub { $ddb->get(profile => 'c1', 'x') }, qr/ERR bad key: namespace 'profile' has no sort key/],
        ['mget, unknown namespace',  sub { $ddb->mget(nope => [1]) },       qr/DDB MGET: ERR unknown namespace 'nope'/],
        ['put without the key',      sub { $ddb->put(profile => { name => 'x' }) }, qr/DDB PUT: ERR bad item: item lacks key attribute "user_id"/],
        ['put_json, malformed',      sub { $ddb->put_json(profile => '{"user_id":') }, qr/ERR bad item: malformed JSON/],
        ['delete, unknown namespace', sub { $ddb->delete(nope => 1) },      qr/DDB DEL: ERR unknown namespace 'nope'/],
        ['invalidate, unknown ns',   sub { $ddb->invalidate(nope => 1) },   qr/DDB INVALIDATE: ERR unknown namespace 'nope'/],
        ['stats with an argument',   sub { $ddb->stats('x') },              qr/ERR DDB STATS takes no arguments/],
        ['a key with a brace',       sub { $ddb->get(profile => 'a{b') },   qr/ERR bad key: key must not contain/],
        ['FLUSHALL',                 sub { $ddb->redis('FLUSHALL') },       qr/FLUSHALL: ERR unknown command 'FLUSHALL'/],
    );
    for my $case (@cases) {
        my ($name, $code, $want) = @$case;
        dies_like($code, qr/\ADDBCache::Client: .*$want/, $name);
        like($@, qr/ at \Q$0\E line \d+\.$/, "$name: reported at the caller's line");
        ok($ddb->ping, "$name: the connection is still usable");
    }
};

subtest 'wrong argument types croak before anything is sent' => sub {
    my @cases = (
        ['undef key',          sub { $ddb->get(profile => undef) },   qr/DDB GET: an argument is undefined/],
        ['undef namespace',    sub { $ddb->get(undef, 1) },           qr/DDB GET: an argument is undefined/],
        ['a hash as key',      sub { $ddb->get(profile => {}) },      qr/DDB GET: an argument is HASH reference/],
        ['mget without array', sub { $ddb->mget(profile => 'c1') },   qr/usage: \$client->mget\(\$namespace, \\\@keys\)/],
        ['put without hash',   sub { $ddb->put(profile => '{}') },    qr/usage: \$client->put\(\$namespace, \\%item\)/],
        ['redis without name', sub { $ddb->redis },                   qr/usage: \$client->redis/],
    );
    for my $case (@cases) {
        my ($name, $code, $want) = @$case;
        dies_like($code, qr/\ADDBCache::Client: $want/, $name);
    }
    ok($ddb->ping, 'the connection is still usable');
};

subtest 'redis passes allowlisted commands through' => sub {
    is($ddb->redis(SET => 'cl:a', 'hello'), 'OK', 'SET');
    is($ddb->redis(GET => 'cl:a'), 'hello', 'GET');
    is($ddb->redis(GET => 'cl:none'), undef, 'GET of a missing key is undef, no error');
    is($ddb->redis(SETEX => 'cl:b', 100, 'x'), 'OK', 'SETEX');
    my $ttl = $ddb->redis(TTL => 'cl:b');
    ok($ttl > 0 && $ttl <= 100, "TTL $ttl");
    is($ddb->redis(INCR => 'cl:n'), 1, 'INCR returns a number');
    is($ddb->redis(HSET => 'cl:h', f1 => 'v1', f2 => 'v2'), 2, 'HSET');
    is_deeply({ @{ $ddb->redis(HGETALL => 'cl:h') } }, { f1 => 'v1', f2 => 'v2' }, 'HGETALL returns an array');
    is_deeply($ddb->redis(MGET => 'cl:a', 'cl:none'), ['hello', undef], 'MGET with a nil inside');
    is($ddb->redis(GET => 'user_profile:c1'), $ddb->get_json(profile => 'c1'), 'the legacy key, read through the daemon');
    is($ddb->redis('PING'), 'PONG', 'connection commands answer too');
    is($ddb->redis(SET => 'cl:u', 'Zoë'), 'OK', 'SET of text');
    is($ddb->redis(GET => 'cl:u'), "Zo\xc3\xab", 'comes back as UTF-8 bytes');
    is($env->redis_cmd(qw(GET cl:a)), 'hello', 'it is in Redis');
};

subtest 'stats, namespaces, ping' => sub {
    my $stats = $ddb->stats;
    ok(exists $stats->{namespaces}{profile}{hits_local}, 'stats has the counters per namespace');
    ok($stats->{redis_connected}, 'redis_connected');
    my $ns = $ddb->namespaces;
    ok(ref $ns, 'namespaces returns decoded JSON');
    like($json->encode($ns), qr/"users"/, '... which mentions the table');
    is($ddb->ping, 1, 'ping returns 1');
};

subtest 'new: arguments and defaults' => sub {
    my $c = DDBCache::Client->new;
    is($c->socket_path, $ENV{DDBCACHE_SOCKET} || '/run/ddbcache/ddbcache.sock', 'default socket');
    is($c->timeout, 6, 'default timeout');
    {
        local $ENV{DDBCACHE_SOCKET} = $env->socket_path;
        my $from_env = DDBCache::Client->new;
        is($from_env->socket_path, $env->socket_path, 'DDBCACHE_SOCKET sets the socket');
        ok($from_env->ping, '... and it works');
        is(DDBCache::Client->new(socket => '/x.sock')->socket_path, '/x.sock', 'socket => beats DDBCACHE_SOCKET');
    }
    my @bad = (
        [[sock => '/x'],              qr/unknown argument 'sock' \(known: every, local_adapt, local_cache, local_cache_bytes, local_ttl, namespace, password, reconnect, socket, timeout\)/],
        [['socket'],                  qr/arguments must be key => value pairs/],
        [[socket => ''],              qr/socket must be a path, got ''/],
        [[socket => undef],           qr/socket must be a path, got undef/],
        [[socket => '/' . 'x' x 200], qr/socket path is longer than 107 bytes/],
        [[timeout => 0],              qr/timeout must be a number of seconds, at least 0.001, got '0'/],
        [[timeout => -1],             qr/timeout must be a number/],
        [[timeout => 'soon'],         qr/timeout must be a number/],
        [[timeout => []],             qr/timeout must be a number .* got ARRAY reference/],
        [[namespace => 'a b'],        qr/namespace must be a name without spaces/],
        [[namespace => undef],        qr/namespace must be a name without spaces, got undef/],
        [[password => undef],         qr/password must be a string/],
        [[reconnect => -1],           qr/reconnect must be a number of seconds \(0 turns waiting off\), got '-1'/],
        [[reconnect => 'later'],      qr/reconnect must be a number of seconds .* got 'later'/],
        [[reconnect => undef],        qr/reconnect must be a number of seconds .* got undef/],
        [[every => 0],                qr/every must be a number of seconds, at least 0.001, got '0'/],
        [[every => {}],               qr/every must be a number of seconds, at least 0.001, got HASH reference/],
    );
    for my $case (@bad) {
        my ($args, $want) = @$case;
        dies_like(sub { DDBCache::Client->new(@$args) }, qr/\ADDBCache::Client->new: $want/,
            'new(' . join(', ', map { $_ // 'undef' } @$args) . ')');
    }
    my $nowhere = DDBCache::Client->new(socket => $env->tmpdir . '/no-such.sock', reconnect => 0);
    dies_like(sub { $nowhere->get(profile => 1) },
        qr/\ADDBCache::Client: cannot connect to \Q${\ $env->tmpdir }\E\/no-such\.sock: No such file or directory/,
        'no daemon: the call croaks, naming the socket');
};

subtest 'disconnect, then the next call reconnects' => sub {
    ok($ddb->ping, 'connected');
    $ddb->disconnect;
    is($ddb->get(profile => 'c1')->{name}, 'Ann', 'works after disconnect');
};

subtest 'AUTH with a password' => sub {
    my $secured = DDBCache::TestEnv->new(config => { listen => { password => 's3cret' } });
    my $good = $secured->client(password => 's3cret');
    ok($good->ping, 'the right password');
    is($good->get(profile => 'x'), undef, 'and a lookup');
    dies_like(sub { $secured->client(password => 'wrong')->ping }, qr/\ADDBCache::Client: AUTH: WRONGPASS/,
        'a wrong password croaks');
    dies_like(sub { $secured->client->ping }, qr/\ADDBCache::Client: PING: NOAUTH/, 'none: NOAUTH');
    $secured->stop;
};

subtest 'the SYNOPSIS runs' => sub {
    my $path = "$FindBin::Bin/../perl/lib/DDBCache/Client.pm";
    my $pod = do { open my $fh, '<', $path or die "$path: $!"; local $/; <$fh> };
    my ($synopsis) = $pod =~ /^=head1 SYNOPSIS\n(.*?)^=head1/ms;
    ok($synopsis, 'found the SYNOPSIS');
    local $ENV{DDBCACHE_SOCKET} = $env->socket_path;
    my @warnings;
    local $SIG{__WARN__} = sub { push @warnings, @_ };
    my $ok = eval "package Synopsis; $synopsis; 1";    ## no critic (ProhibitStringyEval)
    ok($ok, 'it runs') or diag $@;
    is_deeply([map { s/ at .*//sr } @warnings], ["DDBCache::Client: DDB GET: ERR unknown namespace 'nope'"],
        'and warns as it says');
    is($ddb->get(profile => 42), undef, 'it deleted its item');
    is($env->redis_cmd(qw(GET session:abc)), 'data', 'and set its session key in Redis');
};

# run_perl($code, @args): the output (stdout and stderr) of a separate perl
# with perl/lib in @INC running $code.
sub run_perl {
    my ($code, @args) = @_;
    open my $out, '-|', $^X, "-I$FindBin::Bin/../perl/lib", '-e',
        'BEGIN { open STDERR, ">&", \*STDOUT or die } ' . $code, @args
        or die "cannot run $^X: $!";
    local $/;
    my $text = <$out>;
    close $out;
    return $text;
}

subtest 'the JSON::PP fallback decodes the same' => sub {
    # A separate perl: the backend is chosen once, when the module loads.
    local $ENV{DDBCACHE_JSON_BACKEND} = 'JSON::PP';
    my $out = run_perl(q{
        use DDBCache::Client;
        my $c = DDBCache::Client->new(socket => $ARGV[0]);
        my $item = $c->get(profile => 'c6');
        $c->put(profile => { user_id => 'c8', name => $item->{name} . '!' });
        print DDBCache::Client->json_backend, "\n",
            $item->{name} eq "Zo\x{eb} \x{6771}\x{4eac} \x{1f642}" ? "same\n" : "differs\n";
    }, $env->socket_path);
    is($out, "JSON::PP\nsame\n", 'JSON::PP: the same text') or diag $out;
    is($ddb->get(profile => 'c8')->{name}, 'Zoë 東京 🙂!', 'and what it put reads back the same');

    local $ENV{DDBCACHE_JSON_BACKEND} = 'YAML';
    like(run_perl('require DDBCache::Client'),
        qr/DDBCACHE_JSON_BACKEND='YAML' is not one of Cpanel::JSON::XS JSON::XS JSON::PP/,
        'an unknown backend is refused');
};

done_testing;
