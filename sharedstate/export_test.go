package sharedstate

// Episode returns the epoch of the opening this replica's breaker name is
// in, and the highest epoch it knows for the name.
func (s *Syncer) Episode(name string) (episode, applied uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if en := s.entries[name]; en != nil {
		return en.episode, en.applied
	}
	return 0, 0
}

// Lock takes the Syncer's mutex, as a Status or a busy background
// goroutine would, and returns what releases it.
func (s *Syncer) Lock() (unlock func()) {
	s.mu.Lock()
	return s.mu.Unlock
}

// Entries returns how many breaker names the Syncer keeps an entry for.
func (s *Syncer) Entries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}
