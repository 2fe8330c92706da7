package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startRedis starts a redis-server for the demo replicas to share their
// breakers through, as sharedstate/redisstate/redistest does for the
// library's tests: on a Unix socket (no TCP port to race for), with no
// persistence, stopped by its PID at cleanup (and killed by the kernel if
// the test binary dies first). It returns the socket's path once the
// server answers PING.
func startRedis(ctx context.Context, t *testing.T, logDir string) (socket string, p *process) {
	t.Helper()
	bin := lookTool(t, "FUSEBOX_REDIS_SERVER", "redis-server")
	// A Unix socket path must stay under ~104 bytes: t.TempDir is too long.
	dir, err := os.MkdirTemp("", "redis")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) }) // after the server is stopped (cleanups run last first)
	socket = filepath.Join(dir, "r.sock")
	p = startProcess(t, logDir, "redis", nil, bin,
		"--port", "0",
		"--unixsocket", socket,
		"--unixsocketperm", "700",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
	)
	var last error
	for {
		if last = redisPing(socket); last == nil {
			return socket, p
		}
		if p.exited() {
			require.FailNowf(t, "redis-server exited", "%v before answering on %s", p.err, socket)
		}
		select {
		case <-ctx.Done():
			require.FailNowf(t, "redis-server not ready", "no PONG on %s: %v", socket, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// redisPing sends PING to the server on socket and expects PONG.
func redisPing(socket string) error {
	c, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// sharedBreaker is the status of one breaker on a replica's /breakers.
type sharedBreaker struct {
	Name   string `json:"name"`
	State  string `json:"state"`
	Forced bool   `json:"forced"`
}

// checkSharedOpening requires the force-open made on one replica to have
// reached every other replica through Redis: its /breakers shows the
// breaker held open, its /metrics a transition to open whose origin is
// peer, and Prometheus, on every path, that transition on every other
// instance and every replica connected to Redis.
func checkSharedOpening(ctx context.Context, t *testing.T, api promAPI, replicas []*replica, forced *replica, name string, sources []string) {
	t.Helper()
	peer := []string{`circuit_breaker_name="` + name + `"`, `circuit_breaker_to_state="open"`, `circuit_breaker_origin="peer"`, `circuit_breaker_reason="force_open"`}
	for _, r := range replicas {
		if r == forced {
			continue
		}
		var st sharedBreaker
		var value string
		for {
			st = breakerStatus(ctx, t, "http://"+r.addr+"/breakers/"+name)
			value, _ = seriesValue(metricsPage(ctx, t, "http://"+r.addr+"/metrics"), "circuit_breaker_transitions_total", peer...)
			if st.State == "open" && st.Forced && value == "1" || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
		assert.Equal(t, "open", st.State, "%s: breaker %s forced open on %s, through Redis", r.service, name, forced.service)
		assert.True(t, st.Forced, "%s: held open as the operator asked on %s", r.service, forced.service)
		assert.Equal(t, "1", value, "%s: /metrics shows a peer's force-open of %s", r.service, name)
		t.Logf("%s: breaker %s forced open on %s is open here too, origin peer", r.service, name, forced.service)
	}
	others, all := fmt.Sprint(len(replicas)-1), fmt.Sprint(len(replicas))
	for _, src := range sources {
		q := fmt.Sprintf(`count(circuit_breaker_transitions_total{source=%q,%s} > 0)`, src, strings.Join(peer, ","))
		res := queryUntil(ctx, t, api, q, func(r []sample) bool { return len(r) == 1 && r[0].Value[1] == others })
		if assert.Len(t, res, 1, "source=%s: %s", src, q) {
			assert.Equal(t, others, res[0].Value[1], "source=%s: every other replica applied the force-open as a peer's\nquery: %s", src, q)
		}
		q = fmt.Sprintf(`sum(circuit_breaker_sync_connected{source=%q})`, src)
		res = queryUntil(ctx, t, api, q, func(r []sample) bool { return len(r) == 1 && r[0].Value[1] == all })
		if assert.Len(t, res, 1, "source=%s: %s", src, q) {
			assert.Equal(t, all, res[0].Value[1], "source=%s: every replica reaches Redis\nquery: %s", src, q)
		}
	}
	t.Logf("the force-open of %s on %s reached the %s other replicas through Redis, on %v", name, forced.service, others, sources)
}

// seriesValue returns the value of the first series of a Prometheus text
// page named name whose labels include every one of labels.
func seriesValue(page, name string, labels ...string) (string, bool) {
	for _, line := range strings.Split(page, "\n") {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		set, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		have := strings.Split(set, ",")
		all := true
		for _, l := range labels {
			all = all && slices.Contains(have, l)
		}
		if all {
			return strings.Fields(value)[0], true
		}
	}
	return "", false
}

// breakerStatus reads one breaker of a replica's /breakers.
func breakerStatus(ctx context.Context, t *testing.T, url string) sharedBreaker {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return sharedBreaker{}
	}
	defer resp.Body.Close()
	var st sharedBreaker
	_ = json.NewDecoder(resp.Body).Decode(&st)
	return st
}

// metricsPage reads a replica's /metrics.
func metricsPage(ctx context.Context, t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestSeriesValue(t *testing.T) {
	page := `# TYPE circuit_breaker_transitions_total counter
circuit_breaker_transitions_total{circuit_breaker_from_state="closed",circuit_breaker_name="database",circuit_breaker_origin="local",circuit_breaker_reason="force_open",circuit_breaker_to_state="open"} 1
circuit_breaker_transitions_total{circuit_breaker_from_state="closed",circuit_breaker_name="database",circuit_breaker_origin="peer",circuit_breaker_reason="force_open",circuit_breaker_to_state="open"} 2 1700000000000
`
	v, ok := seriesValue(page, "circuit_breaker_transitions_total", `circuit_breaker_origin="peer"`, `circuit_breaker_name="database"`)
	assert.True(t, ok)
	assert.Equal(t, "2", v)
	_, ok = seriesValue(page, "circuit_breaker_transitions_total", `circuit_breaker_origin="cluster"`)
	assert.False(t, ok)
}

func TestRedisPing(t *testing.T) {
	dir, err := os.MkdirTemp("", "redis")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	socket := filepath.Join(dir, "s")
	assert.Error(t, redisPing(socket), "nothing listens")

	l, err := net.Listen("unix", socket)
	require.NoError(t, err)
	defer l.Close()
	answers := make(chan string, 2)
	answers <- "+PONG\r\n"
	answers <- "-ERR no\r\n"
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			if line == "PING\r\n" {
				_, _ = io.WriteString(c, <-answers)
			}
			c.Close()
		}
	}()
	assert.NoError(t, redisPing(socket))
	assert.ErrorContains(t, redisPing(socket), "-ERR no")
}
