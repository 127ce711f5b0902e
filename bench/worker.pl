#!/usr/bin/perl
# worker.pl — one Perl worker of `ddbcache bench`, run through the bundled
# DDBCache::Client. The bench writes the operations to a file ("r N" or
# "w N" per line, N a key index), the worker loads them, prints "ready",
# waits for "go" on standard input, then runs them (cycling) for DURATION
# seconds or REQUESTS operations. Latencies go to LATFILE as packed
# little-endian 64-bit nanoseconds; the counters to standard output as one
# JSON line. Usage:
#   worker.pl SOCKET NAMESPACE PARTITION_KEY ITEM_SIZE LOCAL_CACHE OPSFILE LATFILE DURATION REQUESTS
# LOCAL_CACHE is a number of items, 0 for none, or "default".
use strict;
use warnings;

use DDBCache::Client;
use JSON::PP ();
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);

my ($socket, $ns, $pk, $size, $local, $opsfile, $latfile, $duration, $requests) = @ARGV;
die "worker.pl: want 9 arguments\n" unless defined $requests;

my @ops = read_ops($opsfile);
my %args = (socket => $socket);
$args{local_cache} = $local if $local ne 'default';
my $client = DDBCache::Client->new(%args);

local $| = 1;
print "ready\n";
my $go = <STDIN>;
exit 0 unless defined $go && $go =~ /^go/;

my $t0 = clock_gettime(CLOCK_MONOTONIC);
my ($done, $errors, $first_error, $lat) = run($t0);
my $seconds = clock_gettime(CLOCK_MONOTONIC) - $t0;
my $ls = $client->local_stats;
open my $out, '>:raw', $latfile or die "worker.pl: $latfile: $!\n";
print {$out} $lat or die "worker.pl: $latfile: $!\n";
close $out or die "worker.pl: $latfile: $!\n";
print JSON::PP->new->canonical->encode({
    ops => $done, errors => $errors, first_error => $first_error,
    local_hits => $ls->{hits} + 0, local_misses => $ls->{misses} + 0, seconds => $seconds,
}), "\n";
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

# run($t0): performs the operations from time $t0 on and returns (count,
# errors, first error, packed latencies).
sub run {
    my ($t0) = @_;
    my $deadline = $duration > 0 ? $t0 + $duration : 0;
    my ($n, $errors, $first, $lat) = (0, 0, q{}, q{});
    while (1) {
        last if $requests > 0 && $n >= $requests;
        my $start = clock_gettime(CLOCK_MONOTONIC);
        last if $deadline && $start >= $deadline;
        my ($write, $key) = @{ $ops[$n % @ops] };
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
