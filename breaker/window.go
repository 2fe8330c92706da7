package breaker

import "sync"

// window counts closed-state calls, failures and slow calls over the last N
// calls or the last duration. It belongs to one period (the period's
// epoch): a record from another period is dropped, and every transition
// starts it afresh.
type window struct {
	mu     sync.Mutex
	period uint64 // the epoch of the period it counts

	// a count window: one entry per call, as a ring
	ring   []uint8 // bit 0: failure, bit 1: slow
	next   int
	filled int

	// a time window: buckets of width ns; time slot t (breaker time / width)
	// lives in bucket t % len
	buckets []bucket
	width   int64
	last    int64 // the newest slot seen

	calls, failures, slow int // over the window
}

type bucket struct{ calls, failures, slow int }

const (
	markFailure = 1 << iota
	markSlow
)

func newWindow(w Window) *window {
	if w.calls > 0 {
		return &window{ring: make([]uint8, w.calls)}
	}
	return &window{buckets: make([]bucket, w.buckets), width: int64(w.span) / int64(w.buckets)}
}

// record adds a call of the period with the given epoch at breaker time now and returns the
// window's counts afterwards; ok is false when the call belongs to another
// period.
func (w *window) record(period uint64, now int64, failure, slow bool) (calls, failures, slows int, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if period != w.period {
		return 0, 0, 0, false
	}
	var mark uint8
	if failure {
		mark |= markFailure
		w.failures++
	}
	if slow {
		mark |= markSlow
		w.slow++
	}
	w.calls++
	if w.ring != nil {
		if w.filled == len(w.ring) {
			w.drop(w.ring[w.next])
		} else {
			w.filled++
		}
		w.ring[w.next] = mark
		w.next = (w.next + 1) % len(w.ring)
	} else {
		w.expire(now)
		n := int64(len(w.buckets))
		b := &w.buckets[((w.last%n)+n)%n]
		b.calls++
		if failure {
			b.failures++
		}
		if slow {
			b.slow++
		}
	}
	return w.calls, w.failures, w.slow, true
}

// drop removes an overwritten ring entry from the totals.
func (w *window) drop(mark uint8) {
	w.calls--
	if mark&markFailure != 0 {
		w.failures--
	}
	if mark&markSlow != 0 {
		w.slow--
	}
}

// expire empties the buckets that fell out of a time window by now. A clock
// that went back keeps the newest bucket.
func (w *window) expire(now int64) {
	slot := now / w.width
	if now < 0 {
		slot = (now - w.width + 1) / w.width // floor
	}
	if slot <= w.last {
		return
	}
	n := int64(len(w.buckets))
	from := max(w.last+1, slot-n+1)
	for e := from; e <= slot; e++ {
		b := &w.buckets[((e%n)+n)%n]
		w.calls -= b.calls
		w.failures -= b.failures
		w.slow -= b.slow
		*b = bucket{}
	}
	w.last = slot
}

// counts returns the window's counts at breaker time now.
func (w *window) counts(now int64) (calls, failures, slows int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buckets != nil {
		w.expire(now)
	}
	return w.calls, w.failures, w.slow
}

// reset empties the window for the period with the given epoch.
func (w *window) reset(period uint64, now int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.period = period
	w.calls, w.failures, w.slow = 0, 0, 0
	clear(w.ring)
	w.next, w.filled = 0, 0
	clear(w.buckets)
	if w.buckets != nil {
		w.last = now / w.width
		if now < 0 {
			w.last = (now - w.width + 1) / w.width
		}
	}
}
