package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/telemetry"
)

// Attach telemetry to a registry once; every breaker it holds, now or
// later, is observed. Here an SDK MeterProvider with a manual reader stands
// in for the application's own, and logs go to stdout without timestamps.
func ExampleTelemetry_AttachRegistry() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(ctx) }()
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))

	tel, err := telemetry.New(telemetry.WithMeterProvider(mp), telemetry.WithLogger(logger))
	if err != nil {
		panic(err)
	}
	reg := breaker.NewRegistry(breaker.WithFailureThreshold(2))
	detach, err := tel.AttachRegistry(reg)
	if err != nil {
		panic(err)
	}
	defer detach()

	b, err := reg.Get("model_server") // created after attaching: observed too
	if err != nil {
		panic(err)
	}
	unavailable := func(context.Context) error { return errors.New("unavailable") }
	for range 3 { // two failures open the breaker; the third call is rejected
		_ = b.Execute(ctx, unavailable)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
			for _, p := range sum.DataPoints {
				if p.Value != 0 {
					fmt.Println(m.Name, p.Attributes.Encoded(attribute.DefaultEncoder()), p.Value)
				}
			}
		}
	}
	// Unordered output:
	// level=WARN msg="circuit breaker state changed" circuit_breaker.name=model_server circuit_breaker.from_state=closed circuit_breaker.to_state=open circuit_breaker.reason=failure_threshold circuit_breaker.consecutive_failures=2 error.type=*errors.errorString error.message=unavailable
	// circuit_breaker.state circuit_breaker.name=model_server,circuit_breaker.state=open 1
	// circuit_breaker.calls circuit_breaker.name=model_server,circuit_breaker.outcome=failure 2
	// circuit_breaker.calls circuit_breaker.name=model_server,circuit_breaker.outcome=rejected 1
	// circuit_breaker.transitions circuit_breaker.from_state=closed,circuit_breaker.name=model_server,circuit_breaker.origin=local,circuit_breaker.reason=failure_threshold,circuit_breaker.to_state=open 1
}

// A breaker made with breaker.New has a bus of its own: attach it alone.
func ExampleTelemetry_AttachBreaker() {
	tel, err := telemetry.New() // the global MeterProvider and slog.Default()
	if err != nil {
		panic(err)
	}
	b, err := breaker.New("payments")
	if err != nil {
		panic(err)
	}
	detach, err := tel.AttachBreaker(b)
	if err != nil {
		panic(err)
	}
	defer detach()

	err = b.Execute(context.Background(), func(context.Context) error { return nil })
	fmt.Println(err)
	// Output: <nil>
}
