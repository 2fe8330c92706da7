package retry

import (
	"math"
	"testing"
	"time"
)

// FuzzBackoff: for any valid backoff settings the n-th delay is within
// [initial, max] (zero with a zero initial), never decreases with n, and its jittered form stays in
// the jitter's range; nothing overflows or panics.
func FuzzBackoff(f *testing.F) {
	f.Add(int64(100*time.Millisecond), int64(10*time.Second), 5, uint8(0), int64(7))
	f.Add(int64(1), int64(math.MaxInt64), 1000, uint8(1), int64(0))
	f.Add(int64(math.MaxInt64), int64(math.MaxInt64), 3, uint8(2), int64(-1))
	f.Add(int64(3), int64(3), 0, uint8(0), int64(1))
	f.Fuzz(func(t *testing.T, initial, maxDelay int64, n int, jitter uint8, seed int64) {
		if initial < 0 || maxDelay < initial || n < 0 || n > MaxMaxRetries || jitter > uint8(NoJitter) {
			return
		}
		r := uint64(seed)
		p, err := New("fuzz", WithBackoff(time.Duration(initial), time.Duration(maxDelay)), WithJitter(Jitter(jitter)),
			withRand(func(k int64) int64 { r = r*6364136223846793005 + 1442695040888963407; return int64(r>>1) % k }))
		if err != nil {
			t.Fatal(err)
		}
		prev := time.Duration(0)
		for i := 0; i <= n; i++ {
			d := p.backoff(i)
			if d < time.Duration(initial) || d > time.Duration(maxDelay) || d < prev {
				t.Fatalf("backoff(%d) = %v after %v, outside [%v, %v] or decreasing", i, d, prev, time.Duration(initial), time.Duration(maxDelay))
			}
			prev = d
			j := p.jittered(d)
			lo := time.Duration(0)
			switch Jitter(jitter) {
			case EqualJitter:
				lo = d / 2
			case NoJitter:
				lo = d
			}
			if j < lo || j > d || (Jitter(jitter) != NoJitter && j == d && d > 0 && lo != d) {
				t.Fatalf("jittered(%v) = %v, outside [%v, %v)", d, j, lo, d)
			}
		}
	})
}
