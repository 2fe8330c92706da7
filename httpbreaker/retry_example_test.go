package httpbreaker_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/httpbreaker"
	"github.com/fusebox-go/fusebox/retry"
)

// A client that retries a busy dependency, behind a breaker that sees one
// outcome per request (the spec's order).
func ExampleNewRetryTransport() {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) < 3 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "42 items")
	}))
	defer srv.Close()

	reg := breaker.NewRegistry()
	p, err := retry.New("inventory", retry.WithMaxRetries(3), retry.WithBackoff(time.Millisecond, 100*time.Millisecond))
	if err != nil {
		panic(err)
	}
	client := &http.Client{
		Transport: httpbreaker.NewTransport(reg, httpbreaker.NewRetryTransport(p, http.DefaultTransport)),
		Timeout:   10 * time.Second,
	}
	resp, err := client.Get(srv.URL + "/items")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	fmt.Println("attempts:", p.Stats().TotalAttempts)
	// Output:
	// 200 42 items
	// attempts: 3
}
