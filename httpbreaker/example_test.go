package httpbreaker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/httpbreaker"
)

func ExampleNewTransport() {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer backend.Close()

	reg := breaker.NewRegistry(breaker.WithFailureThreshold(2))
	client := &http.Client{
		// One breaker per host by default; this example names it.
		Transport: httpbreaker.NewTransport(reg, backend.Client().Transport,
			httpbreaker.WithNamer(func(*http.Request) string { return "backend" })),
	}

	for range 3 {
		resp, err := client.Get(backend.URL)
		var oe *breaker.OpenError
		if errors.As(err, &oe) {
			fmt.Println("not sent:", oe)
			continue
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body) // a failing response still arrives whole
		resp.Body.Close()
		fmt.Print(resp.StatusCode, " ", string(body))
	}
	// Output:
	// 503 overloaded
	// 503 overloaded
	// not sent: breaker: circuit "backend" is open
}

func ExampleWithFailurePredicate() {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer backend.Close()

	reg := breaker.NewRegistry(breaker.WithFailureThreshold(1))
	tooMany := func(resp *http.Response, err error) bool {
		return httpbreaker.DefaultFailure(resp, err) || resp.StatusCode == http.StatusTooManyRequests
	}
	client := &http.Client{Transport: httpbreaker.NewTransport(reg, backend.Client().Transport,
		httpbreaker.WithNamer(func(*http.Request) string { return "rate-limited" }),
		httpbreaker.WithFailurePredicate(tooMany))}

	resp, err := client.Get(backend.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	_, err = client.Get(backend.URL)
	fmt.Println(resp.StatusCode, errors.Is(err, breaker.ErrOpen))
	// Output:
	// 429 true
}

func ExampleNewHandler() {
	clock := breakertest.NewClock(time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC))
	b, err := breaker.New("checkout",
		breaker.WithFailureThreshold(1),
		breaker.WithRecoveryTimeout(30*time.Second),
		breaker.WithClock(clock),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	checkout := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database unavailable", http.StatusInternalServerError)
	})
	srv := httptest.NewServer(httpbreaker.NewHandler(b, checkout))
	defer srv.Close()

	get := func() {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Printf("%d Retry-After=%q\n", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	get() // fails: the breaker opens
	get() // rejected without calling checkout
	clock.Advance(12 * time.Second)
	get()
	// Output:
	// 500 Retry-After=""
	// 503 Retry-After="30"
	// 503 Retry-After="18"
}

func ExampleNewStatusHandler() {
	clock := breakertest.NewClock(time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC))
	reg := breaker.NewRegistry(breaker.WithFailureThreshold(1), breaker.WithClock(clock))
	b, _ := reg.Get("payments")
	_ = b.Execute(context.Background(), func(context.Context) error { return errors.New("timeout") })

	token := "example-token" // in a program, from the environment
	admin := httpbreaker.WithAdmin(httpbreaker.BearerToken(token))
	status := http.StripPrefix("/breakers", httpbreaker.NewStatusHandler(reg, admin))
	mux := http.NewServeMux()
	mux.Handle("/breakers", status)
	mux.Handle("/breakers/", status)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/breakers/payments")
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _ = io.Copy(os.Stdout, resp.Body)
	resp.Body.Close()

	for _, auth := range []string{"", "Bearer " + token} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/breakers/payments/reset", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println("reset:", resp.StatusCode, b.State())
	}
	// Output:
	// {
	//   "name": "payments",
	//   "state": "open",
	//   "failure_count": 1,
	//   "success_count": 0,
	//   "last_failure_time": "2026-01-15T10:00:00Z",
	//   "last_state_change": "2026-01-15T10:00:00Z",
	//   "total_calls": 1,
	//   "total_failures": 1,
	//   "total_successes": 0,
	//   "total_rejected": 0,
	//   "total_ignored": 0,
	//   "total_shadow_rejected": 0,
	//   "total_slow_calls": 0,
	//   "forced": false,
	//   "shadow_mode": false
	// }
	// reset: 403 open
	// reset: 200 closed
}
