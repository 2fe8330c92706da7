package bench

import (
	"sync/atomic"
	"testing"
	"time"
)

// protected is the protected function called through a variable, so the
// compiler cannot inline or devirtualise the call.
var protected = okCtx

// sink keeps results alive so the compiler cannot drop the work.
var sink struct {
	t time.Time
	d time.Duration
	n atomic.Int64
}

// BenchmarkFloor measures what no breaker can beat: the protected call
// itself, the clock reads a breaker might make, and one atomic add.
func BenchmarkFloor(b *testing.B) {
	b.Run("op=call", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := protected(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=call-via-harness", func(b *testing.B) {
		// The same call behind the subject interface every library's
		// adapter sits behind: the harness's own share of each case.
		b.ReportAllocs()
		var s subject = directSubject{}
		for b.Loop() {
			if err := s.succeed(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=time.Now", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink.t = time.Now()
		}
	})
	b.Run("op=time.Since", func(b *testing.B) {
		b.ReportAllocs()
		base := time.Now()
		for b.Loop() {
			sink.d = time.Since(base)
		}
	})
	b.Run("op=atomic.Add", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink.n.Add(1)
		}
	})
	b.Run("op=atomic.Add-parallel", func(b *testing.B) {
		// One counter shared by GOMAXPROCS goroutines: the price of the
		// cache line every lock-free breaker writes on each call.
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				sink.n.Add(1)
			}
		})
	})
}

// directSubject calls the protected function with no breaker.
type directSubject struct{}

func (directSubject) succeed() error      { return protected(ctx) }
func (directSubject) fail() error         { return failCtx(ctx) }
func (directSubject) rejected(error) bool { return false }
func (directSubject) state() state        { return closed }
