#!/usr/bin/perl
# Fault: the daemon restarts under load, as `systemctl restart ddbcache`
# does (SIGTERM, then a new daemon on the same socket), and crashes and is
# started again (SIGKILL: a stale socket file is left until the new daemon
# replaces it). 8 workers look items up all along (get, with the local
# cache on in half of them and off in the others, and mget and ping), with
# the client's default reconnect grace (2 s).
# Target: 0 failed calls (all are idempotent), 0 wrong values.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/../perl/lib";

use Test::More;
use Time::HiRes qw(time);
use DDBCache::Client;
use DDBCache::TestEnv;
use DDBCache::TestEnv::Faults qw(seed_items check_item time_until figure);
use DDBCache::TestEnv::Workers;

my $WORKERS = 8;
# Lookups the daemon must have answered before the restart, and the new
# daemon after it: the workers are running against it.
my $LOAD = 5000;

my $env  = DDBCache::TestEnv->new;
my @keys = seed_items($env, 'rs', 100);

# lookups: what the daemon on the socket has answered so far.
sub lookups {
    my $s = $env->stats('profile');
    return $s->{hits_local} + $s->{hits_redis} + $s->{misses} + $s->{negative_hits};
}

for my $signal (qw(TERM KILL)) {
    subtest "SIG$signal and restart under $WORKERS workers" => sub {
        my $w = DDBCache::TestEnv::Workers->new(
            n      => $WORKERS,
            client => sub { my ($i) = @_; return $env->client(timeout => 5, local_cache => $i % 2 ? 1000 : 0) },
            call   => sub {
                my ($c, $i, $n) = @_;
                my $key = $keys[($n * 7 + $i) % @keys];
                if ($n % 10 == 9) {
                    my @some = @keys[map { ($n + $_) % @keys } 0 .. 4];
                    my $items = $c->mget(profile => \@some);
                    my @wrong = grep { defined } map { check_item($items->{$_}, $_) } @some;
                    return @wrong ? "mget: @wrong" : undef;
                }
                if ($n % 50 == 25) {
                    $c->ping;
                    return undef;    ## no critic (ProhibitExplicitReturnUndef)
                }
                return check_item($c->get(profile => $key), $key);
            },
        )->start->go;
        my $base = lookups();
        ok(defined time_until(30, sub { lookups() >= $base + $LOAD }), "the workers are looking up ($LOAD lookups)");
        my $t0 = time;
        $env->restart_daemon(signal => $signal);
        my $down = time - $t0;
        ok(defined time_until(30, sub { lookups() >= $LOAD }), "the new daemon answers the workers ($LOAD lookups)");
        my $s = $w->stop;
        is($s->{failed}, 0, '0 failed calls') or diag explain $s->{errors};
        is($s->{wrong}, 0, '0 wrong values') or diag explain $s->{wrongs};
        is_deeply($s->{died}, [], 'no worker died');
        figure(sprintf 'daemon-sig%s-restart %d workers (local cache on in %d): %s, daemon away %.2f s, slowest call %.2f s',
            lc $signal, $WORKERS, $WORKERS / 2, DDBCache::TestEnv::Workers->summary($s), $down, $s->{max_latency});
    };
}

done_testing;
