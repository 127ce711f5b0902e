#!/usr/bin/perl
# The one conformance table (internal/conformance/cases.json, which the Go
# tests run through the RESP socket and the HTTP API) through the Perl
# client, on standalone Redis, on a Redis Cluster of 3 masters and 3
# replicas, and on a primary with 2 replicas that the daemon reads from:
# each case's "resp" command through $client->redis, and every DDB GET
# again through $client->get, decoded.
use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl/lib";

use Encode qw(encode_utf8);
use JSON::PP;
use Test::More;
use DDBCache::Client;
use DDBCache::TestEnv;
use DDBCache::TestEnv::Conformance qw(table expand env_args seed_table);

my $JSON  = JSON::PP->new->utf8->canonical;
my $table = table();

# Each topology: what DDBCache::TestEnv->new starts, and how the cases read
# on it ("cluster" when a case's cluster part applies).
my @topologies = (
    { name => 'standalone', env => {},                          cases => 'standalone' },
    { name => 'cluster',    env => { redis_cluster => 1 },      cases => 'cluster' },
    # A primary and two replicas, the daemon reading from the replicas
    # (redis.read_from_replicas, redis.replica_addrs).
    { name => 'replicas',   env => { redis_replicas => 2 },     cases => 'standalone' },
);

for my $topology (@topologies) {
    subtest $topology->{name} => sub {
        my $env = DDBCache::TestEnv->new(%{ $topology->{env} }, env_args());
        seed_table($env);
        my $client = $env->client(timeout => 5);
        run_cases($client, $topology->{cases});
        if (my $replicas = $env->replicas) {
            cmp_ok($replicas->commands('get'), '>', 0, 'the replicas answered reads');
        }
        $env->stop;
    };
}

sub run_cases {
    my ($client, $topology) = @_;
    for my $case (@{ $table->{cases} }) {
        my $want = $case->{resp} or next;
        if ($topology eq 'cluster' && $case->{cluster}) {
            $want = { %$want, reply => undef, error => undef, %{ $case->{cluster} } };
        }
        my @args = map { expand($_) } @{ $want->{args} };
        my $got  = eval { $client->redis(@args) };
        my $err  = $@;
        if (defined $want->{error} && length $want->{error}) {
            like($err, qr/\Q$want->{error}\E/, "$case->{name}: the error");
        } elsif ($want->{one_of}) {
            ok((grep { $JSON->encode($_) eq $JSON->encode($got) } @{ $want->{one_of} }), "$case->{name}: one of the replies")
                or diag("got " . $JSON->encode($got) . " $err");
        } else {
            is_deeply($got, bytes($want->{reply}), "$case->{name}: the reply") or diag($err);
        }
        if (@args > 1 && uc $args[0] eq 'DDB' && uc $args[1] eq 'GET' && !$want->{error}) {
            my $item = $client->get(@args[2 .. $#args]);
            is_deeply($item, defined $want->{reply} ? $JSON->decode(encode_utf8($want->{reply})) : undef,
                "$case->{name}: \$client->get, decoded");
        }
        ok(eval { $client->ping }, "$case->{name}: the client still answers PING") or diag($@);
    }
    return;
}

# bytes turns a reply of the table into what the client returns: strings
# as UTF-8 bytes (the daemon's replies are bytes), lists element-wise.
sub bytes {
    my ($v) = @_;
    return [map { bytes($_) } @$v] if ref $v eq 'ARRAY';
    return defined $v ? encode_utf8($v) : undef;
}

done_testing;
