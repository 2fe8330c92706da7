package retry_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/retry"
)

func TestInvalidConfig(t *testing.T) {
	tests := []struct {
		name  string
		pname string
		opts  []retry.Option
		field string
	}{
		{"empty name", "", nil, "name"},
		{"control character", "a\nb", nil, "name"},
		{"negative retries", "p", []retry.Option{retry.WithMaxRetries(-1)}, "max_retries"},
		{"too many retries", "p", []retry.Option{retry.WithMaxRetries(1001)}, "max_retries"},
		{"negative initial", "p", []retry.Option{retry.WithBackoff(-time.Second, time.Second)}, "backoff.initial"},
		{"max below initial", "p", []retry.Option{retry.WithBackoff(time.Second, time.Millisecond)}, "backoff.max"},
		{"unknown jitter", "p", []retry.Option{retry.WithJitter(retry.Jitter(9))}, "jitter"},
		{"negative max duration", "p", []retry.Option{retry.WithMaxDuration(-1)}, "max_duration"},
		{"nil classifier", "p", []retry.Option{retry.WithClassifier(nil)}, "classifier"},
		{"nil budget", "p", []retry.Option{retry.WithBudget(nil)}, "budget"},
		{"zero open wait", "p", []retry.Option{retry.WithOpenWait(0)}, "open_wait"},
		{"negative open wait", "p", []retry.Option{retry.WithOpenWait(-time.Second)}, "open_wait"},
		{"typed nil event bus", "p", []retry.Option{retry.WithEventBus((*events.Sync[retry.Event])(nil))}, "event_bus"},
		{"zero max retry-after", "p", []retry.Option{retry.WithMaxRetryAfter(0)}, "max_retry_after"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := retry.New(tc.pname, tc.opts...)
			require.Nil(t, p)
			require.ErrorIs(t, err, retry.ErrInvalidConfig)
			var ce *retry.ConfigError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tc.field, ce.Field)
			require.True(t, strings.HasPrefix(err.Error(), "retry: invalid "+tc.field+" "), err.Error())
		})
	}
}

func TestValidConfigEdges(t *testing.T) {
	for _, opts := range [][]retry.Option{
		nil,
		{nil}, // a nil option is skipped
		{retry.WithMaxRetries(0)},
		{retry.WithMaxRetries(retry.MaxMaxRetries)},
		{retry.WithBackoff(time.Nanosecond, time.Duration(math.MaxInt64))},
		{retry.WithBackoff(0, 0)},
		{retry.WithBackoff(0, time.Second)},
		{retry.WithMaxDuration(0)},
		{retry.WithBudget(nil), retry.WithoutBudget()}, // the last one wins
		{retry.WithoutBudget(), retry.WithBudget(mustBudget(t, 0.1, 5))},
		{retry.WithEventBus(nil)},
	} {
		p, err := retry.New("ok", opts...)
		require.NoError(t, err)
		require.Equal(t, "ok", p.Name())
	}
}

func TestDefaults(t *testing.T) {
	p, err := retry.New("defaults")
	require.NoError(t, err)
	require.Equal(t, 3, p.MaxRetries())
	require.Equal(t, retry.DefaultMaxRetries, p.MaxRetries())
	require.NotNil(t, p.Budget())
	require.Equal(t, 0.2, p.Budget().Ratio())
	require.Equal(t, 10, p.Budget().Burst())
	require.Equal(t, 10.0, p.Budget().Available())
	require.NotNil(t, p.Events())
	s := p.Stats()
	require.Equal(t, retry.Stats{Name: "defaults", HasBudget: true, BudgetAvailable: 10}, s)
}

func TestInvalidBudget(t *testing.T) {
	for _, tc := range []struct {
		ratio float64
		burst int
		field string
	}{
		{-0.1, 10, "budget.ratio"},
		{math.NaN(), 10, "budget.ratio"},
		{math.Inf(1), 10, "budget.ratio"},
		{1000.5, 10, "budget.ratio"},
		{0.2, 0, "budget.burst"},
		{0.2, -1, "budget.burst"},
		{0.2, retry.MaxBudgetBurst + 1, "budget.burst"},
	} {
		b, err := retry.NewBudget(tc.ratio, tc.burst)
		require.Nil(t, b)
		var ce *retry.ConfigError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, tc.field, ce.Field)
		require.ErrorIs(t, err, retry.ErrInvalidConfig)
	}
}

func mustBudget(t *testing.T, ratio float64, burst int) *retry.Budget {
	t.Helper()
	b, err := retry.NewBudget(ratio, burst)
	require.NoError(t, err)
	return b
}

// invalidField is the reference for option validation: the field New must
// name for these values, or "" when they are valid, checked in the order
// the options are documented.
func invalidField(retries int, initial, maxDelay, maxDuration, openWait, maxRetryAfter time.Duration, jitter uint8) string {
	switch {
	case retries < 0 || retries > retry.MaxMaxRetries:
		return "max_retries"
	case initial < 0:
		return "backoff.initial"
	case maxDelay < initial:
		return "backoff.max"
	case jitter > uint8(retry.NoJitter):
		return "jitter"
	case maxDuration < 0:
		return "max_duration"
	case openWait <= 0:
		return "open_wait"
	case maxRetryAfter <= 0:
		return "max_retry_after"
	}
	return ""
}

// FuzzOptions: any option values either make a policy that runs a call
// within them, or are refused with a *ConfigError naming the first bad
// field; nothing panics.
func FuzzOptions(f *testing.F) {
	f.Add(3, int64(100*time.Millisecond), int64(10*time.Second), int64(0), int64(time.Second), int64(10*time.Second), uint8(0), 0.2, 10)
	f.Add(0, int64(1), int64(1), int64(1), int64(1), int64(1), uint8(2), 0.0, 1)
	f.Add(-1, int64(0), int64(-1), int64(-1), int64(0), int64(0), uint8(3), -1.0, 0)
	f.Add(1000, int64(math.MaxInt64), int64(math.MaxInt64), int64(math.MaxInt64), int64(math.MaxInt64), int64(math.MaxInt64), uint8(1), 1000.0, 1<<30)
	f.Add(1001, int64(2), int64(1), int64(0), int64(1), int64(1), uint8(255), math.NaN(), math.MinInt32)
	f.Fuzz(func(t *testing.T, retries int, initial, maxDelay, maxDuration, openWait, maxRetryAfter int64, jitter uint8, ratio float64, burst int) {
		want := invalidField(retries, time.Duration(initial), time.Duration(maxDelay), time.Duration(maxDuration), time.Duration(openWait), time.Duration(maxRetryAfter), jitter)
		budget, berr := retry.NewBudget(ratio, burst)
		if berr != nil {
			var ce *retry.ConfigError
			require.ErrorAs(t, berr, &ce)
			require.True(t, ce.Field == "budget.ratio" || ce.Field == "budget.burst", ce.Field)
			require.Nil(t, budget)
			budget = nil
		} else {
			require.GreaterOrEqual(t, budget.Available(), 1.0)
		}
		opts := []retry.Option{
			retry.WithMaxRetries(retries),
			retry.WithBackoff(time.Duration(initial), time.Duration(maxDelay)),
			retry.WithJitter(retry.Jitter(jitter)),
			retry.WithMaxDuration(time.Duration(maxDuration)),
			retry.WithOpenWait(time.Duration(openWait)),
			retry.WithMaxRetryAfter(time.Duration(maxRetryAfter)),
		}
		if budget != nil {
			opts = append(opts, retry.WithBudget(budget))
		}
		p, err := retry.New("fuzz", opts...)
		if want != "" {
			require.Nil(t, p)
			var ce *retry.ConfigError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, want, ce.Field)
			require.ErrorIs(t, err, retry.ErrInvalidConfig)
			require.Contains(t, err.Error(), want)
			return
		}
		require.NoError(t, err)
		// A permanent error makes one attempt whatever the settings, so the
		// fuzzer never waits.
		calls := 0
		_, err = retry.Do(t.Context(), p, func(ctx context.Context) (int, error) {
			calls++
			return 0, retry.Permanent(errBoom)
		})
		require.Same(t, errBoom, err)
		require.Equal(t, 1, calls)
		checkTotals(t, p.Stats())
	})
}
