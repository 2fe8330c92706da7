package retry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/retry"
)

// fast keeps the examples quick: a microsecond between attempts.
var fast = retry.WithBackoff(time.Microsecond, time.Microsecond)

func ExampleDo() {
	p, err := retry.New("model_server", retry.WithMaxRetries(3), fast)
	if err != nil {
		panic(err)
	}
	calls := 0
	score, err := retry.Do(context.Background(), p, func(ctx context.Context) (float64, error) {
		calls++
		fmt.Println("attempt", retry.Attempt(ctx))
		if calls < 3 {
			return 0, errors.New("connection reset")
		}
		return 0.93, nil
	})
	fmt.Println(score, err)
	// Output:
	// attempt 1
	// attempt 2
	// attempt 3
	// 0.93 <nil>
}

func ExampleDo_exhausted() {
	p, _ := retry.New("model_server", retry.WithMaxRetries(3), fast)
	errDown := errors.New("connection refused")
	_, err := retry.Do(context.Background(), p, func(context.Context) (string, error) {
		return "", errDown
	})
	fmt.Println(err)
	fmt.Println("the real error:", errors.Is(err, errDown))
	fmt.Println("exhausted:", errors.Is(err, retry.ErrExhausted))
	// Output:
	// retry: "model_server" gave up after 4 attempts (exhausted): connection refused
	// the real error: true
	// exhausted: true
}

// The spec's integration with the model server: the circuit breaker wraps
// the retry handler, and an open breaker serves a cached result. The
// policy's budget (10 retries, plus 0.2 per call) runs dry during the
// fourth call, so 15 attempts, not 20, reach the server before the
// breaker opens.
func Example_specIntegration() {
	modelCB, _ := breaker.New("model_server",
		breaker.WithFailureThreshold(5),
		breaker.WithRecoveryTimeout(60*time.Second),
	)
	retryHandler, _ := retry.New("model_server", retry.WithMaxRetries(3), fast)

	callModelServer := func(ctx context.Context, data string) (string, error) {
		return "", errors.New("model server unavailable")
	}
	getCachedModelResult := func(data string) string { return "cached result for " + data }

	callModelWithProtection := func(ctx context.Context, data string) (string, error) {
		// Circuit breaker wraps the retry handler.
		res, err := breaker.Do(ctx, modelCB, retry.Wrap(retryHandler, func(ctx context.Context) (string, error) {
			return callModelServer(ctx, data)
		}))
		if errors.Is(err, breaker.ErrOpen) {
			// Circuit is open: return a cached result.
			return getCachedModelResult(data), nil
		}
		return res, err
	}

	for i := range 6 {
		res, err := callModelWithProtection(context.Background(), "input")
		fmt.Printf("call %d: %q %v\n", i+1, res, err)
	}
	fmt.Println("attempts:", retryHandler.Stats().TotalAttempts, "state:", modelCB.State())
	// Output:
	// call 1: "" retry: "model_server" gave up after 4 attempts (exhausted): model server unavailable
	// call 2: "" retry: "model_server" gave up after 4 attempts (exhausted): model server unavailable
	// call 3: "" retry: "model_server" gave up after 4 attempts (exhausted): model server unavailable
	// call 4: "" retry: "model_server" gave up after 2 attempts (budget): model server unavailable
	// call 5: "" retry: "model_server" gave up after 1 attempt (budget): model server unavailable
	// call 6: "cached result for input" <nil>
	// attempts: 15 state: open
}

// Per attempt: the policy wraps the breaker, which counts every attempt;
// the policy stops retrying as soon as the breaker opens.
func Example_perAttempt() {
	b, _ := breaker.New("model_server", breaker.WithFailureThreshold(5))
	p, _ := retry.New("model_server", retry.WithMaxRetries(3), fast)
	calls := 0
	predict := breaker.Wrap(b, func(context.Context) (string, error) {
		calls++
		return "", errors.New("model server unavailable")
	})
	for i := range 3 {
		_, err := retry.Do(context.Background(), p, predict)
		fmt.Printf("call %d: open=%v\n", i+1, errors.Is(err, breaker.ErrOpen))
	}
	fmt.Println("attempts that reached the server:", calls)
	// Output:
	// call 1: open=false
	// call 2: open=true
	// call 3: open=true
	// attempts that reached the server: 5
}

// The spec's ErrorClassifier: which errors are worth another attempt.
func ExampleWithClassifier() {
	errInvalid := errors.New("invalid input")
	errOverloaded := errors.New("overloaded")
	classify := func(err error) retry.Decision {
		switch {
		case errors.Is(err, errInvalid):
			return retry.Stop // the same input fails the same way
		case errors.Is(err, errOverloaded):
			return retry.RetryAfter(2 * time.Millisecond) // what the server asked for
		}
		return retry.Retry
	}
	p, _ := retry.New("model_server", retry.WithClassifier(classify), fast)
	attempts := 0
	err := p.Execute(context.Background(), func(context.Context) error {
		attempts++
		return errInvalid
	})
	fmt.Println(err, attempts)
	// Output: invalid input 1
}

func ExamplePermanent() {
	p, _ := retry.New("payments", fast)
	errDeclined := errors.New("card declined")
	err := p.Execute(context.Background(), func(context.Context) error {
		return retry.Permanent(errDeclined) // never worth retrying
	})
	fmt.Println(err == errDeclined, p.Stats().TotalAttempts)
	// Output: true 1
}

// A budget shared by the policies that call one dependency: however many
// calls fail, retries stay under 20% of calls plus 10.
func ExampleNewBudget() {
	budget, err := retry.NewBudget(0.2, 10)
	if err != nil {
		panic(err)
	}
	reads, _ := retry.New("inventory_reads", retry.WithBudget(budget), fast)
	writes, _ := retry.New("inventory_writes", retry.WithBudget(budget), fast)
	down := func(context.Context) error { return errors.New("inventory down") }
	for range 50 {
		_ = reads.Execute(context.Background(), down)
		_ = writes.Execute(context.Background(), down)
	}
	r, w := reads.Stats(), writes.Stats()
	fmt.Println("calls:", r.TotalCalls+w.TotalCalls, "retries:", r.TotalRetries+w.TotalRetries)
	fmt.Println("refused by the budget:", r.StoppedBudget+w.StoppedBudget)
	// Output:
	// calls: 100 retries: 29
	// refused by the budget: 97
}

func ExamplePolicy_Stats() {
	p, _ := retry.New("model_server", fast)
	flaky := 0
	_ = p.Execute(context.Background(), func(context.Context) error { return nil })
	_ = p.Execute(context.Background(), func(context.Context) error {
		if flaky++; flaky < 2 {
			return errors.New("timeout")
		}
		return nil
	})
	_ = p.Execute(context.Background(), func(context.Context) error { return retry.Permanent(errors.New("bad request")) })
	s := p.Stats()
	for _, o := range retry.Outcomes {
		fmt.Printf("%s: %d\n", o, s.Calls(o))
	}
	fmt.Println("not_retryable:", s.StoppedBy(retry.ReasonNotRetryable))
	fmt.Println("attempts:", s.TotalAttempts, "retries:", s.TotalRetries)
	// Output:
	// success: 1
	// success_after_retry: 1
	// failure: 1
	// failure_after_retry: 0
	// not_retryable: 1
	// attempts: 4 retries: 1
}

// Subscribers see each retry before its wait, and each call that needed
// retrying when it ends.
func ExamplePolicy_Events() {
	p, _ := retry.New("model_server", retry.WithBackoff(time.Millisecond, time.Second), retry.WithJitter(retry.NoJitter))
	p.Events().Subscribe(events.HandlerFunc[retry.Event](func(_ context.Context, e retry.Event) {
		switch e.Kind {
		case retry.EventRetry:
			fmt.Printf("attempt %d failed (%v), retrying in %s\n", e.Attempt, e.Err, e.Delay)
		case retry.EventCall:
			fmt.Printf("%s after %d attempts\n", e.Outcome, e.Attempts)
		}
	}))
	n := 0
	_ = p.Execute(context.Background(), func(context.Context) error {
		if n++; n < 3 {
			return errors.New("timeout")
		}
		return nil
	})
	// Output:
	// attempt 1 failed (timeout), retrying in 1ms
	// attempt 2 failed (timeout), retrying in 2ms
	// success_after_retry after 3 attempts
}

func ExampleAttempt() {
	p, _ := retry.New("api", fast)
	_ = p.Execute(context.Background(), func(ctx context.Context) error {
		n := retry.Attempt(ctx)
		fmt.Printf("http.request.resend_count=%d\n", n-1)
		if n < 2 {
			return errors.New("503")
		}
		return nil
	})
	// Output:
	// http.request.resend_count=0
	// http.request.resend_count=1
}
