#!/usr/bin/perl
# How DDBCache::Client's local cache reads its tracking connection, against
# scripted daemons (DDBCache::TestEnv::FakeTracker, FakeDaemon) that do on
# cue what no real daemon can be made to: pushes in pieces, several in one
# read, keys not held, the flush form, garbage and EOF on the tracking
# connection, pushes glued to the +OK of DDB TRACK; and a daemon without
# DDB TRACK, on which the local cache turns itself off. The local cache
# against the real daemon: t/08, t/16, t/22.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl/lib";

use Test::More;
use DDBCache::Client;
use DDBCache::TestEnv::FakeDaemon;
use DDBCache::TestEnv::FakeTracker qw(fake_tracker invalidate bulk);
use DDBCache::TestEnv::Faults qw(time_until);

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

done_testing;
