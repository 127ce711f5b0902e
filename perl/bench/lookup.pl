#!/usr/bin/perl
# lookup.pl — hot-key lookups per second, one process, five ways:
#
#   (a)  DDBCache::Client as it comes: its local cache serves hot items with
#        no round trip (the daemon pushes invalidations)
#   (a0) DDBCache::Client with local_cache => 0: a round trip to the ddbcache
#        daemon over its Unix socket per lookup
#   (b)  Redis::Fast + Cpanel::JSON::XS -> Redis over TCP (the best a Perl app
#        can do without ddbcache)
#   (c)  Redis.pm + JSON::PP -> Redis over TCP (the pattern of the blog posts)
#   (d)  no client at all: a bare send/sysread to the daemon and a decode, the
#        floor for any round trip to the daemon (so (a0) - (d) is the client's cost)
#
# Each client reads the same items (JSON user profiles) and decodes them to a
# hash. The clients take turns in interleaved rounds, so that a busy machine
# slows them alike. Prints lookups/s, p50 and p99 per client, the ratio
# (a)/(b) and (a)'s local cache counters; exits 1 with --check when the
# ratio is below --target.
#
#   perl perl/bench/lookup.pl                    # starts redis, dynalite and the daemon (t/lib/DDBCache/TestEnv.pm)
#   perl perl/bench/lookup.pl --socket .demo/ddbcache.sock --redis 127.0.0.1:16380 --keys 10   # running servers
#   perl perl/bench/lookup.pl --help
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib", "$FindBin::Bin/../../t/lib";

use Getopt::Long qw(GetOptions);
use POSIX qw(strftime);
use Sys::Hostname qw(hostname);
use Time::HiRes qw(time);

use DDBCache::Client;
use DDBCache::RESP ();

my %opt = (
    rounds    => 40,
    keys      => 100,
    namespace => 'profile',
    redis_key => 'user_profile:%s',
    target    => 1.5,
    zipf_keys => 100_000,
    zipf_s    => '0.99',
);
GetOptions(
    \%opt,
    'socket=s', 'redis=s', 'lookups=i', 'rounds=i', 'keys=i', 'namespace=s', 'redis-key=s' => \$opt{redis_key},
    'target=f', 'check', 'markdown', 'help',
    'zipf', 'zipf-keys=i' => \$opt{zipf_keys}, 'zipf-s=s' => \$opt{zipf_s},
) or usage(2);
usage(0) if $opt{help};
$opt{lookups} //= $opt{zipf} ? 200_000 : 20_000;
for my $s (split /,/, $opt{zipf_s}) {
    die "lookup.pl: --zipf-s: '$s' is not a number >= 0\n" unless $s =~ /\A[0-9]*\.?[0-9]+\z/;
}
die "lookup.pl: --lookups, --rounds and --keys must be positive\n"
    if grep { $opt{$_} < 1 } qw(lookups rounds keys);
die "lookup.pl: --lookups ($opt{lookups}) must be at least --rounds ($opt{rounds})\n" if $opt{lookups} < $opt{rounds};
die "lookup.pl: give both --socket and --redis, or neither (then servers are started)\n"
    if defined $opt{socket} xor defined $opt{redis};

for my $m (['Redis::Fast', 'libredis-fast-perl'], ['Redis', 'libredis-perl'], ['Cpanel::JSON::XS', 'libcpanel-json-xs-perl']) {
    (my $file = "$m->[0].pm") =~ s{::}{/}g;
    eval { require $file; 1 } or die "lookup.pl: $m->[0] is missing; install it with: apt-get install -y $m->[1]\n";
}
require JSON::PP;

$opt{keys} = $opt{zipf_keys} if $opt{zipf};
my @ids = map { "$_" } 1 .. $opt{keys};
my $env;
if (!defined $opt{socket}) {
    require DDBCache::TestEnv;
    $env = DDBCache::TestEnv->new;
    $opt{socket} = $env->socket_path;
    $opt{redis}  = '127.0.0.1:' . $env->redis_port;
    seed($env, \@ids);
}

if ($opt{zipf}) {
    zipf_bench(\@ids);
    exit 0;
}

my $ddb   = DDBCache::Client->new(socket => $opt{socket}, namespace => $opt{namespace});
my $ddb_rt = DDBCache::Client->new(socket => $opt{socket}, namespace => $opt{namespace}, local_cache => 0);
my $rf  = Redis::Fast->new(server => $opt{redis}, reconnect => 0);
my $rpm = Redis->new(server => $opt{redis}, reconnect => 0);
my $cpanel = Cpanel::JSON::XS->new->utf8;
my $pp     = JSON::PP->new->utf8;
my $ns     = $opt{namespace};
my @redis_keys = map { sprintf $opt{redis_key}, $_ } @ids;

# (d) is no client: one send and one sysread of a prebuilt request on a bare
# socket, and a decode. It is the floor for any round trip to the daemon,
# so (a0) - (d) is what DDBCache::Client itself costs on top of one.
my $bare = bare_socket($opt{socket});
my @bare_requests = map { DDBCache::RESP::encode_request('DDB', 'GET', $ns, $_) } @ids;
my $bare_get = sub {
    my $buf = '';
    send($bare, $bare_requests[ $_[0] ], 0) or die "lookup.pl: send: $!\n";
    sysread($bare, $buf, 65_536) or die "lookup.pl: sysread: $!\n";
    my $i = index $buf, "\r\n";
    die "lookup.pl: (d) read a partial reply\n" unless length $buf == $i + 4 + substr($buf, 1, $i - 1);
    return Cpanel::JSON::XS::decode_json(substr $buf, $i + 2, substr($buf, 1, $i - 1));
};

# Each client: a name and a lookup of the i-th hot key returning the item.
my @clients = (
    ['(a) DDBCache::Client (local cache) -> ddbcache',     sub { $ddb->get($ns, $ids[ $_[0] ]) }],
    ['(a0) DDBCache::Client (local_cache=>0) -> ddbcache', sub { $ddb_rt->get($ns, $ids[ $_[0] ]) }],
    ['(b) Redis::Fast + Cpanel::JSON::XS -> Redis, TCP',   sub { $cpanel->decode($rf->get($redis_keys[ $_[0] ])) }],
    ['(c) Redis.pm + JSON::PP -> Redis, TCP',              sub { $pp->decode($rpm->get($redis_keys[ $_[0] ])) }],
    ['(d) no client: bare send/sysread -> ddbcache',       $bare_get],
);

# Warm up: every item is in the daemon's memory and under its legacy key in
# Redis (the daemon writes it there), and every client reads the same item.
for my $i (0 .. $#ids) {
    my @items = map { $_->[1]->($i) } @clients;
    die "lookup.pl: no item '$ids[$i]' in namespace '$ns'; seed it or pass --keys\n" unless $items[0];
    my $want = JSON::PP->new->canonical->encode($items[0]);
    for my $c (1 .. $#clients) {
        die "lookup.pl: $clients[$c][0] read something else for '$ids[$i]' (is --redis-key right?)\n"
            unless $items[$c] && JSON::PP->new->canonical->encode($items[$c]) eq $want;
    }
}
$_->[1]->($_ % @ids) for map { my $c = $_; map { [$c->[0], $c->[1]] } 1 .. 2 } @clients;    # warm the code paths
for my $c (@clients) { $c->[1]->($_ % @ids) for 1 .. 500 }

my $before = $ddb->stats->{namespaces}{$ns};
my $local_before = $ddb->local_stats;
my %lat  = map { $_->[0] => [] } @clients;
my %busy = map { $_->[0] => 0 } @clients;
my $per_round = int($opt{lookups} / $opt{rounds});
my $k = 0;
for my $round (1 .. $opt{rounds}) {
    for my $c ($round % 2 ? @clients : reverse @clients) {
        my ($name, $lookup) = @$c;
        my $lat = $lat{$name};
        my $n   = @ids;
        my $t0  = time;
        for (1 .. $per_round) {
            my $t = time;
            $lookup->($k++ % $n);
            push @$lat, time - $t;
        }
        $busy{$name} += time - $t0;
    }
}

my $after = $ddb->stats->{namespaces}{$ns};
my %served = map { $_ => ($after->{$_} // 0) - ($before->{$_} // 0) } qw(hits_local hits_redis misses dynamodb_reads);
my $local_after = $ddb->local_stats;
my %local = map { $_ => $local_after->{$_} - $local_before->{$_} } qw(hits misses invalidations flushes);
my $json_bytes = length $ddb->get_json($ns, $ids[0]);
report();
exit(($opt{check} && ratio() < $opt{target}) ? 1 : 0);

sub ratio {
    my ($a, $b) = map { my $tag = $_; (grep { index($_, $tag) == 0 } map { $_->[0] } @clients)[0] } '(a) ', '(b) ';
    return (@{ $lat{$a} } / $busy{$a}) / (@{ $lat{$b} } / $busy{$b});
}

sub report {
    my $cpu = cpu_model();
    printf "# %s, %s, %d CPUs%s, perl %vd, %s\n", strftime('%Y-%m-%d %H:%M UTC', gmtime), hostname(),
        cpus(), ($cpu ? " ($cpu)" : ''), $^V, redis_version();
    printf "# %d hot keys (JSON of %d bytes), %d lookups per client in %d interleaved rounds, one process, JSON %s\n",
        scalar @ids, $json_bytes, $per_round * $opt{rounds}, $opt{rounds}, DDBCache::Client->json_backend;
    my @rows;
    for my $c (@clients) {
        my $name = $c->[0];
        my @sorted = sort { $a <=> $b } @{ $lat{$name} };
        push @rows, [$name, @sorted / $busy{$name}, 1e6 * $sorted[ int(0.50 * $#sorted) ], 1e6 * $sorted[ int(0.99 * $#sorted) ]];
    }
    my $ratio = ratio();
    my $daemon = sprintf '# the daemon served (a0) and (d) with %d hits from its memory, %d from Redis, %d misses, %d DynamoDB reads',
        @served{qw(hits_local hits_redis misses dynamodb_reads)};
    $daemon .= sprintf "\n# (a)'s local cache served %d hits, %d misses (%d invalidations, %d flushes; %d entries held%s)",
        @local{qw(hits misses invalidations flushes)}, $local_after->{entries},
        $local_after->{enabled} ? '' : '; OFF: the daemon does not track';
    my $verdict = sprintf '(a)/(b) = %.2fx (target >= %.2fx: %s)', $ratio, $opt{target}, $ratio >= $opt{target} ? 'met' : 'MISSED';
    if ($opt{markdown}) {
        print "| client | lookups/s | p50 µs | p99 µs |\n|---|---:|---:|---:|\n";
        printf "| %s | %s | %.1f | %.1f |\n", $_->[0], commify($_->[1]), $_->[2], $_->[3] for @rows;
        print "\n$verdict\n$daemon\n";
        return;
    }
    printf "%-50s %10s %8s %8s\n", 'client', 'lookups/s', 'p50 us', 'p99 us';
    printf "%-50s %10s %8.1f %8.1f\n", $_->[0], commify($_->[1]), $_->[2], $_->[3] for @rows;
    print "$verdict\n$daemon\n";
    return;
}

# seed writes the items straight to DynamoDB, as another system would; the
# warm-up then reads each through the daemon. (Writing through the daemon
# would do too, but for 2 s after a write the daemon reads the key from Redis
# rather than from its memory, so that a writer always reads its own write.)
sub seed {
    my ($env, $ids) = @_;
    my @ids = @$ids;
    while (my @batch = splice @ids, 0, 25) {
        my $res = $env->dynamo(BatchWriteItem => { RequestItems => {
            users => [map { { PutRequest => { Item => profile_item($_) } } } @batch] } });
        my $left = $res->{UnprocessedItems}{users} || [];
        $env->put_item(users => $_->{PutRequest}{Item}) for @$left;
    }
    return;
}

sub profile_item {
    my ($id) = @_;
    return {
        user_id    => { S => $id },
        name       => { S => "User $id" },
        email      => { S => "user$id\@example.com" },
        plan       => { S => $id % 3 ? 'free' : 'pro' },
        locale     => { S => 'en_GB' },
        country    => { S => 'GB' },
        created_at => { S => '2024-05-01T12:00:00Z' },
        logins     => { N => "" . $id * 7 },
        verified   => { BOOL => JSON::PP::true() },
        tags       => { L => [{ S => 'beta' }, { S => 'newsletter' }] },
    };
}

# ---- --zipf: the local cache against none, where it misses often ----------

# zipf_bench(\@ids): for each exponent, a client with its local cache (the
# default) and one with local_cache => 0 look up the same Zipf-distributed
# sequence of ids, taking turns in interleaved rounds after a warm-up that
# brings the local cache to its steady state. Per round: lookups/s (wall)
# and CPU microseconds per lookup (this process only, so a busy machine
# counts less); printed as medians over the rounds, with the median of the
# per-round ratios and the local cache's hit ratio over the measured rounds.
sub zipf_bench {
    my ($ids) = @_;
    my $warm = DDBCache::Client->new(socket => $opt{socket}, local_cache => 0);
    my @all = @$ids;
    while (my @batch = splice @all, 0, 100) {
        my $got = $warm->mget($opt{namespace}, \@batch);
        die "lookup.pl: items missing in namespace '$opt{namespace}' (seed ids 1..$opt{keys})\n"
            unless keys %$got == @batch;
    }
    printf "# %s, perl %vd, JSON %s; Zipf over %d ids, %d lookups per client in %d interleaved rounds\n",
        strftime('%Y-%m-%d %H:%M UTC', gmtime), $^V, DDBCache::Client->json_backend, scalar @$ids,
        $opt{lookups}, $opt{rounds};
    printf "%-6s %-28s %10s %10s %10s %8s\n", 's', 'client', 'lookups/s', 'CPU us', 'ratio', 'local hit';
    zipf_compare($ids, $_) for split /,/, $opt{zipf_s};
    return;
}

sub zipf_compare {
    my ($ids, $s) = @_;
    my $per_round = int($opt{lookups} / $opt{rounds});
    my @seq = zipf_sequence(scalar @$ids, $s, $per_round * $opt{rounds} + $per_round, 42);
    my %c = (
        'default (local cache)' => DDBCache::Client->new(socket => $opt{socket}),
        'local_cache => 0'      => DDBCache::Client->new(socket => $opt{socket}, local_cache => 0),
    );
    my $ns = $opt{namespace};
    # Warm-up: one round's worth each, the local cache to its steady state.
    for my $c (values %c) { $c->get($ns, $ids->[$_]) for @seq[0 .. $per_round - 1] }
    my $before = $c{'default (local cache)'}->local_stats;
    my (%rate, %cpu, @ratio);
    for my $round (1 .. $opt{rounds}) {
        my @part = @seq[$round * $per_round .. ($round + 1) * $per_round - 1];
        my %this;
        for my $name ($round % 2 ? sort keys %c : reverse sort keys %c) {
            my $client = $c{$name};
            my ($t0, $c0) = (time, cpu_now());
            $client->get($ns, $ids->[$_]) for @part;
            my ($t1, $c1) = (time, cpu_now());
            $this{$name} = $per_round / ($t1 - $t0);
            push @{ $rate{$name} }, $this{$name};
            push @{ $cpu{$name} }, 1e6 * ($c1 - $c0) / $per_round;
        }
        push @ratio, $this{'default (local cache)'} / $this{'local_cache => 0'};
    }
    my $after = $c{'default (local cache)'}->local_stats;
    my ($hits, $misses) = map { $after->{$_} - $before->{$_} } qw(hits misses);
    my $lookups = $per_round * $opt{rounds};
    for my $name (sort keys %c) {
        my $local = $name =~ /default/;
        printf "%-6s %-28s %10s %10.1f %10s %8s\n", $s, $name, commify(median($rate{$name})), median($cpu{$name}),
            $local ? sprintf('%.2fx', median(\@ratio)) : '',
            $local ? sprintf('%.1f%%', 100 * $hits / $lookups) : '';
    }
    printf "#      local cache: %d hits, %d misses, %d bypassed (adaptive: %s)\n", $hits, $misses,
        $after->{bypassed} - $before->{bypassed}, ($after->{bypassing} ? 'bypassing now' : 'caching now');
    return;
}

# zipf_sequence($n, $s, $count, $seed): $count indexes into 0 .. $n-1, rank
# k drawn with weight 1/k**$s (0: uniform), ranks shuffled onto indexes.
sub zipf_sequence {
    my ($n, $s, $count, $seed) = @_;
    srand $seed;
    my @cdf;
    my $sum = 0;
    for my $k (1 .. $n) { $sum += $k**-$s; push @cdf, $sum }
    my @index = 0 .. $n - 1;
    for my $i (reverse 1 .. $#index) { my $j = int rand($i + 1); @index[$i, $j] = @index[$j, $i] }
    my @seq;
    for (1 .. $count) {
        my $u = rand $sum;
        my ($lo, $hi) = (0, $n - 1);
        while ($lo < $hi) {
            my $mid = ($lo + $hi) >> 1;
            if ($cdf[$mid] < $u) { $lo = $mid + 1 } else { $hi = $mid }
        }
        push @seq, $index[$lo];
    }
    return @seq;
}

sub cpu_now { return Time::HiRes::clock_gettime(Time::HiRes::CLOCK_PROCESS_CPUTIME_ID()) }

sub median {
    my ($values) = @_;
    my @sorted = sort { $a <=> $b } @$values;
    return $sorted[ int($#sorted / 2) ];
}

sub bare_socket {
    my ($path) = @_;
    require Socket;
    socket(my $fh, Socket::PF_UNIX(), Socket::SOCK_STREAM(), 0) or die "lookup.pl: socket: $!\n";
    connect($fh, Socket::pack_sockaddr_un($path)) or die "lookup.pl: connect $path: $!\n";
    return $fh;
}

sub redis_version {
    my $info = eval { $rf->info('server') } || {};
    return 'Redis ' . ($info->{redis_version} // '?');
}

sub cpuinfo {
    open my $fh, '<', '/proc/cpuinfo' or return ();
    my @lines = <$fh>;
    close $fh;
    return @lines;
}

sub cpus { return scalar grep { /^processor\s*:/ } cpuinfo() }

sub cpu_model {
    for (cpuinfo()) { return $1 if /^model name\s*:\s*(.+?)\s*$/ }
    return '';
}

sub commify {
    my ($n) = @_;
    my $s = sprintf '%.0f', $n;
    1 while $s =~ s/^(\d+)(\d{3})/$1 $2/;
    return $s;
}

sub usage {
    my ($status) = @_;
    print <<'USAGE';
usage: perl perl/bench/lookup.pl [options]

Hot-key lookups per second and p50/p99 latency, one process, for
  (a)  DDBCache::Client -> the ddbcache daemon (Unix socket), local cache on
  (a0) the same with local_cache => 0: a round trip per lookup
  (b)  Redis::Fast + Cpanel::JSON::XS -> Redis (TCP)
  (c)  Redis.pm + JSON::PP -> Redis (TCP)
  (d)  no client: bare send/sysread -> the daemon, and a decode (the floor)

Without --socket/--redis it starts a private redis-server, dynalite and
bin/ddbcache (t/lib/DDBCache/TestEnv.pm) and seeds --keys profiles.

  --socket PATH      the daemon's socket (with --redis: use running servers;
                     items 1..--keys must exist in --namespace)
  --redis HOST:PORT  the Redis the daemon uses
  --keys N           hot keys, ids 1..N (default 100)
  --lookups N        lookups per client (default 20000)
  --rounds N         interleaved rounds (default 40)
  --namespace NAME   default profile
  --redis-key FMT    the legacy Redis key of an id, sprintf format (default user_profile:%s)
  --target X         the (a)/(b) ratio to meet (default 1.5)
  --check            exit 1 when the ratio is below --target
  --markdown         print the table as Markdown
  --zipf             instead: DDBCache::Client with its local cache (default)
                     against local_cache => 0 on a Zipf workload over
                     --zipf-keys ids (default 100000), seeded and warmed
                     first; prints lookups/s, CPU us per lookup (medians
                     of interleaved rounds) and the local hit ratio
  --zipf-s LIST      Zipf exponents, comma-separated (default 0.99; 0 is
                     uniform): one comparison per exponent
USAGE
    exit $status;
}
