package prom_test

import (
	"context"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/telemetry/prom"
)

// BenchmarkOverFloor measures a successful call through a breaker of a
// registry served by NewHandler against the floor of recording its
// duration on that path, in alternating chunks of calls within one
// benchmark so that load from other processes hits both alike (like the
// telemetry package's benchmark of the same name). The native collector's
// floor is two clock reads and one client_golang histogram observation;
// with WithReader the call also records on the SDK's histogram, and with
// WithOTelExporter only there, so their floor is two clock reads and one
// record on each histogram involved. ctx=span runs with a recording, sampled
// span in the context (exemplars); ctx=plain without one.
func BenchmarkOverFloor(b *testing.B) {
	for _, path := range []string{"native", "native+reader", "otel"} {
		for _, withSpan := range []bool{true, false} {
			name := "path=" + path + "/ctx=plain"
			if withSpan {
				name = "path=" + path + "/ctx=span"
			}
			b.Run(name, func(b *testing.B) {
				tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
				ctx, span := tp.Tracer("bench").Start(context.Background(), "request")
				b.Cleanup(func() {
					span.End()
					_ = tp.Shutdown(context.Background())
				})
				if !withSpan {
					ctx = context.Background()
				}
				reg := breaker.NewRegistry(breaker.WithFailureThreshold(math.MaxInt32))
				for _, n := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
					if _, err := reg.Get(n); err != nil {
						b.Fatal(err)
					}
				}
				br, err := reg.Get("bench")
				if err != nil {
					b.Fatal(err)
				}
				opts := []prom.Option{prom.WithLogger(slog.New(slog.DiscardHandler))}
				switch path {
				case "native+reader":
					opts = append(opts, prom.WithReader(sdkmetric.NewManualReader()))
				case "otel":
					opts = append(opts, prom.WithOTelExporter())
				}
				h, err := prom.NewHandler(reg, opts...)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = h.Shutdown(context.Background()) })

				record := floorRecorder(b, path, ctx)
				const chunk = 256
				var floor, attached time.Duration
				calls := 0
				b.ReportAllocs()
				for b.Loop() {
					t := time.Now()
					for range chunk {
						start := time.Now()
						record(time.Since(start).Seconds())
					}
					t2 := time.Now()
					for range chunk {
						_ = br.Execute(ctx, succeed)
					}
					floor += t2.Sub(t)
					attached += time.Since(t2)
					calls += chunk
				}
				f := float64(floor.Nanoseconds()) / float64(calls)
				a := float64(attached.Nanoseconds()) / float64(calls)
				b.ReportMetric(f, "floor-ns/call")
				b.ReportMetric(a, "attached-ns/call")
				b.ReportMetric(a-f, "overhead-ns/call")
			})
		}
	}
}

func succeed(context.Context) error { return nil }

// floorRecorder returns the bare histogram record(s) of path: a prepared
// client_golang observer, an SDK histogram record with a prepared attribute
// option, or both.
func floorRecorder(b *testing.B, path string, ctx context.Context) func(float64) {
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "floor_seconds", Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	}, []string{"circuit_breaker_name", "circuit_breaker_outcome"})
	obs := hist.WithLabelValues("bench", "success")
	sdk := sdkFloor(b, ctx)
	switch path {
	case "native":
		return obs.Observe
	case "otel":
		return sdk
	}
	return func(v float64) {
		obs.Observe(v)
		sdk(v)
	}
}

// sdkFloor returns one SDK histogram record with a prepared attribute
// option, on a MeterProvider with a manual reader.
func sdkFloor(b *testing.B, ctx context.Context) func(float64) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	h, err := mp.Meter("floor").Float64Histogram("floor.duration", metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	if err != nil {
		b.Fatal(err)
	}
	opts := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
		attribute.String("circuit_breaker.name", "bench"), attribute.String("circuit_breaker.outcome", "success")))}
	return func(v float64) { h.Record(ctx, v, opts...) }
}
