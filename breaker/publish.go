package breaker

import "context"

// maxQueued bounds the state changes waiting to be published per breaker:
// while a synchronous subscriber blocks, the oldest are dropped (and
// counted) rather than kept without bound.
const maxQueued = 256

// queued is a state change waiting to be published with the context of
// whatever caused it.
type queued struct {
	ctx context.Context
	ev  Event
}

// drain publishes queued state changes in order. Only one goroutine drains
// a breaker at a time; a transition made meanwhile (also by a subscriber
// calling back into the breaker) is queued and published by the goroutine
// already draining, so subscribers see every change in the order it
// happened and a re-entrant call cannot deadlock. A subscriber that never
// returns keeps the goroutine that is draining, and the breaker's later
// changes wait in the queue (at most maxQueued, the oldest dropped and
// counted); other breakers drain on their own.
func (b *Breaker) drain() {
	b.qmu.Lock()
	if b.draining {
		b.qmu.Unlock()
		return
	}
	b.draining = true
	done := false
	defer func() {
		if !done { // a Bus implementation panicked or called Goexit: let the next drain go on
			b.qmu.Lock()
			b.draining = false
			b.qmu.Unlock()
		}
	}()
	for len(b.queue) > 0 {
		q := b.queue[0]
		b.queue[0] = queued{}
		b.queue = b.queue[1:]
		b.qmu.Unlock()
		if b.bus != nil {
			b.bus.Publish(q.ctx, q.ev)
		}
		b.states.Publish(q.ctx, q.ev)
		b.qmu.Lock()
	}
	b.queue = nil
	b.draining = false
	done = true
	b.qmu.Unlock()
}
