#!/usr/bin/perl
# worker.pl — one Perl worker of `ddbcache bench`, run through the bundled
# DDBCache::Client. It lives for the whole run, so that its local cache
# stays warm from one round to the next. Protocol on standard input/output:
#   start:  worker.pl SOCKET NAMESPACE PARTITION_KEY ITEM_SIZE LOCAL_CACHE
#           prints "ready" (LOCAL_CACHE: a number of items, 0 for none, or "default")
#   bench:  "round OPSFILE LATFILE DURATION REQUESTS"; the worker loads the
#           operations ("r N" or "w N" per line, N a key index), prints
#           "loaded", waits for "go", runs them (cycling) for DURATION
#           seconds or REQUESTS operations, writes the latencies to LATFILE
#           (packed little-endian 64-bit nanoseconds) and prints the round's
#           counters as one JSON line
#   bench:  "quit" or end of input; the worker exits.
use strict;
use warnings;

use DDBCache::Client;
use JSON::PP ();
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);

my ($socket, $ns, $pk, $size, $local) = @ARGV;
die "worker.pl: want 5 arguments\n" unless defined $local;

my %args = (socket => $socket);
$args{local_cache} = $local if $local ne 'default';
my $client = DDBCache::Client->new(%args);
my $json = JSON::PP->new->canonical;

local $| = 1;
print "ready\n";
my ($hits_before, $misses_before) = (0, 0);
while (my $cmd = <STDIN>) {
    last if $cmd =~ /^quit/;
    my (undef, $opsfile, $latfile, $duration, $requests) = split q{ }, $cmd;
    my @ops = read_ops($opsfile);
    print "loaded\n";
    my $go = <STDIN>;
    last unless defined $go && $go =~ /^go/;
    my $t0 = clock_gettime(CLOCK_MONOTONIC);
    my ($done, $errors, $first_error, $lat) = run(\@ops, $t0, $duration, $requests);
    my $seconds = clock_gettime(CLOCK_MONOTONIC) - $t0;
    my $ls = $client->local_stats;
    open my $out, '>:raw', $latfile or die "worker.pl: $latfile: $!\n";
    print {$out} $lat or die "worker.pl: $latfile: $!\n";
    close $out or die "worker.pl: $latfile: $!\n";
    print $json->encode({
        ops => $done, errors => $errors, first_error => $first_error, seconds => $seconds,
        local_hits => $ls->{hits} - $hits_before, local_misses => $ls->{misses} - $misses_before,
    }), "\n";
    ($hits_before, $misses_before) = ($ls->{hits}, $ls->{misses});
}
exit 0;

# read_ops($path): the operations, as [write?, key] pairs.
sub read_ops {
    my ($path) = @_;
    open my $fh, '<', $path or die "worker.pl: $path: $!\n";
    my @list;
    while (my $line = <$fh>) {
        my ($op, $i) = split q{ }, $line;
        push @list, [$op eq 'w', "bench-$i"];
    }
    close $fh or die "worker.pl: $path: $!\n";
    die "worker.pl: $path has no operations\n" unless @list;
    return @list;
}

# run(\@ops, $t0, $duration, $requests): performs the operations from time
# $t0 on and returns (count, errors, first error, packed latencies).
sub run {
    my ($ops, $t0, $duration, $requests) = @_;
    my $deadline = $duration > 0 ? $t0 + $duration : 0;
    my ($n, $errors, $first, $lat) = (0, 0, q{}, q{});
    while (1) {
        last if $requests > 0 && $n >= $requests;
        my $start = clock_gettime(CLOCK_MONOTONIC);
        last if $deadline && $start >= $deadline;
        my ($write, $key) = @{ $ops->[$n % @{$ops}] };
        my $ok = eval {
            if ($write) {
                $client->put($ns, { $pk => $key, version => int($start * 1e9), data => 'x' x $size });
            } else {
                $client->get($ns, $key);
            }
            1;
        };
        my $end = clock_gettime(CLOCK_MONOTONIC);
        if (!$ok) {
            $errors++;
            $first = "$@" if $first eq q{};
        }
        $lat .= pack 'Q<', int(($end - $start) * 1e9);
        $n++;
    }
    chomp $first;
    return ($n, $errors, $first, $lat);
}
