package grpcbreaker

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fusebox-go/fusebox/breaker"
)

// finish records the outcome of a call that ended with err (nil for OK) on
// pm. ctx is the caller's context: on a client the one the call was made
// with, on a server the incoming one.
//
//   - OK is a success.
//   - Once ctx has ended (the caller cancelled, or its deadline passed), any
//     error is ignored: the caller gave up, which says nothing about the
//     dependency.
//   - A code the predicate counts is a failure; the breaker's own predicate
//     sees the status error.
//   - Canceled is otherwise ignored (someone gave up on the caller's
//     behalf, or the connection was closed under the call).
//   - Any other code is a success: the dependency answered.
func (c *config) finish(pm *breaker.Permit, ctx context.Context, err error) {
	switch {
	case err == nil:
		pm.Done(nil)
	case ended(ctx):
		pm.Ignore()
	default:
		switch code := codeOf(err); {
		case c.isFailure(code):
			pm.Done(err)
		case code == codes.Canceled:
			pm.Ignore()
		default:
			pm.Done(nil)
		}
	}
}

// ended reports whether the caller's context has ended: cancelled, or past
// its deadline. The deadline is read from the clock rather than from
// ctx.Err() alone, because the status of a call that ran out of time can
// arrive before the context's own timer fires: the server ends a call at
// the deadline the client sent (rounded up), and its DeadlineExceeded may
// be read before the client's timer goroutine runs.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// grpcStatus is what status.FromError looks for.
type grpcStatus interface{ GRPCStatus() *status.Status }

// codeOf returns the code gRPC would send or report for err, as
// status.FromError and the server's status.FromContextError fallback
// decide it, without allocating for an error that is a status itself.
func codeOf(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	if se, ok := err.(grpcStatus); ok {
		return codeOfStatus(se.GRPCStatus())
	}
	var se grpcStatus
	if errors.As(err, &se) {
		return codeOfStatus(se.GRPCStatus())
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	return codes.Unknown
}

// codeOfStatus returns s's code; a nil status from a non-nil error is
// Unknown, as for status.FromError.
func codeOfStatus(s *status.Status) codes.Code {
	if s == nil {
		return codes.Unknown
	}
	return s.Code()
}

// errPanicked is what the breaker sees when the call panicked (or called
// runtime.Goexit) below the interceptor: a failure. The panic itself goes
// on up the stack untouched.
var errPanicked = &breaker.PanicError{Value: "grpcbreaker: the call panicked"}
