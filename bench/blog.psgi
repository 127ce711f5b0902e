#!/usr/bin/perl
# blog.psgi — the Perl app of `ddbcache bench --front fcgi`, written the
# blog's way, without ddbcache: each worker has its own Redis connection;
# GET /blog/NAMESPACE/KEY does Redis GET of the legacy key, decodes and
# re-encodes the JSON; on a miss it reads DynamoDB from Perl (GetItem over
# HTTP::Tiny, unsigned: local endpoints only) and SETEX. Run by plackup -s
# FCGI with FCGI::ProcManager workers. Configured from the environment:
#   BENCH_REDIS host:port, BENCH_REDIS_PASSWORD, BENCH_DYNAMO endpoint URL,
#   BENCH_TABLE, BENCH_PK, BENCH_KEY_PREFIX and BENCH_KEY_SUFFIX (the Redis
#   key is prefix . KEY . suffix), BENCH_TTL seconds.
# X-Bench-Source says where the item came from (redis or dynamodb) and
# X-Bench-RCU the read units DynamoDB reported, for the bench's counters.
use strict;
use warnings;

use Cpanel::JSON::XS;
use HTTP::Tiny;
use Redis;

my $json = Cpanel::JSON::XS->new->utf8->canonical;
my ($redis, $http);
my %env = map { ($_ => $ENV{"BENCH_$_"} // q{}) } qw(REDIS REDIS_PASSWORD DYNAMO TABLE PK KEY_PREFIX KEY_SUFFIX TTL);
my @aws = (
    'Content-Type'  => 'application/x-amz-json-1.0',
    'X-Amz-Target'  => 'DynamoDB_20120810.GetItem',
    'X-Amz-Date'    => '20260101T000000Z',
    'Authorization' => 'AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/dynamodb/aws4_request, '
        . 'SignedHeaders=host, Signature=x',
);
my @type = ('Content-Type' => 'application/json');

# from_dynamo reads the item from DynamoDB: its JSON (attribute values
# unwrapped, as the blog does) and the read units, or () when absent.
sub from_dynamo {
    my ($id) = @_;
    $http ||= HTTP::Tiny->new(timeout => 5, keep_alive => 1);
    my $req = { TableName => $env{TABLE}, Key => { $env{PK} => { S => $id } }, ReturnConsumedCapacity => 'TOTAL' };
    my $res = $http->post($env{DYNAMO}, { headers => {@aws}, content => $json->encode($req) });
    die "GetItem: $res->{status} $res->{content}\n" unless $res->{success};
    my $out  = $json->decode($res->{content});
    my $item = $out->{Item} or return;
    my %plain = map { ($_ => (values %{ $item->{$_} })[0]) } keys %{$item};
    return ($json->encode(\%plain), $out->{ConsumedCapacity}{CapacityUnits} // 0);
}

sub {
    my ($env) = @_;
    my ($id) = $env->{PATH_INFO} =~ m{\A/blog/[^/]+/([^/]+)\z}xms
        or return [404, [@type], ['{"error":"no route"}']];
    $redis ||= Redis->new(server => $env{REDIS}, ($env{REDIS_PASSWORD} ne q{} ? (password => $env{REDIS_PASSWORD}) : ()));
    my $key    = $env{KEY_PREFIX} . $id . $env{KEY_SUFFIX};
    my $raw    = $redis->get($key);
    my @source = ('X-Bench-Source' => 'redis');
    if (!defined $raw) {
        my $rcu;
        ($raw, $rcu) = from_dynamo($id);
        return [404, [@type], ['{"error":"not found"}']] unless defined $raw;
        $redis->setex($key, $env{TTL}, $raw);
        @source = ('X-Bench-Source' => 'dynamodb', 'X-Bench-RCU' => $rcu);
    }
    my $profile = $json->decode($raw);
    return [200, [@type, @source], [$json->encode($profile)]];
};
