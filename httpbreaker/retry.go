package httpbreaker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/retry"
)

// maxDrain is how much of a response body RetryTransport reads, at most,
// before closing it and sending the request again: enough for the short
// bodies of 429 and 5xx responses, so that the connection can be reused,
// without downloading a large one.
const maxDrain = 4 << 10

// RetryTransport is an [http.RoundTripper] that sends a request again,
// through a [retry.Policy], when it failed in a way worth retrying: a
// connection error, or a 429, 502, 503 or 504 response (see
// [DefaultRetry]). Only requests that are safe to send twice are retried,
// by the rule net/http itself uses: a GET, HEAD, OPTIONS or TRACE
// request, or one with an Idempotency-Key (or X-Idempotency-Key) header,
// and either no body or a GetBody to make a new one. Create one with
// [NewRetryTransport]. A RetryTransport is safe for concurrent use.
//
// It composes with [NewTransport] in either order, as retry.Wrap does with
// a breaker:
//
//	// The spec's order: the breaker sees one outcome per request, after
//	// its retries.
//	client.Transport = httpbreaker.NewTransport(reg, httpbreaker.NewRetryTransport(p, base))
//
//	// Per attempt: every attempt goes through the breaker; retrying stops
//	// when it rejects one.
//	client.Transport = httpbreaker.NewRetryTransport(p, httpbreaker.NewTransport(reg, base))
type RetryTransport struct {
	policy   *retry.Policy
	base     http.RoundTripper
	classify func(*http.Response, error) retry.Decision
}

// RetryOption configures [NewRetryTransport].
type RetryOption interface{ applyRetry(*RetryTransport) }

type retryOptionFunc func(*RetryTransport)

func (f retryOptionFunc) applyRetry(t *RetryTransport) { f(t) }

// WithRetryClassifier sets how [RetryTransport] classifies what one
// attempt returned: a response (err nil) or a transport error (resp nil).
// The default is [DefaultRetry]. Whatever classify says, a request that is
// not safe to send twice is sent once, and a breaker's rejection follows
// the policy's rule (stop, or wait with retry.WithOpenWait). A nil
// classify keeps the default.
func WithRetryClassifier(classify func(resp *http.Response, err error) retry.Decision) RetryOption {
	return retryOptionFunc(func(t *RetryTransport) {
		if classify != nil {
			t.classify = classify
		}
	})
}

// NewRetryTransport returns a RetryTransport that sends requests with base
// (nil means [http.DefaultTransport]) and retries them through p. The
// policy's own classifier is not asked: the transport classifies each
// attempt itself ([WithRetryClassifier]), and the policy applies its
// backoff, budget, deadline and Retry-After maximum. NewRetryTransport
// panics if p is nil.
func NewRetryTransport(p *retry.Policy, base http.RoundTripper, opts ...RetryOption) *RetryTransport {
	if p == nil {
		panic("httpbreaker: NewRetryTransport with a nil policy")
	}
	if base == nil {
		base = http.DefaultTransport
	}
	t := &RetryTransport{policy: p, base: base, classify: DefaultRetry}
	for _, o := range opts {
		if o != nil {
			o.applyRetry(t)
		}
	}
	return t
}

// RoundTrip sends req with the wrapped transport, and again while the
// attempt is worth retrying, req is safe to send twice and the policy
// allows it. Each retry sends a clone of req whose context tells
// [retry.Attempt] its number (for http.request.resend_count) and whose body
// comes from req.GetBody; before it, the previous response's body is read
// (up to 4 KiB) and closed.
//
// It follows the [http.RoundTripper] contract: it does not modify req, and
// it returns what the last attempt returned. A response is returned as it
// is, body unread, whatever its status, also when the policy gave up
// retrying it. When the last attempt returned an error, RoundTrip returns
// the policy's error: the transport error itself, or a [*retry.Error]
// wrapping it when the policy stopped for a reason of its own (budget,
// deadline, attempts exhausted), and a breaker's [*breaker.OpenError] as
// it is.
func (t *RetryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	replay := replayable(req)
	attempt := 0
	var previous *http.Response // the last response, drained before the next attempt
	resp, err := retry.Do(req.Context(), t.policy, func(ctx context.Context) (*http.Response, error) {
		attempt++
		r := req
		if attempt > 1 {
			discard(previous)
			previous = nil
			r = req.Clone(ctx)
			if req.Body != nil && req.Body != http.NoBody && req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					return nil, retry.Permanent(err)
				}
				r.Body = body
			}
		}
		resp, err := t.base.RoundTrip(r)
		if err != nil {
			if errors.Is(err, breaker.ErrOpen) && replay {
				return nil, err // the policy's rule for rejections applies
			}
			return nil, retry.Classified(err, t.decide(replay, nil, err))
		}
		if resp == nil {
			return nil, retry.Permanent(errNoResponse)
		}
		if d := t.decide(replay, resp, nil); d.Retries() {
			previous = resp
			return resp, retry.Classified(&StatusError{StatusCode: resp.StatusCode}, d)
		}
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			// Failed, and not retried: the policy counts it so.
			return resp, retry.Permanent(&StatusError{StatusCode: resp.StatusCode})
		}
		return resp, nil
	})
	if resp != nil {
		return resp, nil
	}
	if errors.Is(err, errNoResponse) {
		return nil, nil // the wrapped transport's broken contract, passed on as it is
	}
	return nil, err
}

// decide classifies one attempt; a request that is not replayable is never
// retried.
func (t *RetryTransport) decide(replay bool, resp *http.Response, err error) retry.Decision {
	if !replay {
		return retry.Stop
	}
	return t.classify(resp, err)
}

// CloseIdleConnections closes the idle connections of the wrapped transport
// if it has such a method, so that [http.Client.CloseIdleConnections] works
// through a RetryTransport.
func (t *RetryTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// discard reads what is left of a response body, up to maxDrain, and
// closes it, so that its connection can carry the next attempt.
func discard(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
	_ = resp.Body.Close()
}

// replayable reports whether req may be sent twice: the rule of net/http's
// own retries (Request.isReplayable).
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

// DefaultRetry is the default classifier of [RetryTransport]: it retries
// a 429 (Too Many Requests), 502 (Bad Gateway), 503 (Service Unavailable)
// or 504 (Gateway Timeout) response, after the delay its Retry-After
// header asks for when it has a valid one (see [ParseRetryAfter]), and a
// transport error that says the connection failed or timed out: a dial,
// read or write error, a connection reset or closed early (io.EOF), a
// timeout. It does not retry other responses, nor errors that another
// attempt would meet again: a certificate that does not verify, a host
// name that does not resolve, a malformed URL or response.
func DefaultRetry(resp *http.Response, err error) retry.Decision {
	if err != nil {
		if retryableError(err) {
			return retry.Retry
		}
		return retry.Stop
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return retry.RetryAfter(d)
		}
		return retry.Retry
	}
	return retry.Stop
}

// retryableError reports whether a transport error says the connection
// failed or timed out, and not that the request can never succeed.
func retryableError(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		dns      *net.DNSError
		netErr   net.Error
		opErr    *net.OpError
	)
	switch {
	case errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &invalid):
		return false
	case errors.As(err, &dns):
		return dns.IsTimeout || dns.IsTemporary
	case errors.As(err, &netErr) && netErr.Timeout():
		return true
	case errors.As(err, &opErr):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	return false
}

// ParseRetryAfter reads a Retry-After header value (RFC 9110, section
// 10.2.3): a number of seconds, or an HTTP-date, which is measured from
// now. A date in the past gives zero. ok is false for an empty or invalid
// value, a negative number of seconds included.
func ParseRetryAfter(value string, now time.Time) (d time.Duration, ok bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if value[0] >= '0' && value[0] <= '9' {
		secs, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return time.Duration(1<<63 - 1), true
			}
			return 0, false
		}
		if secs > uint64((1<<63-1)/time.Second) {
			return time.Duration(1<<63 - 1), true
		}
		return time.Duration(secs) * time.Second, true
	}
	at, err := http.ParseTime(value)
	if err != nil {
		return 0, false
	}
	return max(0, at.Sub(now)), true
}

// errNoResponse is what the policy sees when the wrapped transport breaks
// the RoundTripper contract by returning neither a response nor an error:
// a failure, not retried. The caller gets the nil pair unchanged.
var errNoResponse = errors.New("httpbreaker: transport returned no response and no error")
