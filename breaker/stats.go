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
// TotalIgnored holds in every snapshot. Fields are read one by one without a
// lock, so a snapshot taken while calls finish may mix counts from a few
// nanoseconds apart.
type Stats struct {
	// Name is the breaker's name.
	Name string
	// State is the current state.
	State State
	// FailureCount is the consecutive-failure count while closed, and the
	// count that opened the breaker while open or half-open.
	FailureCount int
	// SuccessCount is how many trial calls have succeeded in the current
	// half-open period; zero in other states.
	SuccessCount int
	// LastFailureTime is when the last failure was recorded; zero if never.
	LastFailureTime time.Time
	// LastStateChange is when the state last changed (or Reset ran); zero
	// if never.
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
	// Forced reports that the breaker is held open by ForceOpen.
	Forced bool
}

// Stats returns a snapshot of the breaker. Like [Breaker.State], it first
// applies a due open to half-open transition.
func (b *Breaker) Stats() Stats {
	b.refresh()
	w := b.word.Load()
	p := b.period.Load()
	s := Stats{
		Name:            b.name,
		State:           wState(w),
		LastFailureTime: b.wall(b.lastFail.Load()),
		LastStateChange: b.wall(p.start),
		TotalSuccesses:  b.successes.load(),
		TotalFailures:   b.failures.Load(),
		TotalRejected:   b.rejected.load(),
		TotalIgnored:    b.ignored.Load(),
		Forced:          wForced(w),
	}
	s.TotalCalls = s.TotalSuccesses + s.TotalFailures + s.TotalRejected + s.TotalIgnored
	switch s.State {
	case Closed, Open:
		s.FailureCount = int(wCount(w))
	case HalfOpen:
		s.FailureCount = p.failures
		s.SuccessCount = succeeded(w)
	}
	return s
}

// statsJSON fixes the JSON keys and their order.
type statsJSON struct {
	Name            string     `json:"name"`
	State           State      `json:"state"`
	FailureCount    int        `json:"failure_count"`
	SuccessCount    int        `json:"success_count"`
	LastFailureTime *time.Time `json:"last_failure_time"`
	LastStateChange *time.Time `json:"last_state_change"`
	TotalCalls      uint64     `json:"total_calls"`
	TotalFailures   uint64     `json:"total_failures"`
	TotalSuccesses  uint64     `json:"total_successes"`
	TotalRejected   uint64     `json:"total_rejected"`
	TotalIgnored    uint64     `json:"total_ignored"`
	Forced          bool       `json:"forced"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// MarshalJSON encodes the stats with the spec's keys (state, failure_count,
// success_count, last_failure_time, last_state_change, total_calls,
// total_failures, total_successes) plus name, total_rejected, total_ignored
// and forced. Times are RFC 3339, null when never set.
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
		Forced:          s.Forced,
	})
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (s *Stats) UnmarshalJSON(data []byte) error {
	var j statsJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*s = Stats{
		Name:           j.Name,
		State:          j.State,
		FailureCount:   j.FailureCount,
		SuccessCount:   j.SuccessCount,
		TotalCalls:     j.TotalCalls,
		TotalFailures:  j.TotalFailures,
		TotalSuccesses: j.TotalSuccesses,
		TotalRejected:  j.TotalRejected,
		TotalIgnored:   j.TotalIgnored,
		Forced:         j.Forced,
	}
	if j.LastFailureTime != nil {
		s.LastFailureTime = *j.LastFailureTime
	}
	if j.LastStateChange != nil {
		s.LastStateChange = *j.LastStateChange
	}
	return nil
}
