# Stampede — distributed load generation. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# go-nvml (GPU telemetry) is cgo; its C headers warn about deprecated NVML calls.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

.PHONY: help build web run dashboard docs test stress fuzz chaos bench bench-smoke soak proto proto-check lint lint-tools tools clean

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

web: web/vendor/uPlot.iife.min.js ## install the dashboard's browser packages (npm ci) and stage them for embedding

web/vendor/uPlot.iife.min.js: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	cp web/node_modules/uplot/dist/uPlot.iife.min.js web/node_modules/uplot/dist/uPlot.min.css web/vendor/

build: web ## build bin/master and bin/worker with the version stamped in
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/master ./cmd/master
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/worker ./cmd/worker

run: build ## run the demo: built-in target, 2 local workers, 50 users at 10/s for 30 s, stored in ./stampede.db
	$(BIN)/master --headless --demo --local-workers 2 -u 50 -r 10 -t 30s --db ./stampede.db --exit-code-on-error 0

dashboard: build ## serve the dashboard on http://127.0.0.1:8089 with the demo target and 2 local workers
	$(BIN)/master --demo --local-workers 2 -u 50 -r 10 --db ./stampede.db

test: web ## go vet, the race-enabled suite (its 10 slowest tests listed), the end-to-end and fault tests (5 chaos kills each), every fuzz target for 3 s
	./scripts/ensure-debian.sh chromium iproute2
	./scripts/ensure-debian.sh python3-locust # real Locust workers for pkg/locust's end-to-end test
	./scripts/ensure-debian.sh prometheus # a real Prometheus for the remote-write test (cmd/master)
	$(GO) vet ./...
	@# -json | testreport: go test's plain output (a failing test in full), then the 10 slowest
	@# tests and a count, printed again at the very end so the suite's growth stays visible.
	mkdir -p $(BIN)
	set -o pipefail; $(GO) test -race -count=1 -json ./... | $(GO) run ./scripts/testreport -summary $(BIN)/test-summary.txt
	@# Latency-accuracy tests compare timings with a target's own clock: the race detector's
	@# slowdown would be measured too, so they are built only without -race; so are the
	@# allocation counts (the race detector makes sync.Pool drop items at random).
	$(GO) test -count=1 -run 'TestOpenModelLatency' ./pkg/controller/
	$(GO) test -count=1 -run 'TestWriteLiveStreams' ./web/
	$(GO) test -count=1 -run 'TestModelServing' ./cmd/master/
	FUZZTIME=3s GO=$(GO) ./scripts/fuzz.sh
	$(MAKE) bench-smoke
	@echo; echo "race suite:"; cat $(BIN)/test-summary.txt

STRESS_RUNS ?= 3

stress: ## make test STRESS_RUNS (3) times in a row with one core kept busy (stress-ng --cpu 1); one line per run
	./scripts/stress-test.sh $(STRESS_RUNS)

fuzz: ## every native fuzz target for FUZZTIME (default 2m) each; crashers land in testdata/fuzz
	FUZZTIME=$${FUZZTIME:-2m} GO=$(GO) ./scripts/fuzz.sh

chaos: ## kill -9 the master, then a worker, at random moments of 100 headless runs each; check the store after every kill
	set -o pipefail; $(GO) test -count=1 -timeout 60m -run '^TestChaos' -v ./cmd/master -chaos.iterations $${CHAOS_ITERATIONS:-100} 2>&1 | grep -E '^(---|\s+chaos|ok|FAIL|PASS)'

BENCH_REPEATS ?= 3
SOAK_DURATION ?= 30m

bench: build ## one table of every figure (generator vs wrk, gRPC vs ghz, memory, master, spawn, store, push), BENCH_REPEATS each; docs/benchmarks.md
	./scripts/ensure-debian.sh wrk nginx
	$(GO) run ./scripts/bench table -repeats $(BENCH_REPEATS)

bench-smoke: build ## every benchmark at its smallest, so none can rot (make test runs it; figures mean nothing)
	./scripts/ensure-debian.sh wrk nginx
	$(GO) test -run '^$$' -bench . -benchtime 1x ./pkg/... ./web >/dev/null
	$(GO) run ./scripts/bench table -smoke
	$(GO) run ./scripts/bench soak -smoke -csv $$(mktemp -d)/soak.csv

soak: build ## SOAK_DURATION (30m) at steady load on bin/master and 2 bin/worker: RSS, goroutines, req/s per minute to soak.csv; not in CI
	$(GO) run ./scripts/bench soak -duration $(SOAK_DURATION) -csv soak.csv

tools: ## install the pinned protobuf generators into ./bin (protoc itself: apt-get install protobuf-compiler)
	GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(BIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

proto: tools ## regenerate proto/*.pb.go from proto/stampede.proto
	./scripts/ensure-debian.sh protobuf-compiler
	PATH=$(BIN):$$PATH protoc -I proto --go_out=proto --go_opt=paths=source_relative \
		--go-grpc_out=proto --go-grpc_opt=paths=source_relative proto/stampede.proto

proto-check: tools ## fail when the committed .pb.go files are stale
	@./scripts/ensure-debian.sh protobuf-compiler
	@d=$$(mktemp -d); PATH=$(BIN):$$PATH protoc -I proto --go_out=$$d --go_opt=paths=source_relative \
		--go-grpc_out=$$d --go-grpc_opt=paths=source_relative proto/stampede.proto && \
	for f in stampede.pb.go stampede_grpc.pb.go; do diff -q $$d/$$f proto/$$f >/dev/null || { echo "proto/$$f is stale: run make proto"; exit 1; }; done; \
	rm -rf $$d; echo "proto: generated code is up to date"

docs: ## regenerate docs/cli.md from the master's and worker's command trees
	$(GO) test -p 1 ./cmd/master ./cmd/worker -run TestCLIReference -update # one at a time: both rewrite docs/cli.md

lint: ## gofmt, go vet, staticcheck (pinned), and no tracked binary or file over 1 MiB outside testdata/
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); [ -z "$$out" ] || { echo "gofmt: $$out"; exit 1; }
	$(GO) vet ./...
	$(STATICCHECK) ./...
	./scripts/check-tracked.sh

lint-tools: ## fetch and build the pinned staticcheck that make lint runs
	$(STATICCHECK) -version

clean: ## remove build outputs
	rm -rf $(BIN)
