package telemetry

import "github.com/fusebox-go/fusebox/breaker"

// SetTestHookBeforeStore sets what runs between an attachment's check that
// a breaker is its registry's and the storing of its entry.
func SetTestHookBeforeStore(f func()) { testHookBeforeStore = f }

// Entries counts the entries that the attachments of reg hold.
func Entries(reg *breaker.Registry) int {
	attached.Lock()
	defer attached.Unlock()
	n := 0
	for _, a := range attached.list {
		if a.reg == reg {
			a.entries.Range(func(any, any) bool { n++; return true })
		}
	}
	return n
}
