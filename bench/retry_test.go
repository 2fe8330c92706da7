package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	avast "github.com/avast/retry-go/v4"
	"github.com/cenkalti/backoff/v5"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/retry"
)

// The retry cases: fusebox's retry package against failsafe-go's retry
// policy, cenkalti/backoff v5 and avast/retry-go v4, each set to 3 retries
// (4 attempts) with no wait between attempts and no jitter.
//
//	RetryFirstSuccess   a call whose first attempt succeeds: the cost of
//	                    having retry at all (lib=none is the bare call)
//	RetryThirdSuccess   two failed attempts, then a success
//	RetryOpenSpecOrder  an open breaker outside the retry: the call is
//	                    rejected before the retry runs
//	RetryOpenPerAttempt the retry outside an open breaker: the first
//	                    attempt is rejected and the retry must stop at once
//
// failsafe-go composes with its own circuit breaker; cenkalti and avast,
// which have none, with fusebox's. Each loop checks every result.

//go:noinline
func okCtxValue(context.Context) (struct{}, error) { return struct{}{}, nil }

// thirdTime succeeds at every third call: the protected function of the
// RetryThirdSuccess case, once per signature.
type thirdTime struct{ n int }

//go:noinline
func (f *thirdTime) ctxValue(context.Context) (struct{}, error) {
	if f.n++; f.n%3 != 0 {
		return struct{}{}, errBoom
	}
	return struct{}{}, nil
}

//go:noinline
func (f *thirdTime) value() (struct{}, error) {
	if f.n++; f.n%3 != 0 {
		return struct{}{}, errBoom
	}
	return struct{}{}, nil
}

// retrySubject is one library's retry set up for one case; call runs one
// call and returns its error.
type retrySubject struct {
	call func() error
	// thirdTime, for RetryThirdSuccess: checked after the loop.
	f *thirdTime
}

type retryAdapter struct {
	lib            string
	firstSuccess   func(tb testing.TB) retrySubject
	thirdSuccess   func(tb testing.TB) retrySubject
	openSpecOrder  func(tb testing.TB) retrySubject // nil: no case
	openPerAttempt func(tb testing.TB) retrySubject
}

func fuseboxPolicy(tb testing.TB) *retry.Policy {
	// No budget: the peers have none, and the third-success case retries
	// twice per call, more than a budget of 0.2 per call allows.
	p, err := retry.New("bench", retry.WithMaxRetries(3), retry.WithBackoff(0, 0), retry.WithJitter(retry.NoJitter), retry.WithoutBudget())
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// openFusebox returns a fusebox breaker opened by one failure, with a
// recovery timeout of an hour.
func openFusebox(tb testing.TB) *breaker.Breaker {
	b, err := breaker.New("bench", breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	_ = b.Execute(ctx, failCtx)
	if b.State() != breaker.Open {
		tb.Fatal("breaker not open")
	}
	return b
}

// openFailsafe returns a failsafe-go breaker opened by one failure, with a
// delay of an hour.
func openFailsafe(tb testing.TB) circuitbreaker.CircuitBreaker[struct{}] {
	cb := circuitbreaker.NewBuilder[struct{}]().WithFailureThreshold(1).WithDelay(time.Hour).Build()
	cb.RecordError(errBoom)
	if !cb.IsOpen() {
		tb.Fatal("failsafe breaker not open")
	}
	return cb
}

func failsafeRetry() retrypolicy.RetryPolicy[struct{}] {
	return retrypolicy.NewBuilder[struct{}]().WithMaxRetries(3).ReturnLastFailure().
		AbortOnErrors(circuitbreaker.ErrOpen).Build()
}

func cenkaltiOptions() []backoff.RetryOption {
	return []backoff.RetryOption{backoff.WithBackOff(&backoff.ZeroBackOff{}), backoff.WithMaxTries(4), backoff.WithMaxElapsedTime(0)}
}

func avastOptions(extra ...avast.Option) []avast.Option {
	return append([]avast.Option{avast.Attempts(4), avast.Delay(0), avast.DelayType(avast.FixedDelay),
		avast.LastErrorOnly(true), avast.Context(ctx)}, extra...)
}

func retryAdapters() []retryAdapter {
	return []retryAdapter{
		{
			lib: "none",
			firstSuccess: func(testing.TB) retrySubject {
				fn := okCtxValue
				return retrySubject{call: func() error { _, err := fn(ctx); return err }}
			},
		},
		{
			lib: "fusebox",
			firstSuccess: func(tb testing.TB) retrySubject {
				p := fuseboxPolicy(tb)
				return retrySubject{call: func() error { _, err := retry.Do(ctx, p, okCtxValue); return err }}
			},
			thirdSuccess: func(tb testing.TB) retrySubject {
				p, f := fuseboxPolicy(tb), &thirdTime{}
				fn := f.ctxValue
				return retrySubject{f: f, call: func() error { _, err := retry.Do(ctx, p, fn); return err }}
			},
			openSpecOrder: func(tb testing.TB) retrySubject {
				b, p := openFusebox(tb), fuseboxPolicy(tb)
				fn := breakerWrapRetry(b, retry.Wrap(p, okCtxValue))
				return retrySubject{call: fn}
			},
			openPerAttempt: func(tb testing.TB) retrySubject {
				b, p := openFusebox(tb), fuseboxPolicy(tb)
				fn := breaker.Wrap(b, okCtxValue)
				return retrySubject{call: func() error { _, err := retry.Do(ctx, p, fn); return err }}
			},
		},
		{
			lib: "failsafe",
			firstSuccess: func(testing.TB) retrySubject {
				exec := failsafe.With[struct{}](failsafeRetry()).WithContext(ctx)
				return retrySubject{call: func() error { _, err := exec.Get(okValue); return err }}
			},
			thirdSuccess: func(testing.TB) retrySubject {
				exec, f := failsafe.With[struct{}](failsafeRetry()).WithContext(ctx), &thirdTime{}
				fn := f.value
				return retrySubject{f: f, call: func() error { _, err := exec.Get(fn); return err }}
			},
			openSpecOrder: func(tb testing.TB) retrySubject {
				exec := failsafe.With[struct{}](openFailsafe(tb), failsafeRetry()).WithContext(ctx)
				return retrySubject{call: func() error { _, err := exec.Get(okValue); return err }}
			},
			openPerAttempt: func(tb testing.TB) retrySubject {
				exec := failsafe.With[struct{}](failsafeRetry(), openFailsafe(tb)).WithContext(ctx)
				return retrySubject{call: func() error { _, err := exec.Get(okValue); return err }}
			},
		},
		{
			lib: "cenkalti",
			firstSuccess: func(testing.TB) retrySubject {
				opts := cenkaltiOptions()
				return retrySubject{call: func() error { _, err := backoff.Retry(ctx, okValue, opts...); return err }}
			},
			thirdSuccess: func(testing.TB) retrySubject {
				opts, f := cenkaltiOptions(), &thirdTime{}
				fn := f.value
				return retrySubject{f: f, call: func() error { _, err := backoff.Retry(ctx, fn, opts...); return err }}
			},
			openSpecOrder: func(tb testing.TB) retrySubject {
				b, opts := openFusebox(tb), cenkaltiOptions()
				return retrySubject{call: breakerWrapRetry(b, func(ctx context.Context) (struct{}, error) {
					return backoff.Retry(ctx, okValue, opts...)
				})}
			},
			openPerAttempt: func(tb testing.TB) retrySubject {
				b, opts := openFusebox(tb), cenkaltiOptions()
				attempt := func() (struct{}, error) {
					v, err := breaker.Do(ctx, b, okCtxValue)
					if errors.Is(err, breaker.ErrOpen) {
						return v, backoff.Permanent(err)
					}
					return v, err
				}
				return retrySubject{call: func() error { _, err := backoff.Retry(ctx, attempt, opts...); return err }}
			},
		},
		{
			lib: "avast",
			firstSuccess: func(testing.TB) retrySubject {
				opts := avastOptions()
				return retrySubject{call: func() error { _, err := avast.DoWithData(okValue, opts...); return err }}
			},
			thirdSuccess: func(testing.TB) retrySubject {
				opts, f := avastOptions(), &thirdTime{}
				fn := f.value
				return retrySubject{f: f, call: func() error { _, err := avast.DoWithData(fn, opts...); return err }}
			},
			openSpecOrder: func(tb testing.TB) retrySubject {
				b, opts := openFusebox(tb), avastOptions()
				return retrySubject{call: breakerWrapRetry(b, func(context.Context) (struct{}, error) {
					return avast.DoWithData(okValue, opts...)
				})}
			},
			openPerAttempt: func(tb testing.TB) retrySubject {
				b := openFusebox(tb)
				opts := avastOptions(avast.RetryIf(func(err error) bool { return !errors.Is(err, breaker.ErrOpen) }))
				attempt := func() (struct{}, error) { return breaker.Do(ctx, b, okCtxValue) }
				return retrySubject{call: func() error { _, err := avast.DoWithData(attempt, opts...); return err }}
			},
		},
	}
}

// breakerWrapRetry is the spec's order: the breaker outside fn.
func breakerWrapRetry(b *breaker.Breaker, fn func(context.Context) (struct{}, error)) func() error {
	wrapped := breaker.Wrap(b, fn)
	return func() error { _, err := wrapped(ctx); return err }
}

func BenchmarkRetryFirstSuccess(b *testing.B) {
	for _, a := range retryAdapters() {
		b.Run("lib="+a.lib, func(b *testing.B) {
			s := a.firstSuccess(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.call(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRetryThirdSuccess(b *testing.B) {
	for _, a := range retryAdapters() {
		if a.thirdSuccess == nil {
			continue
		}
		b.Run("lib="+a.lib, func(b *testing.B) {
			s := a.thirdSuccess(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.call(); err != nil {
					b.Fatal(err)
				}
			}
			if s.f.n%3 != 0 {
				b.Fatalf("%d attempts: not three per call", s.f.n)
			}
		})
	}
}

func benchmarkOpen(b *testing.B, subject func(a retryAdapter) func(testing.TB) retrySubject) {
	for _, a := range retryAdapters() {
		mk := subject(a)
		if mk == nil {
			continue
		}
		b.Run("lib="+a.lib, func(b *testing.B) {
			s := mk(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.call(); !errors.Is(err, breaker.ErrOpen) && !errors.Is(err, circuitbreaker.ErrOpen) {
					b.Fatalf("not a rejection: %v", err)
				}
			}
		})
	}
}

func BenchmarkRetryOpenSpecOrder(b *testing.B) {
	benchmarkOpen(b, func(a retryAdapter) func(testing.TB) retrySubject { return a.openSpecOrder })
}

func BenchmarkRetryOpenPerAttempt(b *testing.B) {
	benchmarkOpen(b, func(a retryAdapter) func(testing.TB) retrySubject { return a.openPerAttempt })
}

// TestRetryAdapters checks each adapter once, outside the benchmarks: a
// first-attempt success, three attempts for the third-time case, and a
// rejection that ran the function zero times.
func TestRetryAdapters(t *testing.T) {
	for _, a := range retryAdapters() {
		t.Run(a.lib, func(t *testing.T) {
			if err := a.firstSuccess(t).call(); err != nil {
				t.Fatal(err)
			}
			if a.thirdSuccess != nil {
				s := a.thirdSuccess(t)
				for range 3 {
					if err := s.call(); err != nil {
						t.Fatal(err)
					}
				}
				if s.f.n != 9 {
					t.Fatalf("%d attempts for 3 calls, want 9", s.f.n)
				}
			}
			for _, mk := range []func(testing.TB) retrySubject{a.openSpecOrder, a.openPerAttempt} {
				if mk == nil {
					continue
				}
				err := mk(t).call()
				if !errors.Is(err, breaker.ErrOpen) && !errors.Is(err, circuitbreaker.ErrOpen) {
					t.Fatalf("not a rejection: %v", err)
				}
			}
		})
	}
}
