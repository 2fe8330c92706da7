package telemetry_test

import (
	"context"
	"log/slog"
	"math"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/telemetry"
)

func succeed(context.Context) error { return nil }

// benchSetup is what the telemetry-attached cases run with: an SDK
// MeterProvider with a manual reader (instruments aggregate as in
// production, nothing is exported), a recording span in the context, and a
// logger that discards everything.
type benchSetup struct {
	mp  *sdkmetric.MeterProvider
	ctx context.Context
	tel *telemetry.Telemetry
}

func newBenchSetup(b *testing.B) benchSetup {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	ctx, span := tp.Tracer("bench").Start(context.Background(), "request")
	b.Cleanup(func() {
		span.End()
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	tel, err := telemetry.New(
		telemetry.WithMeterProvider(mp),
		telemetry.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		b.Fatal(err)
	}
	return benchSetup{mp: mp, ctx: ctx, tel: tel}
}

func mustBreaker(b *testing.B, opts ...breaker.Option) *breaker.Breaker {
	br, err := breaker.New("bench", append([]breaker.Option{breaker.WithFailureThreshold(math.MaxInt32)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	return br
}

func attach(b *testing.B, detach func(), err error) {
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(detach)
}

// BenchmarkClosedSuccess compares a successful call through a closed
// breaker with and without telemetry, and the physical floor of recording a
// duration: two clock reads and one histogram record with a prebuilt
// attribute option, on the same SDK. ctx=span runs with a recording,
// sampled span in the context, so the SDK also offers every sample to its
// exemplar reservoir; ctx=plain runs without one.
func BenchmarkClosedSuccess(b *testing.B) {
	b.Run("case=bare", func(b *testing.B) {
		br := mustBreaker(b)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			_ = br.Execute(ctx, succeed)
		}
	})
	for _, withSpan := range []bool{true, false} {
		suffix := "/ctx=plain"
		if withSpan {
			suffix = "/ctx=span"
		}
		ctxOf := func(s benchSetup) context.Context {
			if withSpan {
				return s.ctx
			}
			return context.Background()
		}
		b.Run("case=floor"+suffix, func(b *testing.B) {
			s := newBenchSetup(b)
			hist, err := s.mp.Meter("floor").Float64Histogram("floor.duration", metric.WithUnit("s"),
				metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
			if err != nil {
				b.Fatal(err)
			}
			opts := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
				attribute.String("circuit_breaker.name", "bench"), attribute.String("circuit_breaker.outcome", "success")))}
			ctx := ctxOf(s)
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				hist.Record(ctx, time.Since(start).Seconds(), opts...)
			}
		})
		b.Run("case=attached-breaker"+suffix, func(b *testing.B) {
			s := newBenchSetup(b)
			br := mustBreaker(b)
			detach, err := s.tel.AttachBreaker(br)
			attach(b, detach, err)
			ctx := ctxOf(s)
			b.ReportAllocs()
			for b.Loop() {
				_ = br.Execute(ctx, succeed)
			}
		})
		b.Run("case=attached-registry"+suffix, func(b *testing.B) {
			s := newBenchSetup(b)
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
			detach, err := s.tel.AttachRegistry(reg)
			attach(b, detach, err)
			ctx := ctxOf(s)
			b.ReportAllocs()
			for b.Loop() {
				_ = br.Execute(ctx, succeed)
			}
		})
	}
}

// BenchmarkRejected is a call rejected by an open breaker with telemetry
// attached: with a recording span in the context (the SDK copies the span
// event) and without one, and with DEBUG logging on (rate-limited to one
// record per interval; the discarding handler is wrapped to report DEBUG as
// enabled).
func BenchmarkRejected(b *testing.B) {
	open := func(b *testing.B, s benchSetup) *breaker.Breaker {
		br := mustBreaker(b, breaker.WithRecoveryTimeout(time.Hour))
		br.ForceOpen()
		detach, err := s.tel.AttachBreaker(br)
		attach(b, detach, err)
		return br
	}
	b.Run("case=bare", func(b *testing.B) {
		br := mustBreaker(b, breaker.WithRecoveryTimeout(time.Hour))
		br.ForceOpen()
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			_ = br.Execute(ctx, succeed)
		}
	})
	b.Run("case=attached-no-span", func(b *testing.B) {
		s := newBenchSetup(b)
		br := open(b, s)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			_ = br.Execute(ctx, succeed)
		}
	})
	b.Run("case=attached-recording-span", func(b *testing.B) {
		s := newBenchSetup(b)
		br := open(b, s)
		b.ReportAllocs()
		for b.Loop() {
			_ = br.Execute(s.ctx, succeed)
		}
	})
	b.Run("case=attached-debug-log", func(b *testing.B) {
		s := newBenchSetup(b)
		tel, err := telemetry.New(
			telemetry.WithMeterProvider(s.mp),
			telemetry.WithLogger(slog.New(debugDiscard{})),
		)
		if err != nil {
			b.Fatal(err)
		}
		br := mustBreaker(b, breaker.WithRecoveryTimeout(time.Hour))
		br.ForceOpen()
		detach, err := tel.AttachBreaker(br)
		attach(b, detach, err)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			_ = br.Execute(ctx, succeed)
		}
	})
}

// debugDiscard is a handler that has every level enabled and drops every
// record.
type debugDiscard struct{}

func (debugDiscard) Enabled(context.Context, slog.Level) bool  { return true }
func (debugDiscard) Handle(context.Context, slog.Record) error { return nil }
func (d debugDiscard) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d debugDiscard) WithGroup(string) slog.Handler           { return d }

// BenchmarkOverFloor measures the telemetry-attached success path against
// the floor in alternating chunks of calls within one benchmark, so that
// load from other processes hits both alike; on a busy machine its
// overhead-ns/op is steadier than the difference of two separate
// benchmarks. It reports the floor and the attached path per call, and
// their difference.
func BenchmarkOverFloor(b *testing.B) {
	for _, reg := range []bool{false, true} {
		for _, withSpan := range []bool{true, false} {
			name := "case=attached-breaker"
			if reg {
				name = "case=attached-registry"
			}
			if withSpan {
				name += "/ctx=span"
			} else {
				name += "/ctx=plain"
			}
			b.Run(name, func(b *testing.B) {
				s := newBenchSetup(b)
				ctx := context.Background()
				if withSpan {
					ctx = s.ctx
				}
				hist, err := s.mp.Meter("floor").Float64Histogram("floor.duration", metric.WithUnit("s"),
					metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
				if err != nil {
					b.Fatal(err)
				}
				opts := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
					attribute.String("circuit_breaker.name", "bench"), attribute.String("circuit_breaker.outcome", "success")))}
				var br *breaker.Breaker
				if reg {
					r := breaker.NewRegistry(breaker.WithFailureThreshold(math.MaxInt32))
					for _, n := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
						if _, err := r.Get(n); err != nil {
							b.Fatal(err)
						}
					}
					if br, err = r.Get("bench"); err != nil {
						b.Fatal(err)
					}
					detach, err := s.tel.AttachRegistry(r)
					attach(b, detach, err)
				} else {
					br = mustBreaker(b)
					detach, err := s.tel.AttachBreaker(br)
					attach(b, detach, err)
				}

				const chunk = 256
				var floor, attached time.Duration
				calls := 0
				b.ReportAllocs()
				for b.Loop() {
					t := time.Now()
					for range chunk {
						start := time.Now()
						hist.Record(ctx, time.Since(start).Seconds(), opts...)
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
