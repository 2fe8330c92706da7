package breaker

import (
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fusebox-go/fusebox/events"
)

// The defaults, from the circuit-breaker specification.
const (
	// DefaultFailureThreshold is the number of consecutive failures that
	// opens a breaker.
	DefaultFailureThreshold = 5
	// DefaultRecoveryTimeout is how long a breaker stays open before it
	// admits trial calls.
	DefaultRecoveryTimeout = 60 * time.Second
	// DefaultHalfOpenMaxCalls is how many trial calls a half-open breaker
	// admits, and how many must succeed before it closes.
	DefaultHalfOpenMaxCalls = 3
	// DefaultMaxBreakers is how many breakers a Registry holds at most.
	DefaultMaxBreakers = 10_000
	// MaxNameLength is the longest valid breaker name, in bytes.
	MaxNameLength = 255
	// MaxHalfOpenMaxCalls is the largest valid half-open trial count.
	MaxHalfOpenMaxCalls = 1<<16 - 1
	// maxFailureThreshold is the largest valid failure threshold. It is
	// compared as a uint64, for int is 32 bits on some targets.
	maxFailureThreshold uint64 = 1<<32 - 1
)

// Clock tells the time. A breaker reads it to decide when the recovery
// timeout has passed and to stamp failures and state changes. Inject one
// with [WithClock] to test timing without sleeping; breakertest.Clock is a
// ready manual clock.
type Clock interface {
	Now() time.Time
}

// Option configures a breaker in [New], or every breaker of a registry in
// [NewRegistry]. The last option for a setting wins.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

// applyOptions applies opts to c in order, skipping nil options.
func applyOptions(c *config, opts []Option) {
	for _, o := range opts {
		if o != nil {
			o.apply(c)
		}
	}
}

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	failureThreshold int // consecutive-failure policy; 0: off
	thresholdGiven   bool
	rate, slow       *TripPolicy // windowed policies; nil: off
	policyErr        error       // from WithTripPolicy
	backoff          *backoff
	halfOpenMaxWait  int64 // ns; 0: no bound
	shadow           bool
	shadowSet        bool
	recoveryTimeout  int64 // ns
	halfOpenMaxCalls int
	isFailure        func(error) bool
	clock            Clock
	clockSet         bool
	bus              events.Bus[Event]
	busSet           bool
	maxBreakers      int
	idleEviction     int64 // ns; 0: off
}

func defaultConfig() config {
	return config{
		failureThreshold: DefaultFailureThreshold,
		recoveryTimeout:  int64(DefaultRecoveryTimeout),
		halfOpenMaxCalls: DefaultHalfOpenMaxCalls,
		isFailure:        defaultIsFailure,
		maxBreakers:      DefaultMaxBreakers,
	}
}

// defaultIsFailure counts every error. The breaker itself treats an error
// returned after the caller's context was cancelled as ignored, whatever the
// predicate says.
func defaultIsFailure(error) bool { return true }

// WithFailureThreshold sets how many consecutive failures open the breaker
// (the spec's failure_threshold). Default 5; it must be at least 1.
func WithFailureThreshold(n int) Option {
	return optionFunc(func(c *config) { c.failureThreshold, c.thresholdGiven = n, true })
}

// WithRecoveryTimeout sets how long the breaker stays open before it admits
// trial calls (the spec's recovery_timeout). Default 60s; it must be
// positive.
func WithRecoveryTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.recoveryTimeout = int64(d) })
}

// WithHalfOpenMaxCalls sets how many trial calls a half-open breaker admits
// at once, and so how many must succeed before it closes (the spec's
// half_open_max_calls). Default 3; valid from 1 to 65535.
func WithHalfOpenMaxCalls(n int) Option {
	return optionFunc(func(c *config) { c.halfOpenMaxCalls = n })
}

// WithFailurePredicate sets which errors count as failures (the spec's
// expected_exception). An error for which isFailure returns false is
// ignored: it neither opens the breaker nor resets its failure count. The
// default counts every non-nil error. Whatever the predicate, an error
// returned after the caller's own context was cancelled is ignored, and a
// panic is a failure. isFailure must not be nil, must be safe for concurrent
// use, and is never called with a nil error.
func WithFailurePredicate(isFailure func(error) bool) Option {
	return optionFunc(func(c *config) { c.isFailure = isFailure })
}

// WithClock sets the clock the breaker reads. The default is the system's
// monotonic clock. c must not be nil.
func WithClock(c Clock) Option {
	return optionFunc(func(cfg *config) { cfg.clock, cfg.clockSet = c, true })
}

// WithEventBus sets the bus the breaker publishes its events on. By default
// New gives each breaker a bus of its own (an [events.Sync]), and a
// [Registry] gives all its breakers one shared bus. A nil bus turns events
// off for the breaker.
func WithEventBus(bus events.Bus[Event]) Option {
	return optionFunc(func(c *config) { c.bus, c.busSet = bus, true })
}

// WithMaxBreakers limits how many breakers a [Registry] holds, so that names
// built from request data cannot grow memory and metric cardinality without
// bound. Default 10,000; it must be at least 1 (New validates it too, but
// otherwise ignores it). It is read by [NewRegistry].
func WithMaxBreakers(n int) Option {
	return optionFunc(func(c *config) { c.maxBreakers = n })
}

// WithIdleEviction makes a [Registry] forget breakers nobody uses: a
// breaker that has stayed closed (not forced) with no call finished or
// rejected for at least after is removed, as by [Registry.Remove]. Use it
// for registries keyed by request data, such as httpbreaker's breaker per
// host, so that hosts seen once do not fill the registry. The registry
// looks when Get is about to create a breaker, at most once per after/4
// unless it is full, so eviction needs no goroutine; a call still running
// on a breaker when it is evicted is recorded on it but no longer
// reported. Default 0: never; it must not be negative. The time comes from
// the registry defaults' [WithClock], or the system clock. It is read by
// [NewRegistry].
func WithIdleEviction(after time.Duration) Option {
	return optionFunc(func(c *config) { c.idleEviction = int64(after) })
}

func (c *config) validate() error {
	if c.policyErr != nil {
		return c.policyErr
	}
	if c.backoff != nil {
		if err := c.backoff.validate(); err != nil {
			return err
		}
	}
	switch {
	case c.thresholdGiven && (c.failureThreshold < 1 || uint64(c.failureThreshold) > maxFailureThreshold):
		return &ConfigError{Field: "failure_threshold", Value: c.failureThreshold, Reason: "must be from 1 to 4294967295"}
	case c.failureThreshold == 0 && c.rate == nil && c.slow == nil:
		return &ConfigError{Field: "trip_policy", Value: "none", Reason: "needs at least one policy"}
	case c.halfOpenMaxWait < 0:
		return &ConfigError{Field: "half_open_max_wait", Value: time.Duration(c.halfOpenMaxWait), Reason: "must not be negative (0 means no bound)"}
	case c.recoveryTimeout <= 0:
		return &ConfigError{Field: "recovery_timeout", Value: time.Duration(c.recoveryTimeout), Reason: "must be positive"}
	case c.halfOpenMaxCalls < 1 || c.halfOpenMaxCalls > MaxHalfOpenMaxCalls:
		return &ConfigError{Field: "half_open_max_calls", Value: c.halfOpenMaxCalls, Reason: "must be from 1 to 65535"}
	case c.isFailure == nil:
		return &ConfigError{Field: "failure_predicate", Value: nil, Reason: "must not be nil"}
	case c.clockSet && isNil(c.clock):
		return &ConfigError{Field: "clock", Value: c.clock, Reason: "must not be nil"}
	case c.busSet && c.bus != nil && isNil(c.bus):
		return &ConfigError{Field: "event_bus", Value: c.bus, Reason: "is a nil pointer; pass an untyped nil to turn events off"}
	case c.maxBreakers < 1:
		return &ConfigError{Field: "max_breakers", Value: c.maxBreakers, Reason: "must be at least 1"}
	case c.idleEviction < 0:
		return &ConfigError{Field: "idle_eviction", Value: time.Duration(c.idleEviction), Reason: "must not be negative (0 means never)"}
	}
	return nil
}

// isNil reports whether v is nil or an interface holding a nil pointer (or
// other nil reference), which would panic on first use.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// ValidateName reports whether name is a valid breaker name: non-empty, at
// most 255 bytes of valid UTF-8, not only dots, without white space at
// either end, and free of control characters, invisible format characters
// (such as bidirectional overrides and zero-width spaces), line or
// paragraph separators, and spaces other than the ASCII space (such as the
// no-break space): characters that could make one name pass for another
// on a dashboard. Names become metric labels,
// URL path segments and log values. The error is a [*ConfigError] for the
// field "name".
func ValidateName(name string) error {
	reason := ""
	switch {
	case name == "":
		reason = "must not be empty"
	case len(name) > MaxNameLength:
		reason = "must be at most 255 bytes"
	case !utf8.ValidString(name):
		reason = "must be valid UTF-8"
	case strings.Trim(name, ".") == "":
		reason = "must not be only dots (no URL path can address it)"
	default:
		for _, r := range name {
			if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) || unicode.Is(unicode.Zs, r) && r != ' ' {
				reason = "must not contain control, format or line-separator characters, or spaces other than U+0020"
				break
			}
		}
		if reason == "" && strings.TrimSpace(name) != name {
			reason = "must not begin or end with white space"
		}
	}
	if reason == "" {
		return nil
	}
	shown := name
	if len(shown) > 64 {
		shown = shown[:min(len(shown), 64)]
	}
	return &ConfigError{Field: "name", Value: quoted(shown), Reason: reason}
}

// quoted formats a string with %q when the ConfigError is printed.
type quoted string

func (q quoted) String() string { return strconv.Quote(string(q)) }
