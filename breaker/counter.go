package breaker

import (
	"runtime"
	"sync/atomic"
	_ "unsafe" // for go:linkname
)

// procPin and procUnpin pin the goroutine to its P and return the P's id.
// They are the runtime's own per-P primitive (sync.Pool is built on it); the
// runtime keeps these names linkable for packages outside the standard
// library (go.dev/issue/67401).
//
//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// counter is a monotonic counter for the hot paths (successes,
// rejections). It starts as one atomic word, which is all an idle or
// single-goroutine breaker ever needs. The first time two goroutines
// collide on it, it grows one cell per P, each on cache lines of its own,
// and from then on a goroutine adds to the cell of the P it runs on, so
// cores no longer pass one cache line back and forth. Reads sum the word
// and the cells.
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
// holds at most 2 counters x 16 cells x 128 bytes, 4 KiB, and 16 cells
// already spread 64 cores four to a cache line.
const maxCells = 16

func (c *counter) add() {
	if cs := c.cells.Load(); cs != nil {
		s := *cs
		p := procPin()
		s[p&(len(s)-1)].n.Add(1)
		procUnpin()
		return
	}
	if v := c.base.Load(); c.base.CompareAndSwap(v, v+1) {
		return
	}
	c.grow()
	c.base.Add(1)
}

// grow installs the per-P cells, once.
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
