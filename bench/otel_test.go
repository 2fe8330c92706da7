package bench

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// newMeterProvider returns an SDK MeterProvider with a manual reader: the
// instruments aggregate as in production, and nothing is exported while the
// benchmark runs.
func newMeterProvider(tb testing.TB) *sdkmetric.MeterProvider {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tb.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return mp
}

// handOTel is the instrumentation a gobreaker user writes today: a call
// counter and a duration histogram around every call, and a transitions
// counter fed by OnStateChange. It is the careful version: the attribute
// sets and option slices are built once, so recording allocates nothing.
type handOTel struct {
	calls       metric.Int64Counter
	duration    metric.Float64Histogram
	transitions metric.Int64Counter

	success, failure, rejected []metric.AddOption
	successRec, failureRec     []metric.RecordOption
}

func newHandOTel(tb testing.TB, name string) *handOTel {
	meter := newMeterProvider(tb).Meter("bench/hand-written")
	h := &handOTel{}
	var err error
	if h.calls, err = meter.Int64Counter("circuit_breaker.calls", metric.WithUnit("{call}")); err != nil {
		tb.Fatal(err)
	}
	if h.duration, err = meter.Float64Histogram("circuit_breaker.call.duration", metric.WithUnit("s")); err != nil {
		tb.Fatal(err)
	}
	if h.transitions, err = meter.Int64Counter("circuit_breaker.transitions", metric.WithUnit("{transition}")); err != nil {
		tb.Fatal(err)
	}
	outcome := func(o string) attribute.Set {
		return attribute.NewSet(attribute.String("circuit_breaker.name", name), attribute.String("circuit_breaker.outcome", o))
	}
	ok, bad, rej := outcome("success"), outcome("failure"), outcome("rejected")
	h.success = []metric.AddOption{metric.WithAttributeSet(ok)}
	h.failure = []metric.AddOption{metric.WithAttributeSet(bad)}
	h.rejected = []metric.AddOption{metric.WithAttributeSet(rej)}
	h.successRec = []metric.RecordOption{metric.WithAttributeSet(ok)}
	h.failureRec = []metric.RecordOption{metric.WithAttributeSet(bad)}
	return h
}

// onStateChange is the gobreaker OnStateChange callback.
func (h *handOTel) onStateChange(name string, from, to gobreaker.State) {
	h.transitions.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("circuit_breaker.name", name),
		attribute.String("circuit_breaker.from_state", from.String()),
		attribute.String("circuit_breaker.to_state", to.String()),
	))
}

// gobreakerOTelSubject wraps every Execute the way a user would.
type gobreakerOTelSubject struct {
	gobreakerSubject
	h *handOTel
}

func (s gobreakerOTelSubject) call(fn func() (struct{}, error)) error {
	start := time.Now()
	_, err := s.cb.Execute(fn)
	switch {
	case err == nil:
		s.h.calls.Add(ctx, 1, s.h.success...)
		s.h.duration.Record(ctx, time.Since(start).Seconds(), s.h.successRec...)
	case errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests):
		s.h.calls.Add(ctx, 1, s.h.rejected...)
	default:
		s.h.calls.Add(ctx, 1, s.h.failure...)
		s.h.duration.Record(ctx, time.Since(start).Seconds(), s.h.failureRec...)
	}
	return err
}

func (s gobreakerOTelSubject) succeed() error { return s.call(okValue) }
func (s gobreakerOTelSubject) fail() error    { return s.call(failValue) }
func (s gobreakerOTelSubject) elapse() {
	for s.cb.State() == gobreaker.StateOpen {
	}
}

func newGobreakerOTel(tb testing.TB, st gobreaker.Settings) gobreakerOTelSubject {
	h := newHandOTel(tb, st.Name)
	st.OnStateChange = h.onStateChange
	return gobreakerOTelSubject{gobreakerSubject: newGobreaker(st), h: h}
}

func gobreakerOTelAdapter() adapter {
	return adapter{
		lib: "gobreaker+otel",
		closed: func(tb testing.TB) subject {
			return newGobreakerOTel(tb, gobreaker.Settings{Name: "bench", ReadyToTrip: tripAfter(math.MaxUint32)})
		},
		open: func(tb testing.TB) subject {
			s := newGobreakerOTel(tb, gobreaker.Settings{Name: "bench", ReadyToTrip: tripAfter(1), Timeout: recoveryLong})
			tripOpen(tb, s)
			return s
		},
		cycle: func(tb testing.TB) cycler {
			s := newGobreakerOTel(tb, gobreaker.Settings{Name: "bench", MaxRequests: 1, ReadyToTrip: tripAfter(1), Timeout: time.Nanosecond})
			if err := s.fail(); err != errBoom {
				tb.Fatalf("tripping call returned %v", err)
			}
			return s
		},
	}
}

// BenchmarkFloorTelemetry is the floor of per-call telemetry that records a
// duration: two clock reads and one record on an SDK histogram with a
// prepared attribute set.
func BenchmarkFloorTelemetry(b *testing.B) {
	h := newHandOTel(b, "bench")
	b.Run("op=now+since+histogram", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			start := time.Now()
			h.duration.Record(ctx, time.Since(start).Seconds(), h.successRec...)
		}
	})
	b.Run("op=now+since+histogram-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				start := time.Now()
				h.duration.Record(ctx, time.Since(start).Seconds(), h.successRec...)
			}
		})
	})
}
