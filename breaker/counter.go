package breaker

import "sync/atomic"

// counter is a monotonic counter for the hot paths (successes,
// rejections): one atomic add on a word that has a cache line of its own,
// so that the breaker's other fields (the state word, read on every call)
// never share a line with it.
//
// A counter striped over per-core cells would spread the adds of many
// cores. Measured on a 2-core VM (BenchmarkCounter, medians), a striped
// counter picking its cell with math/rand/v2 cost 4.5-6.5 ns serially and
// 14-23 ns with two goroutines adding at once, against 3.1-3.5 ns and
// 2.8-7.6 ns for this one; per-P cells need the runtime's procPin, which
// only a go:linkname reaches. On machines where many cores add to one
// breaker at once, this line is the point of contention.
type counter struct {
	_ [56]byte
	n atomic.Uint64
	_ [64]byte
}

func (c *counter) add() { c.n.Add(1) }

func (c *counter) load() uint64 { return c.n.Load() }
