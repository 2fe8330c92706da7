# fusebox: the two commands that matter are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
GOBIN ?= $(shell $(GO) env GOPATH)/bin

.PHONY: demo test lint bench fuzz e2e ci

## demo: run the demo service on http://127.0.0.1:8080 until interrupted
demo:
	$(GO) run ./examples/demo $(DEMO_FLAGS)

## test: format, vet, and every module's tests under the race detector
test: lint
	$(GO) test -race -count=1 ./...
	cd e2e && $(GO) test -race -count=1 ./...
	cd grpcbreaker && $(GO) test -race -count=1 ./... && $(GO) test -count=1 -run AllocateNothing ./...
	cd bench && $(GO) vet ./... && $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./...
	cd grpcbreaker/bench && $(GO) vet ./... && $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./...

## bench: fusebox against its peers, -count 6 -cpu 1,2,8 (about 10 minutes on 2 cores); see bench/README.md
bench:
	$(GO) install golang.org/x/perf/cmd/benchstat@latest
	GO=$(GO) BENCHSTAT=$(GOBIN)/benchstat bench/run.sh

FUZZTIME ?= 60s
FUZZ_TARGETS := FuzzOptions FuzzName FuzzStatsJSON FuzzModel

## fuzz: run each breaker fuzz target for $(FUZZTIME) (go test -fuzz takes one target per run)
fuzz:
	@set -e; for f in $(FUZZ_TARGETS); do \
		echo "== $$f ($(FUZZTIME))"; \
		$(GO) test ./breaker -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME); \
	done

## lint: gofmt and go vet on every module (grpcbreaker also for 32-bit targets); no time.Sleep in breaker tests
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd e2e && $(GO) vet ./...
	cd grpcbreaker && $(GO) vet ./... && GOARCH=386 $(GO) build ./... && GOARCH=arm $(GO) vet ./...
	@if grep -n 'time\.Sleep' breaker/*_test.go events/*_test.go; then echo "tests must use a fake clock, not time.Sleep"; exit 1; fi

.PHONY: build-demo build-collector

## build-demo: build the demo service into bin/demo
build-demo:
	$(GO) build -o bin/demo ./examples/demo

## build-collector: build the OpenTelemetry Collector of examples/otel-collector into bin/otelcol-fusebox (the first build fetches the collector's modules: minutes)
build-collector:
	cd examples/otel-collector && $(GO) build -o ../../bin/otelcol-fusebox . && $(GO) vet ./...

## e2e: demo + collector + a real Prometheus on loopback ports (every dashboard and alert expression must return data, scraped directly and through the collector), and the status page read in headless Chromium
e2e: build-demo build-collector
	bash scripts/ensure-prometheus.sh
	bash scripts/ensure-chromium.sh
	cd e2e && FUSEBOX_E2E=1 FUSEBOX_DEMO_BIN=$(CURDIR)/bin/demo FUSEBOX_COLLECTOR_BIN=$(CURDIR)/bin/otelcol-fusebox $(GO) test -count=1 -v -run TestStack -timeout 10m ./...
	FUSEBOX_BROWSER=1 $(GO) test -count=1 -v -run TestStatusPageInBrowser ./examples/demo
