package bench

import (
	"errors"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/afex/hystrix-go/hystrix"
	"github.com/cenk/backoff"
	eapache "github.com/eapache/go-resiliency/breaker"
	"github.com/facebookgo/clock"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	circuit "github.com/rubyist/circuitbreaker"
	"github.com/sony/gobreaker/v2"
)

const (
	// recoveryLong keeps an open breaker open for the whole benchmark.
	recoveryLong = time.Hour
	// cycleRecovery is the recovery timeout of the half-open cycle on a
	// fake clock.
	cycleRecovery = time.Second
)

func peerAdapters() []adapter {
	return []adapter{
		gobreakerAdapter(),
		gobreakerOTelAdapter(),
		failsafeAdapter(),
		failsafePermitAdapter(),
		eapacheAdapter(),
		rubyistAdapter(),
		hystrixAdapter(),
	}
}

// --- sony/gobreaker/v2 ---------------------------------------------------

// gobreakerSubject calls CircuitBreaker[struct{}].Execute. The library has
// no clock seam: the half-open cycle uses a 1 ns Timeout, and elapse polls
// State (which derives half-open from time.Now) until the breaker leaves
// open.
type gobreakerSubject struct {
	cb *gobreaker.CircuitBreaker[struct{}]
}

func newGobreaker(st gobreaker.Settings) gobreakerSubject {
	return gobreakerSubject{cb: gobreaker.NewCircuitBreaker[struct{}](st)}
}

func (s gobreakerSubject) succeed() error { _, err := s.cb.Execute(okValue); return err }
func (s gobreakerSubject) fail() error    { _, err := s.cb.Execute(failValue); return err }
func (s gobreakerSubject) rejected(err error) bool {
	return errors.Is(err, gobreaker.ErrOpenState)
}
func (s gobreakerSubject) state() state { return gobreakerState(s.cb.State()) }
func (s gobreakerSubject) elapse() {
	for s.cb.State() == gobreaker.StateOpen {
	}
}

func gobreakerState(st gobreaker.State) state {
	switch st {
	case gobreaker.StateClosed:
		return closed
	case gobreaker.StateOpen:
		return open
	}
	return halfOpen
}

// tripAfter returns a ReadyToTrip that opens at n consecutive failures.
func tripAfter(n uint32) func(gobreaker.Counts) bool {
	return func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= n }
}

func gobreakerAdapter() adapter {
	return adapter{
		lib: "gobreaker",
		closed: func(testing.TB) subject {
			return newGobreaker(gobreaker.Settings{Name: "bench", ReadyToTrip: tripAfter(math.MaxUint32)})
		},
		open: func(tb testing.TB) subject {
			s := newGobreaker(gobreaker.Settings{Name: "bench", ReadyToTrip: tripAfter(1), Timeout: recoveryLong})
			tripOpen(tb, s)
			return s
		},
		cycle: func(tb testing.TB) cycler {
			s := newGobreaker(gobreaker.Settings{Name: "bench", MaxRequests: 1, ReadyToTrip: tripAfter(1), Timeout: time.Nanosecond})
			if err := s.fail(); err != errBoom {
				tb.Fatalf("tripping call returned %v", err)
			}
			return s
		},
	}
}

// --- failsafe-go -----------------------------------------------------------

// failsafeRunSubject calls through failsafe.With(cb).Run, with the executor
// built once (as a caller that keeps it in a field would). The clock is
// internal to the library: the half-open cycle uses WithDelay(1ns), and
// elapse polls RemainingDelay until it is zero.
type failsafeRunSubject struct {
	cb   circuitbreaker.CircuitBreaker[any]
	exec failsafe.Executor[any]
}

func (s failsafeRunSubject) succeed() error { return s.exec.Run(okPlain) }
func (s failsafeRunSubject) fail() error    { return s.exec.Run(failPlain) }
func (s failsafeRunSubject) rejected(err error) bool {
	return errors.Is(err, circuitbreaker.ErrOpen)
}
func (s failsafeRunSubject) state() state { return failsafeState(s.cb.State()) }
func (s failsafeRunSubject) elapse()      { failsafeElapse(s.cb) }

// failsafePermitSubject uses the breaker without an executor:
// TryAcquirePermit, the call, then RecordResult (success) or RecordError
// (failure).
type failsafePermitSubject struct {
	cb circuitbreaker.CircuitBreaker[any]
}

func (s failsafePermitSubject) succeed() error {
	if !s.cb.TryAcquirePermit() {
		return circuitbreaker.ErrOpen
	}
	err := okPlain()
	if err != nil {
		s.cb.RecordError(err)
		return err
	}
	s.cb.RecordResult(nil)
	return nil
}

func (s failsafePermitSubject) fail() error {
	if !s.cb.TryAcquirePermit() {
		return circuitbreaker.ErrOpen
	}
	err := failPlain()
	if err != nil {
		s.cb.RecordError(err)
		return err
	}
	s.cb.RecordResult(nil)
	return nil
}

func (s failsafePermitSubject) rejected(err error) bool {
	return errors.Is(err, circuitbreaker.ErrOpen)
}
func (s failsafePermitSubject) state() state { return failsafeState(s.cb.State()) }
func (s failsafePermitSubject) elapse()      { failsafeElapse(s.cb) }

func failsafeState(st circuitbreaker.State) state {
	switch st {
	case circuitbreaker.ClosedState:
		return closed
	case circuitbreaker.OpenState:
		return open
	}
	return halfOpen
}

func failsafeElapse(cb circuitbreaker.CircuitBreaker[any]) {
	for cb.RemainingDelay() > 0 {
	}
}

// failsafeNeverTrips is a count-based breaker whose threshold (2 failures)
// is larger than its window (1 execution), so no run of failures opens it.
// Its cost per call is that of any count-based breaker: one bit set in the
// window, one comparison.
func failsafeNeverTrips() circuitbreaker.CircuitBreaker[any] {
	return circuitbreaker.NewBuilder[any]().WithFailureThresholdRatio(2, 1).Build()
}

func failsafeTripsOnce(delay time.Duration) circuitbreaker.CircuitBreaker[any] {
	return circuitbreaker.NewBuilder[any]().WithFailureThreshold(1).WithDelay(delay).Build()
}

func failsafeAdapter() adapter {
	wrap := func(cb circuitbreaker.CircuitBreaker[any]) failsafeRunSubject {
		return failsafeRunSubject{cb: cb, exec: failsafe.With[any](cb)}
	}
	return adapter{
		lib:    "failsafe",
		closed: func(testing.TB) subject { return wrap(failsafeNeverTrips()) },
		open: func(tb testing.TB) subject {
			s := wrap(failsafeTripsOnce(recoveryLong))
			tripOpen(tb, s)
			return s
		},
		cycle: func(tb testing.TB) cycler {
			s := wrap(failsafeTripsOnce(time.Nanosecond))
			if err := s.fail(); err != errBoom {
				tb.Fatalf("tripping call returned %v", err)
			}
			return s
		},
	}
}

func failsafePermitAdapter() adapter {
	return adapter{
		lib:    "failsafe-permit",
		closed: func(testing.TB) subject { return failsafePermitSubject{cb: failsafeNeverTrips()} },
		open: func(tb testing.TB) subject {
			s := failsafePermitSubject{cb: failsafeTripsOnce(recoveryLong)}
			tripOpen(tb, s)
			return s
		},
		cycle: func(tb testing.TB) cycler {
			s := failsafePermitSubject{cb: failsafeTripsOnce(time.Nanosecond)}
			if err := s.fail(); err != errBoom {
				tb.Fatalf("tripping call returned %v", err)
			}
			return s
		},
	}
}

// --- eapache/go-resiliency ------------------------------------------------

// eapacheSubject calls Breaker.Run. The library flips an open breaker to
// half-open from a goroutine that sleeps for the timeout (each trip starts
// one), so it reads no clock on the rejection path. Failures are only
// forgotten after an error-free timeout, not on a success, so the closed
// breaker gets an error threshold of math.MaxInt. The half-open cycle uses
// a 1 ns timeout and elapse yields until that goroutine has run: the cycle
// includes a timer wake-up and a goroutine switch.
type eapacheSubject struct {
	b *eapache.Breaker
}

func (s eapacheSubject) succeed() error { return s.b.Run(okPlain) }
func (s eapacheSubject) fail() error    { return s.b.Run(failPlain) }
func (s eapacheSubject) rejected(err error) bool {
	return errors.Is(err, eapache.ErrBreakerOpen)
}

func (s eapacheSubject) state() state {
	switch s.b.GetState() {
	case eapache.Closed:
		return closed
	case eapache.Open:
		return open
	}
	return halfOpen
}

func (s eapacheSubject) elapse() {
	for s.b.GetState() == eapache.Open {
		runtime.Gosched()
	}
}

func eapacheAdapter() adapter {
	return adapter{
		lib:    "eapache",
		closed: func(testing.TB) subject { return eapacheSubject{b: eapache.New(math.MaxInt, 1, time.Minute)} },
		open: func(tb testing.TB) subject {
			s := eapacheSubject{b: eapache.New(1, 1, recoveryLong)}
			tripOpen(tb, s)
			return s
		},
		cycle: func(tb testing.TB) cycler {
			s := eapacheSubject{b: eapache.New(1, 1, time.Nanosecond)}
			if err := s.fail(); err != errBoom {
				tb.Fatalf("tripping call returned %v", err)
			}
			return s
		},
	}
}

// --- rubyist/circuitbreaker -----------------------------------------------

// rubyistSubject calls Breaker.Call with no timeout (a timeout makes the
// library run the function on a new goroutine). The library exposes no
// half-open state, only Tripped, so state reports a tripped breaker as
// open. Its failure window always reads the wall clock; the open-state check
// reads Breaker.Clock, which the half-open cycle sets to the library's own
// mock clock (elapse advances it past a constant back-off).
type rubyistSubject struct {
	b    *circuit.Breaker
	mock *clock.Mock
}

func (s rubyistSubject) succeed() error { return s.b.Call(okPlain, 0) }
func (s rubyistSubject) fail() error    { return s.b.Call(failPlain, 0) }
func (s rubyistSubject) rejected(err error) bool {
	return errors.Is(err, circuit.ErrBreakerOpen)
}

func (s rubyistSubject) state() state {
	if s.b.Tripped() {
		return open
	}
	return closed
}

func (s rubyistSubject) elapse() { s.mock.Add(cycleRecovery + time.Nanosecond) }

func rubyistAdapter() adapter {
	return adapter{
		lib: "rubyist",
		closed: func(testing.TB) subject {
			return rubyistSubject{b: circuit.NewBreakerWithOptions(&circuit.Options{
				ShouldTrip: circuit.ConsecutiveTripFunc(math.MaxInt64),
			})}
		},
		open: func(tb testing.TB) subject {
			s := rubyistSubject{b: circuit.NewBreakerWithOptions(&circuit.Options{
				ShouldTrip: circuit.ConsecutiveTripFunc(1),
				BackOff:    backoff.NewConstantBackOff(recoveryLong),
			})}
			tripOpen(tb, s)
			return s
		},
		cycle: func(tb testing.TB) cycler {
			mock := clock.NewMock()
			s := rubyistSubject{mock: mock, b: circuit.NewBreakerWithOptions(&circuit.Options{
				Clock:      mock,
				ShouldTrip: circuit.ConsecutiveTripFunc(1),
				BackOff:    backoff.NewConstantBackOff(cycleRecovery),
			})}
			if err := s.fail(); err != errBoom {
				tb.Fatalf("tripping call returned %v", err)
			}
			return s
		},
	}
}

// --- afex/hystrix-go --------------------------------------------------------

// hystrixSubject calls hystrix.DoC on a command of its own (the library
// keeps commands in a process-wide map by name). Every call starts two
// goroutines and a timer, and health is computed from rolling counters that
// a per-command goroutine updates asynchronously, so the open breaker is
// tripped by waiting until IsOpen reports it.
type hystrixSubject struct {
	name string
	cb   *hystrix.CircuitBreaker
}

func (s hystrixSubject) succeed() error { return hystrix.DoC(ctx, s.name, okCtx, nil) }
func (s hystrixSubject) fail() error    { return hystrix.DoC(ctx, s.name, failCtx, nil) }
func (s hystrixSubject) rejected(err error) bool {
	return errors.Is(err, hystrix.ErrCircuitOpen)
}

func (s hystrixSubject) state() state {
	if s.cb.IsOpen() {
		return open
	}
	return closed
}

func newHystrix(tb testing.TB, cfg hystrix.CommandConfig) hystrixSubject {
	name := uniqueName("bench")
	cfg.Timeout = 60_000 // ms: no call times out
	// DoC returns as soon as the function has run, before the command's
	// goroutine hands its concurrency ticket back, so even a serial caller
	// can have many commands outstanding; with the default of 10 tickets
	// calls are turned away with ErrMaxConcurrency.
	cfg.MaxConcurrentRequests = 10_000
	hystrix.ConfigureCommand(name, cfg)
	cb, _, err := hystrix.GetCircuit(name)
	if err != nil {
		tb.Fatal(err)
	}
	return hystrixSubject{name: name, cb: cb}
}

func hystrixAdapter() adapter {
	return adapter{
		lib: "hystrix",
		closed: func(tb testing.TB) subject {
			return newHystrix(tb, hystrix.CommandConfig{RequestVolumeThreshold: math.MaxInt32})
		},
		open: func(tb testing.TB) subject {
			s := newHystrix(tb, hystrix.CommandConfig{
				RequestVolumeThreshold: 1,
				ErrorPercentThreshold:  1,
				SleepWindow:            int(recoveryLong / time.Millisecond),
			})
			if err := s.fail(); err != errBoom {
				tb.Fatalf("tripping call returned %v", err)
			}
			waitUntil(tb, "hystrix opens", s.cb.IsOpen)
			if err := s.succeed(); !s.rejected(err) {
				tb.Fatalf("call on the tripped breaker returned %v, want a rejection", err)
			}
			return s
		},
		skip: map[string]string{
			caseHalfOpenCycle: "hystrix-go has no clock seam, its sleep window is whole milliseconds, " +
				"and it trips from rolling counters updated by a background goroutine: " +
				"a cycle would time the scheduler, not the breaker",
		},
	}
}
