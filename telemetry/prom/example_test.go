package prom_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/telemetry/prom"
)

// One call gives a /metrics page for every breaker of a registry, without
// any OpenTelemetry setup.
func ExampleNewHandler() {
	reg := breaker.NewRegistry(breaker.WithFailureThreshold(2))
	h, err := prom.NewHandler(reg,
		prom.WithServiceName("checkout"),
		prom.WithoutScopeInfo(), // shorter lines for this example
		prom.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		panic(err)
	}
	defer func() { _ = h.Shutdown(context.Background()) }()

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	b, err := reg.Get("model_server")
	if err != nil {
		panic(err)
	}
	for range 3 {
		_ = b.Execute(context.Background(), func(context.Context) error { return errors.New("unavailable") })
	}

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if line := lines.Text(); strings.HasPrefix(line, "circuit_breaker_state") || strings.HasPrefix(line, "circuit_breaker_calls_total") {
			fmt.Println(line)
		}
	}
	// Output:
	// circuit_breaker_calls_total{circuit_breaker_name="model_server",circuit_breaker_outcome="failure"} 2
	// circuit_breaker_calls_total{circuit_breaker_name="model_server",circuit_breaker_outcome="ignored"} 0
	// circuit_breaker_calls_total{circuit_breaker_name="model_server",circuit_breaker_outcome="rejected"} 1
	// circuit_breaker_calls_total{circuit_breaker_name="model_server",circuit_breaker_outcome="success"} 0
	// circuit_breaker_state{circuit_breaker_name="model_server",circuit_breaker_state="closed"} 0
	// circuit_breaker_state{circuit_breaker_name="model_server",circuit_breaker_state="half_open"} 0
	// circuit_breaker_state{circuit_breaker_name="model_server",circuit_breaker_state="open"} 1
}

// Serve the breakers next to the Go runtime and process metrics, from a
// client_golang registry of your own.
func ExampleWithRegistry() {
	promReg := prometheus.NewRegistry()
	promReg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	reg := breaker.NewRegistry()
	h, err := prom.NewHandler(reg, prom.WithRegistry(promReg))
	if err != nil {
		panic(err)
	}
	defer func() { _ = h.Shutdown(context.Background()) }()

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	// ... http.ListenAndServe(addr, mux)
}
