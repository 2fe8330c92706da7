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
	cd bench && $(GO) vet ./... && $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./...

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

## lint: gofmt and go vet on every module; no time.Sleep in breaker tests
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd e2e && $(GO) vet ./...
	@if grep -n 'time\.Sleep' breaker/*_test.go events/*_test.go; then echo "tests must use a fake clock, not time.Sleep"; exit 1; fi
