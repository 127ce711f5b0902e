#!/usr/bin/perl
# Redis.pm and Redis::Fast pointed at the daemon's socket, unchanged:
# ddb_get/ddb_mget/ddb_put (their method names split on "_" into DDB GET,
# ...), GET/SETEX through the passthrough, a clean error for FLUSHALL with
# the connection still usable, and UTF-8 values.
use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl/lib";

use Test::More;
use DDBCache::TestEnv;

my %MODULES = (
    'Redis'            => 'libredis-perl',
    'Redis::Fast'      => 'libredis-fast-perl',
    'Cpanel::JSON::XS' => 'libcpanel-json-xs-perl',
);
for my $module (sort keys %MODULES) {
    (my $file = "$module.pm") =~ s{::}{/}g;
    eval { require $file; 1 }
        or die "$module is missing; install it with: apt-get install -y $MODULES{$module} (or run make deps)\n";
}

my $json = Cpanel::JSON::XS->new->utf8->canonical;
my $env  = DDBCache::TestEnv->new;
my $socket = $env->socket_path;
$env->put_item(users => { user_id => { S => 'd1' }, name => { S => 'Ann' }, plan => { S => 'pro' } });
$env->put_item(users => { user_id => { S => 'd2' }, name => { S => 'Zoë' } });

for my $class (qw(Redis Redis::Fast)) {
    subtest "$class->new(sock => \$socket)" => sub {
        my $r = $class->new(sock => $socket, reconnect => 0);
        is($r->ping, 'PONG', 'ping');

        my $raw = $r->ddb_get('profile', 'd1');
        is_deeply($json->decode($raw), { user_id => 'd1', name => 'Ann', plan => 'pro' }, 'ddb_get returns the JSON');
        is($r->ddb_get('profile', 'nobody'), undef, 'ddb_get of a missing item is undef');
        is($json->decode($r->ddb_get('profile', 'd2'))->{name}, 'Zoë', 'a UTF-8 value decodes to the text');

        my @many = $r->ddb_mget('profile', 'd1', 'nobody', 'd2');
        is_deeply([map { defined $_ ? $json->decode($_)->{name} : undef } @many], ['Ann', undef, 'Zoë'],
            'ddb_mget: values and undef in request order');

        my $id = "dropin-$class";
        is($r->ddb_put('profile', $json->encode({ user_id => $id, name => $class })), 'OK', 'ddb_put');
        is($json->decode($r->ddb_get('profile', $id))->{name}, $class, 'ddb_get sees it');
        is($r->ddb_del('profile', $id), 1, 'ddb_del');

        is($r->setex("sess:$class", 60, 'data'), 'OK', 'setex through the passthrough');
        is($r->get("sess:$class"), 'data', 'get reads it');
        is($env->redis_cmd('GET', "sess:$class"), 'data', 'it is in Redis');
        my $ttl = $r->ttl("sess:$class");
        ok($ttl > 0 && $ttl <= 60, "ttl $ttl");
        is($r->get('user_profile:d1'), $raw, 'the legacy key, read through the daemon, holds the same JSON');
        is($r->get('sess:none'), undef, 'get of a missing key is undef');

        my $ok = eval { $r->flushall; 1 };
        ok(!$ok, 'flushall fails');
        like($@, qr/ERR unknown command 'FLUSHALL'.*ddbcache forwards only allowlisted Redis commands/,
            '... with the daemon\'s message');
        $ok = eval { $r->ddb_get('nope', 1); 1 };
        like($@, qr/ERR unknown namespace 'nope'/, 'an unknown namespace is an error too');
        is($r->get("sess:$class"), 'data', 'the connection is still usable');
        is($env->redis_cmd('GET', "sess:$class"), 'data', 'and FLUSHALL never reached Redis');
        $r->quit;
    };
}

done_testing;
