package prom

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
)

func TestBucketOf(t *testing.T) {
	values := []float64{-1, 0, 0.0005, math.Inf(1)} // durations are never NaN
	for _, b := range durationBounds {
		values = append(values, math.Nextafter(b, 0), b, math.Nextafter(b, 100))
	}
	for _, v := range values {
		assert.Equal(t, sort.SearchFloat64s(durationBounds[:], v), bucketOf(v), "%v", v)
	}
}

// A scrape walks a snapshot of the registry and creates, at 0, the
// transitions series of a breaker it sees for the first time. A breaker
// removed after the snapshot was taken and before the walk reached it had
// its series created after the removal had deleted them: they stayed on
// the page for good. The scrape here is held after the first breaker's
// first series while "late" is removed.
func TestScrapeRacingRemoveLeavesNoSeries(t *testing.T) {
	reg := breaker.NewRegistry()
	_, err := reg.Get("early")
	require.NoError(t, err)
	h, err := NewHandler(reg, WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	defer func() { require.NoError(t, h.Shutdown(context.Background())) }()
	_, err = reg.Get("late") // no event yet: first seen by the scrape
	require.NoError(t, err)

	ch := make(chan prometheus.Metric)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.native.Collect(ch)
		close(ch)
	}()
	<-ch // target_info: the snapshot is not taken yet
	<-ch // early's first series: the snapshot holds late
	require.True(t, reg.Remove("late"))
	for range ch {
	}
	<-done

	page, _ := scrapeInternal(t, h)
	assert.NotContains(t, page, `circuit_breaker_name="late"`)
}

func scrapeInternal(t *testing.T, h http.Handler) (string, int) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String(), rec.Code
}

// An event of a breaker that is delivered after the breaker was removed
// (its recorder fetched just before the removal) does not bring its
// series back onto the page for good.
func TestEventAfterRemoveLeavesNoSeries(t *testing.T) {
	reg := breaker.NewRegistry()
	h, err := NewHandler(reg, WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	defer func() { require.NoError(t, h.Shutdown(context.Background())) }()
	b, err := reg.Get("gone")
	require.NoError(t, err)
	rec := h.native.ForBreaker(b)
	require.True(t, reg.Remove("gone"))

	ctx := context.Background()
	rec.RecordCall(ctx, breaker.OutcomeSuccess, time.Millisecond)
	rec.RecordTransition(ctx, breaker.Closed, breaker.Open, breaker.ReasonFailureThreshold, breaker.OriginLocal)
	rec.RecordTransition(ctx, breaker.Closed, breaker.Open, breaker.ReasonForceOpen, breaker.OriginPeer)
	page, _ := scrapeInternal(t, h)
	assert.NotContains(t, page, `circuit_breaker_name="gone"`)
}
