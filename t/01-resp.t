#!/usr/bin/perl
# The RESP socket against the real daemon, redis-server and dynalite:
# lookups, hits, the legacy Redis key, negative caching, writes, MGET,
# DEL, INVALIDATE, error replies, the Redis passthrough and UTF-8.
use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use DDBCache::TestEnv;

binmode Test::More->builder->$_, ':encoding(UTF-8)' for qw(output failure_output todo_output);

my $json = JSON::PP->new->utf8->canonical;
my $env  = DDBCache::TestEnv->new;
my $c    = $env->connect;

# A number too long for a double or a 64-bit integer: it must stay text.
my $BIG = '123456789012345678901234';

sub counters { return $env->stats('profile') }
# reply returns a reply or, unlike cmd, an error reply as an object: an
# unexpected error fails one assertion instead of ending the test file.
sub reply    { $c->send_command(@_); return $c->read_reply }
sub hits     { my ($s) = @_; return $s->{hits_local} + $s->{hits_redis} }
sub get_doc  { my ($id) = @_; my $v = $c->cmd('DDB', 'GET', 'profile', $id); return defined $v ? $json->decode($v) : undef }

# dynamo_user seeds an item straight into DynamoDB, behind the cache's back.
sub dynamo_user {
    my ($id, $name, %more) = @_;
    $env->put_item(users => { user_id => { S => $id }, name => { S => $name }, %more });
    return;
}

subtest 'lookup of an item written straight to DynamoDB' => sub {
    dynamo_user('u1', 'Ann', age => { N => '42' }, balance => { N => $BIG }, tags => { L => [{ S => 'a' }] });
    my $before = counters();
    my $raw = $c->cmd(qw(DDB GET profile u1));
    ok(defined $raw, 'DDB GET returns a value');
    my $doc = $json->decode($raw);
    is($doc->{user_id}, 'u1',  'user_id');
    is($doc->{name},    'Ann', 'name');
    is($doc->{age},     42,    'a number attribute');
    is_deeply($doc->{tags}, ['a'], 'a list attribute');
    like($raw, qr/"balance":\Q$BIG\E[,}]/, "a " . length($BIG) . "-digit number comes back as the same JSON number text");
    is($doc->{balance}, $BIG, '... and decodes to the same digits');
    is(counters()->{dynamodb_reads}, $before->{dynamodb_reads} + 1, 'a miss reads DynamoDB once');
};

subtest 'a second lookup is a hit' => sub {
    my $before = counters();
    my $doc = get_doc('u1');
    is($doc->{name}, 'Ann', 'same item');
    my $after = counters();
    is($after->{dynamodb_reads}, $before->{dynamodb_reads}, 'no DynamoDB read');
    is(hits($after), hits($before) + 1, 'hits_local + hits_redis went up by one');
};

subtest 'the legacy key in Redis holds the JSON with the namespace TTL' => sub {
    my $stored = $env->redis_cmd(qw(GET user_profile:u1));
    ok(defined $stored, 'user_profile:u1 exists in Redis');
    is($stored, $c->cmd(qw(DDB GET profile u1)), 'it holds the bytes DDB GET returns');
    is_deeply($json->decode($stored), get_doc('u1'), '... which is the item JSON');
    my $ttl = $env->redis_cmd(qw(TTL user_profile:u1));
    # 1h ± 10% is 3240 s to 3960 s; allow a few seconds for the test itself.
    cmp_ok($ttl, '>=', 3240 - 5, "TTL $ttl >= 54 min");
    cmp_ok($ttl, '<=', 3960,     "TTL $ttl <= 66 min");
};

subtest 'a missing item is nil, and cached as missing' => sub {
    my $before = counters();
    is($c->cmd(qw(DDB GET profile nobody)), undef, 'DDB GET of a missing item is nil');
    my $mid = counters();
    is($mid->{dynamodb_reads}, $before->{dynamodb_reads} + 1, 'the first lookup reads DynamoDB');
    is($c->cmd(qw(DDB GET profile nobody)), undef, 'still nil');
    my $after = counters();
    is($after->{dynamodb_reads}, $mid->{dynamodb_reads},     'the second lookup does not read DynamoDB');
    is($after->{negative_hits},  $mid->{negative_hits} + 1,  'it is a negative hit');
};

subtest 'DDB PUT writes DynamoDB and the next GET sees it' => sub {
    my $item = qq({"user_id":"u2","name":"Bob","score":98765432109876543210987});
    is($c->cmd('DDB', 'PUT', 'profile', $item), 'OK', 'DDB PUT answers +OK');
    my $stored = $env->get_item(users => { user_id => { S => 'u2' } });
    is_deeply($stored, { user_id => { S => 'u2' }, name => { S => 'Bob' }, score => { N => '98765432109876543210987' } },
        'DynamoDB holds the item, the number exact');
    my $raw = $c->cmd(qw(DDB GET profile u2));
    is($json->decode($raw)->{name}, 'Bob', 'DDB GET returns it');
    like($raw, qr/"score":98765432109876543210987[,}]/, 'with the number as written');

    is(get_doc('u2')->{name}, 'Bob', 'cached now');
    is($c->cmd('DDB', 'PUT', 'profile', qq({"user_id":"u2","name":"Bobby"})), 'OK', 'overwrite');
    is_deeply(get_doc('u2'), { user_id => 'u2', name => 'Bobby' }, 'DDB GET right after sees the new value');

    is($c->cmd(qw(DDB GET profile late)), undef, 'an item cached as missing');
    is($c->cmd('DDB', 'PUT', 'profile', qq({"user_id":"late","name":"Lee"})), 'OK', 'is written');
    is(get_doc('late')->{name}, 'Lee', 'DDB GET sees it: the negative entry was dropped');
};

subtest 'DDB MGET answers hits, misses and absent items in request order' => sub {
    dynamo_user('u3', 'Cy');
    dynamo_user('u4', 'Di');
    ok(defined $c->cmd(qw(DDB GET profile u1)), 'u1 is cached');
    my @ids = qw(ghost1 u3 u1 ghost2 u4);
    my $names = sub {
        my $r = $c->cmd('DDB', 'MGET', 'profile', @ids);
        return [map { defined $_ ? $json->decode($_)->{name} : undef } @$r];
    };
    my $before = counters();
    is_deeply($names->(), [undef, 'Cy', 'Ann', undef, 'Di'], 'values and nils in request order');
    my $mid = counters();
    is($mid->{dynamodb_reads}, $before->{dynamodb_reads} + 1, 'the misses are read in one DynamoDB request');
    is_deeply($names->(), [undef, 'Cy', 'Ann', undef, 'Di'], 'the same again');
    my $after = counters();
    is($after->{dynamodb_reads}, $mid->{dynamodb_reads}, 'now all from the cache: no DynamoDB read');
    is($after->{negative_hits}, $mid->{negative_hits} + 2, 'the absent items are negative hits');
    is(hits($after), hits($mid) + 3, 'the others are hits');
    is_deeply($c->cmd(qw(DDB MGET profile u4)), [$c->cmd(qw(DDB GET profile u4))], 'one key: a one-element array');
    dynamo_user('u7', 'Gil');
    is_deeply([map { defined $_ ? $json->decode($_)->{name} : undef } @{ $c->cmd(qw(DDB MGET profile u7 ghost1 u7)) }],
        ['Gil', undef, 'Gil'], 'a key asked twice, not cached yet, is answered twice');
};

subtest 'DDB DEL deletes from DynamoDB and the cache' => sub {
    is($c->cmd('DDB', 'PUT', 'profile', qq({"user_id":"u5","name":"Eve"})), 'OK', 'an item');
    is(get_doc('u5')->{name}, 'Eve', 'cached');
    is($c->cmd(qw(DDB DEL profile u5)), 1, 'DDB DEL of an existing item is 1');
    is($env->get_item(users => { user_id => { S => 'u5' } }), undef, 'gone from DynamoDB');
    is($c->cmd(qw(DDB GET profile u5)), undef, 'DDB GET is nil at once');
    is($env->redis_cmd(qw(EXISTS user_profile:u5)), 0, 'no legacy key left in Redis');
    is($c->cmd(qw(DDB DEL profile u5)), 0, 'DDB DEL again is 0');
};

subtest 'DDB INVALIDATE drops cache entries without writing DynamoDB' => sub {
    ok(defined get_doc('u1'), 'u1 cached');
    ok(defined get_doc('u3'), 'u3 cached');
    is($c->cmd(qw(DDB INVALIDATE profile u1 u3 never-cached)), 2, 'counts the two cached keys');
    is($env->redis_cmd(qw(EXISTS user_profile:u1 user_profile:u3)), 0, 'their legacy keys are gone');
    ok($env->get_item(users => { user_id => { S => 'u1' } }), 'the item is still in DynamoDB');
    my $before = counters();
    is(get_doc('u1')->{name}, 'Ann', 'the next lookup finds it');
    is(counters()->{dynamodb_reads}, $before->{dynamodb_reads} + 1, '... by reading DynamoDB');
    is($c->cmd(qw(DDB INVALIDATE profile ghost1)), 1, 'a negative entry counts too');
    is($c->cmd(qw(DDB INVALIDATE profile ghost1)), 0, 'and is gone');
};

subtest 'error replies keep the connection usable' => sub {
    $env->redis_cmd(qw(SET canary alive));
    my @cases = (
        ['unknown namespace',        [qw(DDB GET x 1)],          qr/\AERR unknown namespace 'x'\z/],
        ['GET with one argument',    [qw(DDB GET profile)],      qr/\AERR DDB GET takes 2 or 3 arguments/],
        ['GET with four arguments',  [qw(DDB GET profile a b c)], qr/\AERR DDB GET takes 2 or 3 arguments/],
        ['malformed JSON',           ['DDB', 'PUT', 'profile', '{"user_id":"u9","name":'], qr/\AERR .*malformed JSON/],
        ['JSON that is no object',   ['DDB', 'PUT', 'profile', '[1,2]'],                    qr/\AERR bad item/],
        ['item without its key',     ['DDB', 'PUT', 'profile', '{"name":"x"}'],             qr/\AERR .*user_id/],
        ['unknown DDB subcommand',   [qw(DDB FROB profile)],     qr/\AERR unknown DDB subcommand/],
        ['FLUSHALL',                 [qw(FLUSHALL)],             qr/\AERR .*unknown command/],
        ['CONFIG GET',               [qw(CONFIG GET *)],         qr/\AERR .*unknown command/],
        ['CONFIG SET',               [qw(CONFIG SET save 1)],    qr/\AERR .*unknown command/],
    );
    for my $case (@cases) {
        my ($name, $args, $want) = @$case;
        my $err = $c->err(@$args);
        like($err // '(no error)', $want, "$name: error reply");
        is($c->cmd('PING'), 'PONG', "$name: PING on the same connection still answers PONG");
    }
    eval { $c->cmd(qw(DDB GET x 1)) };
    isa_ok($@, 'DDBCache::TestEnv::Error', 'cmd dies with the error reply');
    is("$@", "ERR unknown namespace 'x'", 'whose text is the whole message');
    is($env->redis_cmd(qw(GET canary)), 'alive', 'FLUSHALL did not reach Redis');
    is($env->redis_cmd(qw(GET save)), undef, 'nor did anything else');
};

subtest 'allowlisted Redis commands pass through' => sub {
    is($c->cmd(qw(SET pt:a hello)), 'OK', 'SET answers +OK');
    is($c->cmd(qw(GET pt:a)), 'hello', 'GET reads it');
    is($env->redis_cmd(qw(GET pt:a)), 'hello', 'it is in Redis');
    is($c->cmd(qw(SETEX pt:b 100 world)), 'OK', 'SETEX answers +OK');
    is($c->cmd(qw(GET pt:b)), 'world', 'GET reads it');
    my $ttl = $c->cmd(qw(TTL pt:b));
    ok($ttl > 0 && $ttl <= 100, "TTL is $ttl, within 1..100");
    is($c->cmd(qw(TTL pt:a)), -1, 'TTL of a key without expiry is -1');
    is($c->cmd(qw(TTL pt:none)), -2, 'TTL of a missing key is -2');
    # Redis answers these with a nil bulk reply, and so must the passthrough.
    is(reply(qw(GET pt:none)), undef, 'GET of a missing key is nil');
    is(reply(qw(SET pt:a x NX)), undef, 'SET NX of an existing key is nil');
    is(reply(qw(HGET pt:h none)), undef, 'HGET of a missing hash is nil');
    is($c->cmd('PING'), 'PONG', 'the connection is still usable');
    is($c->cmd(qw(SET pt:a again)), 'OK', 'overwrite');
    is($c->cmd(qw(GET pt:a)), 'again', 'GET right after sees the new value');
};

subtest 'UTF-8 round-trips byte for byte' => sub {
    my $name  = 'Zoë 東京';
    my $bytes = $name;
    utf8::encode($bytes);
    my $item = $json->encode({ user_id => 'u6', name => $name });
    ok(index($item, $bytes) >= 0, 'the request carries the name as UTF-8 bytes');
    is($c->cmd('DDB', 'PUT', 'profile', $item), 'OK', 'DDB PUT');
    my $raw = $c->cmd(qw(DDB GET profile u6));
    ok(index($raw, qq("name":"$bytes")) >= 0, 'DDB GET returns the same UTF-8 bytes, unescaped')
        or diag("got: $raw");
    is($json->decode($raw)->{name}, $name, 'which decode to the same text');
    is($env->redis_cmd(qw(GET user_profile:u6)), $raw, 'the legacy key holds the same bytes');
    is($env->get_item(users => { user_id => { S => 'u6' } })->{name}{S}, $name, 'DynamoDB holds the same text');

    my $id = '東京-1';
    utf8::encode(my $id_bytes = $id);
    is($c->cmd('DDB', 'PUT', 'profile', $json->encode({ user_id => $id, name => 'Kyo' })), 'OK', 'a non-ASCII key');
    is($json->decode($c->cmd('DDB', 'GET', 'profile', $id_bytes))->{user_id}, $id, 'is looked up by its UTF-8 bytes');
    ok(defined $env->redis_cmd('GET', "user_profile:$id_bytes"), 'under a legacy key of the same bytes');
};

done_testing;
