package retry

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrInvalidConfig is wrapped by every configuration error from [New] and
// [NewBudget]. The concrete error is a [*ConfigError] naming the field.
var ErrInvalidConfig = errors.New("retry: invalid configuration")

// ErrNilFunc is returned by [Do], [Policy.Execute] and the functions made
// by [Wrap] when the function to run is nil. Nothing is counted.
var ErrNilFunc = errors.New("retry: nil function")

// The reasons a policy gave up that are its own decision, not the error's.
// An [*Error] wraps the one that applies, so errors.Is(err, ErrBudget)
// tells a refused retry from the dependency's own error (which the Error
// wraps too).
var (
	// ErrExhausted: every attempt the policy allows has failed.
	ErrExhausted = errors.New("retry: attempts exhausted")
	// ErrBudget: the retry budget had no token for another attempt.
	ErrBudget = errors.New("retry: retry budget exhausted")
	// ErrDeadline: the next attempt could not start before the context's
	// deadline or the policy's maximum duration.
	ErrDeadline = errors.New("retry: no time left for another attempt")
	// ErrRetryAfter: the dependency asked to be called again later than
	// the policy is willing to wait.
	ErrRetryAfter = errors.New("retry: asked to wait longer than allowed")
)

// Error is returned when a policy stops retrying for a reason of its own:
// attempts exhausted, the budget, the deadline, a Retry-After beyond the
// maximum, or the caller's context cancelled during a wait. It wraps the
// last attempt's error and the sentinel of its reason (and, when the
// caller's context ended, the context's cause), so errors.Is and errors.As
// see all of them.
//
// An error the policy does not retry because of what it is (its classifier
// said Stop, it is marked [Permanent], it is a breaker's rejection, it came
// from a nested retry, or the call was a breaker's trial) is returned
// unchanged, not as an Error.
type Error struct {
	// Policy is the policy's name.
	Policy string
	// Reason says why retrying stopped.
	Reason Reason
	// Attempts is how many times the function ran.
	Attempts int
	// Err is the last attempt's error.
	Err error

	cause error // context.Cause of the caller's context, when it ended
}

// Error formats the policy, the reason, the attempts and the last error,
// for example `retry: "model_server" gave up after 4 attempts (exhausted):
// connection refused`.
func (e *Error) Error() string {
	s := "retry: " + strconv.Quote(e.Policy) + " gave up after " + strconv.Itoa(e.Attempts)
	if e.Attempts == 1 {
		s += " attempt ("
	} else {
		s += " attempts ("
	}
	s += e.Reason.String() + ")"
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the reason's sentinel (if it has one), the last attempt's
// error and the context's cause (if the caller's context ended).
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 3)
	if s := e.Reason.sentinel(); s != nil {
		errs = append(errs, s)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// ConfigError reports an invalid option value or name. It wraps
// [ErrInvalidConfig].
type ConfigError struct {
	// Field is the setting at fault: "name", "max_retries",
	// "backoff.initial", "backoff.max", "jitter", "max_duration",
	// "classifier", "budget", "budget.ratio", "budget.burst", "open_wait"
	// or "max_retry_after".
	Field string
	// Value is the rejected value.
	Value any
	// Reason says what a valid value looks like.
	Reason string
}

// Error formats the field, the value and the reason.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("retry: invalid %s %v: %s", e.Field, e.Value, e.Reason)
}

// Unwrap returns [ErrInvalidConfig].
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// as finds the first error of type E in err's tree, depth first as
// errors.As does, without allocating (errors.As makes its target escape).
// It does not consult As methods.
func as[E error](err error) (E, bool) {
	for err != nil {
		if e, ok := err.(E); ok {
			return e, true
		}
		switch x := err.(type) {
		case interface{ Unwrap() error }:
			err = x.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range x.Unwrap() {
				if e, ok := as[E](inner); ok {
					return e, true
				}
			}
			var zero E
			return zero, false
		default:
			var zero E
			return zero, false
		}
	}
	var zero E
	return zero, false
}
