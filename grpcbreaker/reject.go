package grpcbreaker

import (
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/fusebox-go/fusebox/breaker"
)

// pushbackKey is the trailer in which a server tells gRPC clients with a
// retry policy how many milliseconds to wait before the next attempt
// (gRFC A6, "Pushback").
const pushbackKey = "grpc-retry-pushback-ms"

// maxPushbackMs is the largest pushback sent: the largest int on 32-bit
// clients, which parse the value with strconv.Atoi and give up retrying
// on a value they cannot parse.
const maxPushbackMs = math.MaxInt32

// rejection is the error of a call that a breaker did not permit: a gRPC
// status error with code Unavailable that wraps the breaker's
// *breaker.OpenError. One is made per breaker period (an OpenError is
// shared by the rejections of one period) and then shared: it is
// read-only.
type rejection struct {
	open *breaker.OpenError
	st   *status.Status
}

// Error formats the status as gRPC formats its errors:
// `rpc error: code = Unavailable desc = breaker: circuit "x" is open`.
func (e *rejection) Error() string { return e.st.String() }

// Unwrap returns the breaker's *breaker.OpenError, which wraps
// breaker.ErrOpen.
func (e *rejection) Unwrap() error { return e.open }

// GRPCStatus returns the Unavailable status, for status.FromError,
// status.Code and the gRPC server.
func (e *rejection) GRPCStatus() *status.Status { return e.st }

// rejections makes the rejection errors of one interceptor, keeping the
// last one: the rejections of an open period then allocate nothing.
type rejections struct {
	last atomic.Pointer[rejection]
}

// of returns the rejection for err, the error of a refused
// breaker.Breaker.Allow (an *breaker.OpenError).
func (r *rejections) of(err error) error {
	oe, ok := err.(*breaker.OpenError)
	if !ok {
		return status.Error(codes.Unavailable, err.Error()) // not reached: Allow refuses with an OpenError
	}
	if e := r.last.Load(); e != nil && e.open == oe {
		return e
	}
	e := &rejection{open: oe, st: status.New(codes.Unavailable, oe.Error())}
	r.last.Store(e)
	return e
}

// pushback returns the trailer that tells a gRPC client's retry policy to
// wait oe.RetryAfter() before its next attempt, in milliseconds rounded up,
// or nil when the breaker cannot tell (a half-open breaker whose trial
// slots are taken, an open one whose recovery timeout has just passed):
// the client's own backoff applies then.
func pushback(err error) metadata.MD {
	oe, ok := err.(*breaker.OpenError)
	if !ok {
		return nil
	}
	d := oe.RetryAfter()
	if d <= 0 {
		return nil
	}
	ms := d / time.Millisecond
	if d%time.Millisecond != 0 {
		ms++
	}
	ms = min(ms, maxPushbackMs)
	return metadata.MD{pushbackKey: []string{strconv.FormatInt(int64(ms), 10)}}
}
