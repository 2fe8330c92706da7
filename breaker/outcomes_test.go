package breaker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
)

func TestDefaultPredicate(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		cancel  bool
		outcome breaker.Outcome
	}{
		{name: "nil is a success", err: nil, outcome: breaker.OutcomeSuccess},
		{name: "nil after cancel is a success", err: nil, cancel: true, outcome: breaker.OutcomeSuccess},
		{name: "an error is a failure", err: errBoom, outcome: breaker.OutcomeFailure},
		{name: "deadline exceeded is a failure", err: context.DeadlineExceeded, outcome: breaker.OutcomeFailure},
		{name: "canceled with the caller's context done is ignored", err: context.Canceled, cancel: true, outcome: breaker.OutcomeIgnored},
		{name: "any error after the caller cancelled is ignored", err: errBoom, cancel: true, outcome: breaker.OutcomeIgnored},
		{name: "canceled while the caller is still waiting is a failure", err: context.Canceled, outcome: breaker.OutcomeFailure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := newClocked(t)
			rec := record(b.Events())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			err := b.Execute(ctx, func(context.Context) error {
				if tc.cancel {
					cancel()
				}
				return tc.err
			})
			assert.Equal(t, tc.err, err, "Execute returns fn's error unchanged")
			evs := rec.all()
			require.Len(t, evs, 1)
			assert.Equal(t, tc.outcome, evs[0].Outcome)
			assert.Equal(t, tc.err, evs[0].Err)
		})
	}
}

func TestCustomPredicate(t *testing.T) {
	errNotFound := errors.New("not found")
	b, _ := newClocked(t, breaker.WithFailureThreshold(2),
		breaker.WithFailurePredicate(func(err error) bool { return !errors.Is(err, errNotFound) }))
	for range 10 {
		require.ErrorIs(t, b.Execute(context.Background(), func(context.Context) error { return errNotFound }), errNotFound)
	}
	s := b.Stats()
	assert.Equal(t, breaker.Closed, s.State)
	assert.Equal(t, uint64(10), s.TotalIgnored)
	assert.Zero(t, s.FailureCount)
	require.Error(t, b.Execute(context.Background(), fail))
	require.Error(t, b.Execute(context.Background(), fail))
	assert.Equal(t, breaker.Open, b.State())
}

func TestPanicIsAFailureAndRepanics(t *testing.T) {
	b, _ := newClocked(t, breaker.WithFailureThreshold(1))
	rec := record(b.Events())
	type boom struct{ code int }
	func() {
		defer func() {
			assert.Equal(t, boom{7}, recover(), "the original panic value comes back")
		}()
		_ = b.Execute(context.Background(), func(context.Context) error { panic(boom{7}) })
		t.Error("Execute returned instead of re-panicking")
	}()
	assert.Equal(t, breaker.Open, b.State())
	assert.Equal(t, uint64(1), b.Stats().TotalFailures)
	evs := rec.all()
	require.NotEmpty(t, evs)
	var pe *breaker.PanicError
	require.ErrorAs(t, evs[0].Err, &pe)
	assert.Equal(t, boom{7}, pe.Value)
}

func TestNilFunction(t *testing.T) {
	b, _ := newClocked(t)
	assert.ErrorIs(t, b.Execute(context.Background(), nil), breaker.ErrNilFunc)
	_, err := breaker.Do[int](context.Background(), b, nil)
	assert.ErrorIs(t, err, breaker.ErrNilFunc)
	_, err = breaker.Wrap[int](b, nil)(context.Background())
	assert.ErrorIs(t, err, breaker.ErrNilFunc)
	assert.Zero(t, b.Stats().TotalCalls)
}

// A nil context is treated as context.Background(): it used to panic in
// the classification of an error after fn returned, wedging a half-open
// breaker like a panicking predicate.
func TestNilContextIsBackground(t *testing.T) {
	b, _ := halfOpen(t)
	var got context.Context
	//lint:ignore SA1012 the nil context is the point of the test
	err := b.Execute(nil, func(ctx context.Context) error { got = ctx; return errBoom })
	require.ErrorIs(t, err, errBoom)
	require.NotNil(t, got, "fn receives a usable context")
	assert.Equal(t, breaker.Open, b.State(), "the trial's failure was recorded")

	//lint:ignore SA1012 as above
	p, err := b.Allow(nil)
	require.ErrorIs(t, err, breaker.ErrOpen)
	p.Done(errBoom)
	//lint:ignore SA1012 as above
	_, err = breaker.Do(nil, b, func(context.Context) (int, error) { return 1, nil })
	require.ErrorIs(t, err, breaker.ErrOpen)
}
