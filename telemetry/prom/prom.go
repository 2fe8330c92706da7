package prom

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/telemetry"
)

// Option configures [NewHandler].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	registry     *prometheus.Registry
	serviceName  string
	logger       *slog.Logger
	noScopeInfo  bool
	otelExporter bool
	readers      []sdkmetric.Reader
	syncer       *sharedstate.Syncer
}

// WithRegistry sets the client_golang registry the metrics are registered
// on and served from. The default is a new registry of the handler's own,
// never the global prometheus.DefaultRegisterer. Pass your own to serve
// other collectors on the same page, for example
// collectors.NewGoCollector() and collectors.NewProcessCollector(...), or to
// add the breakers to a page you already serve. A nil r means the default.
func WithRegistry(r *prometheus.Registry) Option {
	return optionFunc(func(c *config) { c.registry = r })
}

// WithServiceName sets the service.name resource attribute, shown as the
// service_name label of the target_info series. By default it comes from
// the OTEL_SERVICE_NAME environment variable, or is
// "unknown_service:<executable name>". See [Handler.Resource] for the
// rest of the resource.
func WithServiceName(name string) Option {
	return optionFunc(func(c *config) { c.serviceName = name })
}

// WithLogger sets the logger for the breakers' state changes and
// rejections (see telemetry.WithLogger). The default is slog.Default(),
// looked up for every record.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// WithoutScopeInfo drops the otel_scope_name, otel_scope_version and
// otel_scope_schema_url labels from every series. That halves the size of
// the page for a registry of thousands of breakers (and the time to render
// it with [WithOTelExporter]; about a sixth of it with the native
// collector), but dashboards can no longer tell fusebox's series from
// others of the same name.
func WithoutScopeInfo() Option {
	return optionFunc(func(c *config) { c.noScopeInfo = true })
}

// WithOTelExporter renders the page with the OpenTelemetry SDK and its
// Prometheus exporter instead of the native collector: the telemetry
// package's instruments on an SDK MeterProvider whose reader is the
// exporter, which the native collector reproduces. The series are the
// same (a test renders one scenario both ways and compares the pages), but
// the SDK aggregates every series and the exporter then rebuilds each as a
// client_golang metric, so a page of thousands of breakers takes two to
// three times as long, and every call records on the SDK's histogram,
// which costs about twice the native one. Use it to compare the two, or to
// serve exactly what the exporter renders.
func WithOTelExporter() Option {
	return optionFunc(func(c *config) { c.otelExporter = true })
}

// WithReader also exports the telemetry package's instruments through r,
// an OpenTelemetry SDK reader: for example a PeriodicReader around an OTLP
// exporter, so that the same metrics reach a Collector as well as the
// /metrics page. The handler adds r to an SDK MeterProvider of its own,
// with the same resource, no cardinality limit, and telemetry attached
// once: span events and logs are written once per event whatever the
// number of readers. [Handler.Shutdown] shuts r down (flushing a
// PeriodicReader). A reader belongs to one MeterProvider: do not give r to
// another. WithReader may be given more than once; a nil r is ignored.
//
// With the native collector the page is still rendered without the SDK;
// the SDK then only serves r, and each call records its duration on both
// (the SDK's histogram and the page's).
func WithReader(r sdkmetric.Reader) Option {
	return optionFunc(func(c *config) {
		if r != nil {
			c.readers = append(c.readers, r)
		}
	})
}

// Handler serves the breakers of a registry, and whatever else its
// client_golang registry holds, on a Prometheus /metrics page. It is an
// http.Handler; create it with [NewHandler] and stop it with
// [Handler.Shutdown]. A Handler is safe for concurrent use.
type Handler struct {
	http     http.Handler
	res      *resource.Resource
	registry *prometheus.Registry
	native   *native                  // nil with WithOTelExporter
	mp       *sdkmetric.MeterProvider // nil without the OTel exporter or a reader
	detach   func()
	stop     func() // the native collector's OnRemove; nil without one
	tel      *telemetry.Telemetry
	retries  retryAttachments // AttachRetry

	syncNative *syncCollector // WithSyncer, native page
	detachSync func()         // WithSyncer, with the SDK

	once sync.Once
	err  error
}

// NewHandler returns a handler for /metrics that serves every breaker of
// reg, breakers created later included, under the names of the telemetry
// package documentation rendered the Prometheus way. It attaches telemetry
// to reg once, which subscribes to reg's bus for durations, transitions,
// span events and logs, and registers a collector on the client_golang
// registry that reads every breaker (with Peek) when the page is scraped: the
// native collector, or with [WithOTelExporter] the OTel Prometheus
// exporter. Nothing runs in the background.
//
// A breaker removed from reg (breaker.Registry.Remove, or idle eviction)
// leaves the page, exactly as follows. Its observed series (state, calls,
// consecutive failures, last state change, forced, shadow mode, the
// ratios and slow calls) are read from reg at each scrape, so they leave
// on every path. Its synchronous series (the call duration histogram and
// the transitions counter) are kept by whatever aggregates them: the
// native collector deletes them, so the page holds nothing of the
// breaker; the OpenTelemetry SDK, which cannot delete a series, keeps
// them at their last values, so with [WithOTelExporter] they stay on the
// page (and the readers of [WithReader] keep exporting them, with either
// collector). A breaker created later under the same name then adds to
// the kept series on the SDK, and starts them again from zero on the
// native page.
//
// The error reports a nil registry, a registry that telemetry is already
// attached to (telemetry.ErrAlreadyAttached: a second handler would write
// every span event and log record twice; use one handler, with WithReader
// for other exporters), or a collector that could not register on the
// client_golang registry (one already serving these names). Call Shutdown
// when done.
func NewHandler(reg *breaker.Registry, opts ...Option) (*Handler, error) {
	if reg == nil {
		return nil, errors.New("prom: NewHandler called with a nil registry")
	}
	var cfg config
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if cfg.registry == nil {
		cfg.registry = prometheus.NewRegistry()
	}
	res, err := newResource(cfg.serviceName)
	if err != nil {
		return nil, err
	}
	h := &Handler{registry: cfg.registry, res: res}
	telOpts := []telemetry.Option{telemetry.WithLogger(cfg.logger)}

	var readers []sdkmetric.Reader
	if cfg.otelExporter {
		expOpts := []otelprom.Option{
			otelprom.WithRegisterer(cfg.registry),
			otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		}
		if cfg.noScopeInfo {
			expOpts = append(expOpts, otelprom.WithoutScopeInfo())
		}
		exp, err := otelprom.New(expOpts...)
		if err != nil {
			return nil, err
		}
		readers = append(readers, exp)
	} else {
		h.native, err = newNative(reg, res, !cfg.noScopeInfo)
		if err == nil {
			err = cfg.registry.Register(h.native)
		}
		if err != nil {
			return nil, err
		}
		h.stop = reg.OnRemove(h.native.forget)
		telOpts = append(telOpts, telemetry.WithRecorder(h.native), telemetry.WithMeterProvider(noop.NewMeterProvider()))
	}
	if readers = append(readers, cfg.readers...); len(readers) > 0 {
		mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithCardinalityLimit(0)}
		for _, r := range readers {
			mpOpts = append(mpOpts, sdkmetric.WithReader(r))
		}
		h.mp = sdkmetric.NewMeterProvider(mpOpts...)
		telOpts = append(telOpts, telemetry.WithMeterProvider(h.mp))
	}

	tel, err := telemetry.New(telOpts...)
	if err == nil {
		if h.detach, err = tel.AttachRegistry(reg); err == nil {
			h.tel = tel
			if err = h.addSyncer(&cfg, tel); err == nil {
				h.http = promhttp.HandlerFor(cfg.registry, promhttp.HandlerOpts{
					ErrorHandling:     promhttp.ContinueOnError,
					EnableOpenMetrics: true,
				})
				return h, nil
			}
			h.detach()
		}
	}
	return nil, errors.Join(err, h.release(context.Background()))
}

// newResource is the SDK's default resource (the environment's
// OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, the SDK's name and
// version) over a service.instance.id of the process's own, with
// service.name set to serviceName unless it is empty. The environment is
// read again: resource.Default reads it once per process.
func newResource(serviceName string) (*resource.Resource, error) {
	res, err := resource.Merge(
		resource.NewSchemaless(attribute.String(keyInstanceID, instanceID())),
		resource.Default(),
	)
	if err == nil {
		res, err = resource.Merge(res, resource.Environment())
	}
	if err != nil || serviceName == "" {
		return res, err
	}
	return resource.Merge(res, resource.NewSchemaless(attribute.String("service.name", serviceName)))
}

// keyInstanceID is the resource attribute that tells replicas apart.
const keyInstanceID = "service.instance.id"

// instanceID is the process's default service.instance.id: a random
// (version 4) UUID, made once, as the semantic conventions recommend and
// as the SDK's own detector does while it is experimental.
var instanceID = sync.OnceValue(uuid.NewString)

// Resource returns the handler's OpenTelemetry resource: the one
// target_info describes and the readers of [WithReader] export with. It is
// the SDK's default resource (service.name from OTEL_SERVICE_NAME, or
// [WithServiceName]; the SDK's name, language and version; whatever
// OTEL_RESOURCE_ATTRIBUTES says), plus a service.instance.id unique to the
// process: a random UUID, made once per process and shared by its
// handlers, unless OTEL_RESOURCE_ATTRIBUTES sets one. A Collector's
// Prometheus exporter derives the instance label from it, so replicas
// that push to one Collector stay apart. Give a TracerProvider the same
// resource so that traces and metrics name the same instance.
func (h *Handler) Resource() *resource.Resource { return h.res }

// ServeHTTP renders the page: the text format Prometheus scrapes by
// default, or OpenMetrics (with exemplars that link duration samples to
// traces) when the scraper asks for it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.http.ServeHTTP(w, r) }

// Shutdown detaches from the registry, removes the native collector from
// the client_golang registry and shuts the MeterProvider down, if there is
// one (with [WithOTelExporter] or [WithReader]), which shuts its readers
// down. Afterwards the page no longer shows the breakers; other collectors
// of the client_golang registry are still served. With [WithOTelExporter]
// and [WithRegistry], the exporter's (then empty) collector stays
// registered, because client_golang cannot unregister it. Calling Shutdown
// again returns the first result.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.once.Do(func() {
		h.retries.detachAll()
		h.detach()
		h.err = h.release(ctx)
	})
	return h.err
}

// release undoes what NewHandler set up, but the registry's attachment.
func (h *Handler) release(ctx context.Context) error {
	if h.stop != nil {
		h.stop()
	}
	if h.native != nil {
		h.registry.Unregister(h.native)
	}
	if h.syncNative != nil {
		h.registry.Unregister(h.syncNative)
	}
	if h.detachSync != nil {
		h.detachSync()
	}
	if h.mp != nil {
		return h.mp.Shutdown(ctx)
	}
	return nil
}
