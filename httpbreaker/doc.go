// Package httpbreaker puts circuit breakers around net/http clients and
// servers, and shows them over HTTP.
//
// # Client
//
// [NewTransport] wraps an [http.RoundTripper]. Each request goes through a
// breaker taken from a [breaker.Registry], one per host by default
// ([HostName]; see [WithNamer]). Transport errors and 5xx responses count
// as failures ([WithFailurePredicate] changes that); the response is still
// returned, body unread, so the caller reads and closes it as usual. Once
// the host's breaker opens, requests are not sent: RoundTrip closes the
// request body and returns an error wrapping [breaker.ErrOpen]. A request
// for which no breaker can be had (a full registry) is sent unprotected,
// counted and logged, rather than failed. Give a registry keyed by host
// [breaker.WithIdleEviction], so that hosts no longer called are
// forgotten. The Transport is built on the breaker's permit API
// ([breaker.Breaker.Allow]), which is the way to protect any call whose
// outcome is known only later.
//
//	reg := breaker.NewRegistry(breaker.WithFailureThreshold(5), breaker.WithIdleEviction(10*time.Minute))
//	client := &http.Client{
//		Transport: httpbreaker.NewTransport(reg, http.DefaultTransport),
//		Timeout:   10 * time.Second,
//	}
//	resp, err := client.Get("https://api.example.com/v1/items")
//	if errors.Is(err, breaker.ErrOpen) {
//		var oe *breaker.OpenError
//		errors.As(err, &oe)
//		// not sent: serve a fallback, try again after oe.RetryAfter()
//	}
//
// # Server
//
// [NewHandler] protects an [http.Handler] with one breaker. 5xx responses
// and panics count as failures (a panic is re-raised for net/http). While
// the breaker is open the handler is not called: the client gets 503 with a
// Retry-After header.
//
//	b, err := reg.Get("checkout")
//	if err != nil { ... }
//	mux.Handle("/checkout", httpbreaker.NewHandler(b, checkoutHandler))
//
// # Status
//
// [NewStatusHandler] serves every breaker of a registry as JSON, and as an
// HTML page that reloads itself. Its admin actions (reset, force open) are
// off unless [WithAdmin] is given an authorization function. Mount it under
// a prefix with [http.StripPrefix], for both the prefix and the prefix with
// a trailing slash:
//
//	status := http.StripPrefix("/breakers", httpbreaker.NewStatusHandler(reg,
//		httpbreaker.WithAdmin(httpbreaker.BearerToken(token)),
//	))
//	mux.Handle("/breakers", status)  // GET: JSON list
//	mux.Handle("/breakers/", status) // GET /breakers/?format=html: the page
//
//	curl localhost:8080/breakers/api.example.com
//	curl -X POST -H "Authorization: Bearer $TOKEN" localhost:8080/breakers/api.example.com/reset
//
// The routes, formats, status codes and the page's data-* attributes are
// listed on [NewStatusHandler].
//
// # Concurrency
//
// Everything here is safe for concurrent use and starts no goroutine of its
// own.
package httpbreaker
