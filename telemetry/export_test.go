package telemetry

import "time"

// WithNow sets the clock of the rejection-log rate limit, so that tests can
// drive it with the breaker's fake clock.
func WithNow(now func() time.Time) Option {
	return optionFunc(func(c *config) { c.now = now })
}
