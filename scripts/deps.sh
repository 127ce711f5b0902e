#!/usr/bin/env bash
# deps.sh — install what ddbcache's tests and demo need on a Debian 12 machine.
#
#   Debian packages: redis-server, redis-tools, nodejs, npm, curl, and the Perl
#                    modules the integration suite uses (Redis, Redis::Fast,
#                    Cpanel::JSON::XS) and perlcritic; prometheus (promtool
#                    checks deploy/prometheus) and systemd (systemd-analyze
#                    checks deploy/systemd); CHI (the CHI::Driver::DDBCache
#                    tests), Test::Kwalitee, CPAN::Changes and cpanminus
#                    (t/07-dist.t);
#   npm package:     dynalite@4.0.0 (a DynamoDB-compatible server) under .deps/.
#
# Idempotent: each piece is checked first (command -v / dpkg -s), and apt-get
# runs only when something is missing, so a second run takes well under a second.
# Uses sudo only when not run as root.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
DYNALITE_VERSION=4.0.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

say() { printf 'deps: %s\n' "$*"; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		say "need root (or sudo) to run: $*" >&2
		exit 1
	fi
}

# installed PACKAGE — true when dpkg has the package installed.
installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# Each line: Debian package, and a command that shows it is already present.
# nodejs/npm count as present when the commands exist: NodeSource's nodejs
# ships npm itself, and Debian's npm package would conflict with it.
missing=()
while read -r pkg check; do
	if eval "$check" >/dev/null 2>&1 || installed "$pkg"; then
		continue
	fi
	missing+=("$pkg")
done <<'EOF'
redis-server            command -v redis-server
redis-tools             command -v redis-cli
nodejs                  command -v node
npm                     command -v npm
curl                    command -v curl
libredis-perl           perl -MRedis -e1
libredis-fast-perl      perl -MRedis::Fast -e1
libcpanel-json-xs-perl  perl -MCpanel::JSON::XS -e1
libperl-critic-perl     command -v perlcritic
libplack-perl           perl -MPlack::Test -e1
libhttp-message-perl    perl -MHTTP::Request::Common -e1
nginx                   command -v nginx
apache2                 test -x /usr/sbin/apache2
prometheus              command -v promtool
systemd                 command -v systemd-analyze
wrk                     command -v wrk
libfcgi-client-perl     perl -MFCGI::Client -e1
libfcgi-perl            perl -MFCGI -e1
libfcgi-procmanager-perl perl -MFCGI::ProcManager -e1
libchi-perl             perl -MCHI -e1
libtest-kwalitee-perl   perl -MTest::Kwalitee -e1
cpanminus               command -v cpanm
libcpan-changes-perl    perl -MTest::CPAN::Changes -e1
EOF

if [ "${#missing[@]}" -gt 0 ]; then
	say "installing Debian packages: ${missing[*]}"
	as_root apt-get update -qq
	as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
	say "Debian packages present"
fi

cli=.deps/node_modules/dynalite/cli.js
if [ -f "$cli" ]; then
	say "dynalite present ($cli)"
else
	say "installing npm package dynalite@$DYNALITE_VERSION into .deps/"
	mkdir -p .deps
	# Node ships its own CA list; a machine whose traffic passes a TLS proxy
	# trusts that proxy through the system bundle, so let npm use it too.
	if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
		export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
	fi
	npm install --prefix .deps --no-audit --no-fund --loglevel=error "dynalite@$DYNALITE_VERSION"
	if [ ! -f "$cli" ]; then
		say "npm finished but $cli is missing" >&2
		exit 1
	fi
	if ! node "$cli" --help >/dev/null 2>&1; then
		say "warning: 'node $cli --help' failed; dynalite may not start" >&2
	fi
	say "dynalite installed"
fi
