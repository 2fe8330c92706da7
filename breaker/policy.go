package breaker

import (
	"fmt"
	"time"
)

// TripPolicy decides when a closed breaker opens. Build one with
// [ConsecutiveFailures], [FailureRate] or [SlowCalls] and install it with
// [WithTripPolicy]; several policies combine, and the breaker opens as soon
// as any of them says so. Without WithTripPolicy a breaker has the spec's
// policy, ConsecutiveFailures(5).
//
// The windowed policies (FailureRate, SlowCalls) look at closed-state calls
// only: a transition clears their window, and trials in half-open are
// judged by half_open_max_calls as usual. Ignored calls are not counted.
type TripPolicy struct {
	kind       policyKind
	n          int // consecutive failures
	ratio      float64
	minCalls   int
	window     Window
	slowerThan time.Duration
}

type policyKind uint8

const (
	policyConsecutive policyKind = iota + 1
	policyFailureRate
	policySlowCalls
)

// ConsecutiveFailures opens the breaker after n failures in a row (the
// spec's failure_threshold). [WithFailureThreshold](n) is its shorthand.
func ConsecutiveFailures(n int) TripPolicy {
	return TripPolicy{kind: policyConsecutive, n: n}
}

// FailureRate opens the breaker when at least ratio of the calls in window
// failed, once the window holds at least minCalls calls. ratio is in
// (0, 1]; minCalls is at least 1 (and, for a [LastCalls] window, at most its
// size).
func FailureRate(ratio float64, minCalls int, window Window) TripPolicy {
	return TripPolicy{kind: policyFailureRate, ratio: ratio, minCalls: minCalls, window: window}
}

// SlowCalls opens the breaker when at least ratio of the calls in window
// took slowerThan or longer, once the window holds at least minCalls calls.
// A slow call still returns its value and counts as a success or failure as
// usual; it is counted in Stats.TotalSlowCalls too. Measuring slowness reads
// the breaker's clock twice per call.
func SlowCalls(slowerThan time.Duration, ratio float64, minCalls int, window Window) TripPolicy {
	return TripPolicy{kind: policySlowCalls, slowerThan: slowerThan, ratio: ratio, minCalls: minCalls, window: window}
}

// String describes the policy, for example "failure_rate(0.5 of last 100 calls, min 20)".
func (p TripPolicy) String() string {
	switch p.kind {
	case policyConsecutive:
		return fmt.Sprintf("consecutive_failures(%d)", p.n)
	case policyFailureRate:
		return fmt.Sprintf("failure_rate(%v of %s, min %d)", p.ratio, p.window, p.minCalls)
	case policySlowCalls:
		return fmt.Sprintf("slow_calls(%v slower than %s of %s, min %d)", p.ratio, p.slowerThan, p.window, p.minCalls)
	}
	return "TripPolicy(invalid)"
}

// Window is the span a windowed trip policy looks at: the last N calls
// ([LastCalls]) or the last duration, kept in buckets ([LastDuration]).
type Window struct {
	calls   int
	span    time.Duration
	buckets int
}

// maxWindowCalls bounds a count window (one byte per call).
const maxWindowCalls = 1 << 16

// maxWindowBuckets bounds a time window.
const maxWindowBuckets = 1000

// LastCalls is a window of the last n calls, from 1 to 65536.
func LastCalls(n int) Window { return Window{calls: n} }

// LastDuration is a window of the last d, kept as buckets slices of
// d/buckets each (from 1 to 1000 buckets); a whole bucket expires at once,
// so the window covers between d-d/buckets and d. A time window reads the
// breaker's clock on every call.
func LastDuration(d time.Duration, buckets int) Window { return Window{span: d, buckets: buckets} }

// String describes the window, for example "last 100 calls" or
// "last 1m0s in 6 buckets".
func (w Window) String() string {
	if w.span != 0 || w.buckets != 0 {
		return fmt.Sprintf("last %s in %d buckets", w.span, w.buckets)
	}
	return fmt.Sprintf("last %d calls", w.calls)
}

func (w Window) validate(field string) error {
	if w.span == 0 && w.buckets == 0 {
		if w.calls < 1 || w.calls > maxWindowCalls {
			return &ConfigError{Field: field + ".window", Value: w, Reason: "a call window holds from 1 to 65536 calls"}
		}
		return nil
	}
	switch {
	case w.calls != 0:
		return &ConfigError{Field: field + ".window", Value: w, Reason: "is both a call window and a time window"}
	case w.span <= 0:
		return &ConfigError{Field: field + ".window", Value: w, Reason: "duration must be positive"}
	case w.buckets < 1 || w.buckets > maxWindowBuckets:
		return &ConfigError{Field: field + ".window", Value: w, Reason: "must have from 1 to 1000 buckets"}
	case w.span/time.Duration(w.buckets) <= 0:
		return &ConfigError{Field: field + ".window", Value: w, Reason: "buckets must be at least 1ns long"}
	}
	return nil
}

func (p TripPolicy) validate() error {
	field := map[policyKind]string{policyFailureRate: "failure_rate", policySlowCalls: "slow_calls"}[p.kind]
	switch p.kind {
	case policyConsecutive:
		if p.n < 1 || uint64(p.n) > maxFailureThreshold {
			return &ConfigError{Field: "failure_threshold", Value: p.n, Reason: "must be from 1 to 4294967295"}
		}
		return nil
	case policyFailureRate, policySlowCalls:
	default:
		return &ConfigError{Field: "trip_policy", Value: p, Reason: "use ConsecutiveFailures, FailureRate or SlowCalls"}
	}
	if p.kind == policySlowCalls && p.slowerThan <= 0 {
		return &ConfigError{Field: field + ".slower_than", Value: p.slowerThan, Reason: "must be positive"}
	}
	if !(p.ratio > 0 && p.ratio <= 1) { // also rejects NaN
		return &ConfigError{Field: field + ".ratio", Value: p.ratio, Reason: "must be in (0, 1]"}
	}
	if p.minCalls < 1 {
		return &ConfigError{Field: field + ".min_calls", Value: p.minCalls, Reason: "must be at least 1"}
	}
	if err := p.window.validate(field); err != nil {
		return err
	}
	if p.window.calls > 0 && p.minCalls > p.window.calls {
		return &ConfigError{Field: field + ".min_calls", Value: p.minCalls, Reason: fmt.Sprintf("exceeds the window of %d calls, so it could never trip", p.window.calls)}
	}
	return nil
}
