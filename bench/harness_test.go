package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// errBoom is what every failing protected function returns. Breakers must
// hand it back unchanged; the failure case checks this by identity.
var errBoom = errors.New("boom")

// ctx is the context given to the libraries that take one.
var ctx = context.Background()

// The protected functions, one per signature the libraries take, all with
// the same body (return nil, or return errBoom) and never inlined, so every
// library pays for the same function call.

//go:noinline
func okCtx(context.Context) error { return nil }

//go:noinline
func failCtx(context.Context) error { return errBoom }

//go:noinline
func okPlain() error { return nil }

//go:noinline
func failPlain() error { return errBoom }

//go:noinline
func okValue() (struct{}, error) { return struct{}{}, nil }

//go:noinline
func failValue() (struct{}, error) { return struct{}{}, errBoom }

// state is a breaker's state as the harness sees it, whatever the library
// calls it.
type state uint8

const (
	closed state = iota
	open
	halfOpen
)

func (s state) String() string {
	switch s {
	case closed:
		return "closed"
	case open:
		return "open"
	case halfOpen:
		return "half_open"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// subject is one library's breaker behind the harness. Each method is one
// call through the breaker of a protected function bound when the subject
// was built, so the loop allocates nothing on a library's behalf.
type subject interface {
	// succeed calls a function that returns nil.
	succeed() error
	// fail calls a function that returns errBoom.
	fail() error
	// rejected reports whether err is the library's "not permitted" error.
	rejected(err error) bool
	// state reads the breaker's state.
	state() state
}

// cycler is a subject whose recovery timeout can be made to pass.
type cycler interface {
	subject
	// elapse returns once the breaker admits a trial call: it advances a
	// fake clock, or waits for the library's own (tiny) timeout.
	elapse()
}

// adapter builds one library's breakers for each case.
type adapter struct {
	lib string

	// closed returns a closed breaker whose failure threshold cannot be
	// reached within a benchmark, so every call may fail and it stays
	// closed.
	closed func(tb testing.TB) subject
	// open returns a breaker tripped open by a failure, with a recovery
	// timeout of an hour.
	open func(tb testing.TB) subject
	// cycle returns a breaker that opens on one failure and closes after
	// one successful trial, already open. Nil when the library cannot run
	// the cycle; skip says why.
	cycle func(tb testing.TB) cycler
	// skip maps a case name to the reason the library cannot run it.
	skip map[string]string
}

// The case names, as they appear in benchmark names and in skip.
const (
	caseClosedSuccess         = "ClosedSuccess"
	caseClosedSuccessParallel = "ClosedSuccessParallel"
	caseClosedFailure         = "ClosedFailure"
	caseOpenRejection         = "OpenRejection"
	caseOpenRejectionParallel = "OpenRejectionParallel"
	caseHalfOpenCycle         = "HalfOpenCycle"
)

// adapters lists every library in the order the tables show them.
func adapters() []adapter {
	list := fuseboxAdapters()
	list = append(list, peerAdapters()...)
	return list
}

// forEachLib runs fn as a sub-benchmark "lib=NAME" for every adapter.
func forEachLib(b *testing.B, name string, fn func(b *testing.B, a adapter)) {
	for _, a := range adapters() {
		b.Run("lib="+a.lib, func(b *testing.B) {
			if reason, ok := a.skip[name]; ok {
				b.Skip(reason)
			}
			b.ReportAllocs()
			fn(b, a)
		})
	}
}

// mustState fails tb unless s is in state want.
func mustState(tb testing.TB, s subject, want state) {
	tb.Helper()
	if got := s.state(); got != want {
		tb.Fatalf("breaker is %v, want %v", got, want)
	}
}

// tripOpen fails once through s and checks that s opened.
func tripOpen(tb testing.TB, s subject) {
	tb.Helper()
	if err := s.fail(); err != errBoom {
		tb.Fatalf("tripping call returned %v, want %v", err, errBoom)
	}
	mustState(tb, s, open)
	if err := s.succeed(); !s.rejected(err) {
		tb.Fatalf("call on the tripped breaker returned %v, want a rejection", err)
	}
}

// waitUntil polls cond (yielding the processor between polls) until it
// holds or a few seconds pass.
func waitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting until %s", what)
		}
		runtime.Gosched()
	}
}

// uniqueName returns a breaker name no earlier call returned; hystrix-go
// keeps its breakers in a process-wide map keyed by name.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, nameSeq.Add(1))
}

var nameSeq atomic.Uint64
