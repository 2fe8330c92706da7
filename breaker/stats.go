package breaker

import (
	"encoding/json"
	"time"
)

// Stats is a snapshot of a breaker, the Go form of the spec's get_stats().
// Its JSON form uses the spec's keys (see [Stats.MarshalJSON]).
//
// The totals are monotonic: nothing, not even Reset, lowers them. Each is
// counted when a call finishes (or is rejected), and TotalCalls is their sum,
// so TotalCalls == TotalSuccesses + TotalFailures + TotalRejected +
// TotalIgnored + TotalShadowRejected holds in every snapshot. Fields are read one by one without a
// lock, so a snapshot taken while calls finish may mix counts from a few
// nanoseconds apart.
type Stats struct {
	// Name is the breaker's name.
	Name string
	// State is the current state.
	State State
	// FailureCount is the consecutive-failure count while closed, and the
	// count that opened the breaker while open or half-open. The count
	// goes up to 4,294,967,295; on 32-bit targets, where int holds less,
	// it saturates at math.MaxInt.
	FailureCount int
	// SuccessCount is how many trial calls have succeeded in the current
	// half-open period; zero in other states.
	SuccessCount int
	// LastFailureTime is when the last failure was recorded; zero if never.
	LastFailureTime time.Time
	// LastStateChange is when the state last changed, or Reset or
	// ForceOpen entered it again (a closed breaker reset, an open one
	// forced); zero if never.
	LastStateChange time.Time
	// TotalCalls counts every call: admitted and finished, or rejected.
	TotalCalls uint64
	// TotalSuccesses counts calls that returned nil.
	TotalSuccesses uint64
	// TotalFailures counts calls that failed or panicked.
	TotalFailures uint64
	// TotalRejected counts calls the breaker did not permit.
	TotalRejected uint64
	// TotalIgnored counts calls whose error the failure predicate excluded
	// or whose caller's context was cancelled.
	TotalIgnored uint64
	// TotalShadowRejected counts calls that shadow mode let run although
	// the breaker would have rejected them (see WithShadowMode).
	TotalShadowRejected uint64
	// TotalSlowCalls counts calls that ran at least as long as the
	// SlowCalls policy's threshold (trials, ignored and shadow calls
	// included); zero without that policy.
	TotalSlowCalls uint64
	// DroppedStateChanges counts state changes that were never published
	// because a synchronous subscriber blocked while the breaker kept
	// changing state (see Event); zero unless a subscriber blocks.
	DroppedStateChanges uint64
	// Forced reports that the breaker is held open by ForceOpen.
	Forced bool
	// Shadow reports that the breaker is in shadow mode.
	Shadow bool
	// FailureRate is the FailureRate policy's window; nil without it.
	FailureRate *WindowStats
	// SlowCallRate is the SlowCalls policy's window; nil without it.
	SlowCallRate *WindowStats
}

// WindowStats describes the window of a windowed trip policy.
type WindowStats struct {
	// Calls is how many closed-state calls the window holds.
	Calls int `json:"calls"`
	// Count is how many of them failed (FailureRate) or were slow
	// (SlowCallRate).
	Count int `json:"count"`
	// Ratio is Count/Calls, or 0 for an empty window.
	Ratio float64 `json:"ratio"`
	// Threshold is the ratio at which the policy opens the breaker.
	Threshold float64 `json:"threshold"`
	// MinCalls is how many calls the window needs before the policy may
	// open the breaker.
	MinCalls int `json:"min_calls"`
}

func windowStats(p *TripPolicy, calls, count int) *WindowStats {
	ws := &WindowStats{Calls: calls, Count: count, Threshold: p.ratio, MinCalls: p.minCalls}
	if calls > 0 {
		ws.Ratio = float64(count) / float64(calls)
	}
	return ws
}

// Stats returns a snapshot of the breaker. Like [Breaker.State], it first
// applies a due lazy transition (open to half-open once the recovery
// timeout has passed, half-open back to open once trials overstay
// WithHalfOpenMaxWait) and publishes it.
func (b *Breaker) Stats() Stats {
	b.refresh()
	return b.snapshot(false)
}

// Peek returns what Stats would, without applying a due transition and so
// without ever publishing an event: a breaker whose recovery timeout has
// passed is reported half-open (with no trial yet), one whose trials have
// overstayed WithHalfOpenMaxWait open, exactly as the next call will find
// them, but the change itself is left to that call (or to State or Stats).
// Metrics collectors use Peek: a collection callback that published a
// state change would run subscribers inside the metrics SDK's own lock.
func (b *Breaker) Peek() Stats { return b.snapshot(true) }

func (b *Breaker) snapshot(derive bool) Stats {
	var w word
	for w = b.word.Load(); w.pending(); w = b.word.Load() {
		waitPending()
	}
	p := b.period.Load()
	s := Stats{
		Name:                b.name,
		State:               w.state(),
		LastFailureTime:     b.wall(b.lastFail.Load()),
		LastStateChange:     b.wall(p.start),
		TotalSuccesses:      b.successes.load(),
		TotalFailures:       b.failures.Load(),
		TotalRejected:       b.rejected.load(),
		TotalIgnored:        b.ignored.Load(),
		TotalShadowRejected: b.shadowed.Load(),
		TotalSlowCalls:      b.slowCalls.Load(),
		DroppedStateChanges: b.dropped.Load(),
		Forced:              w.forced(),
		Shadow:              b.shadow.Load(),
	}
	s.TotalCalls = s.TotalSuccesses + s.TotalFailures + s.TotalRejected + s.TotalIgnored + s.TotalShadowRejected
	switch s.State {
	case Closed, Open:
		s.FailureCount = countInt(uint64(w.count()))
	case HalfOpen:
		s.FailureCount = p.failures
		s.SuccessCount = w.succeeded()
	}
	var now int64
	haveNow := false
	if derive && p.gen == w.gen() {
		c := b.cfg.Load()
		now, haveNow = b.now(), true
		switch {
		case s.State == Open && !s.Forced && now >= p.retryAt:
			s.State, s.FailureCount, s.SuccessCount = HalfOpen, p.failures, 0
			s.LastStateChange = b.wall(p.retryAt)
		case s.State == HalfOpen && c.halfOpenMaxWait > 0 && w.inFlight() > 0:
			if first := p.firstTrial.Load(); first != never && now-first >= c.halfOpenMaxWait {
				s.State, s.FailureCount, s.SuccessCount = Open, p.failures, 0
				s.LastStateChange = b.wall(addSat(first, c.halfOpenMaxWait))
			}
		}
	}
	if ws := b.wins.Load(); ws != nil {
		c := b.cfg.Load()
		if !haveNow {
			now = b.now()
		}
		if ws.rate != nil && c.rate != nil {
			calls, fails, _ := ws.rate.counts(now)
			s.FailureRate = windowStats(c.rate, calls, fails)
		}
		if ws.slow != nil && c.slow != nil {
			calls, _, slows := ws.slow.counts(now)
			s.SlowCallRate = windowStats(c.slow, calls, slows)
		}
	}
	return s
}

// statsJSON fixes the JSON keys and their order.
type statsJSON struct {
	Name            string       `json:"name"`
	State           State        `json:"state"`
	FailureCount    int          `json:"failure_count"`
	SuccessCount    int          `json:"success_count"`
	LastFailureTime *time.Time   `json:"last_failure_time"`
	LastStateChange *time.Time   `json:"last_state_change"`
	TotalCalls      uint64       `json:"total_calls"`
	TotalFailures   uint64       `json:"total_failures"`
	TotalSuccesses  uint64       `json:"total_successes"`
	TotalRejected   uint64       `json:"total_rejected"`
	TotalIgnored    uint64       `json:"total_ignored"`
	TotalShadow     uint64       `json:"total_shadow_rejected"`
	TotalSlowCalls  uint64       `json:"total_slow_calls"`
	Dropped         uint64       `json:"dropped_state_changes,omitempty"`
	Forced          bool         `json:"forced"`
	Shadow          bool         `json:"shadow_mode"`
	FailureRate     *WindowStats `json:"failure_rate,omitempty"`
	SlowCallRate    *WindowStats `json:"slow_call_rate,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// MarshalJSON encodes the stats with the spec's keys (state, failure_count,
// success_count, last_failure_time, last_state_change, total_calls,
// total_failures, total_successes) plus name, total_rejected, total_ignored,
// total_shadow_rejected, total_slow_calls, forced and shadow_mode,
// failure_rate and slow_call_rate objects when those policies are set, and
// dropped_state_changes when some were dropped.
// Times are RFC 3339, null when never set.
func (s Stats) MarshalJSON() ([]byte, error) {
	return json.Marshal(statsJSON{
		Name:            s.Name,
		State:           s.State,
		FailureCount:    s.FailureCount,
		SuccessCount:    s.SuccessCount,
		LastFailureTime: timePtr(s.LastFailureTime),
		LastStateChange: timePtr(s.LastStateChange),
		TotalCalls:      s.TotalCalls,
		TotalFailures:   s.TotalFailures,
		TotalSuccesses:  s.TotalSuccesses,
		TotalRejected:   s.TotalRejected,
		TotalIgnored:    s.TotalIgnored,
		TotalShadow:     s.TotalShadowRejected,
		TotalSlowCalls:  s.TotalSlowCalls,
		Dropped:         s.DroppedStateChanges,
		Forced:          s.Forced,
		Shadow:          s.Shadow,
		FailureRate:     s.FailureRate,
		SlowCallRate:    s.SlowCallRate,
	})
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (s *Stats) UnmarshalJSON(data []byte) error {
	var j statsJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*s = Stats{
		Name:                j.Name,
		State:               j.State,
		FailureCount:        j.FailureCount,
		SuccessCount:        j.SuccessCount,
		TotalCalls:          j.TotalCalls,
		TotalFailures:       j.TotalFailures,
		TotalSuccesses:      j.TotalSuccesses,
		TotalRejected:       j.TotalRejected,
		TotalIgnored:        j.TotalIgnored,
		TotalShadowRejected: j.TotalShadow,
		TotalSlowCalls:      j.TotalSlowCalls,
		DroppedStateChanges: j.Dropped,
		Forced:              j.Forced,
		Shadow:              j.Shadow,
		FailureRate:         j.FailureRate,
		SlowCallRate:        j.SlowCallRate,
	}
	if j.LastFailureTime != nil {
		s.LastFailureTime = *j.LastFailureTime
	}
	if j.LastStateChange != nil {
		s.LastStateChange = *j.LastStateChange
	}
	return nil
}
