package prom

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/telemetry"
)

// Option configures [NewHandler].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	registry    *prometheus.Registry
	serviceName string
	logger      *slog.Logger
	noScopeInfo bool
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
// "unknown_service:<executable name>".
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
// the page and the time to render it for a registry of thousands of
// breakers, but dashboards can no longer tell fusebox's series from others
// of the same name.
func WithoutScopeInfo() Option {
	return optionFunc(func(c *config) { c.noScopeInfo = true })
}

// Handler serves the breakers of a registry, and whatever else its
// client_golang registry holds, on a Prometheus /metrics page. It is an
// http.Handler; create it with [NewHandler] and stop it with
// [Handler.Shutdown]. A Handler is safe for concurrent use.
type Handler struct {
	http   http.Handler
	mp     *sdkmetric.MeterProvider
	detach func()

	once sync.Once
	err  error
}

// NewHandler returns a handler for /metrics that serves every breaker of
// reg, breakers created later included, under the names of the telemetry
// package documentation. It builds an OpenTelemetry SDK MeterProvider whose
// only reader is the OTel Prometheus exporter, with the translation
// strategy pinned to UnderscoreEscapingWithSuffixes and no cardinality
// limit (the registry's own limit bounds the series), and attaches
// telemetry to reg. The page is rendered at scrape time; nothing runs in
// the background.
//
// The error reports a nil registry or an exporter that could not register
// on the client_golang registry. Call Shutdown when done.
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
	res := resource.Default()
	if cfg.serviceName != "" {
		res, err = resource.Merge(res, resource.NewSchemaless(attribute.String("service.name", cfg.serviceName)))
		if err != nil {
			return nil, err
		}
	}
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(exp),
		sdkmetric.WithResource(res),
		sdkmetric.WithCardinalityLimit(0),
	)
	tel, err := telemetry.New(telemetry.WithMeterProvider(mp), telemetry.WithLogger(cfg.logger))
	if err == nil {
		var detach func()
		if detach, err = tel.AttachRegistry(reg); err == nil {
			return &Handler{
				http: promhttp.HandlerFor(cfg.registry, promhttp.HandlerOpts{
					ErrorHandling:     promhttp.ContinueOnError,
					EnableOpenMetrics: true,
				}),
				mp:     mp,
				detach: detach,
			}, nil
		}
	}
	return nil, errors.Join(err, mp.Shutdown(context.Background()))
}

// ServeHTTP renders the page: the text format Prometheus scrapes by
// default, or OpenMetrics (with exemplars that link duration samples to
// traces) when the scraper asks for it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.http.ServeHTTP(w, r) }

// Shutdown detaches from the registry and shuts the MeterProvider down.
// Afterwards the page no longer shows the breakers; other collectors of the
// client_golang registry are still served. With [WithRegistry], the
// exporter's (then empty) collector stays registered, because client_golang
// cannot unregister it. Calling Shutdown again returns the first result.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.once.Do(func() {
		h.detach()
		h.err = h.mp.Shutdown(ctx)
	})
	return h.err
}
