// Command demo runs three circuit breakers, configured as the
// circuit-breaker specification recommends (model_server, database,
// external_api), in front of simulated dependencies that fail in bursts.
// model_server is called as the specification's integration example does,
// its breaker wrapping a retry policy (max_retries=3), with a cached result
// while it is open; database over HTTP through httpbreaker's transport;
// external_api over gRPC through grpcbreaker's client interceptor. It
// serves what they do over HTTP:
//
//	/metrics   Prometheus text (OpenMetrics, with exemplars, when asked)
//	/breakers  every breaker's Stats as JSON (a page in a browser), with
//	           Reset and Force open for the holder of the admin token
//	           ($FUSEBOX_ADMIN_TOKEN, or one made up and logged at startup)
//	/healthz   liveness
//
// With -redis URL (or $FUSEBOX_REDIS_URL) the replicas attached to one
// Redis share their breakers' openings and closings, and the status page's
// actions, through packages sharedstate and sharedstate/redisstate; a
// replica starts even while Redis does not answer, and joins the fleet once
// it does.
//
// With the standard OTEL_EXPORTER_OTLP_* variables set it also pushes its
// metrics and traces over OTLP. Every process has its own
// service.instance.id (from telemetry/prom, or OTEL_RESOURCE_ATTRIBUTES),
// so that replicas pushing to one Collector stay apart.
//
// Run it with `make demo` (or `go run ./examples/demo`). Time runs -speed
// times faster than the wall clock, recovery timeouts included, so a whole
// cycle (open, half-open, closed) of the default scenario takes under a
// minute; -speed 1 runs in real time.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/events"
	"github.com/fusebox-go/fusebox/retry"
	"github.com/fusebox-go/fusebox/telemetry/prom"
)

type options struct {
	listen    string
	scenario  string
	speed     float64
	duration  time.Duration
	logFormat string
	rate      float64
	// eventQueue > 0 delivers the breakers' events through an
	// asynchronous bus with a queue that long.
	eventQueue int
	// healthcheck, when set, is a URL to probe instead of running.
	healthcheck string
	// redis, when set, shares the breakers' decisions with the other
	// replicas attached to that Redis (-redis, or FUSEBOX_REDIS_URL);
	// replicaID names this process there ("": host name and listen port).
	redis     *redis.Options
	replicaID string
}

// parseFlags reads the command line; getenv reads the environment
// (FUSEBOX_REDIS_URL).
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	var redisURL string
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address to serve /metrics, /breakers and /healthz on")
	fs.StringVar(&o.scenario, "scenario", "default", "failure schedule: "+scenarioNames())
	fs.Float64Var(&o.speed, "speed", 4, "how many times faster than the wall clock the scenario and the breakers run (1 = real time)")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long (0 = run until interrupted)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.Float64Var(&o.rate, "rate", 25, "calls per second to each dependency (wall clock)")
	fs.IntVar(&o.eventQueue, "event-queue", 0, "deliver the breakers' events through an asynchronous bus with a queue of this many events, which drops (and counts) what does not fit; 0 = synchronous")
	fs.StringVar(&o.healthcheck, "healthcheck", "", "only fetch this URL and exit 0 if it answers 200, 1 otherwise (a container health check)")
	fs.StringVar(&redisURL, "redis", "", "share breaker openings, closings and operator actions with the other replicas attached to this Redis: redis://host:port[/db] or unix:///path/to.sock (default $"+redisURLEnv+")")
	fs.StringVar(&o.replicaID, "replica-id", "", "this replica's name in Redis and in the other replicas' logs (default: host name and listen port)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case !(o.speed > 0) || math.IsInf(o.speed, 1):
		return o, fmt.Errorf("-speed must be a positive number, got %v", o.speed)
	case !(o.rate > 0) || time.Duration(float64(time.Second)/o.rate) <= 0:
		return o, fmt.Errorf("-rate must be positive and at most 1e9 calls a second, got %v", o.rate)
	case o.logFormat != "text" && o.logFormat != "json":
		return o, fmt.Errorf("-log-format must be text or json, got %q", o.logFormat)
	case o.duration < 0:
		return o, fmt.Errorf("-duration must not be negative, got %v", o.duration)
	case o.eventQueue < 0:
		return o, fmt.Errorf("-event-queue must not be negative, got %d", o.eventQueue)
	}
	if _, ok := scenarios()[o.scenario]; !ok {
		return o, fmt.Errorf("unknown -scenario %q (have %s)", o.scenario, scenarioNames())
	}
	source := "-redis"
	if redisURL == "" {
		redisURL, source = getenv(redisURLEnv), redisURLEnv
	}
	if redisURL != "" {
		var err error
		if o.redis, err = parseRedisURL(redisURL); err != nil {
			return o, fmt.Errorf("%s %s: %w (want redis://host:port[/db] or unix:///path/to.sock)", source, redactURL(redisURL), err)
		}
	}
	if o.replicaID != "" && o.redis == nil {
		return o, fmt.Errorf("-replica-id needs -redis (or %s)", redisURLEnv)
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	}
	if o.healthcheck != "" {
		if err := healthcheck(o.healthcheck); err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			os.Exit(1)
		}
		return
	}
	// The syncer reports what goes wrong with Redis itself: a warning when
	// it loses it, the sync series, Status. go-redis would repeat each
	// failed reconnection on stderr in a format of its own.
	redis.SetLogger(quietRedisLog{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// healthcheck fetches url and reports an error unless it answers 200.
func healthcheck(url string) error {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// run serves and drives the scenario until ctx is done, then shuts down.
func run(ctx context.Context, o options, logOut io.Writer) error {
	logger := newLogger(o.logFormat, logOut)
	sc := scenarios()[o.scenario]
	clock := scaledClock{start: time.Now(), speed: o.speed}
	// Export errors (a collector that is down, say) go to the same log.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { logger.Warn("opentelemetry export", slog.Any("error", err)) }))
	token, generated := adminToken(os.Getenv)
	cfg := appConfig{
		scenario:   sc,
		clock:      clock,
		sleep:      func(d time.Duration) { time.Sleep(scaled(d, o.speed)) },
		seed:       uint64(time.Now().UnixNano()),
		adminToken: token,
		// The retry policy waits on the wall clock: its backoff (the
		// defaults, 100ms doubling up to 10s) runs -speed times faster
		// too, like the rest of the scenario.
		retryOpts: []retry.Option{retry.WithBackoff(scaled(100*time.Millisecond, o.speed), scaled(10*time.Second, o.speed))},
	}
	if o.eventQueue > 0 {
		bus := events.NewAsync[breaker.Event](o.eventQueue)
		defer func() { _ = bus.Close() }() // after the handler is shut down: delivers what is queued
		cfg.bus = bus
	}
	a, err := newApp(cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	defer ln.Close() // if it is not served; closing it twice does no harm
	a.selfURL = "http://" + ln.Addr().String()

	// With -redis, the replicas share their breakers' decisions. The
	// syncer is closed after the handler below has stopped reading it.
	var sh *shared
	if o.redis != nil {
		id := o.replicaID
		if id == "" {
			id = defaultReplicaID(ln.Addr())
		}
		if sh, err = attachShared(a.reg, o.redis, id, logger); err != nil {
			return fmt.Errorf("shared state: %w", err)
		}
		defer func() {
			if cerr := sh.Close(); cerr != nil {
				logger.Warn("closing the shared state", slog.Any("error", cerr))
			}
		}()
	}

	// /metrics and the state-change logs come from the telemetry package:
	// attached to the registry once, it sees every breaker.
	// With OTLP configured, the same instruments also go to the collector;
	// with -redis, the circuit_breaker_sync_* series on both.
	reader, err := metricsReader(ctx)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	promOpts := []prom.Option{prom.WithServiceName(demoServiceName()), prom.WithLogger(logger), prom.WithReader(reader)}
	if sh != nil {
		promOpts = append(promOpts, prom.WithSyncer(sh.syncer))
	}
	promHandler, err := prom.NewHandler(a.reg, promOpts...)
	if err != nil {
		return err
	}
	// Traces name the same instance as the metrics: the handler's resource.
	shutdownTracing, err := setupTracing(ctx, promHandler.Resource())
	if err != nil {
		return errors.Join(fmt.Errorf("tracing: %w", err), promHandler.Shutdown(context.Background()))
	}
	// The model server's retry policy on the same page and OTLP path.
	if _, err := promHandler.AttachRetry(a.modelRetry); err != nil {
		return errors.Join(fmt.Errorf("retry telemetry: %w", err), promHandler.Shutdown(context.Background()), shutdownTracing(context.Background()))
	}
	a.mux.Handle("GET /metrics", promHandler)
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if ferr := errors.Join(promHandler.Shutdown(flushCtx), shutdownTracing(flushCtx)); ferr != nil {
			logger.Warn("flushing telemetry", slog.Any("error", ferr))
		}
	}()

	srv := &http.Server{Handler: a.mux, ReadHeaderTimeout: 5 * time.Second}
	started := []any{
		slog.String("url", a.selfURL),
		slog.String("scenario", sc.name), slog.String("about", sc.about),
		slog.Float64("speed", o.speed),
		slog.Bool("otlp", otlpConfigured()),
		slog.Int("event_queue", o.eventQueue),
		slog.Bool("shared", sh != nil),
	}
	if sh != nil {
		started = append(started, slog.String("replica", sh.syncer.ReplicaID()))
	}
	logger.Info("fusebox demo started", started...)
	if generated {
		logger.Info("the status page's Reset and Force open need this admin token (type it into the page, or send it as Authorization: Bearer; set "+adminTokenEnv+" to choose it)",
			slog.String("url", a.selfURL+"/breakers"), slog.String("admin_token", token))
	}

	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	})
	driveCtx, stopDriving := context.WithCancel(ctx)
	wg.Go(func() { drive(driveCtx, a, o.rate) })

	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	stopDriving()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutdownCtx); serr != nil && err == nil {
		err = serr
	}
	wg.Wait()
	logger.Info("fusebox demo stopped")
	return err
}

// adminTokenEnv names the environment variable that holds the token of
// the status page's actions.
const adminTokenEnv = "FUSEBOX_ADMIN_TOKEN"

// adminToken returns the token that authorises the status page's actions
// (Reset, Force open): $FUSEBOX_ADMIN_TOKEN, or else a random one made up
// for this process (generated), which run logs at startup, so that the
// actions work from a fresh checkout and only for whoever reads the log.
func adminToken(getenv func(string) string) (token string, generated bool) {
	if t := getenv(adminTokenEnv); t != "" {
		return t, false
	}
	return rand.Text(), true
}

// scaled returns d run speed times faster.
func scaled(d time.Duration, speed float64) time.Duration {
	return time.Duration(float64(d) / speed)
}

// drive makes a round of calls rate times per second until ctx is done.
// Each round runs its calls one after another; a slow dependency slows the
// round, like a client with one connection per dependency.
func drive(ctx context.Context, a *app, rate float64) {
	t := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.step(ctx)
		}
	}
}
