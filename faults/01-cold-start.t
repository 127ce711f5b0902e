#!/usr/bin/perl
# Fault: a cold start. A preforked app of 30 workers, each with a new
# DDBCache::Client (local cache on, the default), all look up the same 20
# cold items at once, three lookups of each: while the daemon fills them,
# it pushes invalidations to the tracking connections that the workers are
# opening. Three waves, each with 20 items nothing has read yet.
# Target: 0 failed calls, 0 wrong values.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/../perl/lib";

use Test::More;
use DDBCache::Client;
use DDBCache::TestEnv;
use DDBCache::TestEnv::Faults qw(seed_items check_item figure);
use DDBCache::TestEnv::Workers;

my ($WORKERS, $KEYS, $ROUNDS, $WAVES) = (30, 20, 3, 3);

my $env = DDBCache::TestEnv->new;
my %total = (calls => 0, failed => 0, wrong => 0);
my %errors;
for my $wave (1 .. $WAVES) {
    my @keys = seed_items($env, "cold$wave-", $KEYS);
    my $w = DDBCache::TestEnv::Workers->new(
        n      => $WORKERS,
        calls  => $KEYS * $ROUNDS,
        client => sub { return $env->client(timeout => 5) },
        call   => sub {
            my ($c, $i, $n) = @_;
            my $key = $keys[($n + $i) % $KEYS];    # each worker starts at another key
            return check_item($c->get(profile => $key), $key);
        },
    )->start->go;
    my $s = $w->finish;
    $total{$_} += $s->{$_} for qw(calls failed wrong);
    $errors{$_} += $s->{errors}{$_} for keys %{ $s->{errors} };
    is($s->{calls}, $WORKERS * $KEYS * $ROUNDS, "wave $wave: every call was made");
    is($s->{failed}, 0, "wave $wave: 0 failed") or diag explain $s->{errors};
    is($s->{wrong}, 0, "wave $wave: 0 wrong") or diag explain $s->{wrongs};
    is_deeply($s->{died}, [], "wave $wave: no worker died");
}
figure("cold-start ${WORKERS}x${KEYS}x$WAVES local_cache=on: "
    . DDBCache::TestEnv::Workers->summary({ %total, errors => \%errors, died => [] }));

done_testing;
