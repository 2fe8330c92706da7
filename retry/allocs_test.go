package retry_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/retry"
)

func TestFirstAttemptSuccessAllocatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	ctx := context.Background()
	own, err := retry.New("own")
	require.NoError(t, err)
	shared, err := retry.New("shared", retry.WithBudget(mustBudget(t, 0.2, 10)), retry.WithMaxDuration(1<<40))
	require.NoError(t, err)
	observed, err := retry.New("observed")
	require.NoError(t, err)
	observed.Events().Subscribe(events.HandlerFunc[retry.Event](func(context.Context, retry.Event) {}))
	ok := func(context.Context) (int, error) { return 1, nil }
	okErr := func(context.Context) error { return nil }
	for _, p := range []*retry.Policy{own, shared, observed} {
		wrapped := retry.Wrap(p, ok)
		require.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = retry.Do(ctx, p, ok) }), p.Name())
		require.Zero(t, testing.AllocsPerRun(1000, func() { _ = p.Execute(ctx, okErr) }), p.Name())
		require.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = wrapped(ctx) }), p.Name())
	}
	require.Equal(t, uint64(3*3*1001), own.Stats().Successes+shared.Stats().Successes+observed.Stats().Successes)
}
