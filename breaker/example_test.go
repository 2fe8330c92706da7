package breaker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
)

func ExampleBreaker_Execute() {
	b, err := breaker.New("database", breaker.WithFailureThreshold(3))
	if err != nil {
		panic(err)
	}
	ping := func(context.Context) error { return errors.New("connection refused") }
	for range 4 {
		err := b.Execute(context.Background(), ping)
		fmt.Println(err, "| open:", errors.Is(err, breaker.ErrOpen))
	}
	fmt.Println(b.State())
	// Output:
	// connection refused | open: false
	// connection refused | open: false
	// connection refused | open: false
	// breaker: circuit "database" is open | open: true
	// open
}

func ExampleDo() {
	b, _ := breaker.New("model_server")
	score, err := breaker.Do(context.Background(), b, func(ctx context.Context) (float64, error) {
		return 0.93, nil // call the model server here
	})
	fmt.Println(score, err)
	// Output: 0.93 <nil>
}

func ExampleDo_fallback() {
	clock := breakertest.NewClock(time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC))
	b, _ := breaker.New("external_api", breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(30*time.Second), breaker.WithClock(clock))
	fetch := func(ctx context.Context) (string, error) { return "", errors.New("503 from upstream") }
	_, _ = breaker.Do(context.Background(), b, fetch) // opens the breaker

	clock.Advance(10 * time.Second)
	data, err := breaker.Do(context.Background(), b, fetch)
	var oe *breaker.OpenError
	if errors.As(err, &oe) {
		data = "cached data"
		fmt.Printf("%s is %s, retry in %s\n", oe.Name(), oe.State(), oe.RetryAfter())
	}
	fmt.Println(data)
	// Output:
	// external_api is open, retry in 20s
	// cached data
}

func ExampleWrap() {
	b, _ := breaker.New("external_api", breaker.WithFailureThreshold(10), breaker.WithRecoveryTimeout(120*time.Second), breaker.WithHalfOpenMaxCalls(5))
	getUser := breaker.Wrap(b, func(ctx context.Context) (string, error) {
		return "ada", nil
	})
	name, err := getUser(context.Background())
	fmt.Println(name, err)
	// Output: ada <nil>
}

func ExampleRegistry() {
	reg := breaker.NewRegistry(breaker.WithRecoveryTimeout(30 * time.Second))
	db, _ := reg.Get("database", breaker.WithFailureThreshold(3), breaker.WithHalfOpenMaxCalls(2))
	again, _ := reg.Get("database") // anywhere else in the program
	fmt.Println(db == again)

	_, _ = reg.Get("model_server")
	for _, b := range reg.All() {
		s := b.Stats()
		fmt.Printf("%s: %s - %d failures\n", s.Name, s.State, s.FailureCount)
	}
	reg.ResetAll()
	// Output:
	// true
	// database: closed - 0 failures
	// model_server: closed - 0 failures
}

func ExampleBreaker_Stats() {
	clock := breakertest.NewClock(time.Date(2024, 1, 15, 10, 30, 45, 0, time.UTC))
	b, _ := breaker.New("model_server", breaker.WithClock(clock))
	for range 95 {
		_ = b.Execute(context.Background(), func(context.Context) error { return nil })
	}
	for range 5 {
		_ = b.Execute(context.Background(), func(context.Context) error { return errors.New("timeout") })
		_ = b.Execute(context.Background(), func(context.Context) error { return nil })
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(b.Stats())
	// Output:
	// {
	//   "name": "model_server",
	//   "state": "closed",
	//   "failure_count": 0,
	//   "success_count": 0,
	//   "last_failure_time": "2024-01-15T10:30:45Z",
	//   "last_state_change": null,
	//   "total_calls": 105,
	//   "total_failures": 5,
	//   "total_successes": 100,
	//   "total_rejected": 0,
	//   "total_ignored": 0,
	//   "total_shadow_rejected": 0,
	//   "total_slow_calls": 0,
	//   "forced": false,
	//   "shadow_mode": false
	// }
}

func ExampleBreaker_ForceOpen() {
	b, _ := breaker.New("database")
	b.ForceOpen() // maintenance window
	err := b.Execute(context.Background(), func(context.Context) error { return nil })
	fmt.Println(err)
	b.Reset()
	fmt.Println(b.State())
	// Output:
	// breaker: circuit "database" is forced open
	// closed
}

// The permit API protects work that is not one function call: here a
// response whose outcome is known only once its body has been read. A
// permit that is never finished holds a half-open trial slot only until
// WithHalfOpenMaxWait reopens the breaker.
func ExampleBreaker_Allow() {
	clock := breakertest.NewClock(time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC))
	b, _ := breaker.New("stream",
		breaker.WithFailureThreshold(1),
		breaker.WithRecoveryTimeout(10*time.Second),
		breaker.WithHalfOpenMaxCalls(1),
		breaker.WithHalfOpenMaxWait(30*time.Second),
		breaker.WithClock(clock))

	p, err := b.Allow(context.Background())
	if err != nil {
		return // *breaker.OpenError: not permitted
	}
	// ... start the request, hand the permit to whoever reads the body ...
	p.Done(errors.New("stream reset")) // the outcome, once known
	fmt.Println(b.State())

	clock.Advance(10 * time.Second)
	trial, _ := b.Allow(context.Background()) // the one trial, never finished
	_ = trial
	_, err = b.Allow(context.Background())
	fmt.Println("second caller:", err)
	clock.Advance(30 * time.Second)
	fmt.Println("after the max wait:", b.State())
	// Output:
	// open
	// second caller: breaker: circuit "stream" is half_open
	// after the max wait: open
}
