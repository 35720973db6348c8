# escrowd. Without DATABASE_URL, targets that need a database start a
# private PostgreSQL cluster under .data/pg (scripts/pg.sh) and stop it after.

GO        ?= go
BIN       := bin/escrowd
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
WITH_DB   := scripts/with-db.sh
GOTESTFLAGS ?=

.PHONY: all build run demo test vet fmt-check bench bench-go bench-ledger db-start db-stop clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/escrowd

## run: build, start the database if needed, migrate, serve on 127.0.0.1:8080
run: build
	$(WITH_DB) dev sh -c '$(BIN) migrate && exec $(BIN) serve'

## demo: run the demo stories against a fresh server on the private database
demo: build
	$(WITH_DB) dev $(BIN) demo

## test: every test, with -race, on a throwaway PostgreSQL (or DATABASE_URL)
test:
	$(WITH_DB) test $(GO) test -race -count=1 $(GOTESTFLAGS) ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## bench: on the private PostgreSQL ("bench" cluster): pgbench TPC-B (-i -s 10
## in its own database, then -c 8 -j 2 -T 20 at the cluster's default
## isolation), then escrowd bench (32 clients for 30 s against a server in this
## process on a fresh database; invariant checks through the API), which prints
## its API ops/s next to pgbench's tps with the ratio. Results in
## bin/bench.json and bin/bench.svg; BENCH_FLAGS passes flags. About a minute.
bench: build
	$(WITH_DB) bench sh -c 'set -e; \
	  pgbin() { command -v "$$1" || ls /usr/lib/postgresql/*/bin/"$$1" /usr/local/pgsql/bin/"$$1" 2>/dev/null | tail -1; }; \
	  pgbench=$$(pgbin pgbench); psql=$$(pgbin psql); \
	  [ -n "$$pgbench" ] && [ -n "$$psql" ] || { echo "make bench: pgbench and psql are needed (PostgreSQL client programs)" >&2; exit 1; }; \
	  q=""; case "$$DATABASE_URL" in *\?*) q="?$${DATABASE_URL#*\?}";; esac; pg="$${DATABASE_URL%%\?*}"; pg="$${pg%/*}/pgbench$$q"; out=$$(mktemp); \
	  "$$psql" -q "$$DATABASE_URL" -c "DROP DATABASE IF EXISTS pgbench WITH (FORCE)" -c "CREATE DATABASE pgbench"; \
	  "$$pgbench" -i -s 10 -q "$$pg"; \
	  "$$pgbench" -c 8 -j 2 -T 20 "$$pg" | tee "$$out"; tps=$$(awk "/^tps/ {print \$$3; exit}" "$$out"); rm -f "$$out"; \
	  $(BIN) bench --pgbench-tps "$$tps" --json bin/bench.json --chart bin/bench.svg $(BENCH_FLAGS)'

## bench-go: Go benchmarks of the pure code paths
bench-go:
	$(WITH_DB) bench $(GO) test -run='^$$' -bench=. -benchmem ./...

## bench-ledger: on the private PostgreSQL ("bench" cluster): pgbench TPC-B
## (-i -s 10, then -c 8 -j 2 -T 20 in its own database; at the cluster's
## default isolation, SERIALIZABLE, then at READ COMMITTED for reference),
## then escrowd bench-ledger, which prints entries/s, p50/p99 and the ratio
## to pgbench. Takes about four minutes. BENCH_LEDGER_FLAGS passes flags.
bench-ledger: build
	$(WITH_DB) bench sh -c 'set -e; \
	  q=""; case "$$DATABASE_URL" in *\?*) q="?$${DATABASE_URL#*\?}";; esac; pg="$${DATABASE_URL%%\?*}"; pg="$${pg%/*}/pgbench$$q"; out=$$(mktemp); \
	  psql -q "$$DATABASE_URL" -c "DROP DATABASE IF EXISTS pgbench WITH (FORCE)" -c "CREATE DATABASE pgbench"; \
	  pgbench -i -s 10 -q "$$pg"; \
	  pgbench -c 8 -j 2 -T 20 "$$pg" | tee "$$out"; tps=$$(awk "/^tps/ {print \$$3; exit}" "$$out"); \
	  PGOPTIONS="-c default_transaction_isolation=read\\ committed" pgbench -c 8 -j 2 -T 20 "$$pg" | tee "$$out"; \
	  rctps=$$(awk "/^tps/ {print \$$3; exit}" "$$out"); rm -f "$$out"; \
	  $(BIN) bench-ledger --pgbench-tps "$$tps" --pgbench-rc-tps "$$rctps" $(BENCH_LEDGER_FLAGS)'

db-start:
	@scripts/pg.sh start dev

db-stop:
	@scripts/pg.sh stop dev

clean:
	rm -rf bin
	scripts/pg.sh destroy dev || true
