package redisstate_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/sharedstate/redisstate"
	"github.com/fusebox-go/fusebox/sharedstate/redisstate/redistest"
)

// The test binary re-executed with these variables is one replica process.
const (
	replicaEnv = "FUSEBOX_REDIS_REPLICA"
	socketEnv  = "FUSEBOX_REDIS_SOCKET"
)

// replicaMain runs one replica process: it attaches a registry to the
// server and follows commands on stdin ("get NAME", "trip NAME"), printing
// "ready" once attached and "change NAME FROM TO ORIGIN PEER" for every
// state change; it detaches and exits at the end of its input.
func replicaMain() int {
	id, socket := os.Getenv(replicaEnv), os.Getenv(socketEnv)
	client := redis.NewClient(&redis.Options{Network: "unix", Addr: socket, ContextTimeoutEnabled: true, MaxRetries: -1})
	defer client.Close()
	store, err := redisstate.New(client)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	reg := breaker.NewRegistry(breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Minute))
	reg.OnStateChange(func(_ context.Context, e breaker.Event) {
		say("change %s %v %v %v %s", e.Breaker.Name(), e.From, e.To, e.Origin, e.Peer)
	})
	s, err := sharedstate.Attach(reg, store, sharedstate.WithReplicaID(id))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer s.Close()
	say("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		verb, name, _ := strings.Cut(sc.Text(), " ")
		b, err := reg.Get(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		if verb == "trip" {
			_ = b.Execute(context.Background(), func(context.Context) error { return errDown })
		}
		say("ok %s", verb)
	}
	return 0
}

// process is a replica process seen from the test.
type process struct {
	id    string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startProcess(t *testing.T, srv *redistest.Server, id string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), replicaEnv+"="+id, socketEnv+"="+srv.Socket())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &process{id: id, cmd: cmd, stdin: stdin, lines: make(chan string, 100)}
	go func() { // ends with the process's output
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return p
}

func (p *process) send(t *testing.T, line string) {
	t.Helper()
	_, err := fmt.Fprintln(p.stdin, line)
	require.NoError(t, err)
}

// expect waits for a line of the process's output that starts with prefix.
func (p *process) expect(t *testing.T, prefix string) {
	t.Helper()
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("%s exited before printing %q", p.id, prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return
			}
		case <-timeout.C:
			t.Fatalf("%s printed no %q within %v", p.id, prefix, wait)
		}
	}
}

// G2 across processes: three replica processes on one server; an opening in
// one opens the breaker in the other two, a fourth process started later
// starts open, and each exits cleanly.
func TestThreeReplicaProcesses(t *testing.T) {
	srv := redistest.Start(t)
	ps := make([]*process, 3)
	for i := range ps {
		ps[i] = startProcess(t, srv, fmt.Sprintf("p%d", i))
	}
	for _, p := range ps {
		p.expect(t, "ready")
		p.send(t, "get checkout")
		p.expect(t, "ok get")
	}
	ps[0].send(t, "trip checkout")
	ps[0].expect(t, "change checkout closed open local")
	for _, p := range ps[1:] {
		p.expect(t, "change checkout closed open peer p0")
	}
	// A replica process started now starts open.
	late := startProcess(t, srv, "p3")
	late.expect(t, "ready")
	late.send(t, "get checkout")
	late.expect(t, "change checkout closed open peer p0")
	for _, p := range append(ps, late) {
		require.NoError(t, p.stdin.Close())
		require.NoError(t, p.cmd.Wait(), "%s exits cleanly", p.id)
	}
}
