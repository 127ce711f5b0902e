# ddbcache — build, check and try out the daemon.
#
#   make            build bin/ddbcache
#   make deps       install redis-server, node, Perl modules and dynalite (scripts/deps.sh)
#   make vet        go vet, gofmt check, perlcritic (default severity) on the Perl code
#   make test       deps, build, vet, Go tests with -race, then the Perl suite (prove -r t/)
#                   and a short subset of the fault suite (FAULTS_QUICK, under 90 s)
#   make faults     the whole fault suite (faults/*.t, about 3 min): real daemon, redis-server,
#                   dynalite and forked Perl workers under crashes, restarts and hangs
#   make demo       start redis, dynalite and the daemon under .demo/ and show a lookup
#   make demo-two   after make demo: a second daemon on the same Redis (coherence, no stampede)
#   make demo-stop  stop the demo's servers
#   make bench      Go benchmarks
#   make clean      remove bin/ and .demo/

# CI runs with a minimal environment: make sure the Go toolchain is found.
export PATH := /usr/local/go/bin:$(or $(PATH),/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)

GO      ?= go
BIN     := bin/ddbcache
PKG     := ./cmd/ddbcache
# The fault scenarios make test runs: a cold start, daemon restarts, one Redis kill.
FAULTS_QUICK := faults/01-cold-start.t faults/02-daemon-restart.t faults/03-redis-kill.t

.DEFAULT_GOAL := build
.PHONY: build deps vet test faults demo demo-two demo-stop bench clean

build:
	$(GO) build -o $(BIN) $(PKG)

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
	perlcritic --quiet t/ perl/ faults/

test: deps build vet
	$(GO) test -race -count=1 ./...
	prove -r t/
	DDBCACHE_FAULTS_QUICK=1 prove $(FAULTS_QUICK)

# Each scenario prints one line "# fault NAME: figures".
faults: deps build
	prove faults/

demo: deps build
	bash scripts/demo.sh

demo-two: build
	bash scripts/demo-two.sh

demo-stop:
	bash scripts/demo.sh stop

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	-bash scripts/demo.sh stop
	rm -rf bin .demo
