package breaker

import "time"

// LastSweep returns when the registry last looked at its breakers for idle
// ones (the zero time: never).
func (r *Registry) LastSweep() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastSweep
}
