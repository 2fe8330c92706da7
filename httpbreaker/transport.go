package httpbreaker

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

// StatusError is the error a breaker sees for a response that counts as a
// failure: its failure predicate and its event subscribers receive it. The
// caller never does: [Transport.RoundTrip] returns the response itself, and
// [NewHandler] has already written it.
type StatusError struct {
	// StatusCode is the response's status code.
	StatusCode int
}

// Error returns, for example, "httpbreaker: status 503".
func (e *StatusError) Error() string {
	return "httpbreaker: status " + strconv.Itoa(e.StatusCode)
}

// Transport is an [http.RoundTripper] that sends each request through a
// breaker, so that a failing host is given room to recover and callers fail
// fast while it does. Create one with [NewTransport]. A Transport is safe
// for concurrent use.
type Transport struct {
	base    http.RoundTripper
	reg     *breaker.Registry
	namer   func(*http.Request) string
	isFault func(*http.Response, error) bool
	logger  *slog.Logger // nil: slog.Default()

	unprotected atomic.Uint64
	nextLog     atomic.Int64 // Unix ns before which no unprotected send is logged
	suppressed  atomic.Uint64
}

// unprotectedLogInterval is how often, at most, a Transport logs that it
// sent requests without a breaker.
const unprotectedLogInterval = time.Minute

// NewTransport returns a Transport that sends requests with base (nil means
// [http.DefaultTransport]) through breakers taken from reg, one per name:
// per host unless [WithNamer] says otherwise. Transport errors and 5xx
// responses count as failures unless [WithFailurePredicate] says otherwise.
//
// A registry keyed by host grows with every host the client meets: give it
// [breaker.WithIdleEviction] so that hosts no longer called are forgotten,
// and a size ([breaker.WithMaxBreakers]) that fits the hosts called at
// once. NewTransport panics if reg is nil.
func NewTransport(reg *breaker.Registry, base http.RoundTripper, opts ...Option) *Transport {
	if reg == nil {
		panic("httpbreaker: NewTransport with a nil registry")
	}
	if base == nil {
		base = http.DefaultTransport
	}
	c := newConfig(opts)
	t := &Transport{base: base, reg: reg, namer: c.namer, isFault: c.isFailure, logger: c.logger}
	if t.isFault == nil {
		t.isFault = DefaultFailure
	}
	return t
}

// RoundTrip sends req with the wrapped transport if req's breaker permits
// it, and records the outcome. It follows the [http.RoundTripper] contract:
// it does not modify req, and it returns the wrapped transport's response
// and error unchanged; a 5xx response that counts as a failure is returned
// with its body unread, for the caller to read and close.
//
// When the breaker rejects the request, RoundTrip does not send it, closes
// its body, and returns the breaker's [*breaker.OpenError], which wraps
// [breaker.ErrOpen] (http.Client wraps it again in a *url.Error; errors.Is
// and errors.As see through both).
//
// When no breaker can be had for the request (the registry is full even
// after evicting idle breakers, or the namer made an invalid name),
// RoundTrip sends it anyway, unprotected, rather than fail it: the
// protection must not become the outage. Such requests are counted (see
// [Transport.Unprotected]) and logged at WARN at most once a minute, with
// the number not logged since.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	name := t.namer(req)
	b, err := t.reg.Get(name)
	if err != nil {
		t.sendingUnprotected(req, name, err)
		return t.base.RoundTrip(req)
	}
	p, err := b.Allow(req.Context())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	defer p.Done(errTransportPanicked) // only if RoundTrip below never returns
	if ctx := p.Context(); ctx != req.Context() {
		// A half-open trial: the wrapped transport (a RetryTransport, for
		// one) sees breaker.IsTrial and makes one attempt.
		req = req.WithContext(ctx)
	}
	resp, err := t.base.RoundTrip(req)
	fault := t.isFault(resp, err)
	switch {
	case !fault && err != nil:
		// An error the predicate does not count is no verdict on the host,
		// whatever the breaker's own predicate would say.
		p.Ignore()
	case !fault:
		p.Done(nil)
	case err != nil:
		p.Done(err)
	case resp == nil:
		// The wrapped transport broke the RoundTripper contract (neither a
		// response nor an error): a failure, and the caller gets the nil
		// pair unchanged (http.Client reports it).
		p.Done(errNilResponse)
	default:
		p.Done(&StatusError{StatusCode: resp.StatusCode})
	}
	return resp, err
}

// Unprotected returns how many requests the Transport has sent without a
// breaker because none could be had (see [Transport.RoundTrip]).
func (t *Transport) Unprotected() uint64 { return t.unprotected.Load() }

// sendingUnprotected counts a request sent without a breaker, and logs it
// unless one was logged less than a minute ago.
func (t *Transport) sendingUnprotected(req *http.Request, name string, err error) {
	t.unprotected.Add(1)
	now := time.Now().UnixNano()
	next := t.nextLog.Load()
	if now < next || !t.nextLog.CompareAndSwap(next, now+int64(unprotectedLogInterval)) {
		t.suppressed.Add(1)
		return
	}
	logger := t.logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.LogAttrs(req.Context(), slog.LevelWarn, "httpbreaker: request sent without a circuit breaker",
		slog.String("circuit_breaker.name", name),
		slog.String("error", err.Error()),
		slog.Uint64("circuit_breaker.suppressed", t.suppressed.Swap(0)),
	)
}

// errNilResponse is what the breaker sees when the wrapped transport breaks
// the RoundTripper contract by returning neither a response nor an error.
var errNilResponse = errors.New("httpbreaker: transport returned no response and no error")

// errTransportPanicked is what the breaker sees when the wrapped transport
// panicked (or called runtime.Goexit); the panic goes on to the caller.
var errTransportPanicked = &breaker.PanicError{Value: "httpbreaker: the wrapped transport panicked"}

// CloseIdleConnections closes the idle connections of the wrapped transport
// if it has such a method, so that [http.Client.CloseIdleConnections] works
// through a Transport.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// HostName is the default breaker name of [NewTransport]: the request URL's
// host (or, when the URL has none, req.Host) in lower case, with the port
// only when it is not the scheme's default. So https://API.example.com:443/x
// and https://api.example.com/y share the breaker "api.example.com", while
// http://127.0.0.1:8080 gets "127.0.0.1:8080".
func HostName(req *http.Request) string {
	host := req.Host
	scheme := ""
	if req.URL != nil {
		scheme = req.URL.Scheme
		if req.URL.Host != "" {
			host = req.URL.Host
		}
	}
	host = strings.ToLower(host)
	if h, port, err := net.SplitHostPort(host); err == nil {
		if (port == "80" && scheme == "http") || (port == "443" && scheme == "https") {
			if strings.Contains(h, ":") {
				return "[" + h + "]"
			}
			return h
		}
	}
	return host
}
