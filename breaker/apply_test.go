package breaker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
)

func TestApply(t *testing.T) {
	peerOpen := breaker.Remote{To: breaker.Open, OpenFor: 10 * time.Second, Reason: breaker.ReasonFailureThreshold, Origin: breaker.OriginPeer, Peer: "pod-7"}
	peerHalf := breaker.Remote{To: breaker.HalfOpen, Reason: breaker.ReasonTrialsSucceeded, Origin: breaker.OriginPeer, Peer: "pod-7"}
	peerClose := breaker.Remote{To: breaker.Closed, Reason: breaker.ReasonTrialsSucceeded, Origin: breaker.OriginPeer, Peer: "pod-7"}
	adminOpen := breaker.Remote{To: breaker.Open, Forced: true, Reason: breaker.ReasonForceOpen, Origin: breaker.OriginCluster, Peer: "ops"}
	adminReset := breaker.Remote{To: breaker.Closed, Forced: true, Reason: breaker.ReasonReset, Origin: breaker.OriginCluster, Peer: "ops"}
	tests := []struct {
		name    string
		setup   func(*breaker.Breaker)
		r       breaker.Remote
		changed bool
		want    breaker.State
		forced  bool
		change  string // the published change, "" for none
	}{
		{"open a closed breaker", nil, peerOpen, true, breaker.Open, false, "closed->open:failure_threshold peer pod-7"},
		{"an open breaker stays as it is", func(b *breaker.Breaker) { b.ForceOpen(); b.Reset(); trip(b) }, peerOpen, false, breaker.Open, false, ""},
		{"half-open a breaker that is open", trip, peerHalf, true, breaker.HalfOpen, false, "open->half_open:trials_succeeded peer pod-7"},
		{"half-open leaves a closed breaker alone", nil, peerHalf, false, breaker.Closed, false, ""},
		{"close an open breaker", trip, peerClose, true, breaker.Closed, false, "open->closed:trials_succeeded peer pod-7"},
		{"a forced breaker ignores a peer", func(b *breaker.Breaker) { b.ForceOpen() }, peerClose, false, breaker.Open, true, ""},
		{"an operator forces open", nil, adminOpen, true, breaker.Open, true, "closed->open:force_open cluster ops"},
		{"an operator forces an open breaker: an action, not a change", trip, adminOpen, false, breaker.Open, true, "action open->open:force_open cluster ops"},
		{"an operator resets a forced breaker", func(b *breaker.Breaker) { b.ForceOpen() }, adminReset, true, breaker.Closed, false, "open->closed:reset cluster ops"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := newClocked(t, breaker.WithFailureThreshold(1))
			if tc.setup != nil {
				tc.setup(b)
			}
			var got []string
			b.OnStateChange(func(_ context.Context, e breaker.Event) {
				prefix := ""
				if e.Kind == breaker.EventAction {
					prefix = "action "
				}
				got = append(got, prefix+e.From.String()+"->"+e.To.String()+":"+e.Reason.String()+" "+e.Origin.String()+" "+e.Peer)
			})
			changed, err := b.Apply(context.Background(), tc.r)
			require.NoError(t, err)
			assert.Equal(t, tc.changed, changed)
			s := b.Stats()
			assert.Equal(t, tc.want, s.State)
			assert.Equal(t, tc.forced, s.Forced)
			if tc.change == "" {
				assert.Empty(t, got)
			} else {
				assert.Equal(t, []string{tc.change}, got)
			}
		})
	}
}

func TestApplyOpenForTheGivenTime(t *testing.T) {
	b, clock := newClocked(t, breaker.WithRecoveryTimeout(time.Hour))
	var ev breaker.Event
	b.OnStateChange(func(_ context.Context, e breaker.Event) { ev = e })
	changed, err := b.Apply(context.Background(), breaker.Remote{To: breaker.Open, OpenFor: 3 * time.Second, Reason: breaker.ReasonFailureRate, Origin: breaker.OriginPeer, Peer: "b"})
	require.NoError(t, err)
	require.True(t, changed)
	assert.Equal(t, 3*time.Second, ev.OpenFor)
	err = b.Execute(context.Background(), succeed)
	var oe *breaker.OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, 3*time.Second, oe.RetryAfter(), "the peer's remaining time, not the local recovery timeout")
	clock.Advance(3 * time.Second)
	assert.Equal(t, breaker.HalfOpen, b.State())
	require.NoError(t, b.Execute(context.Background(), succeed))
}

// A call admitted before a remote decision cannot move the period the
// decision started.
func TestApplyMakesCallsInFlightStale(t *testing.T) {
	b, _ := newClocked(t, breaker.WithFailureThreshold(1))
	p, err := b.Allow(context.Background())
	require.NoError(t, err)
	_, err = b.Apply(context.Background(), breaker.Remote{To: breaker.Open, OpenFor: time.Second, Reason: breaker.ReasonFailureThreshold, Origin: breaker.OriginPeer})
	require.NoError(t, err)
	_, err = b.Apply(context.Background(), breaker.Remote{To: breaker.Closed, Reason: breaker.ReasonTrialsSucceeded, Origin: breaker.OriginPeer})
	require.NoError(t, err)
	p.Done(errBoom)
	assert.Equal(t, breaker.Closed, b.State(), "the stale failure does not trip the new closed period")
}

func TestApplyRejectsInvalidDecisions(t *testing.T) {
	tests := []struct {
		field string
		r     breaker.Remote
	}{
		{"remote.to", breaker.Remote{To: breaker.State(7), Reason: breaker.ReasonReset, Origin: breaker.OriginPeer}},
		{"remote.forced", breaker.Remote{To: breaker.HalfOpen, Forced: true, Reason: breaker.ReasonReset, Origin: breaker.OriginPeer}},
		{"remote.open_for", breaker.Remote{To: breaker.Open, Reason: breaker.ReasonFailureThreshold, Origin: breaker.OriginPeer}},
		{"remote.reason", breaker.Remote{To: breaker.Closed, Origin: breaker.OriginPeer}},
		{"remote.origin", breaker.Remote{To: breaker.Closed, Reason: breaker.ReasonReset, Origin: breaker.OriginLocal}},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			b, _ := newClocked(t, breaker.WithFailureThreshold(1))
			trip(b)
			changed, err := b.Apply(context.Background(), tc.r)
			require.ErrorIs(t, err, breaker.ErrInvalidConfig)
			var ce *breaker.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field)
			assert.False(t, changed)
			assert.Equal(t, breaker.Open, b.State(), "nothing changed")
		})
	}
}
