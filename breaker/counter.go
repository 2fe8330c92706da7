package breaker

import "sync/atomic"

// counter is a monotonic counter for the hot paths (successes,
// rejections): one atomic add on a word that has a cache line of its own,
// so that the breaker's other fields (the state word, read on every call)
// never share a line with it.
//
// A counter striped over per-core cells would spread the adds of many
// cores. Measured on a 2-core VM (BenchmarkCounter, medians of 6, -cpu
// 1/2/8), a striped counter picking its cell with math/rand/v2 cost
// 12.8-13.8 ns serially and 20.6 ns with goroutines adding at once, against
// 9.6-9.8 ns and 19.7 ns for this one; per-P cells would need the
// runtime's processor pinning, which no standard-library API exposes. On
// machines where many cores add to one breaker at once, this line is the
// point of contention.
type counter struct {
	_ [56]byte
	n atomic.Uint64
	_ [64]byte
}

func (c *counter) add() { c.n.Add(1) }

func (c *counter) load() uint64 { return c.n.Load() }
