package bench

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/telemetry"
)

// fuseboxNeverTrips is a failure threshold far beyond the calls any
// benchmark makes (and valid where int is 32 bits).
const fuseboxNeverTrips = math.MaxInt32

// fuseboxSubject calls Breaker.Execute. The half-open cycle runs on a
// breakertest.Clock that elapse advances past the recovery timeout; the
// other cases use the default monotonic clock.
type fuseboxSubject struct {
	b   *breaker.Breaker
	clk *breakertest.Clock
}

func (s fuseboxSubject) succeed() error { return s.b.Execute(ctx, okCtx) }
func (s fuseboxSubject) fail() error    { return s.b.Execute(ctx, failCtx) }
func (s fuseboxSubject) rejected(err error) bool {
	return errors.Is(err, breaker.ErrOpen)
}
func (s fuseboxSubject) elapse() { s.clk.Advance(cycleRecovery) }

func (s fuseboxSubject) state() state {
	switch s.b.State() {
	case breaker.Closed:
		return closed
	case breaker.Open:
		return open
	}
	return halfOpen
}

// fuseboxAdapter returns the adapter for fusebox; attach runs on every
// breaker it builds (to subscribe to its events), and may be nil.
func fuseboxAdapter(lib string, attach func(testing.TB, *breaker.Breaker)) adapter {
	build := func(tb testing.TB, opts ...breaker.Option) fuseboxSubject {
		b, err := breaker.New("bench", opts...)
		if err != nil {
			tb.Fatal(err)
		}
		if attach != nil {
			attach(tb, b)
		}
		return fuseboxSubject{b: b}
	}
	return adapter{
		lib: lib,
		closed: func(tb testing.TB) subject {
			return build(tb, breaker.WithFailureThreshold(fuseboxNeverTrips))
		},
		open: func(tb testing.TB) subject {
			s := build(tb, breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(recoveryLong))
			tripOpen(tb, s)
			return s
		},
		cycle: func(tb testing.TB) cycler {
			clk := breakertest.NewClock(time.Unix(1_800_000_000, 0))
			s := build(tb,
				breaker.WithFailureThreshold(1),
				breaker.WithHalfOpenMaxCalls(1),
				breaker.WithRecoveryTimeout(cycleRecovery),
				breaker.WithClock(clk))
			s.clk = clk
			if err := s.fail(); err != errBoom {
				tb.Fatalf("tripping call returned %v", err)
			}
			return s
		},
	}
}

// subscribeNoop attaches a subscriber that does nothing: the breaker then
// builds and publishes an event for every call (with its duration), which
// is the cost a subscriber imposes before it does any work of its own.
func subscribeNoop(tb testing.TB, b *breaker.Breaker) {
	unsubscribe := b.Events().Subscribe(events.HandlerFunc[breaker.Event](func(context.Context, breaker.Event) {}))
	tb.Cleanup(unsubscribe)
}

// attachOTel attaches fusebox's telemetry with an SDK MeterProvider (as
// the hand-written gobreaker instrumentation gets) and a logger that drops
// every record, so the case measures the metrics and not a log sink.
func attachOTel(tb testing.TB, b *breaker.Breaker) {
	tel, err := telemetry.New(
		telemetry.WithMeterProvider(newMeterProvider(tb)),
		telemetry.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		tb.Fatal(err)
	}
	detach, err := tel.AttachBreaker(b)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(detach)
}

func fuseboxAdapters() []adapter {
	return []adapter{
		fuseboxAdapter("fusebox", nil),
		fuseboxAdapter("fusebox+sub", subscribeNoop),
		fuseboxAdapter("fusebox+otel", attachOTel),
	}
}
