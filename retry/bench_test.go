package retry_test

import (
	"context"
	"errors"
	"testing"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/retry"
)

var errBench = errors.New("boom")

//go:noinline
func okValue(context.Context) (int, error) { return 1, nil }

//go:noinline
func okErr(context.Context) error { return nil }

var protected = okValue

// BenchmarkFirstAttemptSuccess is the cost of having retry at all: a call
// whose first attempt succeeds, against the bare call.
func BenchmarkFirstAttemptSuccess(b *testing.B) {
	ctx := context.Background()
	b.Run("op=bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := protected(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	p, err := retry.New("bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("op=Do", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := retry.Do(ctx, p, protected); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=Execute", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := p.Execute(ctx, okErr); err != nil {
				b.Fatal(err)
			}
		}
	})
	wrapped := retry.Wrap(p, protected)
	b.Run("op=Wrap", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := wrapped(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	budget, _ := retry.NewBudget(0.2, 10)
	shared, _ := retry.New("shared", retry.WithBudget(budget))
	b.Run("op=Do-shared-budget", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := retry.Do(ctx, shared, protected); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=Do-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := retry.Do(ctx, p, protected); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	br, _ := breaker.New("bench")
	b.Run("op=breaker+retry", func(b *testing.B) {
		f := retry.Wrap(p, protected)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := breaker.Do(ctx, br, f); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOpenBreaker: a call rejected by an open breaker, with the
// breaker alone, in the spec's order (the breaker outside the policy) and
// per attempt (the policy outside: the first attempt is rejected and the
// policy stops).
func BenchmarkOpenBreaker(b *testing.B) {
	ctx := context.Background()
	br, _ := breaker.New("open", breaker.WithFailureThreshold(1))
	_ = br.Execute(ctx, func(context.Context) error { return errBench })
	p, _ := retry.New("open")
	for _, c := range []struct {
		name string
		fn   func(context.Context) (int, error)
	}{
		{"breaker", breaker.Wrap(br, protected)},
		{"spec-order", breaker.Wrap(br, retry.Wrap(p, protected))},
		{"per-attempt", retry.Wrap(p, breaker.Wrap(br, protected))},
	} {
		b.Run("op="+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.fn(ctx); !errors.Is(err, breaker.ErrOpen) {
					b.Fatal(err)
				}
			}
		})
	}
}
