package httpbreaker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

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
	custom  func(*http.Response, error) bool // nil: DefaultFailure
	isFault func(*http.Response, error) bool
}

// NewTransport returns a Transport that sends requests with base (nil means
// [http.DefaultTransport]) through breakers taken from reg, one per name:
// per host unless [WithNamer] says otherwise. Transport errors and 5xx
// responses count as failures unless [WithFailurePredicate] says otherwise.
// NewTransport panics if reg is nil.
func NewTransport(reg *breaker.Registry, base http.RoundTripper, opts ...Option) *Transport {
	if reg == nil {
		panic("httpbreaker: NewTransport with a nil registry")
	}
	if base == nil {
		base = http.DefaultTransport
	}
	c := newConfig(opts)
	t := &Transport{base: base, reg: reg, namer: c.namer, custom: c.isFailure, isFault: c.isFailure}
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
// and errors.As see through both). When the breaker cannot be had (an
// invalid name, a full registry) it returns that error, wrapped, and also
// closes the body without sending.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	name := t.namer(req)
	b, err := t.reg.Get(name)
	if err != nil {
		closeBody(req)
		return nil, fmt.Errorf("httpbreaker: breaker for %s request: %w", req.Method, err)
	}
	ctx := req.Context()
	var cancel context.CancelFunc
	if t.custom != nil {
		// An error the predicate does not count must be ignored, not
		// counted as a success, whatever the breaker's own predicate says;
		// a breaker ignores any error returned once the context it was
		// given is cancelled.
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
	}
	ran := false
	var statusErr *StatusError
	resp, err := breaker.Do(ctx, b, func(context.Context) (*http.Response, error) {
		ran = true
		resp, err := t.base.RoundTrip(req)
		switch {
		case !t.isFault(resp, err):
			if err != nil && cancel != nil {
				cancel()
			}
			return resp, err
		case err != nil:
			return resp, err
		case resp == nil:
			return nil, errNilResponse
		}
		statusErr = &StatusError{StatusCode: resp.StatusCode}
		return resp, statusErr
	})
	switch {
	case !ran:
		closeBody(req)
		return nil, err
	case statusErr != nil && err == statusErr:
		return resp, nil
	case err == errNilResponse:
		return nil, nil
	}
	return resp, err
}

// errNilResponse is what the breaker sees when the wrapped transport breaks
// the RoundTripper contract by returning neither a response nor an error.
// That counts as a failure; the caller gets the nil pair unchanged (and
// http.Client reports it).
var errNilResponse = errors.New("httpbreaker: transport returned no response and no error")

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
