#!/usr/bin/perl
# DDBCache::Client across fork: a client made (and used) in the parent works
# in 8 forked children, 1,000 lookups each, with no errors and the right
# values; every process has its own connection; the parent's connection is
# untouched by the children.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl/lib";

use POSIX qw(_exit);
use Test::More;
use DDBCache::TestEnv;

my $CHILDREN = 8;
my $LOOKUPS  = 1_000;
my $ITEMS    = 50;

my $env = DDBCache::TestEnv->new;
my $ddb = $env->client(timeout => 10);
is(scalar(grep { $ddb->put(profile => { user_id => "f$_", name => "Fork $_", n => $_ }) } 1 .. $ITEMS), $ITEMS,
    "$ITEMS items written");

# client_id is the daemon's id of the connection this process uses.
sub client_id { return $ddb->redis(qw(CLIENT ID)) }

my $parent_id = client_id();
ok($parent_id, "the parent is connected (client id $parent_id)");
is($ddb->get(profile => 'f1')->{name}, 'Fork 1', 'and looks up');

# Each child reports "client-id lookups errors first-error" on its pipe.
my %kids;
for my $k (1 .. $CHILDREN) {
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $r;
        my ($done, $errors, $first) = (0, 0, '');
        my $id = eval { client_id() } // 0;
        for my $i (1 .. $LOOKUPS) {
            my $n    = 1 + ($i * $k) % $ITEMS;
            my $item = eval { $i % 10 ? $ddb->get(profile => "f$n") : $ddb->mget(profile => ["f$n"])->{"f$n"} };
            if (!$item || $item->{name} ne "Fork $n" || $item->{n} != $n) {
                $errors++;
                $first ||= $@ || 'wrong value for f' . $n;
                next;
            }
            $done++;
        }
        $first =~ s/\n/ /g;
        print {$w} "$id $done $errors $first\n";
        close $w;
        _exit(0);    # no END blocks: the servers belong to the parent
    }
    close $w;
    $kids{$pid} = $r;
}

my %ids = ($parent_id => 'parent');
for my $pid (sort keys %kids) {
    my $fh = $kids{$pid};
    my $line = <$fh> // '';
    close $fh;
    waitpid($pid, 0);
    is($? >> 8, 0, "child $pid exited 0");
    my ($id, $done, $errors, $first) = split / /, $line, 4;
    chomp $first if defined $first;
    is($errors, 0, "child $pid: no errors") or diag "first error: $first";
    is($done, $LOOKUPS, "child $pid: $LOOKUPS correct lookups");
    ok($id && !$ids{$id}, "child $pid had a connection of its own (client id " . ($id // '?') . ')');
    $ids{$id // 0} = $pid;
}

is(client_id(), $parent_id, "the parent still uses its own connection");
is($ddb->get(profile => 'f2')->{name}, 'Fork 2', '... which still works');
my $stats = $env->stats('profile');
cmp_ok($stats->{dynamodb_reads}, '<=', 2 * $ITEMS, 'the children were served from the cache') or diag explain $stats;

done_testing;
