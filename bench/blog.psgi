#!/usr/bin/perl
# blog.psgi — the Perl app of `ddbcache bench --front fcgi`, written the
# blog's way, without ddbcache: each worker has its own Redis connection;
# GET /blog/NAMESPACE/KEY does Redis GET of the legacy key, decodes and
# re-encodes the JSON; on a miss it reads DynamoDB from Perl (GetItem over
# HTTP::Tiny, unsigned: local endpoints only; DDBBench::Dynamo, shared with
# the redis-fast target of worker.pl) and SETEX. Run by plackup -s
# FCGI with FCGI::ProcManager workers. Configured from the environment:
#   BENCH_REDIS host:port, BENCH_REDIS_PASSWORD, BENCH_DYNAMO endpoint URL,
#   BENCH_TABLE, BENCH_PK, BENCH_KEY_PREFIX and BENCH_KEY_SUFFIX (the Redis
#   key is prefix . KEY . suffix), BENCH_TTL seconds.
# X-Bench-Source says where the item came from (redis or dynamodb) and
# X-Bench-RCU the read units DynamoDB reported, for the bench's counters.
use strict;
use warnings;

use Cpanel::JSON::XS;
use DDBBench::Dynamo;
use Redis;

my $json = Cpanel::JSON::XS->new->utf8->canonical;
my ($redis, $ddb);
my %env = map { ($_ => $ENV{"BENCH_$_"} // q{}) } qw(REDIS REDIS_PASSWORD DYNAMO TABLE PK KEY_PREFIX KEY_SUFFIX TTL);
my @type = ('Content-Type' => 'application/json');

sub {
    my ($env) = @_;
    my ($id) = $env->{PATH_INFO} =~ m{\A/blog/[^/]+/([^/]+)\z}xms
        or return [404, [@type], ['{"error":"no route"}']];
    $redis ||= Redis->new(server => $env{REDIS}, ($env{REDIS_PASSWORD} ne q{} ? (password => $env{REDIS_PASSWORD}) : ()));
    my $key    = $env{KEY_PREFIX} . $id . $env{KEY_SUFFIX};
    my $raw    = $redis->get($key);
    my @source = ('X-Bench-Source' => 'redis');
    if (!defined $raw) {
        $ddb ||= DDBBench::Dynamo->new(endpoint => $env{DYNAMO}, table => $env{TABLE}, partition_key => $env{PK});
        my $rcu;
        ($raw, $rcu) = $ddb->get_item($id);
        return [404, [@type], ['{"error":"not found"}']] unless defined $raw;
        $redis->setex($key, $env{TTL}, $raw);
        @source = ('X-Bench-Source' => 'dynamodb', 'X-Bench-RCU' => $rcu);
    }
    my $profile = $json->decode($raw);
    return [200, [@type, @source], [$json->encode($profile)]];
};
