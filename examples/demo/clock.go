package main

import "time"

// scaledClock runs speed times faster than the wall clock, from start. The
// breakers and the failure schedule both read it, so -speed compresses the
// whole scenario, recovery timeouts included.
type scaledClock struct {
	start time.Time
	speed float64
}

func (c scaledClock) Now() time.Time {
	return c.start.Add(time.Duration(float64(time.Since(c.start)) * c.speed))
}
