package telemetry_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/telemetry"
)

// fakeRecorder keeps what it is given, by breaker name.
type fakeRecorder struct {
	mu       sync.Mutex
	prepared []string
	skip     string // ForBreaker returns nil for this one
	calls    []string
	moves    []string
}

func (r *fakeRecorder) ForBreaker(b *breaker.Breaker) telemetry.BreakerRecorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prepared = append(r.prepared, b.Name())
	if b.Name() == r.skip {
		return nil
	}
	return &fakeBreakerRecorder{r: r, name: b.Name()}
}

type fakeBreakerRecorder struct {
	r    *fakeRecorder
	name string
}

func (b *fakeBreakerRecorder) RecordCall(ctx context.Context, o breaker.Outcome, d time.Duration) {
	b.r.mu.Lock()
	defer b.r.mu.Unlock()
	b.r.calls = append(b.r.calls, b.name+" "+o.String()+" "+d.String()+" "+ctx.Value(ctxKey{}).(string))
}

func (b *fakeBreakerRecorder) RecordTransition(_ context.Context, from, to breaker.State, reason breaker.Reason, origin breaker.Origin) {
	b.r.mu.Lock()
	defer b.r.mu.Unlock()
	b.r.moves = append(b.r.moves, b.name+" "+from.String()+"->"+to.String()+" "+reason.String()+" "+origin.String())
}

// A Recorder gets every admitted call and transition once, with the call's
// context, from the same subscription that writes the logs.
func TestRecorder(t *testing.T) {
	clock := breakertest.NewClock(t0)
	reg := breaker.NewRegistry(breakerOptions(clock)...)
	early, err := reg.Get("early")
	require.NoError(t, err)
	rec := &fakeRecorder{skip: "skipped"}
	logs := newCaptureHandler(slog.LevelInfo)
	tel, err := telemetry.New(
		telemetry.WithMeterProvider(noop.NewMeterProvider()),
		telemetry.WithLogger(slog.New(logs)),
		telemetry.WithRecorder(rec),
	)
	require.NoError(t, err)
	detach, err := tel.AttachRegistry(reg)
	require.NoError(t, err)
	defer detach()
	assert.Equal(t, []string{"early"}, rec.prepared, "prepared on attaching")

	ctx := context.WithValue(context.Background(), ctxKey{}, "req")
	late, err := reg.Get("late")
	require.NoError(t, err)
	skipped, err := reg.Get("skipped")
	require.NoError(t, err)
	require.NoError(t, call(ctx, clock, early, 20*time.Millisecond, nil))
	require.ErrorIs(t, call(ctx, clock, late, 5*time.Millisecond, errIgnored), errIgnored)
	require.ErrorIs(t, call(ctx, clock, late, time.Millisecond, errBoom), errBoom)
	require.ErrorIs(t, call(ctx, clock, late, 2*time.Millisecond, errBoom), errBoom)
	require.ErrorIs(t, call(ctx, clock, late, 0, nil), breaker.ErrOpen) // not recorded
	require.ErrorIs(t, call(ctx, clock, skipped, time.Millisecond, errBoom), errBoom)
	late.Reset()
	_, err = late.Apply(ctx, breaker.Remote{To: breaker.Open, OpenFor: time.Minute, Reason: breaker.ReasonFailureRate, Origin: breaker.OriginPeer, Peer: "pod-2"})
	require.NoError(t, err)

	assert.Equal(t, []string{"early", "late", "skipped"}, rec.prepared)
	assert.Equal(t, []string{
		"early success 20ms req",
		"late ignored 5ms req",
		"late failure 1ms req",
		"late failure 2ms req",
	}, rec.calls)
	assert.Equal(t, []string{
		"late closed->open failure_threshold local",
		"late open->closed reset local",
		"late closed->open failure_rate peer",
	}, rec.moves)
	assert.Len(t, logs.records(), 3, "the logs are written once per change")

	detach()
	require.NoError(t, call(ctx, clock, early, time.Millisecond, nil))
	assert.Len(t, rec.calls, 4, "nothing recorded after detaching")
}
