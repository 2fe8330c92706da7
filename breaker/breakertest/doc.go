// Package breakertest provides helpers for testing code that uses breakers:
// a manual [Clock] to drive recovery timeouts without sleeping.
//
//	clock := breakertest.NewClock(time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC))
//	b, _ := breaker.New("api", breaker.WithClock(clock), breaker.WithRecoveryTimeout(time.Minute))
//	// ... make b open ...
//	clock.Advance(time.Minute) // b is now half-open
package breakertest
