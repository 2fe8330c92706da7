package telemetry_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/telemetry"
)

// Calls on many breakers, breakers being created, collections and a detach
// all run at once; with -race this checks the adapter's synchronisation.
// Once everything has returned, the calls counter equals the totals.
func TestConcurrentCallsCollectionAndDetach(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				b := e.get(t, fmt.Sprintf("b%d", (g+i)%12))
				var err error
				if i%5 == 0 {
					err = errBoom
				}
				_ = call(ctx, e.clock, b, 0, err)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			var rm metricdata.ResourceMetrics
			assert.NoError(t, e.reader.Collect(ctx, &rm))
		}
	})
	wg.Wait()

	got := e.collect(t)
	calls := got["circuit_breaker.calls"].Data.(metricdata.Sum[int64])
	perBreaker := map[string]int64{}
	for _, p := range calls.DataPoints {
		v, _ := p.Attributes.Value("circuit_breaker.name")
		perBreaker[v.AsString()] += p.Value
	}
	require.Len(t, perBreaker, 12)
	var sum int64
	e.reg.Range(func(b *breaker.Breaker) bool {
		s := b.Stats()
		assert.Equal(t, int64(s.TotalCalls), perBreaker[b.Name()], b.Name())
		sum += int64(s.TotalCalls)
		return true
	})
	assert.Equal(t, int64(8*200), sum)

	// Detaching while calls run is safe.
	wg.Go(func() {
		for i := range 200 {
			_ = call(ctx, e.clock, e.get(t, fmt.Sprintf("b%d", i%12)), 0, nil)
		}
	})
	e.detach()
	wg.Wait()
	assert.False(t, e.reg.Events().Active())
}

// Attachments to asynchronous buses come and go while collections run;
// with -race this checks the bookkeeping of circuit_breaker.events.dropped.
// Once every attachment is gone, nothing is observed.
func TestConcurrentAsyncAttachments(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { require.NoError(t, mp.Shutdown(context.Background())) })
	tel, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	buses := []*events.Async[breaker.Event]{events.NewAsync[breaker.Event](1), events.NewAsync[breaker.Event](1)}
	for _, bus := range buses {
		t.Cleanup(func() { require.NoError(t, bus.Close()) })
	}

	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 50 {
				b, err := breaker.New(fmt.Sprintf("b%d-%d", g, i), breaker.WithEventBus(buses[(g+i)%2]))
				if !assert.NoError(t, err) {
					return
				}
				detach, err := tel.AttachBreaker(b)
				if !assert.NoError(t, err) {
					return
				}
				_ = b.Execute(ctx, succeed)
				detach()
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			var rm metricdata.ResourceMetrics
			assert.NoError(t, reader.Collect(ctx, &rm))
		}
	})
	wg.Wait()
	assert.NotContains(t, collect(t, reader), "circuit_breaker.events.dropped")
}

// Without WithMeterProvider the global provider is used. Not parallel: it
// installs a global provider (and leaves a no-op one behind).
func TestGlobalMeterProviderByDefault(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { require.NoError(t, mp.Shutdown(context.Background())) })
	otel.SetMeterProvider(mp)
	t.Cleanup(func() { otel.SetMeterProvider(noop.NewMeterProvider()) })

	tel, err := telemetry.New()
	require.NoError(t, err)
	b, err := breaker.New("global")
	require.NoError(t, err)
	detach, err := tel.AttachBreaker(b)
	require.NoError(t, err)
	defer detach()
	require.NoError(t, b.Execute(context.Background(), succeed))

	got := collect(t, reader)
	assert.Contains(t, got, "circuit_breaker.call.duration")
	assert.Contains(t, got, "circuit_breaker.calls")
}
