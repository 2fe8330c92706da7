package retry

import (
	"strconv"
	"time"
)

// Decision is what a [Classifier] says about a failed attempt: retry it
// after the policy's backoff ([Retry]), retry it after a given delay
// ([RetryAfter]), or give up ([Stop], which is also the zero Decision).
// Decisions are comparable.
type Decision struct {
	kind  decisionKind
	after time.Duration
}

type decisionKind uint8

const (
	kindStop decisionKind = iota
	kindRetry
)

var (
	// Stop gives up: the error is returned to the caller unchanged.
	Stop = Decision{}
	// Retry retries after the policy's backoff.
	Retry = Decision{kind: kindRetry}
)

// RetryAfter retries after d instead of the policy's backoff, for a
// dependency that said when to come back (an HTTP Retry-After, a gRPC
// pushback). The policy waits exactly d, with no jitter, and its backoff
// starts again from the initial delay afterwards; when d exceeds
// [WithMaxRetryAfter] or the time left, it gives up at once instead
// ([ReasonRetryAfter] or [ReasonDeadline]). RetryAfter of zero or less is
// [Retry]: it never means "retry at once", so a dependency that answers
// Retry-After: 0 in a loop is still called at the backoff's pace.
func RetryAfter(d time.Duration) Decision {
	if d <= 0 {
		return Retry
	}
	return Decision{kind: kindRetry, after: d}
}

// Retries reports whether d retries: it is Retry or a RetryAfter.
func (d Decision) Retries() bool { return d.kind == kindRetry }

// After returns the delay of a RetryAfter decision, and zero for Retry and
// Stop.
func (d Decision) After() time.Duration { return d.after }

// String returns "stop", "retry" or "retry_after(3s)".
func (d Decision) String() string {
	switch {
	case d.kind == kindStop:
		return "stop"
	case d.after > 0:
		return "retry_after(" + d.after.String() + ")"
	}
	return "retry"
}

// Classifier decides whether a failed attempt is retried: the spec's
// ErrorClassifier. It is called with the attempt's non-nil error, only
// after the policy's own rules (see [WithClassifier]) did not settle it,
// and must be safe for concurrent use.
type Classifier func(err error) Decision

// DefaultClassifier retries every error. It is the default of
// [WithClassifier]. What must never be retried is settled before any
// classifier runs: the caller's own context ending, a breaker's rejection,
// an error marked [Permanent], an error from a nested retry.
func DefaultClassifier(error) Decision { return Retry }

// Permanent marks err as final: a policy returns it without retrying,
// whatever its classifier says, and returns err itself (without the mark)
// when the mark is outermost. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &decided{err: err, d: Stop}
}

// Classified marks err with the decision d: a policy applies d instead of
// asking its classifier. A function that knows more about its failure than
// a classifier can (an HTTP client that read the status and Retry-After of
// a response) decides this way. Classified(err, Stop) is [Permanent](err);
// Classified(nil, d) is nil.
func Classified(err error, d Decision) error {
	if err == nil {
		return nil
	}
	return &decided{err: err, d: d}
}

// decided is an error carrying its own decision.
type decided struct {
	err error
	d   Decision
}

func (e *decided) Error() string { return e.err.Error() }
func (e *decided) Unwrap() error { return e.err }

// Outcome is how a call through a policy ended.
type Outcome uint8

// The outcomes of a call. Each finished call has exactly one.
const (
	// OutcomeSuccess: the first attempt succeeded.
	OutcomeSuccess Outcome = iota
	// OutcomeSuccessAfterRetry: an attempt after the first succeeded.
	OutcomeSuccessAfterRetry
	// OutcomeFailure: the call failed without retrying.
	OutcomeFailure
	// OutcomeFailureAfterRetry: the call failed after at least one retry.
	OutcomeFailureAfterRetry

	numOutcomes = iota
)

// Outcomes lists every outcome in the order of their values.
var Outcomes = [...]Outcome{OutcomeSuccess, OutcomeSuccessAfterRetry, OutcomeFailure, OutcomeFailureAfterRetry}

var outcomeNames = [numOutcomes]string{"success", "success_after_retry", "failure", "failure_after_retry"}

// String returns "success", "success_after_retry", "failure" or
// "failure_after_retry": the values of the retry.outcome attribute.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Reason says why a policy stopped retrying a failed call. Each failed
// call has exactly one; successful calls have none.
type Reason uint8

// The reasons to stop.
const (
	// ReasonExhausted: the attempts allowed by WithMaxRetries all failed.
	ReasonExhausted Reason = iota
	// ReasonBudget: the retry budget refused another attempt.
	ReasonBudget
	// ReasonDeadline: the next attempt would start after the context's
	// deadline or the policy's maximum duration, or the deadline passed.
	ReasonDeadline
	// ReasonRetryAfter: the dependency asked for a wait longer than
	// WithMaxRetryAfter.
	ReasonRetryAfter
	// ReasonCircuitOpen: a circuit breaker rejected the attempt.
	ReasonCircuitOpen
	// ReasonNotRetryable: the error is not retried (the classifier said
	// Stop, it is Permanent or from a nested retry) or the function
	// panicked.
	ReasonNotRetryable
	// ReasonCancelled: the caller's context was cancelled.
	ReasonCancelled
	// ReasonTrial: the call was a half-open breaker's trial, which gets
	// one attempt (see the package documentation).
	ReasonTrial

	numReasons = iota
)

// Reasons lists every reason in the order of their values.
var Reasons = [...]Reason{ReasonExhausted, ReasonBudget, ReasonDeadline, ReasonRetryAfter, ReasonCircuitOpen, ReasonNotRetryable, ReasonCancelled, ReasonTrial}

var reasonNames = [numReasons]string{"exhausted", "budget", "deadline", "retry_after", "circuit_open", "not_retryable", "cancelled", "trial"}

// String returns the reason's name, as in the retry.reason attribute:
// "exhausted", "budget", "deadline", "retry_after", "circuit_open",
// "not_retryable", "cancelled" or "trial".
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// sentinel returns the error an *Error of this reason wraps, or nil.
func (r Reason) sentinel() error {
	switch r {
	case ReasonExhausted:
		return ErrExhausted
	case ReasonBudget:
		return ErrBudget
	case ReasonDeadline:
		return ErrDeadline
	case ReasonRetryAfter:
		return ErrRetryAfter
	}
	return nil
}
