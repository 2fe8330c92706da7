package telemetry_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/telemetry"
)

// names returns the circuit_breaker.name values of a metric's points.
func names(m metricdata.Metrics) []string {
	var out []string
	add := func(set attribute.Set) {
		if v, ok := set.Value("circuit_breaker.name"); ok {
			out = append(out, v.AsString())
		}
	}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			add(p.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			add(p.Attributes)
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			add(p.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			add(p.Attributes)
		}
	}
	return out
}

// A collection used to read each breaker with Stats, which made a due
// open->half-open transition and published it from inside the SDK's
// collection callback, under the SDK's pipeline lock: a subscriber that
// registered an instrument or callback, or detached telemetry, deadlocked.
// Collection now observes without publishing.
func TestCollectionNeverRunsSubscribers(t *testing.T) {
	e := newEnv(t)
	b := e.get(t, "db")
	require.ErrorIs(t, call(context.Background(), e.clock, b, 0, errBoom), errBoom)
	require.ErrorIs(t, call(context.Background(), e.clock, b, 0, errBoom), errBoom)
	var inHandler int
	e.reg.Events().Subscribe(events.HandlerFunc[breaker.Event](func(_ context.Context, ev breaker.Event) {
		if ev.Kind == breaker.EventStateChange && ev.To == breaker.HalfOpen {
			inHandler++
			e.detach() // needs the SDK's lock: deadlocks if run from a collection
		}
	}))
	e.clock.Advance(30 * time.Second) // the recovery timeout is due

	collected := make(chan error, 1)
	go func() { collected <- e.reader.Collect(context.Background(), new(metricdata.ResourceMetrics)) }()
	select {
	case err := <-collected:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("collection deadlocked")
	}
	assert.Zero(t, inHandler, "the collection published nothing")
	assert.Equal(t, breaker.HalfOpen, b.State(), "the next read makes the transition")
	assert.Equal(t, 1, inHandler)
}

// The same registry attached twice used to write every span event and log
// record twice (three times with two prom handlers and a direct
// attachment). The second attachment is now refused.
func TestAttachingTwiceIsAnError(t *testing.T) {
	e := newEnv(t) // attached once
	_, err := e.tel.AttachRegistry(e.reg)
	require.ErrorIs(t, err, telemetry.ErrAlreadyAttached)
	other, err := telemetry.New(telemetry.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	_, err = other.AttachRegistry(e.reg)
	require.ErrorIs(t, err, telemetry.ErrAlreadyAttached, "by another Telemetry too")
	b := e.get(t, "db")
	_, err = other.AttachBreaker(b)
	require.ErrorIs(t, err, telemetry.ErrAlreadyAttached, "a breaker of an attached registry")

	e.detach()
	detach, err := other.AttachRegistry(e.reg)
	require.NoError(t, err, "once detached, it can be attached again")
	detach()

	lone, err := breaker.New("lone")
	require.NoError(t, err)
	d1, err := other.AttachBreaker(lone)
	require.NoError(t, err)
	_, err = e.tel.AttachBreaker(lone)
	require.ErrorIs(t, err, telemetry.ErrAlreadyAttached)
	d1()
}

// A breaker removed from the registry (or evicted as idle) is forgotten:
// its observed series leave the next collection.
func TestRemovedBreakerIsForgotten(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, call(context.Background(), e.clock, e.get(t, "gone"), time.Millisecond, nil))
	require.NoError(t, call(context.Background(), e.clock, e.get(t, "kept"), time.Millisecond, nil))
	require.Contains(t, names(e.collect(t)["circuit_breaker.calls"]), "gone")
	require.True(t, e.reg.Remove("gone"))
	got := e.collect(t)
	for _, m := range []string{"circuit_breaker.calls", "circuit_breaker.state", "circuit_breaker.consecutive_failures"} {
		assert.NotContains(t, names(got[m]), "gone", m)
		assert.Contains(t, names(got[m]), "kept", m)
	}
}

// A breaker made with New on the registry's bus used to get an entry of
// the registry's attachment on its first event, escaping the registry's
// limit. Only the registry's own breakers are observed.
func TestBreakerOutsideTheRegistryIsNotObserved(t *testing.T) {
	e := newEnv(t)
	stray, err := breaker.New("stray", breaker.WithEventBus(e.reg.Events()), breaker.WithFailureThreshold(1))
	require.NoError(t, err)
	require.ErrorIs(t, stray.Execute(context.Background(), func(context.Context) error { return errBoom }), errBoom)
	got := e.collect(t)
	assert.NotContains(t, names(got["circuit_breaker.call.duration"]), "stray")
	assert.NotContains(t, names(got["circuit_breaker.transitions"]), "stray")
	assert.Empty(t, e.logs.records(), "nothing logged for it")
}

// The next rejection-log time used to be now+interval, which wrapped for
// the longest intervals and logged every rejection. It saturates.
func TestRejectionLogIntervalSaturates(t *testing.T) {
	e := newEnv(t, telemetry.WithRejectionLogInterval(math.MaxInt64))
	b := e.get(t, "db")
	require.ErrorIs(t, call(context.Background(), e.clock, b, 0, errBoom), errBoom)
	require.ErrorIs(t, call(context.Background(), e.clock, b, 0, errBoom), errBoom)
	e.logs.take()
	for range 5 {
		require.ErrorIs(t, call(context.Background(), e.clock, b, 0, nil), breaker.ErrOpen)
	}
	assert.Len(t, e.logs.take(), 1, "the first rejection only")
}

// A state change says why: the error that caused it, its message cut to
// 256 bytes at a rune boundary.
func TestStateChangeLogCarriesTheCause(t *testing.T) {
	e := newEnv(t)
	b := e.get(t, "db")
	long := errors.New(strings.Repeat("é", 200)) // 400 bytes
	require.ErrorIs(t, call(context.Background(), e.clock, b, 0, long), long)
	require.ErrorIs(t, call(context.Background(), e.clock, b, 0, long), long)
	recs := e.logs.records()
	require.NotEmpty(t, recs)
	msg, _ := recs[len(recs)-1].attrs["error.message"].(string)
	assert.Equal(t, strings.Repeat("é", 128), msg)
}

// A collection walks a snapshot of the registry; a breaker removed (or
// evicted as idle) after the snapshot and before the walk reached it had
// no entry any more, and the collection callback dereferenced nil: a
// scrape racing a Remove crashed the process. Such a breaker is skipped.
func TestCollectionRacingRemove(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"a", "b", "c"} {
		e.get(t, n)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = e.reg.Get("x")
			e.reg.Remove("x")
		}
	}()
	for range 2000 {
		require.NoError(t, e.reader.Collect(context.Background(), new(metricdata.ResourceMetrics)))
	}
	close(stop)
	<-done
	got := e.collect(t)
	assert.ElementsMatch(t, []string{"a", "b", "c"}, names(got["circuit_breaker.consecutive_failures"]))
}

// A breaker removed between the attachment's check that it is the
// registry's and the storing of its entry leaves no entry behind: the
// registry's OnRemove ran before there was one to forget.
func TestEntryOfABreakerRemovedMeanwhileIsDropped(t *testing.T) {
	e := newEnv(t)
	b := e.get(t, "gone")
	require.Zero(t, telemetry.Entries(e.reg), "no entry before the breaker's first event")
	var once sync.Once
	telemetry.SetTestHookBeforeStore(func() { once.Do(func() { require.True(t, e.reg.Remove("gone")) }) })
	t.Cleanup(func() { telemetry.SetTestHookBeforeStore(nil) })

	require.NoError(t, b.Execute(context.Background(), func(context.Context) error { return nil }))
	assert.Zero(t, telemetry.Entries(e.reg), "the removed breaker's entry was dropped")
}
