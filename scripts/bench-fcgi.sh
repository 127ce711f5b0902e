#!/usr/bin/env bash
# bench-fcgi.sh — nginx → ddbcache over FastCGI vs nginx → a Perl app written
# the blog's way (Redis.pm GET user_profile:ID, JSON decode/encode in Perl, on
# a miss DynamoDB from Perl and SETEX), under the same nginx, in one run.
#
#   bash scripts/bench-fcgi.sh            # wrk -t2 -c64 -d10s --latency on each
#   DURATION=5s CONNS=32 bash scripts/bench-fcgi.sh
#   FLOOR=1 bash scripts/bench-fcgi.sh    # scripts/fcgi-floor (a constant answer on plain
#                                         # net/http/fcgi) in ddbcache's place: the floor
#
# Starts its own redis-server, dynalite, ddbcache, plackup -s FCGI (4 workers)
# and nginx on loopback ports and Unix sockets in a temp dir, seeds 100
# profiles, warms both apps on all of them, runs wrk against each (the 100
# hot keys in turn), prints a table, and stops everything. Needs `make deps`.
#
# For CPU per request of each backend (the daemon against all the Perl app's
# workers), HDR latencies, a Redis RTT and a plot, use the bench's own front:
#   bin/ddbcache -c ddbcache.yaml bench --front fcgi --seed-data --redis-rtt 250us
# (the same app, bench/blog.psgi; `make bench-report` runs it).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
WORKERS=${WORKERS:-4}
KEYS=100

say() { printf 'bench: %s\n' "$*" >&2; }
# shellcheck source=scripts/bench-lib.sh
. "$root/scripts/bench-lib.sh"
need redis-server "apt-get install -y redis-server"
need node "apt-get install -y nodejs"
need nginx "apt-get install -y nginx"
need wrk "apt-get install -y wrk"
need plackup "apt-get install -y libplack-perl"
need curl "apt-get install -y curl"
perl -MFCGI::ProcManager -MRedis -MCpanel::JSON::XS -e1 2>/dev/null ||
	{ say "Perl modules missing; apt-get install -y libfcgi-procmanager-perl libredis-perl libcpanel-json-xs-perl"; exit 1; }
dynalite=.deps/node_modules/dynalite/cli.js
[ -f "$dynalite" ] || { say "dynalite missing; run make deps"; exit 1; }
[ -x bin/ddbcache ] || go build -o bin/ddbcache ./cmd/ddbcache

dir=$(mktemp -d /tmp/ddbbench-XXXXXX)
chmod 0711 "$dir"
trap cleanup EXIT

redis_port=$(free_port)
ddb_port=$(free_port)
web_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$dir/redis.log" 2>&1 &
pids+=($!)
node "$dynalite" --port "$ddb_port" --host 127.0.0.1 --createTableMs 0 >"$dir/dynalite.log" 2>&1 &
pids+=($!)
wait_for redis redis-cli -p "$redis_port" ping
ddb() { # ddb OPERATION JSON
	curl -sf "http://127.0.0.1:$ddb_port/" -H "X-Amz-Target: DynamoDB_20120810.$1" \
		-H 'Content-Type: application/x-amz-json-1.0' -H 'X-Amz-Date: 20260101T000000Z' \
		-H 'Authorization: AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x' \
		-d "$2"
}
wait_for dynalite ddb ListTables '{}'
ddb CreateTable '{"TableName":"users","AttributeDefinitions":[{"AttributeName":"user_id","AttributeType":"S"}],"KeySchema":[{"AttributeName":"user_id","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}' >/dev/null
table_active() { ddb DescribeTable '{"TableName":"users"}' | grep -q '"ACTIVE"'; }
wait_for "table users" table_active

cat >"$dir/ddbcache.yaml" <<EOF
redis: { addrs: ["127.0.0.1:$redis_port"] }
dynamodb: { region: us-east-1, endpoint: "http://127.0.0.1:$ddb_port" }
listen: { unix: $dir/ddbcache.sock, fcgi: $dir/${FLOOR:+ddbcache-}fcgi.sock, fcgi_mode: "0666", api_prefix: /api }
log: { level: warn }
namespaces:
  profile: { table: users, partition_key: user_id, redis_key: "user_profile:{user_id}", ttl: 1h, ttl_jitter: 10% }
EOF
bin/ddbcache --config "$dir/ddbcache.yaml" serve >"$dir/ddbcache.log" 2>&1 &
pids+=($!)
wait_for ddbcache redis-cli -s "$dir/ddbcache.sock" ping
if [ -n "${FLOOR:-}" ]; then
	go build -o "$dir/fcgi-floor" ./scripts/fcgi-floor
	"$dir/fcgi-floor" "$dir/fcgi.sock" >"$dir/floor.log" 2>&1 &
	pids+=($!)
	wait_for fcgi-floor test -S "$dir/fcgi.sock"
fi
for i in $(seq 1 $KEYS); do
	redis-cli -s "$dir/ddbcache.sock" DDB PUT profile \
		"{\"user_id\":\"$i\",\"name\":\"User $i\",\"email\":\"user$i@example.com\",\"plan\":\"free\",\"logins\":$((i * 7))}" >/dev/null
done

# The blog's Perl app: its own Redis connection per worker, GET the legacy
# key, decode and re-encode the JSON; on a miss read DynamoDB from Perl
# and SETEX. Run by Plack::Handler::FCGI with FCGI::ProcManager workers.
cat >"$dir/blog.psgi" <<'EOF'
use strict;
use warnings;
use Cpanel::JSON::XS;
use HTTP::Tiny;
use Redis;

my $json = Cpanel::JSON::XS->new->utf8->canonical;
my ($redis, $http);
my @aws = ('Content-Type' => 'application/x-amz-json-1.0', 'X-Amz-Target' => 'DynamoDB_20120810.GetItem',
    'X-Amz-Date' => '20260101T000000Z',
    'Authorization' => 'AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x');

sub {
    my ($env) = @_;
    my ($id) = $env->{PATH_INFO} =~ m{/profile/([^/]+)\z}
        or return [404, ['Content-Type' => 'application/json'], ['{"error":"no route"}']];
    $redis ||= Redis->new(server => $ENV{BENCH_REDIS});
    my $raw = $redis->get("user_profile:$id");
    if (!defined $raw) {
        $http ||= HTTP::Tiny->new(timeout => 3);
        my $res = $http->post($ENV{BENCH_DYNAMO}, { headers => {@aws},
            content => $json->encode({ TableName => 'users', Key => { user_id => { S => $id } } }) });
        my $item = $res->{success} && $json->decode($res->{content})->{Item}
            or return [404, ['Content-Type' => 'application/json'], ['{"error":"not found"}']];
        $raw = $json->encode({ map { ($_ => (values %{ $item->{$_} })[0]) } keys %$item });
        $redis->setex("user_profile:$id", 3600, $raw);
    }
    my $profile = $json->decode($raw);
    return [200, ['Content-Type' => 'application/json'], [$json->encode($profile)]];
};
EOF
BENCH_REDIS=127.0.0.1:$redis_port BENCH_DYNAMO=http://127.0.0.1:$ddb_port/ \
	plackup -s FCGI --listen "$dir/blog.sock" --nproc "$WORKERS" -E deployment "$dir/blog.psgi" >"$dir/blog.log" 2>&1 &
pids+=($!)
wait_for "the Perl app" test -S "$dir/blog.sock"
chmod 0666 "$dir/blog.sock"

# nginx: the shipped server block for /api/, plus /blog/ for the Perl app
# (SCRIPT_NAME empty and PATH_INFO the path, as Plack::Handler::FCGI wants).
cp /etc/nginx/fastcgi_params "$dir/"
sed -e "s#/run/ddbcache/fcgi.sock#$dir/fcgi.sock#" -e "s#listen 80;#listen 127.0.0.1:$web_port;#" \
	-e "s#^    location /api/ {#    location /blog/ {\n        include fastcgi_params;\n        fastcgi_param SCRIPT_NAME \"\";\n        fastcgi_param PATH_INFO \$fastcgi_script_name;\n        fastcgi_pass unix:$dir/blog.sock;\n    }\n&#" \
	deploy/nginx/ddbcache.conf >"$dir/site.conf"
cat >"$dir/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    fastcgi_temp_path $dir/fastcgi;
    proxy_temp_path $dir/proxy;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    include $dir/site.conf;
}
EOF
nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/nginx-error.log" >"$dir/nginx.log" 2>&1 &
pids+=($!)
base=http://127.0.0.1:$web_port
wait_for nginx curl -sf "$base/api/healthz"
for i in $(seq 1 $KEYS); do
	a=$(curl -sf "$base/api/profile/$i")
	b=$(curl -sf "$base/blog/profile/$i")
	[ -n "$a" ] && [ -n "$b" ] || { say "warm-up of key $i failed"; exit 1; }
done

cat >"$dir/keys.lua" <<EOF
-- the $KEYS hot keys in turn, each request built once
local reqs, i = {}, 0
init = function()
  for k = 1, $KEYS do reqs[k] = wrk.format("GET", os.getenv("BENCH_PREFIX") .. k) end
end
request = function()
  i = i % $KEYS + 1
  return reqs[i]
end
EOF
run() { # run NAME PREFIX
	say "wrk -t$THREADS -c$CONNS -d$DURATION --latency: $1"
	BENCH_PREFIX=$2 wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$dir/keys.lua" "$base" >"$dir/wrk-$1.txt"
	cat "$dir/wrk-$1.txt" >&2
	if grep -q 'Non-2xx' "$dir/wrk-$1.txt"; then say "$1: error responses"; exit 1; fi
}
run ddbcache /api/profile/
run perl /blog/profile/
rps() { awk '/^Requests\/sec:/ {print $2}' "$dir/wrk-$1.txt"; }
p50() { awk '$1 == "50%" {print $2}' "$dir/wrk-$1.txt"; }
p99() { awk '$1 == "99%" {print $2}' "$dir/wrk-$1.txt"; }
echo
echo "| nginx → | requests/s | p50 | p99 |"
echo "|---|---|---|---|"
echo "| ${FLOOR:+floor: constant answer on net/http/fcgi, not }ddbcache (FastCGI, Go) | $(rps ddbcache) | $(p50 ddbcache) | $(p99 ddbcache) |"
echo "| Perl app, blog pattern (plackup -s FCGI, $WORKERS workers) | $(rps perl) | $(p50 perl) | $(p99 perl) |"
name=ddbcache
[ -z "${FLOOR:-}" ] || name=floor
awk -v n="$name" -v a="$(rps ddbcache)" -v b="$(rps perl)" 'BEGIN { printf "\n%s / Perl: %.1f× the requests/s\n", n, a / b }'
