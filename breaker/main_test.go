package breaker_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine they started (a call
// held in flight, an asynchronous bus's worker, a subscriber) is still
// running when they end: the breaker itself starts none.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
