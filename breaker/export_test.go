package breaker

// Sweeps returns how many idle-eviction sweeps the registry has made: each
// one looks at every breaker it holds.
func (r *Registry) Sweeps() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sweeps
}
