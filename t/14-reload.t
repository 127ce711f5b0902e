#!/usr/bin/perl
# SIGHUP reloads the running daemon's configuration file: a changed TTL is
# used by the next fill, connections stay open, DDBCache::Client with its
# local cache keeps working and stays coherent, a namespace added is
# served, and a bad file or a change that needs a restart changes nothing.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl/lib";

use Test::More;
use DDBCache::Client;
use DDBCache::TestEnv;
use DDBCache::TestEnv::Faults qw(time_until);

my $env    = DDBCache::TestEnv->new;
my $ddb    = $env->client(timeout => 5);    # local cache on (the default)
my $writer = $env->client(timeout => 5);
my $conn   = $env->connect;                 # a raw RESP connection held open

sub seed {
    my ($id, $name) = @_;
    $env->put_item(users => { user_id => { S => $id }, name => { S => $name } });
    return;
}

# hot($id): looks the item up until the local cache serves it (at most 5 s).
sub hot {
    my ($id) = @_;
    return defined time_until(5, sub {
        my $hits = $ddb->local_stats->{hits};
        $ddb->get(profile => $id);
        return $ddb->local_stats->{hits} > $hits;
    });
}

# A namespace the reloads add, remove and add again.
my $PEOPLE = { table => 'users', partition_key => 'user_id' };

sub ttl_of { my ($key) = @_; return $env->redis_cmd('TTL', $key) }

seed("$_", "user$_") for 1 .. 4;
ok(hot('1'), 'before the reload, user 1 is held in the local cache');
cmp_ok(ttl_of('user_profile:1'), '>', 3000, 'its fill used the 1h TTL');

# The steps run in order on one daemon; the refused socket path comes last,
# since the file keeps it.
my @steps = (
    {   name  => 'a changed TTL and an added namespace',
        over  => { namespaces => { profile => { ttl => '10m', ttl_jitter => '0' }, people => $PEOPLE } },
        line  => qr/configuration reloaded/,
        id    => '2',
        ttl   => 600,
    },
    {   name  => 'a bad TTL changes nothing',
        over  => { namespaces => { profile => { ttl => 'soon' } } },
        line  => qr/not reloaded/,
        id    => '3',
        ttl   => 600,
    },
    {   name  => 'a changed socket path is refused',
        over  => { namespaces => { profile => { ttl => '5m' } }, listen => { unix => $env->tmpdir . '/other.sock' } },
        line  => qr/listen\.unix/,
        id    => '4',
        ttl   => 600,
    },
);
for my $st (@steps) {
    subtest $st->{name} => sub {
        like($env->reload_daemon($st->{over}), $st->{line}, 'the reload is logged');
        is($conn->cmd('PING'), 'PONG', 'the held RESP connection still answers');
        is($ddb->get(profile => '1')->{name}, 'user1', 'the client with a local cache still reads');
        is($ddb->get(profile => $st->{id})->{name}, "user$st->{id}", 'a fill after the reload');
        my $ttl = ttl_of("user_profile:$st->{id}");
        ok($ttl <= $st->{ttl} && $ttl > $st->{ttl} - 60, "... used the TTL in force ($ttl s, want $st->{ttl})");
        is($ddb->get(people => '1')->{name}, 'user1', 'the added namespace is served');
    };
}

subtest 'a removed namespace is unknown, also to a local cache that held its items' => sub {
    ok(defined time_until(5, sub {
        my $hits = $ddb->local_stats->{hits};
        $ddb->get(people => '1');
        return $ddb->local_stats->{hits} > $hits;
    }), 'people/1 is held in the local cache');
    like($env->reload_daemon({ namespaces => { people => undef }, listen => { unix => $env->socket_path } }),
        qr/configuration reloaded/, 'the reload without people is applied');
    ok(defined time_until(5, sub { !eval { $ddb->get(people => '1'); 1 } && $@ =~ /unknown namespace/ }),
        'a get of people/1 answers unknown namespace (the flush reached the local cache)');
    like($env->reload_daemon({ namespaces => { people => $PEOPLE } }), qr/configuration reloaded/, 'people back');

};

subtest 'the local cache stays coherent across the reload' => sub {
    ok(hot('1'), 'user 1 is held again after the reloads');
    $writer->put(profile => { user_id => '1', name => 'renamed' });
    is($ddb->get(profile => '1')->{name}, 'renamed', 'a write through another client is seen by the next get');
};

done_testing;
