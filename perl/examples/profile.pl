#!/usr/bin/perl
# profile.pl — what a Perl web app does with DDBCache::Client, against a
# running daemon (make demo starts one and runs this script):
#
#   perl -Iperl/lib perl/examples/profile.pl [--socket PATH]
#
# It looks a profile up (the daemon reads DynamoDB once, then serves it from
# memory), looks it up again (now from this process's own local cache),
# fetches several at once, writes one and reads the new value back at once,
# and shows the legacy Redis key that old code still reads. It exits 1 with
# the client's error when something is wrong, so make demo fails loudly.
use strict;
use warnings;
use utf8;
use Getopt::Long qw(GetOptions);
use Time::HiRes ();
use DDBCache::Client;

my $socket = $ENV{DDBCACHE_SOCKET} // '.demo/ddbcache.sock';
GetOptions('socket=s' => \$socket) or die "usage: $0 [--socket PATH]\n";
binmode STDOUT, ':encoding(UTF-8)';

my $ddb = DDBCache::Client->new(socket => $socket, timeout => 2, namespace => 'profile');

# timed($what, sub { ... }): runs the lookup, prints what it took and where
# the answer came from (this process's memory, or a round trip), and
# returns its result.
sub timed {
    my ($what, $code) = @_;
    my $before = $ddb->local_stats->{hits};
    my $t0     = Time::HiRes::time();
    my $result = $code->();
    my $us     = (Time::HiRes::time() - $t0) * 1e6;
    my $where  = $ddb->local_stats->{hits} > $before ? 'from this process\'s local cache' : 'from the daemon';
    printf "%-34s %8.0f µs  %s\n", $what, $us, $where;
    return $result;
}

# The first lookups: the daemon reads DynamoDB (or Redis), then keeps the
# item in its memory; once the daemon tracks it, this process keeps it too.
my $user = timed('get(profile => 2)', sub { $ddb->get(profile => 2) })
    or die "profile.pl: profile 2 is missing; was the demo seeded?\n";
printf "  %s <%s>, plan %s\n", $user->{name}, $user->{email}, $user->{plan};
timed('get(profile => 2) again', sub { $ddb->get(profile => 2) }) for 1 .. 3;

my $some = timed('mget(profile => [3, 4, 999])', sub { $ddb->mget(profile => [3, 4, 999]) });
printf "  %d found: %s (999 does not exist)\n", scalar(keys %$some), join(', ', map { $some->{$_}{name} } sort keys %$some);

# A write goes to DynamoDB, and the cached copies (Redis, the daemon's
# memory, every local cache on this host) are dropped before put returns.
my $name = "Zoë $$";
timed('put(profile => {user_id => 2, ...})', sub {
    $ddb->put(profile => { %$user, name => $name });
});
my $after = timed('get(profile => 2) after the put', sub { $ddb->get(profile => 2) });
die "profile.pl: read '$after->{name}' after writing '$name'\n" unless $after->{name} eq $name;
printf "  now: %s\n", $after->{name};

# Old code that reads Redis straight still finds the JSON under its key.
my $legacy = $ddb->redis(GET => 'user_profile:2') // '(nil: not cached again yet)';
utf8::decode($legacy);    # Redis holds the JSON as UTF-8 bytes
print "redis(GET => 'user_profile:2')     $legacy\n";

my $ls = $ddb->local_stats;
print "local cache: $ls->{hits} hits, $ls->{misses} misses, $ls->{invalidations} invalidations\n";
exit 0;
