package breaker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
)

func TestRegistryGetOrCreate(t *testing.T) {
	reg := breaker.NewRegistry(breaker.WithFailureThreshold(7))
	b1, err := reg.Get("db", breaker.WithHalfOpenMaxCalls(2))
	require.NoError(t, err)
	b2, err := reg.Get("db", breaker.WithFailureThreshold(1))
	require.NoError(t, err)
	assert.Same(t, b1, b2, "an existing breaker is returned unchanged")

	// The defaults applied, the later option did not: 6 failures keep it closed.
	for range 6 {
		require.Error(t, b2.Execute(context.Background(), fail))
	}
	assert.Equal(t, breaker.Closed, b2.State())

	got, ok := reg.Lookup("db")
	assert.True(t, ok)
	assert.Same(t, b1, got)
	_, ok = reg.Lookup("nope")
	assert.False(t, ok)
	assert.Equal(t, 1, reg.Len())
}

func TestRegistryConcurrentGetCreatesOne(t *testing.T) {
	reg := breaker.NewRegistry()
	const goroutines = 64
	got := make([]*breaker.Breaker, goroutines)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			b, err := reg.Get(fmt.Sprintf("svc-%d", i%4))
			assert.NoError(t, err)
			got[i] = b
		}()
	}
	close(start)
	wg.Wait()
	assert.Equal(t, 4, reg.Len())
	for i := range goroutines {
		assert.Same(t, got[i%4], got[i], "one breaker per name")
	}
}

func TestRegistryAllSortedAndResetAll(t *testing.T) {
	reg := breaker.NewRegistry(breaker.WithFailureThreshold(1))
	for _, n := range []string{"external_api", "model_server", "database"} {
		b, err := reg.Get(n)
		require.NoError(t, err)
		require.Error(t, b.Execute(context.Background(), fail))
	}
	var names []string
	for _, b := range reg.All() {
		names = append(names, b.Name())
		assert.Equal(t, breaker.Open, b.State())
	}
	assert.Equal(t, []string{"database", "external_api", "model_server"}, names)

	all := reg.All()
	all[0] = nil // the caller's copy
	assert.NotNil(t, reg.All()[0])

	reg.ResetAll()
	for _, b := range reg.All() {
		assert.Equal(t, breaker.Closed, b.State())
		assert.Equal(t, uint64(1), b.Stats().TotalFailures, "ResetAll keeps totals")
	}
}

func TestRegistrySharesOneBus(t *testing.T) {
	reg := breaker.NewRegistry(breaker.WithFailureThreshold(1))
	rec := record(reg.Events())
	a, _ := reg.Get("a")
	b, _ := reg.Get("b")
	require.Error(t, a.Execute(context.Background(), fail))
	require.Error(t, b.Execute(context.Background(), fail))
	var from []string
	for _, e := range rec.all() {
		if e.Kind == breaker.EventStateChange {
			from = append(from, e.Breaker.Name())
		}
	}
	assert.Equal(t, []string{"a", "b"}, from)
	assert.Same(t, reg.Events(), a.Events())
}

func TestRegistryLimit(t *testing.T) {
	reg := breaker.NewRegistry(breaker.WithMaxBreakers(2))
	_, err := reg.Get("a")
	require.NoError(t, err)
	_, err = reg.Get("b")
	require.NoError(t, err)
	_, err = reg.Get("c")
	require.ErrorIs(t, err, breaker.ErrRegistryFull)
	assert.Contains(t, err.Error(), `"c"`)
	_, err = reg.Get("a")
	require.NoError(t, err, "existing names still resolve when full")
	assert.Equal(t, 2, reg.Len())

	_, err = breaker.NewRegistry().Get("")
	require.ErrorIs(t, err, breaker.ErrInvalidConfig)
}

func TestDefaultRegistry(t *testing.T) {
	b, err := breaker.Get("default-registry-test", breaker.WithRecoveryTimeout(time.Minute))
	require.NoError(t, err)
	again, err := breaker.Get("default-registry-test")
	require.NoError(t, err)
	assert.Same(t, b, again)
	assert.Contains(t, breaker.All(), b)
	b.ForceOpen()
	breaker.ResetAll()
	assert.Equal(t, breaker.Closed, b.State())
	got, ok := breaker.DefaultRegistry().Lookup("default-registry-test")
	assert.True(t, ok)
	assert.Same(t, b, got)
}
