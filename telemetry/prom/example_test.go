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
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

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

// Export the same metrics over OTLP too: pass the OTLP exporter's reader,
// for example sdkmetric.NewPeriodicReader(exp) with exp from
// otlpmetrichttp.New(ctx). Here a manual reader stands in for it. The page
// is still rendered natively, and telemetry is attached once, so span
// events and logs are not duplicated.
func ExampleWithReader() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	reg := breaker.NewRegistry(breaker.WithFailureThreshold(2))
	h, err := prom.NewHandler(reg,
		prom.WithServiceName("checkout"),
		prom.WithReader(reader),
		prom.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		panic(err)
	}
	defer func() { _ = h.Shutdown(ctx) }() // shuts the reader down too

	b, err := reg.Get("model_server")
	if err != nil {
		panic(err)
	}
	for range 3 {
		_ = b.Execute(ctx, func(context.Context) error { return errors.New("unavailable") })
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "circuit_breaker.calls" {
			for _, p := range sum.DataPoints {
				if p.Value != 0 {
					fmt.Println(m.Name, p.Attributes.Encoded(attribute.DefaultEncoder()), p.Value)
				}
			}
		}
	}
	// Unordered output:
	// circuit_breaker.calls circuit_breaker.name=model_server,circuit_breaker.outcome=failure 2
	// circuit_breaker.calls circuit_breaker.name=model_server,circuit_breaker.outcome=rejected 1
}
