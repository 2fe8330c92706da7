package telemetry_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/fusebox-go/fusebox/breaker"
)

// A change applied from elsewhere is counted with its origin (peer or
// cluster) and the deciding replica's reason, in a series of its own born
// when it happens; the breaker's own changes stay origin local, also when
// they follow a remote one.
func TestTransitionsByOrigin(t *testing.T) {
	e := newEnv(t)
	b := e.get(t, "db")
	apply := func(r breaker.Remote) {
		t.Helper()
		changed, err := b.Apply(context.Background(), r)
		require.NoError(t, err)
		require.True(t, changed)
	}
	apply(breaker.Remote{To: breaker.Open, OpenFor: 10 * time.Second, Reason: breaker.ReasonFailureRate, Origin: breaker.OriginPeer, Peer: "pod-2"})
	e.clock.Advance(10 * time.Second)
	require.Equal(t, breaker.HalfOpen, b.State()) // local: the peer's opening ran out here
	require.ErrorIs(t, call(context.Background(), e.clock, b, 0, errBoom), errBoom)
	require.Equal(t, breaker.Open, b.State())
	apply(breaker.Remote{To: breaker.HalfOpen, Reason: breaker.ReasonTrialsSucceeded, Origin: breaker.OriginPeer, Peer: "pod-3"})
	apply(breaker.Remote{To: breaker.Open, OpenFor: time.Minute, Reason: breaker.ReasonFailureThreshold, Origin: breaker.OriginCluster, Peer: "pod-4"})
	apply(breaker.Remote{To: breaker.Closed, Forced: true, Reason: breaker.ReasonReset, Origin: breaker.OriginPeer, Peer: "pod-2"})

	got := e.collect(t)
	metricdatatest.AssertEqual(t, transitionsMetric(transitionPoints("db", map[string]int64{
		"closed open failure_rate peer":            1,
		"open half_open recovery_timeout":          1,
		"half_open open trial_failed":              1,
		"open half_open trials_succeeded peer":     1,
		"half_open open failure_threshold cluster": 1,
		"open closed reset peer":                   1,
	})...), got["circuit_breaker.transitions"], metricdatatest.IgnoreTimestamp())
}
