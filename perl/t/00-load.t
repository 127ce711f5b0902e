#!/usr/bin/perl
# Loads the modules and checks what needs no daemon: the JSON backend,
# arguments to new, and that a call without a daemon croaks at once.
use strict;
use warnings;

use File::Temp qw(tempdir);
use Test::More;

use_ok('DDBCache::Client');

like(DDBCache::Client->json_backend, qr/\A(?:Cpanel::JSON::XS|JSON::XS|JSON::PP)\z/, 'a JSON backend');
diag('JSON backend: ' . DDBCache::Client->json_backend);

subtest 'new' => sub {
    local $ENV{DDBCACHE_SOCKET};
    my $c = DDBCache::Client->new;
    isa_ok($c, 'DDBCache::Client');
    is($c->socket_path, '/run/ddbcache/ddbcache.sock', 'default socket');
    is($c->timeout, 6, 'default timeout');
    is($c->namespace, undef, 'no default namespace');
    $ENV{DDBCACHE_SOCKET} = '/tmp/x.sock';
    is(DDBCache::Client->new->socket_path, '/tmp/x.sock', 'DDBCACHE_SOCKET');
    my $d = DDBCache::Client->new(socket => '/a.sock', timeout => 0.25, namespace => 'profile');
    is_deeply([$d->socket_path, $d->timeout, $d->namespace], ['/a.sock', 0.25, 'profile'], 'arguments');

    my @bad = (
        [[bogus => 1],          qr/unknown argument 'bogus'/],
        [['socket'],            qr/arguments must be key => value pairs/],
        [[socket => ''],        qr/socket must be a path/],
        [[socket => []],        qr/socket must be a path, got ARRAY reference/],
        [[timeout => 0],        qr/timeout must be a number of seconds, at least 0.001/],
        [[timeout => 'x'],      qr/timeout must be a number/],
        [[namespace => 'a b'],  qr/namespace must be a name without spaces/],
        [[password => {}],      qr/password must be a string/],
    );
    for my $case (@bad) {
        my ($args, $want) = @$case;
        my $ok = eval { DDBCache::Client->new(@$args); 1 };
        ok(!$ok, "new(@$args) croaks");
        like($@, qr/\ADDBCache::Client->new: $want/, '... saying why');
        like($@, qr/ at \Q$0\E line \d+\.$/, '... at the caller\'s line');
    }
};

subtest 'without a daemon' => sub {
    my $dir = tempdir(CLEANUP => 1);
    my $c = DDBCache::Client->new(socket => "$dir/none.sock", timeout => 1);
    my $ok = eval { $c->get(profile => 1); 1 };
    ok(!$ok, 'get croaks');
    like($@, qr/\ADDBCache::Client: cannot connect to \Q$dir\E\/none\.sock: /, '... cannot connect, naming the socket');
    $ok = eval { $c->get(profile => undef); 1 };
    like($@, qr/DDB GET: an argument is undefined/, 'an undefined key croaks before connecting');
    $ok = eval { $c->mget(profile => 1); 1 };
    like($@, qr/usage: \$client->mget/, 'mget wants an array reference');
    is_deeply($c->mget(profile => []), {}, 'mget of no keys needs no daemon');
    is($c->invalidate('profile'), 0, 'nor does invalidate of no keys');
    $ok = eval { $c->lookup(1); 1 };
    like($@, qr/lookup needs a default namespace/, 'lookup without a namespace');
};

subtest 'Plack::Middleware::DDBCache' => sub {
    if (eval { require Plack::Middleware; 1 }) {
        use_ok('Plack::Middleware::DDBCache');
        my $app = Plack::Middleware::DDBCache->wrap(sub { [200, [], [ref $_[0]{ddbcache}]] }, socket => '/x.sock');
        is($app->({})->[2][0], 'DDBCache::Client', 'puts a client in $env->{ddbcache}');
        my $ok = eval { Plack::Middleware::DDBCache->wrap(sub { }, timeout => -1); 1 };
        like($@, qr/timeout must be a number/, 'bad arguments croak when wrapping');
    } else {
        # Plack is optional: the middleware must then fail to load, naming it.
        my $ok = eval { require Plack::Middleware::DDBCache; 1 };
        ok(!$ok, 'without Plack the middleware does not load');
        like($@, qr{Plack/Middleware\.pm}, '... and says that Plack is missing');
    }
};

done_testing;
