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

my %opt = (
    lookups   => 20_000,
    rounds    => 40,
    keys      => 100,
    namespace => 'profile',
    redis_key => 'user_profile:%s',
    target    => 1.5,
);
GetOptions(
    \%opt,
    'socket=s', 'redis=s', 'lookups=i', 'rounds=i', 'keys=i', 'namespace=s', 'redis-key=s' => \$opt{redis_key},
    'target=f', 'check', 'markdown', 'help',
) or usage(2);
usage(0) if $opt{help};
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

my @ids = map { "$_" } 1 .. $opt{keys};
my $env;
if (!defined $opt{socket}) {
    require DDBCache::TestEnv;
    $env = DDBCache::TestEnv->new;
    $opt{socket} = $env->socket_path;
    $opt{redis}  = '127.0.0.1:' . $env->redis_port;
    seed($env, \@ids);
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
my @bare_requests = map { DDBCache::Client::_request('DDB', 'GET', $ns, $_) } @ids;
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
    for my $id (@$ids) {
        $env->put_item(users => {
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
        });
    }
    return;
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

sub cpus {
    open my $fh, '<', '/proc/cpuinfo' or return 0;
    return scalar grep { /^processor\s*:/ } <$fh>;
}

sub cpu_model {
    open my $fh, '<', '/proc/cpuinfo' or return '';
    for (<$fh>) { return $1 if /^model name\s*:\s*(.+?)\s*$/ }
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
USAGE
    exit $status;
}
