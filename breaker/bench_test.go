package breaker_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/events"
)

func BenchmarkExecute(b *testing.B) {
	ctx := context.Background()
	b.Run("closed-success", func(b *testing.B) {
		br, _ := breaker.New("bench")
		b.ReportAllocs()
		for b.Loop() {
			if err := br.Execute(ctx, succeed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("closed-success-parallel", func(b *testing.B) {
		br, _ := breaker.New("bench")
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := br.Execute(ctx, succeed); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("closed-success-subscribed", func(b *testing.B) {
		br, _ := breaker.New("bench")
		br.Events().Subscribe(events.HandlerFunc[breaker.Event](func(context.Context, breaker.Event) {}))
		b.ReportAllocs()
		for b.Loop() {
			if err := br.Execute(ctx, succeed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("closed-failure", func(b *testing.B) {
		// Far below a huge threshold, so every call runs and fails.
		br, _ := breaker.New("bench", breaker.WithFailureThreshold(math.MaxInt32))
		b.ReportAllocs()
		for b.Loop() {
			if err := br.Execute(ctx, fail); err != errBoom {
				b.Fatal(err)
			}
		}
	})
	b.Run("open-rejection", func(b *testing.B) {
		br, _ := breaker.New("bench", breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Hour))
		_ = br.Execute(ctx, fail)
		b.ReportAllocs()
		for b.Loop() {
			if err := br.Execute(ctx, succeed); err == nil {
				b.Fatal("admitted")
			}
		}
	})
	b.Run("open-rejection-parallel", func(b *testing.B) {
		br, _ := breaker.New("bench", breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Hour))
		_ = br.Execute(ctx, fail)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := br.Execute(ctx, succeed); err == nil {
					b.Fatal("admitted")
				}
			}
		})
	})
	b.Run("allow-done-closed-success", func(b *testing.B) {
		br, _ := breaker.New("bench")
		b.ReportAllocs()
		for b.Loop() {
			p, err := br.Allow(ctx)
			if err != nil {
				b.Fatal(err)
			}
			p.Done(succeed(ctx))
		}
	})
	b.Run("closed-success-state-subscribed", func(b *testing.B) {
		// A state-change-only subscriber costs a call nothing.
		br, _ := breaker.New("bench")
		br.OnStateChange(func(context.Context, breaker.Event) {})
		b.ReportAllocs()
		for b.Loop() {
			if err := br.Execute(ctx, succeed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("do-closed-success", func(b *testing.B) {
		br, _ := breaker.New("bench")
		fn := func(context.Context) (int, error) { return 1, nil }
		b.ReportAllocs()
		for b.Loop() {
			if v, err := breaker.Do(ctx, br, fn); err != nil || v != 1 {
				b.Fatal(v, err)
			}
		}
	})
}

func BenchmarkRegistryGet(b *testing.B) {
	reg := breaker.NewRegistry()
	_, _ = reg.Get("database")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := reg.Get("database"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPolicies runs the closed path under each trip policy next to the
// default consecutive-failure policy: a success, and a failure far from
// tripping (every fourth call fails, below each policy's ratio).
func BenchmarkPolicies(b *testing.B) {
	ctx := context.Background()
	policies := []struct {
		name string
		opt  breaker.Option
	}{
		{"consecutive", breaker.WithTripPolicy(breaker.ConsecutiveFailures(1 << 30))},
		{"failure-rate-calls", breaker.WithTripPolicy(breaker.FailureRate(0.5, 100, breaker.LastCalls(100)))},
		{"failure-rate-time", breaker.WithTripPolicy(breaker.FailureRate(0.5, 100, breaker.LastDuration(time.Minute, 6)))},
		{"slow-calls", breaker.WithTripPolicy(breaker.SlowCalls(time.Second, 0.5, 100, breaker.LastCalls(100)))},
		{"all-three", breaker.WithTripPolicy(breaker.ConsecutiveFailures(1<<30),
			breaker.FailureRate(0.5, 100, breaker.LastCalls(100)),
			breaker.SlowCalls(time.Second, 0.5, 100, breaker.LastDuration(time.Minute, 6)))},
	}
	for _, p := range policies {
		b.Run(p.name+"/success", func(b *testing.B) {
			br, _ := breaker.New("bench", p.opt)
			b.ReportAllocs()
			for b.Loop() {
				if err := br.Execute(ctx, succeed); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(p.name+"/mixed", func(b *testing.B) {
			br, _ := breaker.New("bench", p.opt)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				fn := succeed
				if i++; i%4 == 0 {
					fn = fail
				}
				_ = br.Execute(ctx, fn)
			}
			if br.State() != breaker.Closed {
				b.Fatal("tripped")
			}
		})
	}
}
