package bench

import "testing"

// BenchmarkClosedSuccess: one successful call through a closed breaker.
func BenchmarkClosedSuccess(b *testing.B) {
	forEachLib(b, caseClosedSuccess, func(b *testing.B, a adapter) {
		s := a.closed(b)
		for b.Loop() {
			if err := s.succeed(); err != nil {
				b.Fatalf("call returned %v, want nil", err)
			}
		}
		mustState(b, s, closed)
	})
}

// BenchmarkClosedSuccessParallel: successful calls from GOMAXPROCS
// goroutines through one shared closed breaker.
func BenchmarkClosedSuccessParallel(b *testing.B) {
	forEachLib(b, caseClosedSuccessParallel, func(b *testing.B, a adapter) {
		s := a.closed(b)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.succeed(); err != nil {
					b.Errorf("call returned %v, want nil", err)
					return
				}
			}
		})
		b.StopTimer()
		mustState(b, s, closed)
	})
}

// BenchmarkClosedFailure: one failing call through a closed breaker whose
// threshold is out of reach, so it counts the failure and stays closed.
func BenchmarkClosedFailure(b *testing.B) {
	forEachLib(b, caseClosedFailure, func(b *testing.B, a adapter) {
		s := a.closed(b)
		for b.Loop() {
			if err := s.fail(); err != errBoom {
				b.Fatalf("call returned %v, want %v", err, errBoom)
			}
		}
		mustState(b, s, closed)
	})
}

// BenchmarkOpenRejection: one call rejected by an open breaker.
func BenchmarkOpenRejection(b *testing.B) {
	forEachLib(b, caseOpenRejection, func(b *testing.B, a adapter) {
		s := a.open(b)
		for b.Loop() {
			if err := s.succeed(); !s.rejected(err) {
				b.Fatalf("call returned %v, want a rejection", err)
			}
		}
		mustState(b, s, open)
	})
}

// BenchmarkOpenRejectionParallel: calls from GOMAXPROCS goroutines rejected
// by one shared open breaker.
func BenchmarkOpenRejectionParallel(b *testing.B) {
	forEachLib(b, caseOpenRejectionParallel, func(b *testing.B, a adapter) {
		s := a.open(b)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.succeed(); !s.rejected(err) {
					b.Errorf("call returned %v, want a rejection", err)
					return
				}
			}
		})
		b.StopTimer()
		mustState(b, s, open)
	})
}

// BenchmarkHalfOpenCycle: one recovery cycle of a breaker that opens on one
// failure and closes after one successful trial. Each op lets the recovery
// timeout pass, makes the trial call (which must be admitted and close the
// breaker), then fails once (which must open it again).
func BenchmarkHalfOpenCycle(b *testing.B) {
	forEachLib(b, caseHalfOpenCycle, func(b *testing.B, a adapter) {
		s := a.cycle(b)
		for b.Loop() {
			s.elapse()
			if err := s.succeed(); err != nil {
				b.Fatalf("trial call returned %v, want nil", err)
			}
			if st := s.state(); st != closed {
				b.Fatalf("after a successful trial the breaker is %v, want closed", st)
			}
			if err := s.fail(); err != errBoom {
				b.Fatalf("call returned %v, want %v", err, errBoom)
			}
			// A library on the wall clock with a tiny timeout may already
			// report half-open here; closed would be the bug.
			if st := s.state(); st == closed {
				b.Fatalf("after a failure the breaker is %v, want it tripped", st)
			}
		}
	})
}
