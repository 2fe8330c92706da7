package breaker

import (
	"math/rand/v2"
	"runtime"
	"sync/atomic"
)

// counter is a monotonic counter for the hot paths (successes,
// rejections), exact whatever the concurrency. It starts as one atomic
// word, which is all an idle or single-goroutine breaker ever needs: an
// add is a load and a compare-and-swap. The first time the swap fails
// because another goroutine added meanwhile, the counter grows a few
// cells, each on cache lines of its own, and from then on an add goes to a
// cell picked at random (math/rand/v2's per-thread generator, a couple of
// nanoseconds), so cores rarely pass one cache line back and forth. Reads
// sum the word and the cells.
//
// Measured on a 2-core VM against a single padded atomic add (the numbers
// are in bench/README.md): the random stripe only pays off with more cores
// contending than this machine has, but costs a contended breaker little
// and an uncontended one nothing.
type counter struct {
	base  atomic.Uint64
	cells atomic.Pointer[[]cell]
}

// cell is padded on both sides so that neighbours never share a cache line,
// whatever the alignment of the slice.
type cell struct {
	_ [56]byte
	n atomic.Uint64
	_ [64]byte
}

// maxCells caps the cells of one counter: a breaker hammered from many cores
// holds at most 2 counters x 16 cells x 128 bytes, 4 KiB.
const maxCells = 16

func (c *counter) add() {
	if c.cells.Load() == nil {
		if v := c.base.Load(); c.base.CompareAndSwap(v, v+1) {
			return
		}
	}
	c.addContended()
}

// addContended adds to a random cell, growing the cells first if need be.
func (c *counter) addContended() {
	cs := c.cells.Load()
	if cs == nil {
		c.grow()
		cs = c.cells.Load()
	}
	s := *cs
	s[rand.Uint32()&uint32(len(s)-1)].n.Add(1)
}

// grow installs the cells, once: one per P up to maxCells, a power of two.
func (c *counter) grow() {
	n := 1
	for n < runtime.GOMAXPROCS(0) && n < maxCells {
		n <<= 1
	}
	cs := make([]cell, n)
	c.cells.CompareAndSwap(nil, &cs)
}

func (c *counter) load() uint64 {
	v := c.base.Load()
	if cs := c.cells.Load(); cs != nil {
		for i := range *cs {
			v += (*cs)[i].n.Load()
		}
	}
	return v
}
