package breaker

import "math"

// countInt converts a count to int, saturating at math.MaxInt: on 32-bit
// targets int holds less than the breaker's 32-bit counts, and a plain
// conversion would wrap a large count negative.
func countInt(n uint64) int {
	return int(min(n, uint64(math.MaxInt)))
}
