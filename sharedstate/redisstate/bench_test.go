package redisstate_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redsync/redsync/v4"
	redsyncgoredis "github.com/go-redsync/redsync/v4/redis/goredis/v9"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/sharedstate/redisstate"
	"github.com/fusebox-go/fusebox/sharedstate/redisstate/redistest"
)

// BenchmarkCall: a call costs the same with sharing attached as without,
// also while the server is stopped (G1).
func BenchmarkCall(b *testing.B) {
	setups := []struct {
		name   string
		attach bool
		pause  bool
	}{{"alone", false, false}, {"shared", true, false}, {"shared_paused", true, true}}
	for _, setup := range setups {
		b.Run(setup.name, func(b *testing.B) {
			reg := breaker.NewRegistry(breaker.WithRecoveryTimeout(time.Hour))
			if setup.attach {
				srv := redistest.Start(b)
				store, err := redisstate.New(srv.Client(b))
				if err != nil {
					b.Fatal(err)
				}
				s, err := sharedstate.Attach(reg, store, sharedstate.WithReplicaID("bench"))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = s.Close() })
				if setup.pause {
					srv.Pause()
					b.Cleanup(srv.Resume)
				}
			}
			ctx := context.Background()
			ok := func(context.Context) error { return nil }
			fail := func(context.Context) error { return errDown }
			closed, _ := reg.Get("closed", breaker.WithFailureThreshold(1<<30))
			open, _ := reg.Get("open", breaker.WithFailureThreshold(1))
			_ = open.Execute(ctx, fail)
			if open.State() != breaker.Open {
				b.Fatal("not open")
			}
			b.Run("success", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					_ = closed.Execute(ctx, ok)
				}
			})
			b.Run("failure", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					_ = closed.Execute(ctx, fail)
				}
			})
			b.Run("rejection", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					_ = open.Execute(ctx, ok)
				}
			})
		})
	}
}

// opened collects when each replica's breakers were opened by a peer.
type opened struct {
	mu   sync.Mutex
	at   map[string][]time.Time
	note chan struct{}
}

func (o *opened) handler(_ context.Context, e breaker.Event) {
	if e.To != breaker.Open || e.Origin == breaker.OriginLocal {
		return
	}
	now := time.Now()
	o.mu.Lock()
	o.at[e.Breaker.Name()] = append(o.at[e.Breaker.Name()], now)
	o.mu.Unlock()
	select {
	case o.note <- struct{}{}:
	default:
	}
}

// waitAll waits until n replicas opened name and returns the latest time.
func (o *opened) waitAll(b *testing.B, name string, n int) time.Time {
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		o.mu.Lock()
		at := o.at[name]
		o.mu.Unlock()
		if len(at) >= n {
			return slices.MaxFunc(at, time.Time.Compare)
		}
		select {
		case <-o.note:
		case <-timeout.C:
			b.Fatalf("%s: %d of %d replicas opened within %v", name, len(at), n, wait)
		}
	}
}

// replicas attaches n registries, each with its own client, to srv.
func replicas(b *testing.B, srv *redistest.Server, n int, o *opened) []*breaker.Registry {
	regs := make([]*breaker.Registry, n)
	for i := range regs {
		store, err := redisstate.New(srv.Client(b))
		if err != nil {
			b.Fatal(err)
		}
		regs[i] = breaker.NewRegistry(breaker.WithFailureThreshold(1), breaker.WithRecoveryTimeout(time.Hour))
		regs[i].OnStateChange(o.handler)
		s, err := sharedstate.Attach(regs[i], store, sharedstate.WithReplicaID(fmt.Sprintf("r%d", i)))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
	}
	return regs
}

func reportPercentiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	at := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))]) / 1e6 }
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(float64(d[len(d)-1])/1e6, "max-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkPropagation: from one replica's opening to every other of 8
// replicas open (G2). Run with -benchtime 200x or more.
func BenchmarkPropagation(b *testing.B) {
	srv := redistest.Start(b)
	o := &opened{at: map[string][]time.Time{}, note: make(chan struct{}, 1)}
	regs := replicas(b, srv, 8, o)
	ctx := context.Background()
	var delays []time.Duration
	i := 0
	for b.Loop() {
		name := fmt.Sprintf("dep-%d", i)
		for _, r := range regs {
			if _, err := r.Get(name); err != nil {
				b.Fatal(err)
			}
		}
		origin, _ := regs[i%len(regs)].Get(name)
		start := time.Now()
		_ = origin.Execute(ctx, func(context.Context) error { return errDown })
		delays = append(delays, o.waitAll(b, name, len(regs)-1).Sub(start))
		i++
	}
	reportPercentiles(b, delays)
}

// BenchmarkPropagationLost: a decision whose message every replica misses,
// from the write to every one of 8 replicas open. subscribers_killed: the
// subscribers are killed in the same MULTI that writes it, and the
// resubscription's resync repairs it. message_dropped: the decision is
// written without a message (as when a slow subscriber's buffer overflows),
// and only the periodic reconcile (1s by default) repairs it. Run with
// -benchtime 20x or more.
func BenchmarkPropagationLost(b *testing.B) {
	for _, how := range []string{"subscribers_killed", "message_dropped"} {
		b.Run(how, func(b *testing.B) {
			srv := redistest.Start(b)
			o := &opened{at: map[string][]time.Time{}, note: make(chan struct{}, 1)}
			regs := replicas(b, srv, 8, o)
			writer, err := redisstate.New(srv.Client(b))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var delays []time.Duration
			i := 0
			for b.Loop() {
				name := fmt.Sprintf("lost-%d", i)
				for _, r := range regs {
					if _, err := r.Get(name); err != nil {
						b.Fatal(err)
					}
				}
				start := time.Now()
				if how == "message_dropped" {
					err = writer.OpenSilently(ctx, name, "elsewhere", time.Hour)
				} else {
					_, err = writer.ProposeAfter(ctx, func(p redis.Pipeliner) { p.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub") },
						sharedstate.Proposal{Name: name, To: breaker.Open, OpenFor: time.Hour, By: "elsewhere", Reason: breaker.ReasonFailureThreshold})
				}
				if err != nil {
					b.Fatal(err)
				}
				delays = append(delays, o.waitAll(b, name, len(regs)).Sub(start))
				i++
			}
			reportPercentiles(b, delays)
		})
	}
}

// gobreakerStore is the SharedDataStore of gobreaker's Redis module
// (github.com/sony/gobreaker/v2/redis, which the module proxy does not
// serve), rebuilt on the same parts: a redsync mutex with a 5s expiry and
// plain GET/SET, on a client with go-redis's default options.
type gobreakerStore struct {
	client redis.UniversalClient
	rs     *redsync.Redsync
	mu     sync.Mutex
	held   map[string]*redsync.Mutex
}

func newGobreakerStore(client redis.UniversalClient) *gobreakerStore {
	return &gobreakerStore{client: client, rs: redsync.New(redsyncgoredis.NewPool(client)), held: map[string]*redsync.Mutex{}}
}

func (s *gobreakerStore) Lock(name string) error {
	m := s.rs.NewMutex(name, redsync.WithExpiry(5*time.Second))
	if err := m.Lock(); err != nil {
		return err
	}
	s.mu.Lock()
	s.held[name] = m
	s.mu.Unlock()
	return nil
}

func (s *gobreakerStore) Unlock(name string) error {
	s.mu.Lock()
	m := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if m == nil {
		return errors.New("unlock failed")
	}
	if ok, err := m.Unlock(); !ok || err != nil {
		return errors.New("unlock failed")
	}
	return nil
}

func (s *gobreakerStore) GetData(name string) ([]byte, error) {
	return s.client.Get(context.Background(), name).Bytes()
}

func (s *gobreakerStore) SetData(name string, data []byte) error {
	return s.client.Set(context.Background(), name, data, 0).Err()
}

// defaultClient is a client with go-redis's defaults, as gobreaker's
// store makes one.
func defaultClient(b *testing.B, srv *redistest.Server) *redis.Client {
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Socket()})
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// BenchmarkSharedCall: one serial call with sharing, gobreaker's
// DistributedCircuitBreaker against fusebox on the same redis-server.
func BenchmarkSharedCall(b *testing.B) {
	b.Run("gobreaker", func(b *testing.B) {
		srv := redistest.Start(b)
		cb, err := gobreaker.NewDistributedCircuitBreaker[struct{}](newGobreakerStore(defaultClient(b, srv)), gobreaker.Settings{Name: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cb.Execute(func() (struct{}, error) { return struct{}{}, nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fusebox", func(b *testing.B) {
		srv := redistest.Start(b)
		o := &opened{at: map[string][]time.Time{}, note: make(chan struct{}, 1)}
		reg := replicas(b, srv, 1, o)[0]
		cb, _ := reg.Get("bench")
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if err := cb.Execute(ctx, func(context.Context) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFleetThroughput: 2 replicas x 8 goroutines calling one shared
// breaker around a 10ms dependency for 2s; reports successful calls per
// second and errors (calls that failed without the dependency failing).
// Run with -benchtime 1x.
func BenchmarkFleetThroughput(b *testing.B) {
	const run, work = 2 * time.Second, 10 * time.Millisecond
	measure := func(b *testing.B, call [2]func() error) {
		var ok, bad atomic.Int64
		errs := sync.Map{}
		for b.Loop() {
			deadline := time.Now().Add(run)
			var wg sync.WaitGroup
			for r := range 2 {
				for range 8 {
					wg.Go(func() {
						for time.Now().Before(deadline) {
							if err := call[r](); err != nil {
								bad.Add(1)
								errs.Store(err.Error(), true)
							} else {
								ok.Add(1)
							}
						}
					})
				}
			}
			wg.Wait()
		}
		b.ReportMetric(float64(ok.Load())/run.Seconds()/float64(b.N), "calls/s")
		b.ReportMetric(float64(bad.Load())/float64(b.N), "errors")
		b.ReportMetric(0, "ns/op")
		errs.Range(func(k, _ any) bool { b.Logf("error: %v", k); return true })
	}
	sleep := func() { t := time.NewTimer(work); <-t.C }
	b.Run("gobreaker", func(b *testing.B) {
		srv := redistest.Start(b)
		var call [2]func() error
		for r := range call {
			cb, err := gobreaker.NewDistributedCircuitBreaker[struct{}](newGobreakerStore(defaultClient(b, srv)), gobreaker.Settings{Name: "shared"})
			if err != nil {
				b.Fatal(err)
			}
			call[r] = func() error {
				_, err := cb.Execute(func() (struct{}, error) { sleep(); return struct{}{}, nil })
				return err
			}
		}
		measure(b, call)
	})
	b.Run("fusebox", func(b *testing.B) {
		srv := redistest.Start(b)
		o := &opened{at: map[string][]time.Time{}, note: make(chan struct{}, 1)}
		regs := replicas(b, srv, 2, o)
		var call [2]func() error
		for r := range call {
			cb, _ := regs[r].Get("shared")
			call[r] = func() error {
				return cb.Execute(context.Background(), func(context.Context) error { sleep(); return nil })
			}
		}
		measure(b, call)
	})
}

// BenchmarkPausedServerCall: one call while the server is stopped
// (SIGSTOP). Run with -benchtime 1x: gobreaker's takes tens of seconds.
func BenchmarkPausedServerCall(b *testing.B) {
	b.Run("gobreaker", func(b *testing.B) {
		srv := redistest.Start(b)
		cb, err := gobreaker.NewDistributedCircuitBreaker[struct{}](newGobreakerStore(defaultClient(b, srv)), gobreaker.Settings{Name: "paused"})
		if err != nil {
			b.Fatal(err)
		}
		srv.Pause()
		defer srv.Resume()
		var ran, failed int
		for b.Loop() {
			_, err := cb.Execute(func() (struct{}, error) { ran++; return struct{}{}, nil })
			if err != nil {
				failed++
				b.Logf("error: %v", err)
			}
		}
		b.ReportMetric(float64(ran)/float64(b.N), "ran/op")
		b.ReportMetric(float64(failed)/float64(b.N), "failed/op")
	})
	b.Run("fusebox", func(b *testing.B) {
		srv := redistest.Start(b)
		o := &opened{at: map[string][]time.Time{}, note: make(chan struct{}, 1)}
		reg := replicas(b, srv, 1, o)[0]
		cb, _ := reg.Get("paused")
		srv.Pause()
		defer srv.Resume()
		var ran, failed int
		ctx := context.Background()
		for b.Loop() {
			if err := cb.Execute(ctx, func(context.Context) error { ran++; return nil }); err != nil {
				failed++
			}
		}
		b.ReportMetric(float64(ran)/float64(b.N), "ran/op")
		b.ReportMetric(float64(failed)/float64(b.N), "failed/op")
	})
}
