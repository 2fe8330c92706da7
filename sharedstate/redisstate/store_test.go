package redisstate_test

import (
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/sharedstate/redisstate"
	"github.com/fusebox-go/fusebox/sharedstate/redisstate/redistest"
	"github.com/fusebox-go/fusebox/sharedstate/sharedstatetest"
)

// The scripts follow the Store contract on a pure-Go Redis (fast, no
// server needed)...
func TestStoreOnMiniredis(t *testing.T) {
	mr := miniredis.RunT(t)
	sharedstatetest.TestStore(t, func(t *testing.T) sharedstate.Store {
		c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
		t.Cleanup(func() { _ = c.Close() })
		return newStore(t, c)
	})
}

// ...and on a real redis-server.
func TestStoreOnRedis(t *testing.T) {
	srv := redistest.Start(t)
	sharedstatetest.TestStore(t, func(t *testing.T) sharedstate.Store { return newStore(t, srv.Client(t)) })
}

func newStore(t *testing.T, c redis.UniversalClient, opts ...redisstate.Option) *redisstate.Store {
	t.Helper()
	s, err := redisstate.New(c, opts...)
	require.NoError(t, err)
	return s
}

func TestNewValidates(t *testing.T) {
	good := &redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true}
	cases := []struct {
		name  string
		opts  *redis.Options
		opt   redisstate.Option
		field string
	}{
		{"context deadlines ignored", &redis.Options{Addr: "127.0.0.1:1"}, nil, "redis_client"},
		{"empty namespace", good, redisstate.WithNamespace(""), "namespace"},
		{"brace in namespace", good, redisstate.WithNamespace("a}b"), "namespace"},
		{"space in namespace", good, redisstate.WithNamespace("a b"), "namespace"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := redis.NewClient(tc.opts)
			defer c.Close()
			_, err := redisstate.New(c, tc.opt)
			require.ErrorIs(t, err, breaker.ErrInvalidConfig)
			var ce *breaker.ConfigError
			require.True(t, errors.As(err, &ce))
			assert.Equal(t, tc.field, ce.Field)
		})
	}
	_, err := redisstate.New(nil)
	require.ErrorIs(t, err, breaker.ErrInvalidConfig)
}

// Two namespaces on one server do not see each other.
func TestNamespacesApart(t *testing.T) {
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	defer c.Close()
	a, b := newStore(t, c, redisstate.WithNamespace("a")), newStore(t, c, redisstate.WithNamespace("b"))
	res, err := a.Propose(t.Context(), sharedstate.Proposal{Name: "x", To: breaker.Open, OpenFor: 1e9, By: "r", Reason: breaker.ReasonFailureThreshold})
	require.NoError(t, err)
	require.Equal(t, sharedstate.Written, res.Outcome)
	snap, err := b.Snapshot(t.Context(), 0)
	require.NoError(t, err)
	assert.Empty(t, snap.Records)
	for _, k := range mr.Keys() {
		assert.Contains(t, k, "{fusebox:a}", "every key shares the hash tag")
	}
}

type redisstateStore = redisstate.Store

func newStoreOn(t *testing.T, c redis.UniversalClient) *redisstate.Store { return newStore(t, c) }

// A nil client pointer in the interface is refused like a nil interface,
// rather than panicking while its options are read.
func TestNewRefusesNilClientPointer(t *testing.T) {
	for name, c := range map[string]redis.UniversalClient{
		"client":  (*redis.Client)(nil),
		"cluster": (*redis.ClusterClient)(nil),
		"ring":    (*redis.Ring)(nil),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := redisstate.New(c)
			require.ErrorIs(t, err, breaker.ErrInvalidConfig)
			var ce *breaker.ConfigError
			require.True(t, errors.As(err, &ce))
			assert.Equal(t, "redis_client", ce.Field)
		})
	}
}

// Redis keeps time in milliseconds: a quorum window under one (valid for
// the Syncer: it is positive) must still keep the vote for that window,
// not expire it at once, which made the quorum unreachable.
func TestSubMillisecondQuorumWindowKeepsTheVote(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	s := newStore(t, c)
	res, err := s.Propose(t.Context(), sharedstate.Proposal{
		Name: "x", To: breaker.Open, OpenFor: time.Second, By: "r0", Reason: breaker.ReasonFailureThreshold,
		Quorum: 2, QuorumWindow: 500 * time.Microsecond,
	})
	require.NoError(t, err)
	require.Equal(t, sharedstate.Voted, res.Outcome)
	keys, err := c.Keys(t.Context(), "*votes*").Result()
	require.NoError(t, err)
	assert.NotEmpty(t, keys, "the vote was dropped as soon as it was cast")
}

// A stored record that cannot be decoded is left out of a snapshot and
// counted, so that a corrupted key shows on the sync metrics instead of
// vanishing.
func TestSnapshotCountsMalformedRecords(t *testing.T) {
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	s := newStore(t, c)
	_, err := s.Propose(t.Context(), sharedstate.Proposal{Name: "good", To: breaker.Open, OpenFor: time.Second, By: "r0", Reason: breaker.ReasonFailureThreshold})
	require.NoError(t, err)
	keys, err := c.Keys(t.Context(), "*:rec").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)
	require.NoError(t, c.HSet(t.Context(), keys[0], "bad", "not a record").Err())

	snap, err := s.Snapshot(t.Context(), 0)
	require.NoError(t, err)
	require.Len(t, snap.Records, 1)
	assert.Equal(t, "good", snap.Records[0].Name)
	assert.Equal(t, 1, snap.Malformed)
}
