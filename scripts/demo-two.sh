#!/usr/bin/env bash
# demo-two.sh — "make demo-two": two daemons on one Redis, as on two app
# hosts. Run after `make demo` (it reuses that demo's Redis, dynalite and
# config) and shows:
#   1. coherence: daemon 1 serves profile 1 from its memory; daemon 2 writes
#      it; daemon 1's very next lookup returns the new value;
#   2. no stampede: 100 concurrent lookups on each daemon of a cold key
#      cost one DynamoDB read in all (leases across daemons).
# The second daemon keeps running; `scripts/demo.sh stop` stops it too.
set -Eeuo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
demo=$root/.demo
sock1=$demo/ddbcache.sock
sock2=$demo/ddbcache2.sock
say() { printf '%s\n' "$*"; }
step() { printf '\n== %s\n' "$*"; }
fail() { say "demo-two: $*" >&2; exit 1; }

[ "$(redis-cli -s "$sock1" PING 2>/dev/null)" = PONG ] || fail "run 'make demo' first (no daemon on $sock1)"

if [ "$(redis-cli -s "$sock2" PING 2>/dev/null)" != PONG ]; then
	sed "s|$sock1|$sock2|" "$demo/ddbcache.yaml" >"$demo/ddbcache2.yaml"
	setsid "$root/bin/ddbcache" --config "$demo/ddbcache2.yaml" serve </dev/null >"$demo/ddbcache2.log" 2>&1 &
	echo "ddbcache $!" >>"$demo/pids"
	for ((i = 0; i < 100; i++)); do
		[ "$(redis-cli -s "$sock2" PING 2>/dev/null)" = PONG ] && break
		sleep 0.1
	done
	[ "$(redis-cli -s "$sock2" PING 2>/dev/null)" = PONG ] || fail "second daemon did not start; see $demo/ddbcache2.log"
	say "second daemon (pid $!) on ${sock2#"$root"/}"
fi

# reads SOCK — the profile namespace's dynamodb_reads on one daemon.
reads() {
	redis-cli -s "$1" DDB STATS | perl -MJSON::PP -e 'print decode_json(join "", <>)->{namespaces}{profile}{dynamodb_reads}'
}
# source SOCK ID — look ID up and say where the answer came from.
lookup() {
	local before after
	before=$(redis-cli -s "$1" DDB STATS)
	redis-cli -s "$1" DDB GET profile "$2"
	after=$(redis-cli -s "$1" DDB STATS)
	perl -MJSON::PP -e '
		my ($b, $a) = map { decode_json($_)->{namespaces}{profile} } @ARGV;
		for (qw(hits_local hits_redis misses)) { print "  -> $_\n" if $a->{$_} > $b->{$_} }' "$before" "$after"
}

step "1. coherence across daemons"
for _ in 1 2 3; do lookup "$sock1" 1 >/dev/null; done
say "daemon 1, profile 1:"
lookup "$sock1" 1
version="{\"user_id\":\"1\",\"name\":\"User 1\",\"plan\":\"pro\",\"changed_at\":\"$(date +%T.%N)\"}"
say "daemon 2: DDB PUT profile $version -> $(redis-cli -s "$sock2" DDB PUT profile "$version")"
say "daemon 1, profile 1, right after:"
lookup "$sock1" 1

step "2. 100 concurrent lookups on each daemon of a cold key"
id=cold-$RANDOM
redis-cli -s "$sock1" DDB PUT profile "{\"user_id\":\"$id\",\"name\":\"Cold\"}" >/dev/null
redis-cli -s "$sock1" DDB INVALIDATE profile "$id" >/dev/null
before=$(($(reads "$sock1") + $(reads "$sock2")))
redis-benchmark -s "$sock1" -c 100 -n 100 -q DDB GET profile "$id" >/dev/null 2>&1 &
b1=$!
redis-benchmark -s "$sock2" -c 100 -n 100 -q DDB GET profile "$id" >/dev/null 2>&1 &
b2=$!
wait "$b1" "$b2" # not a bare wait: the second daemon is a child too
after=$(($(reads "$sock1") + $(reads "$sock2")))
say "200 lookups of profile $id on 2 daemons: $((after - before)) DynamoDB read(s)"
