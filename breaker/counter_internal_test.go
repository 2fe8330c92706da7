package breaker

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A counter is exact under contention, before and after it grows cells.
func TestCounterExactUnderContention(t *testing.T) {
	var c counter
	const goroutines, each = 8, 20_000
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				c.add()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, uint64(goroutines*each), c.load())
}

// stripedCounter spreads its adds over padded cells picked at random once
// it has seen two goroutines collide: the alternative BenchmarkCounter
// measures against counter (see counter's doc).
type stripedCounter struct {
	base  atomic.Uint64
	cells atomic.Pointer[[]paddedCell]
}

type paddedCell struct {
	_ [56]byte
	n atomic.Uint64
	_ [64]byte
}

func (c *stripedCounter) add() {
	if c.cells.Load() == nil {
		if v := c.base.Load(); c.base.CompareAndSwap(v, v+1) {
			return
		}
		cs := make([]paddedCell, 16)
		c.cells.CompareAndSwap(nil, &cs)
	}
	s := *c.cells.Load()
	s[rand.Uint32()&uint32(len(s)-1)].n.Add(1)
}

func BenchmarkCounter(b *testing.B) {
	b.Run("padded-atomic", func(b *testing.B) {
		var c counter
		b.ReportAllocs()
		for b.Loop() {
			c.add()
		}
	})
	b.Run("padded-atomic-parallel", func(b *testing.B) {
		var c counter
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.add()
			}
		})
	})
	b.Run("striped", func(b *testing.B) {
		var c stripedCounter
		b.ReportAllocs()
		for b.Loop() {
			c.add()
		}
	})
	b.Run("striped-parallel", func(b *testing.B) {
		var c stripedCounter
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.add()
			}
		})
	})
}
