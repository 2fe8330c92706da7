# fusebox: the two commands that matter are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
GOBIN ?= $(shell $(GO) env GOPATH)/bin

.PHONY: help demo test lint vuln bench fuzz e2e ci

## help: list the targets
help:
	@grep -E '^## ' $(MAKEFILE_LIST) | sed -E 's/^## ([a-z0-9-]+): /\1\t/' | awk -F'\t' '{ printf "  %-16s %s\n", $$1, $$2 }'

## demo: run the demo service on http://127.0.0.1:8080 until interrupted
demo:
	cd examples/demo && $(GO) run . $(DEMO_FLAGS)

## test: format, vet, and every module's tests under the race detector, the main module's also as 32-bit 386 (the Redis tests start their own redis-server, installed when missing)
test: lint
	$(GO) test -race -count=1 ./...
	GOARCH=386 $(GO) test -count=1 ./breaker/... ./events/... ./retry/... ./httpbreaker/... ./sharedstate/... ./telemetry/...
	bash scripts/ensure-redis.sh || [ -z "$$CI" ]
	cd examples/demo && $(GO) test -race -count=1 ./...
	cd e2e && $(GO) test -race -count=1 ./...
	cd sharedstate/redisstate && $(GO) test -race -count=1 ./... && $(GO) test -count=1 -run '^$$' -bench '^Benchmark(Call|SharedCall|Propagation)' -benchtime 1x ./
	cd grpcbreaker && $(GO) test -race -count=1 ./... && $(GO) test -count=1 -run AllocateNothing ./...
	cd bench && $(GO) vet ./... && $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./...
	cd grpcbreaker/bench && $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./...

## bench: fusebox against its peers, -count 6 -cpu 1,2,8 (about 10 minutes on 2 cores); see bench/README.md
bench:
	$(GO) install golang.org/x/perf/cmd/benchstat@latest
	GO=$(GO) BENCHSTAT=$(GOBIN)/benchstat bench/run.sh

FUZZTIME ?= 60s
# Every fuzz target, as package:target (go test -fuzz takes one target per
# run). redisstate's FuzzDecodeMessage is in a module of its own.
FUZZ_TARGETS := ./breaker:FuzzOptions ./breaker:FuzzName ./breaker:FuzzStatsJSON ./breaker:FuzzModel \
	./retry:FuzzOptions ./retry:FuzzBackoff ./httpbreaker:FuzzParseRetryAfter

## fuzz: run each fuzz target for $(FUZZTIME)
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; f=$${t##*:}; \
		echo "== $$pkg $$f ($(FUZZTIME))"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME); \
	done
	cd sharedstate/redisstate && $(GO) test . -run '^$$' -fuzz '^FuzzDecodeMessage$$' -fuzztime $(FUZZTIME)

# The modules whose code is fusebox's own: linted, and built for 32-bit
# targets. (examples/otel-collector only assembles upstream collector
# components; it is built by make e2e.)
MODULES := . examples/demo e2e bench sharedstate/redisstate grpcbreaker grpcbreaker/bench

# Static analysis tools, pinned in tools/go.mod and run with go tool.
TOOL = $(GO) tool -modfile=$(CURDIR)/tools/go.mod

## lint: gofmt; go vet and staticcheck of every module, and go build and vet of it for 32-bit 386 and arm; the dependency rules; no time.Sleep in breaker tests outside testing/synctest bubbles
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do \
		echo "== vet and staticcheck $$m (native, 386, arm)"; \
		out=$$(mktemp -d); \
		(cd $$m && o=$$(test -n "$$($(GO) list -f '{{if eq .Name "main"}}main{{end}}' ./...)" && echo "-o $$out" || true); \
			$(GO) vet ./... && $(TOOL) staticcheck ./... && \
			GOARCH=386 $(GO) build $$o ./... && GOARCH=386 $(GO) vet ./... && \
			GOARCH=arm $(GO) build $$o ./... && GOARCH=arm $(GO) vet ./...); \
		rm -rf $$out; \
	done
	$(GO) test -count=1 ./internal/deps
	@if grep -n 'time\.Sleep' $$(grep -L '"testing/synctest"' breaker/*_test.go events/*_test.go); then echo "tests must use a fake clock or testing/synctest, not time.Sleep"; exit 1; fi

# govulncheck reports the standard library of the Go that runs it, which
# may lag on a machine; it runs under the newest Go 1.26 patch release,
# which the go command fetches like a module.
VULN_GO ?= go1.26.11

## vuln: govulncheck of every module, under $(VULN_GO), against the Go vulnerability database of the golang.org/x/vulndb snapshot pinned in tools/go.mod
vuln:
	@set -e; db=$$(mktemp -d); trap 'rm -rf "$$db"' EXIT; \
	src=$$($(GO) mod download -modfile=$(CURDIR)/tools/go.mod -json golang.org/x/vulndb | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	$(TOOL) indexdb -vulns "$$src/data/osv" -out "$$db/db"; \
	for m in $(MODULES); do \
		echo "== govulncheck $$m"; \
		(cd $$m && GOTOOLCHAIN=$(VULN_GO) $(TOOL) govulncheck -db "file://$$db/db" ./...); \
	done

.PHONY: build-demo build-collector build-prometheus3

## build-demo: build the demo service into bin/demo
build-demo:
	cd examples/demo && $(GO) build -o ../../bin/demo .

## build-collector: build the OpenTelemetry Collector of examples/otel-collector into bin/otelcol-fusebox (the first build fetches the collector's modules: minutes)
build-collector:
	cd examples/otel-collector && $(GO) build -o ../../bin/otelcol-fusebox . && $(GO) vet ./...

## build-prometheus3: build Prometheus 3 and its promtool, at the release docker-compose.yml runs (pinned by e2e/prometheus3/go.mod), into bin/prometheus3/; without the web UI, and without service discovery but static and file (the first build, with empty caches, takes about 11 minutes of CPU)
# The Prometheus release of the pinned Go module: v0.3MM.P is 3.MM.P.
PROM3_VERSION = $(shell awk '$$1 == "github.com/prometheus/prometheus" { split($$2, v, "."); printf "%d.%d.%s", 3, v[2] - 300, v[3] }' e2e/prometheus3/go.mod)

build-prometheus3:
	cd e2e/prometheus3 && $(GO) build -tags remove_all_sd \
		-ldflags "-X github.com/prometheus/common/version.Version=$(PROM3_VERSION) -X github.com/prometheus/common/version.Branch=module" \
		-o ../../bin/prometheus3/ github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool

## e2e: two demo replicas sharing their breakers through a redis-server + collector + Prometheus 3 + Alertmanager on loopback ports (every dashboard and alert expression must return data, scraped directly and through the collector; replicas apart, a force-open shared, exemplars linked to traces, alerts grouped and inhibited), the alert rules' unit tests on Prometheus 2 and 3, and the status page read and used in headless Chromium
e2e: build-demo build-collector build-prometheus3
	bash scripts/ensure-e2e-tools.sh
	cd e2e && FUSEBOX_E2E=1 FUSEBOX_BROWSER=1 FUSEBOX_DEMO_BIN=$(CURDIR)/bin/demo FUSEBOX_COLLECTOR_BIN=$(CURDIR)/bin/otelcol-fusebox FUSEBOX_PROMETHEUS3_DIR=$(CURDIR)/bin/prometheus3 $(GO) test -count=1 -v -run 'TestStack|TestStatusPageActionsInBrowser' -timeout 15m ./...
	cd examples/demo && FUSEBOX_BROWSER=1 $(GO) test -count=1 -v -run TestStatusPageInBrowser .
