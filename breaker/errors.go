package breaker

import (
	"errors"
	"fmt"
	"time"
)

// ErrOpen reports that a breaker did not permit a call. Every rejection
// returns an [*OpenError], which wraps ErrOpen, so errors.Is(err, ErrOpen)
// holds for it.
var ErrOpen = errors.New("breaker: circuit open")

// ErrInvalidConfig is wrapped by every configuration error: a bad option
// value or a bad name, from [New] or [Registry.Get]. The concrete error is a
// [*ConfigError] naming the field.
var ErrInvalidConfig = errors.New("breaker: invalid configuration")

// ErrNilFunc is returned by Execute, Do and the functions made by Wrap when
// the function to protect is nil. Nothing is counted.
var ErrNilFunc = errors.New("breaker: nil function")

// ErrRegistryFull is returned by [Registry.Get] when creating a breaker would
// exceed the registry's limit (see [WithMaxBreakers]).
var ErrRegistryFull = errors.New("breaker: registry full")

// OpenError is returned when a breaker rejects a call. It wraps [ErrOpen].
// A breaker hands out one OpenError per open or half-open period, so a
// rejection allocates nothing; its fields are unexported, so no caller can
// change what the others see. Get one with errors.As:
//
//	var oe *breaker.OpenError
//	if errors.As(err, &oe) {
//		log.Printf("%s is %s, retry in %s", oe.Name(), oe.State(), oe.RetryAfter())
//	}
type OpenError struct {
	name    string
	state   State
	forced  bool
	b       *Breaker
	retryAt int64 // breaker time (ns since its base) when a probe may run
	openFor int64 // length of the open period
}

// Name returns the name of the breaker that rejected the call (the spec's
// circuit_name).
func (e *OpenError) Name() string { return e.name }

// State returns the state that rejected the call: Open, or HalfOpen when
// every trial slot was taken.
func (e *OpenError) State() State { return e.state }

// Forced reports that the breaker was held open by ForceOpen (or a forced
// remote decision).
func (e *OpenError) Forced() bool { return e.forced }

// Error describes the rejection, for example
// `breaker: circuit "database" is open`.
func (e *OpenError) Error() string {
	if e.forced {
		return fmt.Sprintf("breaker: circuit %q is forced open", e.name)
	}
	return fmt.Sprintf("breaker: circuit %q is %s", e.name, e.state)
}

// Unwrap returns [ErrOpen].
func (e *OpenError) Unwrap() error { return ErrOpen }

// RetryAfter reports how long from now the breaker will wait before it lets
// a probe through, if nothing else changes. It is zero once that time has
// come and for half-open rejections (a trial slot frees as soon as a trial
// returns). A forced-open breaker admits nothing until Reset; for it
// RetryAfter returns the length of a first open period (the recovery
// timeout, or the backoff's initial period) as a polite hint.
func (e *OpenError) RetryAfter() time.Duration {
	if e.b == nil {
		return 0
	}
	if e.forced {
		return time.Duration(e.openFor)
	}
	if e.state != Open {
		return 0
	}
	d := time.Duration(addSat(e.retryAt, -e.b.now()))
	return max(0, min(d, time.Duration(e.openFor)))
}

// ConfigError reports an invalid option value or name. It wraps
// [ErrInvalidConfig].
type ConfigError struct {
	// Field is the setting at fault, in the spec's terms: "name",
	// "failure_threshold", "recovery_timeout", "half_open_max_calls",
	// "failure_predicate", "clock", "event_bus", "max_breakers",
	// "trip_policy", "failure_rate.ratio", "failure_rate.min_calls",
	// "failure_rate.window" (and the same under "slow_calls", plus
	// "slow_calls.slower_than"), "recovery_backoff.initial", ".max",
	// ".multiplier", ".jitter", "half_open_max_wait", "idle_eviction", and
	// for Breaker.Apply "remote.to", "remote.forced", "remote.open_for",
	// "remote.reason" and "remote.origin".
	Field string
	// Value is the rejected value.
	Value any
	// Reason says what a valid value looks like.
	Reason string
}

// Error formats the field, the value and the reason.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("breaker: invalid %s %v: %s", e.Field, e.Value, e.Reason)
}

// Unwrap returns [ErrInvalidConfig].
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// PanicError is the error carried by the call event of a function that
// panicked. The panic itself is re-raised with its original value; this
// type only describes it to subscribers.
type PanicError struct {
	// Value is what the function panicked with.
	Value any
}

// Error formats the panic value.
func (e *PanicError) Error() string { return fmt.Sprintf("breaker: panic: %v", e.Value) }
