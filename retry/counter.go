package retry

import (
	"math/rand/v2"
	"runtime"
	"sync/atomic"
)

// counter is a monotonic counter for the first-attempt success path. It
// starts as one atomic word, all that a policy called from one goroutine at
// a time ever needs. The first time two goroutines collide on it, it grows
// cells on cache lines of their own, and from then on each add goes to a
// random cell, so cores stop passing one cache line back and forth. Reads
// sum the word and the cells.
type counter struct {
	// word is the count times two; its low bit says the cells are in use
	// (the word then no longer changes), so the common path is one load
	// and one compare-and-swap.
	word  atomic.Uint64
	cells atomic.Pointer[[]cell]
}

// cell is padded on both sides so that neighbours never share a cache
// line, whatever the alignment of the slice.
type cell struct {
	_ [56]byte
	n atomic.Uint64
	_ [64]byte
}

// maxCells caps the cells of one counter (16 x 128 bytes).
const maxCells = 16

func (c *counter) add() {
	if v := c.word.Load(); v&1 == 0 && c.word.CompareAndSwap(v, v+2) {
		return
	}
	c.addSlow()
}

// addSlow adds to a random cell, first growing the cells if need be.
func (c *counter) addSlow() {
	cs := c.cells.Load()
	if cs == nil {
		n := 2
		for n < 2*runtime.GOMAXPROCS(0) && n < maxCells {
			n <<= 1
		}
		fresh := make([]cell, n)
		if c.cells.CompareAndSwap(nil, &fresh) {
			c.word.Or(1)
		}
		cs = c.cells.Load()
	}
	s := *cs
	s[rand.Uint32()&uint32(len(s)-1)].n.Add(1)
}

func (c *counter) load() uint64 {
	v := c.word.Load() >> 1
	if cs := c.cells.Load(); cs != nil {
		for i := range *cs {
			v += (*cs)[i].n.Load()
		}
	}
	return v
}
