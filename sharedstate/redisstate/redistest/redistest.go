package redistest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process started for one test.
type Server struct {
	t      testing.TB
	dir    string
	socket string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Binary returns the path of redis-server, or "" when it is not
// installed.
func Binary() string {
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return ""
	}
	return p
}

// Start starts a redis-server and stops it at the end of the test. Without
// redis-server on PATH the test is skipped, unless the CI environment
// variable is set, in which case it fails.
func Start(t testing.TB) *Server {
	t.Helper()
	if Binary() == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed (scripts/ensure-redis.sh installs it)")
		}
		t.Skip("redis-server is not installed; scripts/ensure-redis.sh installs it")
	}
	// A Unix socket path must stay under ~104 bytes: t.TempDir is too long.
	dir, err := os.MkdirTemp("", "redis")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, dir: dir, socket: filepath.Join(dir, "r.sock")}
	t.Cleanup(func() {
		s.stop()
		_ = os.RemoveAll(dir)
	})
	s.start()
	return s
}

// Socket returns the server's Unix socket path.
func (s *Server) Socket() string { return s.socket }

// PID returns the server process's id.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd.Process.Pid
}

// Options returns client options for the server with the settings a
// shared-state store needs: context deadlines honoured, no retries, a short
// pool wait.
func (s *Server) Options() *redis.Options {
	return &redis.Options{
		Network:               "unix",
		Addr:                  s.socket,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialTimeout:           time.Second,
		ReadTimeout:           time.Second,
		WriteTimeout:          time.Second,
		PoolTimeout:           100 * time.Millisecond,
	}
}

// Client returns a new client of the server (see Options), closed at the
// end of the test.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(s.Options())
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (s *Server) start() {
	s.t.Helper()
	cmd := exec.Command(Binary(),
		"--port", "0",
		"--unixsocket", s.socket,
		"--unixsocketperm", "700",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log"),
	)
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	// Wait until it answers: a bounded poll on a process starting up.
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: s.socket, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server did not start: %v\n%s", err, s.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Server) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	return string(b)
}

// stop kills the server by its PID and reaps it.
func (s *Server) stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // a paused server dies all the same, but be tidy
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	_ = os.Remove(s.socket)
}

// Pause stops the server with SIGSTOP: connections stay open and commands
// hang, as with a server stuck in a long command or a frozen VM.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server with SIGCONT.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Errorf("signal redis-server: %v", err)
	}
}

// Restart kills the server and starts a new one on the same socket with no
// data, as a restart without persistence does. Clients reconnect.
func (s *Server) Restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

// DropSubscribers kills every pub/sub connection (CLIENT KILL TYPE pubsub):
// messages published until each client resubscribes are lost to it. It
// returns how many connections it killed.
func (s *Server) DropSubscribers() int {
	s.t.Helper()
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: s.socket, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := c.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Int()
	if err != nil {
		s.t.Fatalf("CLIENT KILL TYPE pubsub: %v", err)
	}
	return n
}

// Subscribers returns how many pub/sub connections the server has.
func (s *Server) Subscribers() int {
	s.t.Helper()
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: s.socket, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list, err := c.ClientList(ctx).Result()
	if err != nil {
		s.t.Fatalf("CLIENT LIST: %v", err)
	}
	n := 0
	sc := bufio.NewScanner(strings.NewReader(list))
	for sc.Scan() {
		if strings.Contains(sc.Text(), " sub=1 ") {
			n++
		}
	}
	return n
}

// String describes the server for failure messages.
func (s *Server) String() string { return fmt.Sprintf("redis-server pid %d on %s", s.PID(), s.socket) }
