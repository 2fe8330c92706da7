package series

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/sharedstate/sharedstatetest"
)

// syncerHistogram builds the histogram a Syncer reports for delays, as
// its own observe does: a delay at most a bound counts in that bound's
// bucket.
func syncerHistogram(delays ...time.Duration) sharedstate.Histogram {
	h := sharedstate.Histogram{Bounds: sharedstate.PropagationBounds, Counts: make([]uint64, len(sharedstate.PropagationBounds)+1)}
	for _, d := range delays {
		i := 0
		for i < len(h.Bounds) && d > h.Bounds[i] {
			i++
		}
		h.Counts[i]++
		h.Count++
		h.Sum += d
	}
	return h
}

// sdkHistogram is what the OpenTelemetry SDK keeps of recorded values: a
// count per bucket (a value at most a bound counts in that bound's
// bucket) and a sum, added up per collection and then into the total, as
// the SDK's cumulative histogram does.
type sdkHistogram struct {
	counts []uint64
	sum    float64
	part   float64
}

func newSDKHistogram() *sdkHistogram {
	return &sdkHistogram{counts: make([]uint64, len(DelayBuckets)+1)}
}

func (h *sdkHistogram) record(v float64) {
	h.counts[sort.SearchFloat64s(DelayBuckets, v)]++
	h.part += v
}

func (h *sdkHistogram) collect() {
	h.sum += h.part
	h.part = 0
}

func TestDelayBuckets(t *testing.T) {
	assert.Equal(t, []float64{0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}, DelayBuckets)
	for i, b := range DelayBuckets {
		hi := math.Ldexp(float64(delayHi[i]), -delayShift)
		assert.LessOrEqual(t, hi, b, "the most of bucket %d is in it", i)
		assert.Greater(t, math.Ldexp(float64(delayLo[i+1]), -delayShift), b, "the least of bucket %d is above the bound below", i+1)
		assert.Equal(t, delayHi[i]+1, delayLo[i+1])
	}
	assert.Zero(t, delayLo[0])
}

func TestReadDelay(t *testing.T) {
	tests := []struct {
		name      string
		h         sharedstate.Histogram
		wantCount []uint64 // by bucket, non-zero ones as index, count pairs
		wantSum   float64
	}{
		{
			name:      "empty",
			h:         syncerHistogram(),
			wantCount: nil,
			wantSum:   0,
		},
		{
			name:      "within buckets",
			h:         syncerHistogram(3*time.Millisecond, 3*time.Millisecond, 40*time.Millisecond, 7*time.Second),
			wantCount: []uint64{2, 2, 5, 1, 12, 1},
			// 7.046s to the nearest 2^-20 s
			wantSum: math.Ldexp(math.Round(7.046*(1<<20)), -20),
		},
		{
			name:      "on the bounds: the sum is the most the buckets hold",
			h:         syncerHistogram(time.Millisecond, 5*time.Second),
			wantCount: []uint64{0, 1, 11, 1},
			wantSum:   math.Ldexp(float64(delayHi[0]+delayHi[11]), -20),
		},
		{
			name: "a sum read before its observation: the least the buckets hold",
			h: sharedstate.Histogram{Bounds: sharedstate.PropagationBounds,
				Counts: []uint64{0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, Count: 1},
			wantCount: []uint64{2, 1},
			wantSum:   math.Ldexp(float64(delayLo[2]), -20),
		},
		{
			name: "other bounds go to the bucket above",
			h: sharedstate.Histogram{Bounds: []time.Duration{3 * time.Millisecond, time.Minute},
				Counts: []uint64{4, 1, 2}, Count: 7, Sum: 10 * time.Millisecond},
			wantCount: []uint64{2, 4, 12, 3},
			wantSum:   math.Ldexp(float64(4*delayLo[2]+3*delayLo[12]), -20),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := ReadDelay(tc.h)
			want := make([]uint64, len(DelayBuckets)+1)
			for i := 0; i < len(tc.wantCount); i += 2 {
				want[tc.wantCount[i]] = tc.wantCount[i+1]
			}
			assert.Equal(t, want, d.Counts)
			assert.Equal(t, tc.h.Count, d.Count())
			assert.Equal(t, tc.wantSum, d.Sum())
		})
	}
}

// spreadChecked runs Spread and checks its promises: one value per new
// observation, each in its bucket, adding up exactly to what it returns
// more than recorded, which is cur's sum less recorded when the buckets
// allow it.
func spreadChecked(t testing.TB, h *sdkHistogram, prev, cur Delay, recorded uint64) uint64 {
	t.Helper()
	before := append([]uint64(nil), h.counts...)
	var sum float64
	got := Spread(prev, cur, recorded, func(v float64) {
		sum += v
		h.record(v)
	})
	var least, most uint64
	for i := range cur.Counts {
		var fresh uint64
		if i < len(prev.Counts) {
			fresh = cur.Counts[i] - prev.Counts[i]
		} else {
			fresh = cur.Counts[i]
		}
		require.Equal(t, fresh, h.counts[i]-before[i], "bucket %d", i)
		least += fresh * delayLo[i]
		most = addSat(most, mulSat(fresh, delayHi[i]))
	}
	require.GreaterOrEqual(t, got, recorded)
	require.Equal(t, math.Ldexp(float64(got-recorded), -delayShift), sum, "the values add up to what Spread returns")
	if want := int64(cur.Units) - int64(recorded); want >= int64(least) && uint64(want) <= most {
		require.Equal(t, cur.Units, got, "the sum is reached when the buckets allow it")
	}
	h.collect()
	return got
}

// Recorded at each collection, the values give the SDK's histogram the
// counts and the sum of the native one, to the bit, whatever the delays
// and however often collections run.
func TestSpreadMatchesNative(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	var delays []time.Duration
	h := newSDKHistogram()
	var prev Delay
	var recorded uint64
	for range 200 {
		for range rnd.IntN(20) {
			delays = append(delays, time.Duration(rnd.Int64N(int64(8*time.Second))))
			if rnd.IntN(10) == 0 {
				delays = append(delays, sharedstate.PropagationBounds[rnd.IntN(len(sharedstate.PropagationBounds))])
			}
		}
		cur := ReadDelay(syncerHistogram(delays...))
		recorded = spreadChecked(t, h, prev, cur, recorded)
		prev = cur
		require.Equal(t, cur.Counts, h.counts)
		require.Equal(t, cur.Sum(), h.sum)
	}
	require.NotZero(t, h.counts[len(DelayBuckets)], "some delays above the last bound")
}

// Delays exactly on the bounds, as a test with a fake clock makes them,
// still match.
func TestSpreadOnBounds(t *testing.T) {
	h := newSDKHistogram()
	var prev Delay
	var recorded uint64
	var delays []time.Duration
	for _, d := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond, 0, 5 * time.Second, 3 * time.Millisecond} {
		delays = append(delays, d)
		cur := ReadDelay(syncerHistogram(delays...))
		recorded = spreadChecked(t, h, prev, cur, recorded)
		prev = cur
		require.Equal(t, cur.Sum(), h.sum)
	}
}

// No new observation, nothing recorded, whatever the sum says; a sum that
// is short of what the buckets need is made up.
func TestSpreadEdges(t *testing.T) {
	cur := ReadDelay(syncerHistogram(3 * time.Millisecond))
	assert.Equal(t, uint64(77), Spread(cur, cur, 77, func(float64) { t.Fatal("nothing to record") }))
	var got []float64
	short := Delay{Counts: cur.Counts, Units: 5}
	assert.Equal(t, delayLo[2], Spread(Delay{}, short, 0, func(v float64) { got = append(got, v) }))
	assert.Equal(t, []float64{math.Ldexp(float64(delayLo[2]), -delayShift)}, got)
	assert.Equal(t, uint64(9), Spread(Delay{}, Delay{Counts: []uint64{1}}, 9, func(float64) { t.Fatal("counts of another shape") }))
}

// Any sequence of delays and collections, torn reads (a sum behind its
// counts) included: Spread keeps its promises.
func FuzzSpread(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 255, 4, 5, 6, 7, 255})
	f.Add([]byte{10, 10, 10, 255, 200, 200, 254, 255, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newSDKHistogram()
		var prev Delay
		var recorded uint64
		var delays []time.Duration
		var lag time.Duration
		for i := 0; i < len(data) && len(delays) < 500; i++ {
			switch b := data[i]; b {
			case 255: // a collection
				hist := syncerHistogram(delays...)
				hist.Sum -= min(lag, hist.Sum)
				cur := ReadDelay(hist)
				recorded = spreadChecked(t, h, prev, cur, recorded)
				prev = cur
				require.Equal(t, cur.Counts, h.counts)
				lag = 0
			case 254: // the next delay is counted but not yet summed
				if i+1 < len(data) {
					lag = fuzzDelay(data[i+1:])
				}
			default:
				delays = append(delays, fuzzDelay(data[i:]))
				if i+2 < len(data) && b%2 == 1 {
					i += 2
				}
			}
		}
	})
}

// fuzzDelay makes a delay from up to 3 bytes: on a bound, just off one,
// or anywhere up to about 8s.
func fuzzDelay(b []byte) time.Duration {
	var buf [4]byte
	copy(buf[1:], b)
	v := binary.BigEndian.Uint32(buf[:])
	bounds := sharedstate.PropagationBounds
	switch b[0] % 4 {
	case 0:
		return bounds[int(v)%len(bounds)]
	case 1:
		return bounds[int(v)%len(bounds)] + time.Duration(v%3) - 1
	default:
		return time.Duration(v) * 500 * time.Nanosecond
	}
}

// The remote transitions precreated are a peer's trip from closed for each
// reason a local trip is precreated with, with origin peer, or cluster
// under a quorum, and a peer's close of an open breaker, to half-open or,
// with WithRemoteCloseCloses, to closed. They cover the Syncer's registry
// alone.
func TestRemoteTransitions(t *testing.T) {
	var trips []breaker.Reason
	for _, k := range KnownTransitions {
		if k.Precreated && k.From == breaker.Closed && k.To == breaker.Open {
			trips = append(trips, k.Reason)
		}
	}
	for _, c := range []struct {
		opts    []sharedstate.Option
		opening breaker.Origin
		closeTo breaker.State
	}{
		{nil, breaker.OriginPeer, breaker.HalfOpen},
		{[]sharedstate.Option{sharedstate.WithQuorum(2, time.Minute)}, breaker.OriginCluster, breaker.HalfOpen},
		{[]sharedstate.Option{sharedstate.WithRemoteCloseCloses(true)}, breaker.OriginPeer, breaker.Closed},
	} {
		reg := breaker.NewRegistry()
		s, err := sharedstate.Attach(reg, sharedstatetest.NewStore().Client(), append([]sharedstate.Option{sharedstate.WithStartupTimeout(0)}, c.opts...)...)
		require.NoError(t, err)
		r := RemoteTransitions(s)
		require.NoError(t, s.Close())
		var want []RemoteTransition
		for _, reason := range trips {
			want = append(want, RemoteTransition{breaker.Closed, breaker.Open, reason, c.opening})
		}
		want = append(want, RemoteTransition{breaker.Open, c.closeTo, breaker.ReasonTrialsSucceeded, breaker.OriginPeer})
		assert.Equal(t, want, r.List[:])

		b, err := reg.Get("payments")
		require.NoError(t, err)
		assert.True(t, r.Covers(b))
		other, err := breaker.NewRegistry().Get("payments")
		require.NoError(t, err)
		assert.False(t, r.Covers(other), "a breaker of another registry")
		assert.False(t, (*Remote)(nil).Covers(b), "no Syncer")
	}
}
