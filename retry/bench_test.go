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
