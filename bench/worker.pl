#!/usr/bin/perl
# worker.pl — one Perl worker of `ddbcache bench`. It lives for the whole
# run, so that its caches and connections stay warm from one round to the
# next. CLIENT is the path it measures:
#   ddbcache    the bundled DDBCache::Client (targets perl, perl-nolocal);
#               LOCAL_CACHE is a number of items, 0 for none, or "default"
#   redis-fast  the blog's pattern without ddbcache (target redis-fast):
#               Redis::Fast GET of the legacy key + Cpanel::JSON::XS decode;
#               on a miss GetItem (DDBBench::Dynamo) and SETEX; a write is
#               PutItem + DEL; a batch is MGET + decode each, misses filled
#               the same way. Configured from the environment as blog.psgi
#               is: BENCH_REDIS host:port, BENCH_REDIS_PASSWORD,
#               BENCH_DYNAMO, BENCH_TABLE, BENCH_PK, BENCH_KEY_PREFIX,
#               BENCH_KEY_SUFFIX, BENCH_TTL
# Protocol on standard input/output:
#   start:  worker.pl CLIENT SOCKET NAMESPACE PARTITION_KEY ITEM_SIZE LOCAL_CACHE
#           prints "ready"
#   bench:  "round OPSFILE LATFILE DURATION REQUESTS"; the worker loads the
#           operations ("r KEYS" or "w KEY" per line: KEYS key indexes
#           joined by commas, more than one an MGET), prints "loaded",
#           waits for "go", runs them (cycling) for DURATION seconds or
#           REQUESTS operations, writes the latencies to LATFILE (packed
#           little-endian 64-bit nanoseconds) and prints the round's
#           counters as one JSON line
#   bench:  "quit" or end of input; the worker exits.
use strict;
use warnings;

use JSON::PP ();
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);

my ($mode, $socket, $ns, $pk, $size, $local) = @ARGV;
die "worker.pl: want 6 arguments\n" unless defined $local;

my %client = (ddbcache => \&ddbcache_client, 'redis-fast' => \&redis_fast_client);
die "worker.pl: CLIENT '$mode': want ddbcache or redis-fast\n" unless $client{$mode};
my $c = $client{$mode}->();
my $json = JSON::PP->new->canonical;

local $| = 1;
print "ready\n";
my %before = %{ $c->{counters}->() };
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
    my %now = %{ $c->{counters}->() };
    open my $out, '>:raw', $latfile or die "worker.pl: $latfile: $!\n";
    print {$out} $lat or die "worker.pl: $latfile: $!\n";
    close $out or die "worker.pl: $latfile: $!\n";
    my %report = (ops => $done, errors => $errors, first_error => $first_error, seconds => $seconds,
        %{ $c->{limits} });
    $report{$_} = $now{$_} - ($before{$_} // 0) for keys %now;
    print $json->encode(\%report), "\n";
    %before = %now;
}
exit 0;

# ddbcache_client(): the operations through DDBCache::Client.
sub ddbcache_client {
    require DDBCache::Client;
    my %args = (socket => $socket);
    $args{local_cache} = $local if $local ne 'default';
    my $client = DDBCache::Client->new(%args);
    # Loaded at run time: the variable is seen once when this compiles.
    my $bytes = $local eq '0' ? 0 : do { no warnings 'once'; $DDBCache::Client::DEFAULT_LOCAL_CACHE_BYTES };
    return {
        get  => sub { return $client->get($ns, $_[0]) },
        mget => sub { return $client->mget($ns, $_[0]) },
        put  => sub { return $client->put($ns, { $pk => $_[0], version => int($_[1] * 1e9), data => 'x' x $size }) },
        counters => sub {
            my $ls = $client->local_stats;
            return { local_hits => $ls->{hits}, local_misses => $ls->{misses} };
        },
        limits => { local_cache_bytes => $bytes },
    };
}

# redis_fast_client(): the blog's pattern, Redis::Fast + Cpanel::JSON::XS.
sub redis_fast_client {
    for my $need (['Redis::Fast', 'libredis-fast-perl'], ['Cpanel::JSON::XS', 'libcpanel-json-xs-perl']) {
        (my $file = "$need->[0].pm") =~ s{::}{/}gxms;
        eval { require $file; 1 }
            or die "worker.pl: the redis-fast target needs $need->[0]: apt-get install -y $need->[1]\n";
    }
    require DDBBench::Dynamo;
    my %env = map { ($_ => $ENV{"BENCH_$_"} // q{}) } qw(REDIS REDIS_PASSWORD DYNAMO TABLE PK KEY_PREFIX KEY_SUFFIX TTL);
    my $redis = Redis::Fast->new(server => $env{REDIS},
        ($env{REDIS_PASSWORD} ne q{} ? (password => $env{REDIS_PASSWORD}) : ()));
    my $ddb  = DDBBench::Dynamo->new(endpoint => $env{DYNAMO}, table => $env{TABLE}, partition_key => $env{PK});
    my $dec  = Cpanel::JSON::XS->new->utf8;
    my %n    = (redis_hits => 0, misses => 0, dynamo_reads => 0, rcu => 0, not_found => 0);
    my $rkey = sub { return $env{KEY_PREFIX} . $_[0] . $env{KEY_SUFFIX} };
    # fill($id): the miss, GetItem then SETEX; the decoded item, or undef.
    my $fill = sub {
        my ($id) = @_;
        $n{misses}++;
        $n{dynamo_reads}++;
        my ($raw, $rcu) = $ddb->get_item($id);
        $n{rcu} += $rcu;
        if (!defined $raw) {
            $n{not_found}++;
            return;
        }
        $redis->setex($rkey->($id), $env{TTL}, $raw);
        return $dec->decode($raw);
    };
    return {
        get => sub {
            my $raw = $redis->get($rkey->($_[0]));
            return $fill->($_[0]) unless defined $raw;
            $n{redis_hits}++;
            return $dec->decode($raw);
        },
        mget => sub {
            my ($ids) = @_;
            my @raw = $redis->mget(map { $rkey->($_) } @{$ids});
            my %items;
            for my $i (0 .. $#raw) {
                if (defined $raw[$i]) {
                    $n{redis_hits}++;
                    $items{ $ids->[$i] } = $dec->decode($raw[$i]);
                } else {
                    $items{ $ids->[$i] } = $fill->($ids->[$i]);
                }
            }
            return \%items;
        },
        put => sub {
            $ddb->put_item({ $pk => $_[0], version => int($_[1] * 1e9), data => 'x' x $size });
            return $redis->del($rkey->($_[0]));
        },
        counters => sub { return {%n} },
        limits   => {},
    };
}

# read_ops($path): the operations, as [write?, [keys]] pairs.
sub read_ops {
    my ($path) = @_;
    open my $fh, '<', $path or die "worker.pl: $path: $!\n";
    my @list;
    while (my $line = <$fh>) {
        my ($op, $keys) = split q{ }, $line;
        push @list, [$op eq 'w', [map {"bench-$_"} split /,/xms, $keys]];
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
    my ($get, $mget, $put) = @{$c}{qw(get mget put)};
    while (1) {
        last if $requests > 0 && $n >= $requests;
        my $start = clock_gettime(CLOCK_MONOTONIC);
        last if $deadline && $start >= $deadline;
        my ($write, $keys) = @{ $ops->[$n % @{$ops}] };
        my $ok = eval {
            if ($write) {
                $put->($keys->[0], $start);
            } elsif (@{$keys} == 1) {
                $get->($keys->[0]);
            } else {
                $mget->($keys);
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
