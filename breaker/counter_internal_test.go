package breaker

import (
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

// paddedCounter is the simplest alternative: one atomic add on a word of
// its own cache line. BenchmarkCounter compares it with counter.
type paddedCounter struct {
	_ [56]byte
	n atomic.Uint64
	_ [64]byte
}

func BenchmarkCounter(b *testing.B) {
	b.Run("striped", func(b *testing.B) {
		var c counter
		b.ReportAllocs()
		for b.Loop() {
			c.add()
		}
	})
	b.Run("striped-parallel", func(b *testing.B) {
		var c counter
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.add()
			}
		})
	})
	b.Run("padded-atomic", func(b *testing.B) {
		var c paddedCounter
		b.ReportAllocs()
		for b.Loop() {
			c.n.Add(1)
		}
	})
	b.Run("padded-atomic-parallel", func(b *testing.B) {
		var c paddedCounter
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.n.Add(1)
			}
		})
	})
}
