# ddbcache — build, check and try out the daemon.
#
#   make            build bin/ddbcache
#   make deps       install redis-server, node, Perl modules and dynalite (scripts/deps.sh)
#   make vet        go vet, gofmt check, perlcritic (default severity) on the Perl code
#   make test       deps, build, vet, Go tests with -race, then the Perl suite (prove -r t/)
#                   and a short subset of the fault suite (FAULTS_QUICK, under 90 s)
#   make faults     the whole fault suite, about 4 min: faults/*.t (about 2.5 min, faults/12's
#                   cluster coherence included): real daemon, redis-server, dynalite and forked
#                   Perl workers under crashes, restarts and hangs; then Redis Cluster failover
#                   and resharding under traffic (CLUSTER_PHASE=10s, about 1.25 min)
#   make demo       start redis, dynalite and the daemon under .demo/ and show a lookup
#   make demo-two   after make demo: a second daemon on the same Redis (coherence, no stampede)
#   make demo-stop  stop the demo's servers
#   make bench      Go benchmarks
#   make bench-replicas  the primary's Redis commands per 10k lookups, without and with read replicas
#   make bench-run  after make demo: ddbcache bench at 250 µs Redis RTT against the demo's servers (.demo/bench.json, .demo/bench.svg)
#   make bench-report  the README's performance section at 250 µs Redis RTT (scripts/bench-report.sh, about 4.5 min;
#                   docs/bench/*.json, *.svg; rewrites README.md between its bench-report markers)
#   make fuzz       every Go fuzz target (go test -list '^Fuzz' ./...) for FUZZTIME (60s) each
#   make fuzz-short the same for FUZZSHORT (3s) each: part of make test
#   make clean      remove bin/ and .demo/

# CI runs with a minimal environment: make sure the Go toolchain is found.
export PATH := /usr/local/go/bin:$(or $(PATH),/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)

GO      ?= go
BIN     := bin/ddbcache
PKG     := ./cmd/ddbcache
# ddbcache --version prints these (and the Go version).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# The fault scenarios make test runs: a cold start, daemon restarts, one Redis kill.
FAULTS_QUICK := faults/01-cold-start.t faults/02-daemon-restart.t faults/03-redis-kill.t

.DEFAULT_GOAL := build
FUZZTIME  ?= 60s
FUZZSHORT ?= 3s

.PHONY: build deps vet test faults fuzz fuzz-short demo demo-two demo-stop bench bench-replicas bench-run bench-report clean

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) $(PKG)

deps:
	bash scripts/deps.sh

vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$($(GO) list -f '{{.Dir}}' ./...)); \
	if [ -n "$$unformatted" ]; then \
		echo "gofmt: these files need formatting (run gofmt -w):"; \
		echo "$$unformatted"; \
		exit 1; \
	fi
	perlcritic --quiet t/ perl/ faults/ bench/

test: deps build vet
	$(GO) test -race -count=1 ./...
	$(MAKE) fuzz-short
	prove -r t/
	DDBCACHE_FAULTS_QUICK=1 prove $(FAULTS_QUICK)

# Each scenario prints one line "# fault NAME: figures". Then the Redis
# Cluster failover and resharding under traffic, 10 s a phase (make test
# runs them with 1 s phases); their figures are the "failover:" and
# "reshard:" lines.
CLUSTER_PHASE ?= 10s
faults: deps build
	prove faults/
	DDBCACHE_CLUSTER_PHASE=$(CLUSTER_PHASE) $(GO) test -count=1 -v -run 'TestClusterFailover|TestClusterReshard' ./cache

# Each package's fuzz targets, found by go test -list, run one at a time
# (go test -fuzz takes one target of one package). Only the packages whose
# tests mention "func Fuzz" are listed: listing runs every test binary
# (TestMain included), which took minutes for ./... .
FUZZPKGS = $(shell $(GO) list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r p d; do \
	grep -qs '^func Fuzz' "$$d"/*_test.go && echo "$$p"; done)

fuzz:
	@set -e; $(GO) test -list '^Fuzz' $(FUZZPKGS) | \
	awk '/^Fuzz/ { f[n++] = $$1 } /^ok/ { for (i = 0; i < n; i++) print $$2, f[i]; n = 0 }' | \
	while read -r pkg target; do \
		echo "fuzz $$pkg $$target for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) "$$pkg"; \
	done

fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZSHORT)

demo: deps build
	bash scripts/demo.sh

demo-two: build
	bash scripts/demo-two.sh

demo-stop:
	bash scripts/demo.sh stop

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# BENCHFLAGS adds to or overrides the bench's options, e.g. BENCHFLAGS='--procs 8 --item-size 10000'.
bench-replicas:
	$(GO) test -run '^$$' -bench BenchmarkReplicaLoad -benchtime 10000x ./cache/

bench-run: build
	$(BIN) --config .demo/ddbcache.yaml bench --seed-data --keys 10000 --dist zipf --duration 10s \
		--redis-rtt 250us --targets ddbcache,direct,dynamodb,perl,perl-nolocal \
		--json .demo/bench.json --plot .demo/bench.svg $(BENCHFLAGS)

# Private redis-server and dynalite; the whole matrix, then the README section.
bench-report: deps build
	bash scripts/bench-report.sh

clean:
	-bash scripts/demo.sh stop
	rm -rf bin .demo
