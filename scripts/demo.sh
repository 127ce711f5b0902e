#!/usr/bin/env bash
# demo.sh — "make demo": run ddbcache locally against real servers and show a
# cache-aside lookup.
#
#   scripts/demo.sh         start a private redis-server, a dynalite DynamoDB
#                           server and bin/ddbcache under .demo/, seed ten user
#                           profiles, look some up, and leave all three running
#   scripts/demo.sh stop    stop the servers of a previous run
#
# Needs `make deps build` first (make demo does both). Everything lives in
# .demo/ at the repo root: the config, the socket, the logs and a pids file.
set -Eeuo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
demo=$root/.demo
sock=$demo/ddbcache.sock
pidfile=$demo/pids
config=$demo/ddbcache.yaml
daemon=$root/bin/ddbcache
dynalite=$root/.deps/node_modules/dynalite/cli.js

say() { printf '%s\n' "$*"; }
step() { printf '\n== %s\n' "$*"; }

# ---------------------------------------------------------------- stopping

# is_ours PID NAME — the process is alive and its command line mentions NAME
# (so that a PID reused by another program after a reboot is left alone).
is_ours() {
	kill -0 "$1" 2>/dev/null && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$2"
}

# stop_servers stops what .demo/pids lists, the daemon first, waiting up to
# five seconds for each before it uses SIGKILL.
stop_servers() {
	[ -f "$pidfile" ] || return 0
	local name pid i
	while read -r name pid; do
		if ! is_ours "$pid" "$name"; then
			continue
		fi
		kill "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			is_ours "$pid" "$name" || break
			sleep 0.1
		done
		if is_ours "$pid" "$name"; then
			kill -9 "$pid" 2>/dev/null || true
		fi
		say "stopped $name (pid $pid)"
	done < <(tac "$pidfile")
	rm -f "$pidfile" "$sock"
}

if [ "${1:-}" = stop ]; then
	stop_servers
	exit 0
elif [ $# -gt 0 ]; then
	say "usage: $0 [stop]" >&2
	exit 2
fi

# ---------------------------------------------------------------- failures

# fail MESSAGE — report, show the logs' last lines, stop what was started.
fail() {
	trap - ERR
	printf '\ndemo failed: %s\n' "$*" >&2
	if [ "$BASHPID" != "$$" ]; then
		exit 1 # in a $(…) subshell: the main shell shows the logs
	fi
	local log lines=20
	for log in "$demo/ddbcache.log" "$demo/redis.log" "$demo/dynalite.log"; do
		if [ -s "$log" ]; then
			say "--- last lines of ${log#"$root"/}:" >&2
			tail -n "$lines" "$log" >&2
		fi
		lines=5
	done
	stop_servers >&2
	exit 1
}
trap 'fail "line $LINENO: $BASH_COMMAND"' ERR

# ---------------------------------------------------------------- helpers

# port_in_use PORT — something accepts connections on 127.0.0.1:PORT.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port FROM — the first port from FROM upward that nobody listens on.
free_port() {
	local p
	for ((p = $1; p < $1 + 1000; p++)); do
		if ! port_in_use "$p"; then
			echo "$p"
			return 0
		fi
	done
	say "no free port in $1..$(($1 + 999))" >&2
	return 1
}

# start NAME LOG COMMAND… — run COMMAND in the background in its own session
# (so it outlives this script and the terminal's Ctrl-C), record its PID in
# .demo/pids and in pid[NAME].
declare -A pid
start() {
	local name=$1 log=$2
	shift 2
	setsid "$@" </dev/null >"$log" 2>&1 &
	pid[$name]=$!
	echo "$name $!" >>"$pidfile"
	say "started $name (pid $!), log ${log#"$root"/}"
}

# wait_until NAME WHAT COMMAND… — poll COMMAND every 0.2 s, for 20 s at most,
# and give up at once if the server NAME has exited.
wait_until() {
	local name=$1 what=$2 i
	shift 2
	for ((i = 0; i < 100; i++)); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "${pid[$name]}" 2>/dev/null || fail "$name exited before $what was ready"
		sleep 0.2
	done
	fail "$what not ready after 20 s"
}

redis_up() { [ "$(redis-cli -p "$redis_port" ping)" = PONG ]; }
dynalite_up() { curl -s -o /dev/null "$endpoint/"; }
daemon_up() { [ "$(redis-cli -s "$sock" PING)" = PONG ]; }

# ddb TARGET JSON — one DynamoDB API call to dynalite, which accepts any signature.
ddb() {
	curl -sS -X POST "$endpoint" \
		-H "X-Amz-Target: DynamoDB_20120810.$1" \
		-H 'Content-Type: application/x-amz-json-1.0' \
		-H 'X-Amz-Date: 20260101T000000Z' \
		-H 'Authorization: AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x' \
		-d "$2"
}

table_active() { ddb DescribeTable '{"TableName":"users"}' | grep -q '"TableStatus":"ACTIVE"'; }

# cli ARGS… — redis-cli on the daemon's socket.
cli() { redis-cli -s "$sock" "$@"; }

# stats [FIELD…] — the profile namespace's counters from DDB STATS: the named
# fields' values separated by spaces, or else the lookup counters as JSON.
stats() {
	cli DDB STATS | perl -MJSON::PP -e '
		my $in = do { local $/; <STDIN> };
		my $ns = decode_json($in)->{namespaces}{profile} or die "no profile namespace in DDB STATS\n";
		if (@ARGV) { print join(" ", map { $ns->{$_} // 0 } @ARGV), "\n" }
		else {
			my %c = map { $_ => $ns->{$_} } qw(hits_local hits_redis misses negative_hits dynamodb_reads);
			print JSON::PP->new->canonical->encode(\%c), "\n";
		}
	' "$@"
}

# lookup ID — DDB GET profile ID, then say where the answer came from by
# comparing the counters before and after.
lookup() {
	local before after value verdict r0 l0 h0 n0 r1 l1 h1 n1
	before=$(stats dynamodb_reads hits_local hits_redis negative_hits)
	value=$(cli DDB GET profile "$1")
	after=$(stats dynamodb_reads hits_local hits_redis negative_hits)
	read -r r0 l0 h0 n0 <<<"$before"
	read -r r1 l1 h1 n1 <<<"$after"
	if ((r1 > r0)); then
		verdict="miss (read DynamoDB)"
	elif ((n1 > n0)); then
		verdict="negative hit (no DynamoDB call: cached as missing)"
	elif ((l1 > l0)); then
		verdict="hit from the daemon's memory (no DynamoDB call)"
	elif ((h1 > h0)); then
		verdict="hit from Redis (no DynamoDB call)"
	else
		verdict="hit (no DynamoDB call)"
	fi
	say "\$ redis-cli -s .demo/ddbcache.sock DDB GET profile $1"
	say "  ${value:-(nil)}"
	say "  -> $verdict"
	say "  stats: $(stats)"
}

# ---------------------------------------------------------------- preflight

for cmd in redis-server redis-cli node curl perl setsid; do
	command -v "$cmd" >/dev/null || fail "$cmd not found: run make deps"
done
[ -f "$dynalite" ] || fail "dynalite not found at ${dynalite#"$root"/}: run make deps"
[ -x "$daemon" ] || fail "bin/ddbcache not found: run make build"

mkdir -p "$demo"
if [ -f "$pidfile" ]; then
	step "stopping the previous demo"
	stop_servers
fi
rm -f "$pidfile" "$sock" "$demo"/*.log

# ---------------------------------------------------------------- servers

step "starting redis-server and dynalite"
redis_port=$(free_port 16379)
start redis-server "$demo/redis.log" redis-server --port "$redis_port" --bind 127.0.0.1 \
	--save "" --appendonly no --daemonize no --protected-mode no --logfile ""
dynalite_port=$(free_port 18000)
endpoint=http://127.0.0.1:$dynalite_port
start dynalite "$demo/dynalite.log" node "$dynalite" --port "$dynalite_port" --host 127.0.0.1 \
	--createTableMs 0 --deleteTableMs 0 --updateTableMs 0
wait_until redis-server "port $redis_port" redis_up
say "redis-server ready on 127.0.0.1:$redis_port"
wait_until dynalite "port $dynalite_port" dynalite_up
say "dynalite ready on $endpoint"

step "creating the DynamoDB table users (partition key user_id)"
out=$(ddb CreateTable '{"TableName":"users","AttributeDefinitions":[{"AttributeName":"user_id","AttributeType":"S"}],"KeySchema":[{"AttributeName":"user_id","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}')
case $out in
*TableDescription*) ;;
*) fail "CreateTable: $out" ;;
esac
wait_until dynalite "table users" table_active
say "table users is ACTIVE"

step "starting ddbcache"
cat >"$config" <<EOF
# Written by scripts/demo.sh: the demo's private servers (see DESIGN.md).
redis:    { addrs: ["127.0.0.1:$redis_port"] }
dynamodb: { region: us-east-1, endpoint: "$endpoint" }
listen:   { unix: "$sock", unix_mode: "0660" }
namespaces:
  profile:
    table: users
    partition_key: user_id
    redis_key: "user_profile:{user_id}"
    ttl: 1h
    ttl_jitter: 10%
    negative_ttl: 30s
    stale_if_error: 5m
    format: json
EOF
say "config ${config#"$root"/}:"
sed 's/^/  /' "$config"
start ddbcache "$demo/ddbcache.log" "$daemon" --config "$config" serve
wait_until ddbcache "${sock#"$root"/}" daemon_up
say "ddbcache ready on ${sock#"$root"/}"

# ---------------------------------------------------------------- the show

step "seeding ten profiles: nine straight into DynamoDB (existing data), one with DDB PUT"
for n in $(seq 1 9); do
	ddb PutItem "{\"TableName\":\"users\",\"Item\":{\"user_id\":{\"S\":\"$n\"},\"name\":{\"S\":\"User $n\"},\"email\":{\"S\":\"user$n@example.com\"},\"plan\":{\"S\":\"free\"}}}" >/dev/null ||
		fail "PutItem profile $n"
done
out=$(cli DDB PUT profile '{"user_id":"10","name":"User 10","email":"user10@example.com","plan":"pro"}')
[ "$out" = OK ] || fail "DDB PUT profile 10: $out"
say "9 x PutItem, DDB PUT profile 10: $out"

step "looking profile 1 up three times"
lookup 1
lookup 1
lookup 1

step "the legacy key, as old Perl code reads it straight from Redis"
say "\$ redis-cli -s .demo/ddbcache.sock GET user_profile:1"
say "  $(cli GET user_profile:1)"

step "a profile that does not exist, twice"
lookup 999
lookup 999

step "the Perl example: perl/examples/profile.pl (DDBCache::Client, as a web app uses it)"
say "\$ perl -Iperl/lib perl/examples/profile.pl --socket .demo/ddbcache.sock"
perl -I"$root/perl/lib" "$root/perl/examples/profile.pl" --socket "$sock" | sed 's/^/  /' ||
	fail "the Perl example failed (its error is above)"

step "the demo is running"
cat <<EOF
Talk to it:
  redis-cli -s .demo/ddbcache.sock DDB GET profile 3
  redis-cli -s .demo/ddbcache.sock DDB STATS
  redis-cli -p $redis_port GET user_profile:3     # the private Redis
Logs and config are in .demo/; PIDs in .demo/pids.
Stop it with: scripts/demo.sh stop   (or make demo-stop)
EOF
