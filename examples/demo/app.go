package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/httpbreaker"
)

// giveUpHeader asks a simulated dependency to hold the request until the
// caller gives up, so the breaker sees a cancelled call (ignored).
const giveUpHeader = "X-Demo-Give-Up"

// app is the demo service: a registry of the three breakers, the simulated
// dependencies they protect (real HTTP servers on loopback ports), the
// client that calls them through breakers, and the service's own routes.
//
// model_server is reached through the service's /api/predict route, which
// the server middleware protects; database and external_api are called
// through the client transport. The load generator (step) makes one call
// to each per round.
type app struct {
	sc    scenario
	clock breaker.Clock
	start time.Time
	reg   *breaker.Registry
	sleep func(time.Duration) // simulated latency, already scaled

	mu  sync.Mutex // guards rng
	rng *rand.Rand

	deps    map[string]*depServer // by breaker name
	serving sync.WaitGroup        // the dependencies' Serve loops
	client  *http.Client          // through httpbreaker.Transport
	plain   *http.Client          // for the service's own routes
	mux     *http.ServeMux
	selfURL string // base URL of the service, set once it listens

	// traced wraps each outgoing call in a client span.
	traced func(ctx context.Context, name string, call func(context.Context) error) error
}

// depServer is one simulated dependency.
type depServer struct {
	d   downstream
	srv *http.Server
	url string
}

type appConfig struct {
	scenario   scenario
	clock      breaker.Clock
	sleep      func(time.Duration)
	seed       uint64
	adminToken string
	// bus carries the breakers' events; nil: the registry's own
	// (synchronous) bus.
	bus events.Bus[breaker.Event]
}

// newApp builds the demo and starts its simulated dependencies. Close stops
// them.
func newApp(cfg appConfig) (*app, error) {
	a := &app{
		sc: cfg.scenario, clock: cfg.clock, start: cfg.clock.Now(), sleep: cfg.sleep,
		reg:    newRegistry(cfg),
		rng:    rand.New(rand.NewPCG(cfg.seed, 1)),
		deps:   map[string]*depServer{},
		mux:    http.NewServeMux(),
		traced: tracedCall,
	}
	if a.sleep == nil {
		a.sleep = func(time.Duration) {}
	}
	byHost := map[string]string{}
	for _, d := range cfg.scenario.deps {
		if _, err := a.reg.Get(d.name, d.opts...); err != nil {
			a.Close()
			return nil, fmt.Errorf("breaker %s: %w", d.name, err)
		}
		ds, err := a.serveDependency(d)
		if err != nil {
			a.Close()
			return nil, err
		}
		a.deps[d.name] = ds
		byHost[ds.srv.Addr] = d.name
	}
	base := &http.Transport{MaxIdleConnsPerHost: 16}
	a.plain = &http.Client{Transport: base, Timeout: 30 * time.Second}
	a.client = &http.Client{
		Timeout: 30 * time.Second,
		Transport: httpbreaker.NewTransport(a.reg, base, httpbreaker.WithNamer(func(r *http.Request) string {
			if name, ok := byHost[r.URL.Host]; ok {
				return name
			}
			return httpbreaker.HostName(r)
		})),
	}
	a.routes(cfg)
	return a, nil
}

// newRegistry returns the demo's registry, on cfg's clock and bus.
func newRegistry(cfg appConfig) *breaker.Registry {
	opts := []breaker.Option{breaker.WithClock(cfg.clock)}
	if cfg.bus != nil {
		opts = append(opts, breaker.WithEventBus(cfg.bus))
	}
	return breaker.NewRegistry(opts...)
}

func (a *app) routes(cfg appConfig) {
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	var statusOpts []httpbreaker.Option
	if cfg.adminToken != "" {
		want := []byte("Bearer " + cfg.adminToken)
		statusOpts = append(statusOpts, httpbreaker.WithAdmin(func(r *http.Request) bool {
			return subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) == 1
		}))
	}
	status := http.StripPrefix("/breakers", httpbreaker.NewStatusHandler(a.reg, statusOpts...))
	a.mux.Handle("/breakers", status)
	a.mux.Handle("/breakers/", status)

	// /api/predict asks the model server; the middleware protects it with
	// the model_server breaker, so while that is open clients get 503 and
	// Retry-After without the model being called.
	model, _ := a.reg.Lookup("model_server")
	protected := httpbreaker.NewHandler(model, http.HandlerFunc(a.predict))
	a.mux.Handle("GET /api/predict", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Continue the caller's trace, so the breaker's span events land on
		// this request's server span.
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		_ = serverSpan("GET /api/predict", func(ctx context.Context) error {
			protected.ServeHTTP(w, r.WithContext(ctx))
			return nil
		})(ctx)
	}))
}

// predict forwards to the model server and answers with its status.
func (a *app) predict(w http.ResponseWriter, r *http.Request) {
	ds := a.deps["model_server"]
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, ds.url+"/predict", nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.Header = r.Header.Clone()
	otel.GetTextMapPropagator().Inject(r.Context(), propagation.HeaderCarrier(req.Header))
	resp, err := a.plain.Do(req)
	if err != nil {
		http.Error(w, "model server unreachable", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// serveDependency starts the simulated dependency d on a loopback port.
func (a *app) serveDependency(d downstream) (*depServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ds := &depServer{d: d, url: "http://" + ln.Addr().String()}
	ds.srv = &http.Server{Addr: ln.Addr().String(), ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(giveUpHeader) != "" {
			<-r.Context().Done() // the caller gives up first
			http.Error(w, "too late", http.StatusServiceUnavailable)
			return
		}
		a.mu.Lock()
		latency := time.Duration(float64(d.latency) * (0.5 + a.rng.Float64()))
		noise := a.rng.Float64()
		a.mu.Unlock()
		a.sleep(latency)
		if d.down(a.clock.Now().Sub(a.start), a.sc.cycle) || noise < d.noiseErr {
			http.Error(w, d.name+" unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`+"\n")
	})}
	a.serving.Go(func() { _ = ds.srv.Serve(ln) }) // stopped by Close
	return ds, nil
}

// step makes one round of calls: /api/predict on the service itself, and
// the database and external API through the breaker transport. A few
// callers give up early; their calls count as ignored.
func (a *app) step(ctx context.Context) {
	calls := []struct{ name, url string }{
		{"model_server", a.selfURL + "/api/predict"},
		{"database", a.deps["database"].url + "/query"},
		{"external_api", a.deps["external_api"].url + "/v1/data"},
	}
	for _, c := range calls {
		a.mu.Lock()
		giveUp := a.rng.Float64() < 0.02
		a.mu.Unlock()
		client := a.client
		if c.name == "model_server" {
			client = a.plain // the server side holds the breaker
		}
		_ = a.traced(ctx, "call "+c.name, func(ctx context.Context) error {
			return a.call(ctx, client, c.url, giveUp)
		})
	}
}

func (a *app) call(ctx context.Context, client *http.Client, url string, giveUp bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	if giveUp {
		req.Header.Set(giveUpHeader, "1")
		t := time.AfterFunc(5*time.Millisecond, cancel)
		defer t.Stop()
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode >= 500 {
		return errors.New(resp.Status)
	}
	return nil
}

// Close stops the simulated dependencies.
func (a *app) Close() {
	for _, ds := range a.deps {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = ds.srv.Shutdown(ctx)
		cancel()
	}
	a.serving.Wait()
	if a.plain != nil {
		a.plain.CloseIdleConnections()
	}
}
