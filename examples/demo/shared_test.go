package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/sharedstate/redisstate/redistest"
)

// wait bounds how long a decision takes to reach another replica here:
// milliseconds on loopback, or a reconcile (1s) after a lost message.
const wait = 10 * time.Second

// syncLog is a log the test reads while the demo writes it.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// record returns the first JSON log record whose msg contains msg.
func (l *syncLog) record(msg string) (map[string]any, bool) {
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	for sc.Scan() {
		var r map[string]any
		if json.Unmarshal(sc.Bytes(), &r) == nil && strings.Contains(r["msg"].(string), msg) {
			return r, true
		}
	}
	return nil, false
}

// waitRecord waits until the log holds a record whose msg contains msg.
func (l *syncLog) waitRecord(t *testing.T, msg string) map[string]any {
	t.Helper()
	var r map[string]any
	require.Eventually(t, func() bool {
		var ok bool
		r, ok = l.record(msg)
		return ok
	}, wait, 5*time.Millisecond, "no log record %q in:\n%s", msg, l)
	return r
}

// post sends an admin action to a demo's status page.
func post(t *testing.T, url, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// statuses reads a demo's /breakers.
func statuses(t *testing.T, base string) map[string]breaker.Stats {
	t.Helper()
	_, body := get(t, base+"/breakers")
	var list []breaker.Stats
	require.NoError(t, json.Unmarshal([]byte(body), &list), body)
	out := map[string]breaker.Stats{}
	for _, s := range list {
		out[s.Name] = s
	}
	return out
}

// The README's recipe in one process: two demos run with -redis on one
// redis-server, the first with the admin token it made up and logged. A
// force-open on the first one's status page opens the breaker on the
// second, as a peer's decision; a reset on the second closes it on both.
// Both serve the circuit_breaker_sync_* series, and stop cleanly (goleak,
// in TestMain, sees no goroutine of theirs left).
func TestRunSharesActionsThroughRedis(t *testing.T) {
	srv := redistest.Start(t)
	t.Setenv(adminTokenEnv, "") // each demo makes up its own
	type demo struct {
		log  *syncLog
		url  string
		id   string
		done chan error
	}
	ctx, cancel := context.WithCancel(context.Background())
	var demos []*demo
	t.Cleanup(func() {
		cancel()
		for _, d := range demos {
			assert.NoError(t, <-d.done)
			_, ok := d.log.record("fusebox demo stopped")
			assert.True(t, ok, "%s stops", d.id)
		}
	})
	for range 2 {
		o, err := parseFlags([]string{"-listen", "127.0.0.1:0", "-scenario", "calm", "-log-format", "json", "-redis", "unix://" + srv.Socket()}, noEnv, nil)
		require.NoError(t, err)
		d := &demo{log: &syncLog{}, done: make(chan error, 1)}
		demos = append(demos, d)
		go func() { d.done <- run(ctx, o, d.log) }()
		started := d.log.waitRecord(t, "fusebox demo started")
		d.url, d.id = started["url"].(string), started["replica"].(string)
		assert.Equal(t, true, started["shared"])
		_, ok := d.log.record("sharing breaker decisions through Redis")
		assert.True(t, ok, "Redis answers at startup")
	}
	first, second := demos[0], demos[1]
	assert.NotEqual(t, first.id, second.id, "each process has its own replica id")
	assert.True(t, strings.HasSuffix(first.id, first.url[strings.LastIndex(first.url, ":"):]), "host name and port: %s", first.id)
	token, _ := first.log.waitRecord(t, "admin token")["admin_token"].(string)
	require.NotEmpty(t, token, "the made-up token is in the log")

	assert.Equal(t, http.StatusForbidden, post(t, first.url+"/breakers/database/force-open", "wrong"))
	require.Equal(t, http.StatusOK, post(t, first.url+"/breakers/database/force-open", token))
	require.Eventually(t, func() bool { return statuses(t, second.url)["database"].State == breaker.Open }, wait, 10*time.Millisecond,
		"the force-open on %s reaches %s", first.id, second.id)
	st := statuses(t, second.url)["database"]
	assert.True(t, st.Forced, "held open as the operator asked")
	_, page := get(t, second.url+"/metrics")
	v, ok := seriesValue(page, "circuit_breaker_transitions_total", `circuit_breaker_name="database"`, `circuit_breaker_origin="peer"`,
		`circuit_breaker_reason="force_open"`, `circuit_breaker_to_state="open"`)
	assert.True(t, ok && v == "1", "a peer's opening on %s's /metrics: %q\n%s", second.id, v, page)
	r := second.log.waitRecord(t, "circuit breaker state changed")
	assert.Equal(t, "database", r["circuit_breaker.name"], "%v", r)
	assert.Equal(t, "peer", r["circuit_breaker.origin"], "the log names the origin: %v", r)
	assert.Equal(t, first.id, r["circuit_breaker.peer"], "and the replica: %v", r)
	for _, d := range demos {
		_, page := get(t, d.url+"/metrics")
		v, ok := seriesValue(page, "circuit_breaker_sync_connected")
		assert.True(t, ok && v == "1", "%s: circuit_breaker_sync_connected %q", d.id, v)
		_, ok = seriesValue(page, "circuit_breaker_sync_messages_total", `circuit_breaker_sync_result="applied"`)
		assert.True(t, ok, "%s: circuit_breaker_sync_messages_total", d.id)
	}

	// A reset on the second, with its own token, reaches the first: the
	// operator's actions are fleet-wide.
	token2, _ := second.log.waitRecord(t, "admin token")["admin_token"].(string)
	assert.NotEqual(t, token, token2)
	require.Equal(t, http.StatusOK, post(t, second.url+"/breakers/database/reset", token2))
	require.Eventually(t, func() bool { return statuses(t, first.url)["database"].State == breaker.Closed }, wait, 10*time.Millisecond)
	assert.False(t, statuses(t, first.url)["database"].Forced)
}

// attachTo returns an attach function for startAppWith: the registry
// shared through srv as replica id, logging to log.
func attachTo(t *testing.T, srv *redistest.Server, id string, log *syncLog) func(*breaker.Registry) *sharedstate.Syncer {
	return func(reg *breaker.Registry) *sharedstate.Syncer {
		opts, err := parseRedisURL("unix://" + srv.Socket())
		require.NoError(t, err)
		sh, err := attachShared(reg, opts, id, slog.New(slog.NewJSONHandler(log, nil)))
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, sh.Close()) })
		return sh.syncer
	}
}

// A replica whose Redis does not answer at startup (a stopped server:
// commands hang until their deadline) starts all the same, says so, and
// joins the fleet once Redis answers: a force-open made elsewhere then
// reaches it.
func TestReplicaStartsWhileRedisIsDown(t *testing.T) {
	srv := redistest.Start(t)
	log1, log2 := &syncLog{}, &syncLog{}
	a1, _ := startAppWith(t, scenarios()["calm"], "t1", attachTo(t, srv, "one", log1))
	_, ok := log1.record("sharing breaker decisions through Redis")
	require.True(t, ok, log1.String())

	srv.Pause()
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume()
		}
	}()
	// The bound on that wait is sharedstate's startup timeout
	// (TestAttachWaitsAtMostTheStartupTimeout, on a fake clock).
	a2, _ := startAppWith(t, scenarios()["calm"], "t2", attachTo(t, srv, "two", log2))
	r, ok := log2.record("Redis does not answer yet")
	require.True(t, ok, log2.String())
	assert.Equal(t, "WARN", r["level"])
	assert.Equal(t, "two", r["replica"])
	_, page := get(t, a2.selfURL+"/metrics")
	v, _ := seriesValue(page, "circuit_breaker_sync_connected")
	assert.Equal(t, "0", v, "not connected yet")
	// Meanwhile its breakers work alone.
	db2, _ := a2.reg.Lookup("database")
	a2.step(context.Background())
	assert.Positive(t, db2.Stats().TotalCalls)

	srv.Resume()
	resumed = true
	require.Equal(t, http.StatusOK, post(t, a1.selfURL+"/breakers/database/force-open", "t1"))
	require.Eventually(t, func() bool { return db2.State() == breaker.Open }, wait, 10*time.Millisecond, "converges once Redis answers")
	assert.True(t, db2.Stats().Forced)
	require.Eventually(t, func() bool {
		_, page := get(t, a2.selfURL+"/metrics")
		v, _ := seriesValue(page, "circuit_breaker_sync_connected")
		return v == "1"
	}, wait, 10*time.Millisecond)
}
