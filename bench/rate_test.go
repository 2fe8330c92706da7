package bench

import (
	"errors"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"

	"github.com/fusebox-go/fusebox/breaker"
)

// BenchmarkFailureRate compares failure-rate breakers, the resilience4j
// style, on the closed path: a window of the last 100 calls (or the last
// minute), opening at half of at least 100 calls failing. Every fourth call
// fails, well below the ratio, so every call runs; each result is checked
// and the breaker must still be closed at the end. fusebox's default
// consecutive policy runs the same mix for reference.
func BenchmarkFailureRate(b *testing.B) {
	type lib struct {
		call func(fail bool) error
		open func() bool
	}
	fusebox := func(opt breaker.Option) lib {
		br, err := breaker.New("bench", opt)
		if err != nil {
			b.Fatal(err)
		}
		return lib{
			call: func(fail bool) error {
				if fail {
					return br.Execute(ctx, failCtx)
				}
				return br.Execute(ctx, okCtx)
			},
			open: func() bool { return br.State() != breaker.Closed },
		}
	}
	failsafeRun := func(cb circuitbreaker.CircuitBreaker[any]) lib {
		exec := failsafe.With[any](cb)
		return lib{
			call: func(fail bool) error {
				if fail {
					return exec.Run(failPlain)
				}
				return exec.Run(okPlain)
			},
			open: func() bool { return !cb.IsClosed() },
		}
	}
	failsafePermit := func(cb circuitbreaker.CircuitBreaker[any]) lib {
		return lib{
			call: func(fail bool) error {
				if !cb.TryAcquirePermit() {
					return circuitbreaker.ErrOpen
				}
				if fail {
					err := failPlain()
					cb.RecordError(err)
					return err
				}
				err := okPlain()
				cb.RecordSuccess()
				return err
			},
			open: func() bool { return !cb.IsClosed() },
		}
	}
	countCB := func() circuitbreaker.CircuitBreaker[any] {
		return circuitbreaker.NewBuilder[any]().WithFailureThresholdRatio(50, 100).Build()
	}
	timeCB := func() circuitbreaker.CircuitBreaker[any] {
		return circuitbreaker.NewBuilder[any]().WithFailureRateThreshold(0.5, 100, time.Minute).Build()
	}
	cases := []struct {
		window string
		lib    string
		build  func() lib
	}{
		{"calls", "fusebox", func() lib {
			return fusebox(breaker.WithTripPolicy(breaker.FailureRate(0.5, 100, breaker.LastCalls(100))))
		}},
		{"calls", "failsafe", func() lib { return failsafeRun(countCB()) }},
		{"calls", "failsafe-permit", func() lib { return failsafePermit(countCB()) }},
		{"time", "fusebox", func() lib {
			return fusebox(breaker.WithTripPolicy(breaker.FailureRate(0.5, 100, breaker.LastDuration(time.Minute, 10))))
		}},
		{"time", "failsafe", func() lib { return failsafeRun(timeCB()) }},
		{"time", "failsafe-permit", func() lib { return failsafePermit(timeCB()) }},
		{"none", "fusebox-consecutive", func() lib { return fusebox(breaker.WithFailureThreshold(1 << 30)) }},
	}
	for _, c := range cases {
		b.Run("window="+c.window+"/lib="+c.lib, func(b *testing.B) {
			l := c.build()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				fail := i%4 == 0
				err := l.call(fail)
				if fail && !errors.Is(err, errBoom) || !fail && err != nil {
					b.Fatalf("call %d (fail=%v) returned %v", i, fail, err)
				}
			}
			if l.open() {
				b.Fatal("the breaker opened")
			}
		})
	}
}
