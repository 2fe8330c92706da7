package breaker_test

import (
	"context"
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
		br, _ := breaker.New("bench", breaker.WithFailureThreshold(1<<31))
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
