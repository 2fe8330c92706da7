package httpbreaker

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"time"
)

// Option configures [NewTransport], [NewHandler] or [NewStatusHandler]. Each
// option documents which of them reads it; the others ignore it.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	namer     func(*http.Request) string
	isFailure func(*http.Response, error) bool
	authorize func(*http.Request) bool
	admin     bool
	refresh   time.Duration
	logger    *slog.Logger
}

// defaultRefresh is how often the status page reloads itself by default.
const defaultRefresh = 5 * time.Second

func newConfig(opts []Option) config {
	c := config{namer: HostName, refresh: defaultRefresh}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}

// WithNamer sets how [NewTransport] names the breaker for a request. The
// default is [HostName]: one breaker per host. The name must pass
// [breaker.ValidateName]; the breaker is taken from the registry with
// [breaker.Registry.Get], so names are shared with the rest of the program
// and count towards the registry's size limit. Keep their number bounded:
// never build them from paths or query strings. A nil namer keeps the
// default.
func WithNamer(namer func(*http.Request) string) Option {
	return optionFunc(func(c *config) {
		if namer != nil {
			c.namer = namer
		}
	})
}

// WithFailurePredicate sets which outcomes count as failures of the
// dependency. The default counts every transport error and every response
// with a 5xx status; a 4xx status is the caller's problem, not the
// dependency's, and counts as a success.
//
// [NewTransport] calls isFailure with what the wrapped transport returned.
// An outcome it does not count is a success when there is no error, and is
// ignored (neither success nor failure) when there is one.
//
// [NewHandler] calls isFailure with a response describing what the handler
// wrote: StatusCode, Status, Header and Request are set, Body is
// [http.NoBody], and the error is always nil. A handler panic is always a
// failure.
//
// Whatever isFailure says, an error after the caller's own context was
// cancelled is ignored, and the breaker's own failure predicate still sees
// each counted outcome: a transport error as it is, a failing response as a
// [*StatusError]. A nil isFailure keeps the default.
func WithFailurePredicate(isFailure func(resp *http.Response, err error) bool) Option {
	return optionFunc(func(c *config) {
		if isFailure != nil {
			c.isFailure = isFailure
		}
	})
}

// WithAdmin turns on the admin actions of [NewStatusHandler]:
// POST {name}/reset and POST {name}/force-open. Each action runs only when
// authorize returns true for the request; otherwise the handler answers 403
// and changes nothing. A nil authorize refuses every request. Without this
// option the action paths do not exist (404).
//
// The handler also refuses cross-origin browser requests (see
// [http.CrossOriginProtection]), but authorize is the only access check:
// make it compare a secret in constant time (crypto/subtle), as
// [BearerToken] does.
func WithAdmin(authorize func(r *http.Request) bool) Option {
	return optionFunc(func(c *config) {
		c.admin = true
		c.authorize = authorize
	})
}

// WithRefreshInterval sets how often the HTML page of [NewStatusHandler]
// reloads itself. It is rounded up to whole seconds; the default, also used
// for a zero or negative d, is 5s.
func WithRefreshInterval(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.refresh = d
		}
	})
}

// WithLogger sets the logger [NewTransport] warns on when it sends a
// request without a breaker (see [Transport.RoundTrip]). The default, and
// what a nil l means, is slog.Default() at the time of the record.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// DefaultFailure is the default failure predicate: a transport error or a
// response with a status of 500 or more.
func DefaultFailure(resp *http.Response, err error) bool {
	return err != nil || resp == nil || resp.StatusCode >= 500
}

// wholeSeconds rounds d up to whole seconds, at least 1, without
// overflowing for the longest durations.
func wholeSeconds(d time.Duration) int64 {
	s := d / time.Second
	if d%time.Second > 0 {
		s++
	}
	return max(1, int64(s))
}

// BearerToken returns an authorize function for [WithAdmin] that accepts a
// request whose Authorization header is exactly "Bearer " followed by
// token, compared in constant time. An empty token accepts nothing (a bare
// "Bearer " header would otherwise match it).
func BearerToken(token string) func(r *http.Request) bool {
	if token == "" {
		return func(*http.Request) bool { return false }
	}
	want := []byte("Bearer " + token)
	return func(r *http.Request) bool {
		return subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) == 1
	}
}
