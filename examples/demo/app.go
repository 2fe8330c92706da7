package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/httpbreaker"
	"github.com/fusebox-go/fusebox/retry"
)

// giveUpHeader asks a simulated dependency to hold the request until the
// caller gives up, so the breaker sees a cancelled call (ignored).
const giveUpHeader = "X-Demo-Give-Up"

// app is the demo service: a registry of the three breakers, the simulated
// dependencies they protect (real HTTP and gRPC servers on loopback
// ports), the clients that call them through breakers, and the service's
// own routes.
//
// model_server is reached through the service's /api/predict route, whose
// handler calls it as the circuit-breaker specification's integration
// example does: through the model_server breaker wrapping a retry policy
// (max_retries=3), with a cached result while the breaker is open.
// database is called through the HTTP client transport (httpbreaker), and
// external_api over gRPC through grpcbreaker's client interceptor. The
// load generator (step) makes one call to each per round.
type app struct {
	sc    scenario
	clock breaker.Clock
	start time.Time
	reg   *breaker.Registry
	sleep func(time.Duration) // simulated latency, already scaled

	mu  sync.Mutex // guards rng
	rng *rand.Rand

	// model is the model_server breaker, modelRetry the retry policy it
	// wraps, and lastPrediction the cached result served while it is open.
	model          *breaker.Breaker
	modelRetry     *retry.Policy
	lastPrediction atomic.Pointer[[]byte]

	deps    map[string]*depServer // by breaker name
	serving sync.WaitGroup        // the dependencies' Serve loops
	client  *http.Client          // through httpbreaker.Transport
	plain   *http.Client          // for the service's own routes and the model server
	mux     *http.ServeMux
	selfURL string // base URL of the service, set once it listens

	// traced wraps each outgoing call in a client span.
	traced func(ctx context.Context, name string, call func(context.Context) error) error
}

// depServer is one simulated dependency, served over HTTP (srv, url) or
// gRPC (grpc).
type depServer struct {
	d    downstream
	srv  *http.Server
	url  string
	grpc *grpcDependency
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
	// retryOpts come after the model server's retry options (max_retries=3),
	// to scale its backoff to the demo's speed, say.
	retryOpts []retry.Option
}

// initialPrediction is the cached result served while model_server is open,
// until the model server has answered once.
var initialPrediction = []byte(`{"ok":true,"cached":true}` + "\n")

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
	a.lastPrediction.Store(&initialPrediction)
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
		if ds.srv != nil {
			byHost[ds.srv.Addr] = d.name
		}
	}
	var ok bool
	if a.model, ok = a.reg.Lookup("model_server"); !ok {
		a.Close()
		return nil, errors.New("the scenario has no model_server")
	}
	// The spec's RetryHandler(max_retries=3) for the model server; its
	// default budget (0.2 retries per call, burst 10) bounds the load that
	// retries add during a burst of errors.
	var err error
	if a.modelRetry, err = retry.New("model_server", append([]retry.Option{retry.WithMaxRetries(3)}, cfg.retryOpts...)...); err != nil {
		a.Close()
		return nil, fmt.Errorf("retry policy model_server: %w", err)
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
		statusOpts = append(statusOpts, httpbreaker.WithAdmin(httpbreaker.BearerToken(cfg.adminToken)))
	}
	status := http.StripPrefix("/breakers", httpbreaker.NewStatusHandler(a.reg, statusOpts...))
	a.mux.Handle("/breakers", status)
	a.mux.Handle("/breakers/", status)

	// /api/predict asks the model server through the model_server breaker
	// and its retry policy; while the breaker is open it answers with the
	// cached result.
	a.mux.Handle("GET /api/predict", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Continue the caller's trace, so the breaker's and the retry
		// policy's span events land on this request's server span.
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		_ = serverSpan("GET /api/predict", func(ctx context.Context) error {
			a.predict(w, r.WithContext(ctx))
			return nil
		})(ctx)
	}))
}

// predict answers with the model server's prediction: the specification's
// integration example. The circuit breaker wraps the retry handler, and an
// open circuit serves the cached result (the last prediction the model
// server made) with the header X-Prediction-Source: cache.
func (a *app) predict(w http.ResponseWriter, r *http.Request) {
	body, err := breaker.Do(r.Context(), a.model, retry.Wrap(a.modelRetry, func(ctx context.Context) ([]byte, error) {
		return a.askModel(ctx, r.Header)
	}))
	if errors.Is(err, breaker.ErrOpen) {
		// Circuit is open: return the cached result.
		w.Header().Set("X-Prediction-Source", "cache")
		_, _ = w.Write(*a.lastPrediction.Load())
		return
	}
	if err != nil {
		http.Error(w, "model server: "+err.Error(), http.StatusBadGateway)
		return
	}
	a.lastPrediction.Store(&body)
	w.Header().Set("X-Prediction-Source", "model")
	_, _ = w.Write(body)
}

// askModel makes one attempt at the model server, passing on the caller's
// headers and trace. A 5xx answer is an error.
func (a *app) askModel(ctx context.Context, h http.Header) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.deps["model_server"].url+"/predict", nil)
	if err != nil {
		return nil, retry.Permanent(err)
	}
	req.Header = h.Clone()
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := a.plain.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 500 {
		return nil, fmt.Errorf("model server answered %s", resp.Status)
	}
	return body, nil
}

// serveDependency starts the simulated dependency d on a loopback port,
// over gRPC or HTTP.
func (a *app) serveDependency(d downstream) (*depServer, error) {
	if d.grpc {
		g, err := a.serveGRPC(d)
		if err != nil {
			return nil, err
		}
		return &depServer{d: d, grpc: g}, nil
	}
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
		if !a.answer(d) {
			http.Error(w, d.name+" unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`+"\n")
	})}
	a.serving.Go(func() { _ = ds.srv.Serve(ln) }) // stopped by Close
	return ds, nil
}

// answer simulates d's work on one request: it waits d's latency and
// reports whether the request succeeds, by d's schedule.
func (a *app) answer(d downstream) bool {
	a.mu.Lock()
	latency := time.Duration(float64(d.latency) * (0.5 + a.rng.Float64()))
	noise := a.rng.Float64()
	a.mu.Unlock()
	a.sleep(latency)
	return noise >= d.failShare(a.clock.Now().Sub(a.start), a.sc.cycle)
}

// step makes one round of calls: /api/predict on the service itself, the
// database through the breaker transport, and the external API over gRPC
// through the client interceptor. A few callers give up early; their calls
// count as ignored.
func (a *app) step(ctx context.Context) {
	for _, name := range []string{"model_server", "database", "external_api"} {
		a.mu.Lock()
		giveUp := a.rng.Float64() < 0.02
		a.mu.Unlock()
		_ = a.traced(ctx, "call "+name, func(ctx context.Context) error {
			switch name {
			case "model_server":
				return a.call(ctx, a.plain, a.selfURL+"/api/predict", giveUp) // the route holds the breaker
			case "database":
				return a.call(ctx, a.client, a.deps[name].url+"/query", giveUp)
			}
			return a.deps[name].grpc.call(ctx, giveUp)
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

// Close stops the simulated dependencies and the clients.
func (a *app) Close() {
	for _, ds := range a.deps {
		if ds.grpc != nil {
			ds.grpc.close()
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = ds.srv.Shutdown(ctx)
		cancel()
	}
	a.serving.Wait()
	if a.plain != nil {
		a.plain.CloseIdleConnections()
	}
}
