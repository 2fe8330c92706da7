package series

import (
	"testing"
	"time"
)

// BenchmarkSpread measures what the OTel path does at a collection for a
// Syncer that received n decisions since the previous one (before the
// SDK's own cost of recording each value): the values chosen and handed
// to record.
func BenchmarkSpread(b *testing.B) {
	for _, n := range []int{0, 1, 100} {
		b.Run("new="+itoa(n), func(b *testing.B) {
			var before, after []time.Duration
			for i := range 1000 {
				before = append(before, time.Duration(i)*731*time.Microsecond)
			}
			after = append(after, before...)
			for i := range n {
				after = append(after, time.Duration(i)*3*time.Millisecond)
			}
			prev, cur := ReadDelay(syncerHistogram(before...)), ReadDelay(syncerHistogram(after...))
			var sink float64
			b.ReportAllocs()
			for b.Loop() {
				Spread(prev, cur, prev.Units, func(v float64) { sink += v })
			}
			_ = sink
		})
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
