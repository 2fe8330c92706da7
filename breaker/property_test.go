package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/events"
)

// These tests check properties that must hold under any interleaving, with
// many goroutines under the race detector. TestHammer (concurrency_test.go)
// is the basic version; these add exact per-outcome accounting through Do,
// Wrap, panics and cancellations, monotonic totals as seen by concurrent
// readers, an exact bound on half-open trials, a stricter reading of the
// state-change stream, and re-entrant subscribers.

// watchdog fails the test, with every goroutine's stack, if done is not
// closed within limit: the way these tests detect a deadlock.
func watchdog(t *testing.T, done <-chan struct{}, limit time.Duration, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(limit):
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%s did not finish within %v: deadlock?\n%s", what, limit, buf)
	}
}

// outcomeTally counts outcomes as the callers saw them.
type outcomeTally struct {
	success, failure, ignored, rejected, ran atomic.Uint64
}

// TestPropertyTotalsAddUpExactly: with 16 goroutines calling through
// Execute, Do and Wrap with every outcome (success, failure, ignored by the
// predicate, ignored because the caller cancelled, panic), an operator
// forcing and resetting, and the clock moving, the final totals equal what
// the callers saw, outcome by outcome, and every admitted function ran
// exactly once. While it runs, concurrent readers never see a total go down
// (not even across Reset) and every snapshot has TotalCalls equal to the
// sum of the four outcomes. With a subscriber, the call events tally with
// the totals too.
func TestPropertyTotalsAddUpExactly(t *testing.T) {
	for _, observed := range []bool{false, true} {
		t.Run(fmt.Sprintf("observed=%v", observed), func(t *testing.T) {
			const workers, perWorker = 16, 1500
			b, clock := newClocked(t, breaker.WithFailureThreshold(3), breaker.WithRecoveryTimeout(time.Second),
				breaker.WithHalfOpenMaxCalls(2),
				breaker.WithFailurePredicate(func(err error) bool { return !errors.Is(err, errIgnored) }))
			var evs [4]atomic.Uint64 // call events by outcome
			if observed {
				b.Events().Subscribe(eventsFunc(func(_ context.Context, e breaker.Event) {
					if e.Kind == breaker.EventCall {
						evs[e.Outcome].Add(1)
					}
				}))
			}
			var tally outcomeTally
			stop := make(chan struct{})
			var readers sync.WaitGroup
			for range 2 {
				readers.Add(1)
				go func() {
					defer readers.Done()
					var prev breaker.Stats
					for {
						s := b.Stats()
						if s.TotalCalls != s.TotalSuccesses+s.TotalFailures+s.TotalRejected+s.TotalIgnored {
							t.Errorf("TotalCalls %d is not the sum of the outcomes in %+v", s.TotalCalls, s)
							return
						}
						if s.TotalCalls < prev.TotalCalls || s.TotalSuccesses < prev.TotalSuccesses || s.TotalFailures < prev.TotalFailures ||
							s.TotalRejected < prev.TotalRejected || s.TotalIgnored < prev.TotalIgnored {
							t.Errorf("a total went down:\n  before %+v\n  after  %+v", prev, s)
							return
						}
						prev = s
						select {
						case <-stop:
							return
						default:
						}
					}
				}()
			}

			wrapped := breaker.Wrap(b, func(ctx context.Context) (int, error) { tally.ran.Add(1); return 7, nil })
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(w), 11))
					for i := range perWorker {
						r := rng.IntN(100)
						ctx, cancel := context.WithCancel(context.Background())
						var err error
						panicked := false
						func() {
							defer func() {
								if v := recover(); v != nil {
									if v != "boom" {
										t.Errorf("re-panicked with %v, want the original value", v)
									}
									panicked = true
								}
							}()
							switch {
							case r < 10: // through Wrap: success only
								var v int
								if v, err = wrapped(ctx); err == nil && v != 7 {
									t.Errorf("Wrap returned %d", v)
								}
							case r < 20: // through Do
								_, err = breaker.Do(ctx, b, func(context.Context) (string, error) { tally.ran.Add(1); return "", errBoom })
							default:
								err = b.Execute(ctx, func(ctx context.Context) error {
									tally.ran.Add(1)
									switch {
									case r < 45:
										return errBoom
									case r < 50:
										return errIgnored
									case r < 53:
										cancel()
										return errBoom
									case r < 55:
										panic("boom")
									}
									return nil
								})
							}
						}()
						cancel()
						switch {
						case panicked:
							tally.failure.Add(1)
						case errors.Is(err, breaker.ErrOpen):
							tally.rejected.Add(1)
						case err == nil:
							tally.success.Add(1)
						case errors.Is(err, errIgnored), errors.Is(err, errBoom) && r >= 50 && r < 53:
							tally.ignored.Add(1)
						case errors.Is(err, errBoom):
							tally.failure.Add(1)
						default:
							t.Errorf("unexpected error %v", err)
						}
						switch {
						case r == 99:
							clock.Advance(400 * time.Millisecond)
						case w == 0 && i%300 == 100:
							b.ForceOpen()
						case w == 1 && i%300 == 200:
							b.Reset()
						}
					}
				}()
			}
			wg.Wait()
			close(stop)
			readers.Wait()

			s := b.Stats()
			assert.Equal(t, uint64(workers*perWorker), s.TotalCalls)
			assert.Equal(t, tally.success.Load(), s.TotalSuccesses, "successes")
			assert.Equal(t, tally.failure.Load(), s.TotalFailures, "failures (panics included)")
			assert.Equal(t, tally.ignored.Load(), s.TotalIgnored, "ignored")
			assert.Equal(t, tally.rejected.Load(), s.TotalRejected, "rejected")
			assert.Equal(t, tally.ran.Load(), s.TotalSuccesses+s.TotalFailures+s.TotalIgnored, "every admitted call ran exactly once")
			assert.NotZero(t, s.TotalRejected)
			if observed {
				assert.Equal(t, s.TotalSuccesses, evs[breaker.OutcomeSuccess].Load(), "success events")
				assert.Equal(t, s.TotalFailures, evs[breaker.OutcomeFailure].Load(), "failure events")
				assert.Equal(t, s.TotalIgnored, evs[breaker.OutcomeIgnored].Load(), "ignored events")
				assert.Equal(t, s.TotalRejected, evs[breaker.OutcomeRejected].Load(), "rejection events")
			}
		})
	}
}

// legalChange lists, for each reason, the state a change may start from and
// the state it ends in.
var legalChange = map[breaker.Reason][][2]breaker.State{
	breaker.ReasonFailureThreshold: {{breaker.Closed, breaker.Open}},
	breaker.ReasonRecoveryTimeout:  {{breaker.Open, breaker.HalfOpen}},
	breaker.ReasonTrialsSucceeded:  {{breaker.HalfOpen, breaker.Closed}},
	breaker.ReasonTrialFailed:      {{breaker.HalfOpen, breaker.Open}},
	breaker.ReasonForceOpen:        {{breaker.Closed, breaker.Open}, {breaker.HalfOpen, breaker.Open}},
	breaker.ReasonReset:            {{breaker.Open, breaker.Closed}, {breaker.HalfOpen, breaker.Closed}},
	breaker.ReasonFailureRate:      {{breaker.Closed, breaker.Open}},
	breaker.ReasonSlowCalls:        {{breaker.Closed, breaker.Open}},
	breaker.ReasonHalfOpenTimeout:  {{breaker.HalfOpen, breaker.Open}},
}

// Every state change changes the state: a forced hold of an open breaker
// is told by Stats.Forced, not by an open->open change.
func TestLegalChangesChangeTheState(t *testing.T) {
	for r, edges := range legalChange {
		for _, e := range edges {
			assert.NotEqual(t, e[0], e[1], "%s: %s->%s", r, e[0], e[1])
		}
	}
}

// checkPath checks a stream of state changes from a breaker whose clock
// only moved forward: each change starts where the last ended and is legal
// for its reason; a forced breaker changes only by Reset; a half-open
// period starts no earlier than the recovery timeout after the opening it
// ends, and carries the count that opened it; a threshold opening carries
// the threshold; times never go back.
func checkPath(t *testing.T, changes []breaker.Event, threshold int, timeout time.Duration) breaker.State {
	t.Helper()
	prev := breaker.Closed
	forced := false
	var openedAt, last time.Time
	openedWith := 0
	for i, e := range changes {
		where := fmt.Sprintf("change %d (%s->%s, %s)", i, e.From, e.To, e.Reason)
		require.Equal(t, prev, e.From, "%s does not start where the last ended", where)
		require.Contains(t, legalChange[e.Reason], [2]breaker.State{e.From, e.To}, "%s is not a legal change", where)
		require.False(t, e.Time.Before(last), "%s at %v, before the previous change at %v", where, e.Time, last)
		if forced {
			require.Equal(t, breaker.ReasonReset, e.Reason, "%s: a forced breaker changes only by Reset", where)
		}
		switch e.Reason {
		case breaker.ReasonFailureThreshold:
			require.Equal(t, threshold, e.ConsecutiveFailures, where)
		case breaker.ReasonTrialFailed:
			require.Equal(t, 1, e.ConsecutiveFailures, where)
		case breaker.ReasonTrialsSucceeded, breaker.ReasonReset:
			require.Zero(t, e.ConsecutiveFailures, where)
		case breaker.ReasonRecoveryTimeout:
			require.False(t, e.Time.Before(openedAt.Add(timeout)), "%s at %v, opened at %v: early", where, e.Time, openedAt)
			require.Equal(t, openedWith, e.ConsecutiveFailures, "%s carries the count that opened it", where)
		}
		if e.To == breaker.Open {
			openedAt, openedWith = e.Time, e.ConsecutiveFailures
		}
		forced = e.Reason == breaker.ReasonForceOpen
		prev, last = e.To, e.Time
	}
	return prev
}

// TestPropertyStateChangesFormALegalPath extends TestHammer's check of the
// state-change stream: 16 goroutines, a clock moving forward, an operator,
// and subscribers that call back into the breaker; the stream seen by a
// subscriber must pass checkPath and end in the breaker's final state.
func TestPropertyStateChangesFormALegalPath(t *testing.T) {
	const workers, perWorker, threshold, timeout = 16, 1500, 3, time.Second
	b, clock := newClocked(t, breaker.WithFailureThreshold(threshold), breaker.WithRecoveryTimeout(timeout), breaker.WithHalfOpenMaxCalls(2))
	var mu sync.Mutex
	var changes []breaker.Event
	b.Events().Subscribe(eventsFunc(func(_ context.Context, e breaker.Event) {
		if e.Kind != breaker.EventStateChange {
			return
		}
		mu.Lock()
		changes = append(changes, e)
		mu.Unlock()
	}))
	// A second subscriber reads the breaker from inside every delivery.
	b.Events().Subscribe(eventsFunc(func(context.Context, breaker.Event) {
		_ = b.State()
		_ = b.Stats()
	}))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			for i := range perWorker {
				r := rng.IntN(100)
				_ = b.Execute(context.Background(), func(context.Context) error {
					if r < 40 {
						return errBoom
					}
					return nil
				})
				switch {
				case r >= 98:
					clock.Advance(300 * time.Millisecond)
				case w == 0 && i%300 == 100:
					b.ForceOpen() // publishes closed->open or half_open->open; an open breaker is held silently
				case w == 0 && i%300 == 250:
					b.Reset()
					b.ForceOpen()
				case w == 1 && i%150 == 40:
					b.Reset()
				}
			}
		}()
	}
	wg.Wait()
	// A final Reset ends the path in a known state.
	b.Reset()
	mu.Lock()
	defer mu.Unlock()
	end := checkPath(t, changes, threshold, timeout)
	assert.Equal(t, breaker.Closed, end, "the path ends where the breaker is")
	assert.Equal(t, breaker.Closed, b.State())
	reasons := map[breaker.Reason]int{}
	for _, e := range changes {
		reasons[e.Reason]++
	}
	t.Logf("%d state changes: %v", len(changes), reasons)
	for _, r := range []breaker.Reason{breaker.ReasonFailureThreshold, breaker.ReasonRecoveryTimeout, breaker.ReasonTrialsSucceeded,
		breaker.ReasonTrialFailed, breaker.ReasonForceOpen, breaker.ReasonReset} {
		assert.Positive(t, reasons[r], "no %s change: the workload should produce every kind", r)
	}
}

// TestPropertyReentrantSubscribersDoNotDeadlock: subscribers that call
// State, Stats, Reset and ForceOpen from inside their handler, on every
// event, while 8 goroutines call Execute and the same methods directly,
// on the synchronous and the asynchronous bus. Everything finishes, and
// the state changes the synchronous subscriber saw still form a path.
func TestPropertyReentrantSubscribersDoNotDeadlock(t *testing.T) {
	for _, async := range []bool{false, true} {
		t.Run(fmt.Sprintf("async=%v", async), func(t *testing.T) {
			clock := breakertest.NewClock(t0)
			opts := []breaker.Option{breaker.WithClock(clock), breaker.WithFailureThreshold(2), breaker.WithRecoveryTimeout(time.Second), breaker.WithHalfOpenMaxCalls(1)}
			var bus events.Bus[breaker.Event] = events.NewSync[breaker.Event]()
			var abus *events.Async[breaker.Event]
			if async {
				abus = events.NewAsync[breaker.Event](256)
				bus = abus
			}
			b, err := breaker.New("reentrant", append(opts, breaker.WithEventBus(bus))...)
			require.NoError(t, err)
			var mu sync.Mutex
			var changes []breaker.Event
			var handled atomic.Uint64
			bus.Subscribe(eventsFunc(func(_ context.Context, e breaker.Event) {
				n := handled.Add(1)
				_ = b.State()
				_ = b.Stats()
				if e.Kind == breaker.EventStateChange {
					mu.Lock()
					changes = append(changes, e)
					mu.Unlock()
					switch {
					case e.To == breaker.Open && n%3 == 0:
						b.Reset()
					case e.To == breaker.Closed && n%5 == 0:
						b.ForceOpen()
					}
				}
			}))

			done := make(chan struct{})
			go func() {
				defer close(done)
				var wg sync.WaitGroup
				for w := range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range 400 {
							_ = b.Execute(context.Background(), func(context.Context) error {
								if (i+w)%3 == 0 {
									return errBoom
								}
								return nil
							})
							switch i % 50 {
							case 10:
								b.Reset()
							case 20:
								b.ForceOpen()
							case 30:
								_ = b.Stats()
							case 40:
								clock.Advance(time.Second)
							}
							_ = b.State()
						}
					}()
				}
				wg.Wait()
			}()
			watchdog(t, done, 60*time.Second, "re-entrant subscribers")
			b.Reset()
			if abus != nil {
				require.NoError(t, abus.Close())
				assert.Positive(t, handled.Load()+abus.Dropped())
				return
			}
			assert.Positive(t, handled.Load())
			mu.Lock()
			defer mu.Unlock()
			prev := breaker.Closed
			for i, e := range changes {
				require.Equal(t, prev, e.From, "change %d (%s->%s, %s) does not start where the last ended", i, e.From, e.To, e.Reason)
				require.Contains(t, legalChange[e.Reason], [2]breaker.State{e.From, e.To})
				prev = e.To
			}
		})
	}
}

// TestPropertyEveryStateChangeIsPublished: once the goroutines that changed
// the state have returned, a subscriber has seen every change, so the last
// change it saw ends in the breaker's current state. Four goroutines race
// ForceOpen and Reset, so that one goroutine's transition often lands while
// another is publishing (a change queued just as the publisher finished
// used to stay unpublished until the next transition). FUSEBOX_STRESS=1
// runs 50,000 rounds instead of 1,500.
func TestPropertyEveryStateChangeIsPublished(t *testing.T) {
	rounds := 1500
	if os.Getenv("FUSEBOX_STRESS") != "" {
		rounds = 50000
	}
	lost := 0
	for round := range rounds {
		b, _ := newClocked(t)
		var mu sync.Mutex
		var last breaker.Event
		seen := 0
		b.Events().Subscribe(eventsFunc(func(_ context.Context, e breaker.Event) {
			mu.Lock()
			last, seen = e, seen+1
			mu.Unlock()
		}))
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					if (i+g)%2 == 0 {
						b.ForceOpen()
					} else {
						b.Reset()
					}
				}
			}()
		}
		wg.Wait()
		// State of an open forced breaker or a closed one applies no
		// transition, so it publishes nothing by itself.
		st := b.State()
		mu.Lock()
		want := breaker.Closed
		if seen > 0 {
			want = last.To
		}
		mu.Unlock()
		if want != st {
			lost++
			t.Errorf("round %d: the breaker is %s but the last published change ended in %s (after %d changes)", round, st, want, seen)
			if lost >= 3 {
				return
			}
		}
	}
}
