package breaker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
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

func TestRegistryRemove(t *testing.T) {
	reg := breaker.NewRegistry(breaker.WithMaxBreakers(1))
	var removed []string
	reg.OnRemove(func(b *breaker.Breaker) { removed = append(removed, b.Name()) })
	a, err := reg.Get("a")
	require.NoError(t, err)
	assert.False(t, reg.Remove("nope"))
	assert.True(t, reg.Remove("a"))
	assert.False(t, reg.Remove("a"), "once")
	assert.Equal(t, []string{"a"}, removed)
	_, ok := reg.Lookup("a")
	assert.False(t, ok)
	assert.Empty(t, reg.All())
	assert.Zero(t, reg.Len())
	b, err := reg.Get("b")
	require.NoError(t, err, "removing made room")
	again, err := reg.Get("a")
	require.ErrorIs(t, err, breaker.ErrRegistryFull)
	assert.Nil(t, again)
	assert.True(t, reg.Remove("b"))
	again, err = reg.Get("a")
	require.NoError(t, err)
	assert.NotSame(t, a, again, "a new breaker of the same name")
	assert.NotSame(t, b, again)
}

func TestRegistryOnCreate(t *testing.T) {
	reg := breaker.NewRegistry()
	var created []string
	stop := reg.OnCreate(func(b *breaker.Breaker) {
		created = append(created, b.Name())
		b.ForceOpen() // runs before Get returns the breaker
	})
	b, err := reg.Get("db")
	require.NoError(t, err)
	assert.Equal(t, breaker.Open, b.State(), "the breaker reached the caller as OnCreate left it")
	_, err = reg.Get("db")
	require.NoError(t, err)
	assert.Equal(t, []string{"db"}, created, "an existing breaker is not created again")
	stop()
	_, err = reg.Get("cache")
	require.NoError(t, err)
	assert.Equal(t, []string{"db"}, created)
}

// A registry with idle eviction forgets breakers that stayed closed and
// unused, so that names from request data (hosts) cannot fill it for good.
func TestRegistryIdleEviction(t *testing.T) {
	clock := breakertest.NewClock(t0)
	reg := breaker.NewRegistry(breaker.WithClock(clock), breaker.WithMaxBreakers(3), breaker.WithIdleEviction(time.Minute), breaker.WithFailureThreshold(1))
	var removed []string
	reg.OnRemove(func(b *breaker.Breaker) { removed = append(removed, b.Name()) })
	get := func(name string) *breaker.Breaker {
		t.Helper()
		b, err := reg.Get(name)
		require.NoError(t, err)
		return b
	}
	busy, idle, open := get("busy"), get("idle"), get("open")
	_ = idle
	require.ErrorIs(t, open.Execute(context.Background(), fail), errBoom)
	for range 3 {
		clock.Advance(40 * time.Second)
		require.NoError(t, busy.Execute(context.Background(), succeed))
		_, err := reg.Get("new") // full: a sweep looks, and marks what it sees
		if err == nil {
			break
		}
		require.ErrorIs(t, err, breaker.ErrRegistryFull)
	}
	assert.Equal(t, []string{"idle"}, removed, "only the closed, unused breaker goes: not the busy one, not the open one")
	_, ok := reg.Lookup("new")
	assert.True(t, ok)
	assert.Equal(t, 3, reg.Len())

	_, err := breaker.NewRegistry(breaker.WithIdleEviction(-time.Second)).Get("x")
	var ce *breaker.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "idle_eviction", ce.Field)
}

// Registry.Remove stops an open breaker's recovery timer
// (removeLocked), but Remove documents that "code that still holds the
// removed one may go on using it". Admission's fast path rejects an open
// period whose timer has not set due without reading the clock, so once the
// timer is stopped the held breaker rejects every call forever: nothing but
// State, Stats or Reset ever takes it out of open.
func TestRemovedOpenBreakerStillRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := breaker.NewRegistry(breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Second), breaker.WithHalfOpenMaxCalls(1))
		b, err := reg.Get("held")
		require.NoError(t, err)
		require.ErrorIs(t, b.Execute(context.Background(), fail), errBoom)
		require.True(t, reg.Remove("held"))

		time.Sleep(time.Hour)
		synctest.Wait()
		// The holder keeps calling: the first call after the recovery
		// timeout must be a trial, as it would be for any breaker.
		require.NoError(t, b.Execute(context.Background(), succeed), "a removed breaker that is still used must recover")
	})
}

// A full registry with idle eviction used to sweep (look at every breaker)
// on every Get of a new name, so a stream of new names against a full
// registry cost O(n) each. It sweeps at most once per quarter of the idle
// time, full or not: a Get between sweeps gets ErrRegistryFull without
// looking. What went idle meanwhile is evicted by the next allowed sweep.
func TestRegistryFullSweepsAtMostOncePerInterval(t *testing.T) {
	clock := breakertest.NewClock(t0)
	reg := breaker.NewRegistry(breaker.WithClock(clock), breaker.WithMaxBreakers(3), breaker.WithIdleEviction(time.Minute))
	var removed []string
	reg.OnRemove(func(b *breaker.Breaker) { removed = append(removed, b.Name()) })
	_, err := reg.Get("a")
	require.NoError(t, err)
	assert.True(t, reg.LastSweep().IsZero(), "the Get of a found nothing to look at")
	clock.Advance(time.Millisecond)
	for _, n := range []string{"b", "c"} {
		_, err := reg.Get(n)
		require.NoError(t, err)
	}
	first := reg.LastSweep()
	require.Equal(t, t0.Add(time.Millisecond), first, "the Get of b swept")

	// Full: Gets of new names within the interval after that sweep make
	// none (each a millisecond later: a sweep would move LastSweep), and
	// are refused at once.
	for i := range 100 {
		clock.Advance(time.Millisecond)
		_, err := reg.Get(fmt.Sprintf("new-%d", i))
		require.ErrorIs(t, err, breaker.ErrRegistryFull)
	}
	assert.Equal(t, first, reg.LastSweep(), "no sweep for 100 Gets of a full registry within 15s of the last one")

	// The next interval allows one, which marks b and c as unused (a was
	// marked by the first).
	clock.Advance(15 * time.Second)
	second := clock.Now()
	for range 10 {
		_, err := reg.Get("x")
		require.ErrorIs(t, err, breaker.ErrRegistryFull)
		clock.Advance(time.Millisecond)
	}
	assert.Equal(t, second, reg.LastSweep(), "one sweep, by the first of 10 Gets in the next interval")
	assert.Empty(t, removed)

	// Nothing lost: once they have been unused for a minute since that
	// mark, the next allowed sweep evicts them and makes room.
	clock.Advance(time.Minute)
	b, err := reg.Get("x")
	require.NoError(t, err)
	assert.Equal(t, "x", b.Name())
	assert.ElementsMatch(t, []string{"a", "b", "c"}, removed)
	assert.Equal(t, clock.Now(), reg.LastSweep())
}

// A nil function is refused when it is subscribed, not recovered and
// counted at every later event while the breaker builds events for it.
func TestNilSubscriptionFunctionsPanic(t *testing.T) {
	reg := breaker.NewRegistry()
	b, err := reg.Get("x")
	require.NoError(t, err)
	assert.PanicsWithValue(t, "breaker: Registry.OnStateChange called with a nil function", func() { reg.OnStateChange(nil) })
	assert.PanicsWithValue(t, "breaker: Registry.OnCreate called with a nil function", func() { reg.OnCreate(nil) })
	assert.PanicsWithValue(t, "breaker: Registry.OnRemove called with a nil function", func() { reg.OnRemove(nil) })
	assert.PanicsWithValue(t, "breaker: Breaker.OnStateChange called with a nil function", func() { b.OnStateChange(nil) })
}
