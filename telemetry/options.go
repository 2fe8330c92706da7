package telemetry

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// defaultRejectionLogInterval is how often, at most, a breaker's rejected
// calls are logged unless WithRejectionLogInterval says otherwise.
const defaultRejectionLogInterval = 10 * time.Second

// Option configures [New].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	meterProvider metric.MeterProvider
	logger        *slog.Logger // nil: slog.Default() at emit time
	rejectEvery   time.Duration
	recorder      Recorder // nil: none
}

func newConfig(opts []Option) config {
	c := config{rejectEvery: defaultRejectionLogInterval}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if c.meterProvider == nil {
		c.meterProvider = otel.GetMeterProvider()
	}
	return c
}

// WithMeterProvider sets the MeterProvider the instruments are created
// from. The default, and what a nil mp means, is the global provider
// (otel.GetMeterProvider at the time of [New]; the global provider forwards
// to one installed later with otel.SetMeterProvider). See "Bring your own
// MeterProvider" in the package documentation for the settings it needs.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.meterProvider = mp })
}

// WithLogger sets the logger that state changes and rejections are written
// to. The default, and what a nil logger means, is slog.Default(), looked up
// each time a record is written so that a later slog.SetDefault takes
// effect. To turn logging off, pass slog.New(slog.DiscardHandler).
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// WithRejectionLogInterval sets how often, at most, each breaker's rejected
// calls are logged: one DEBUG record per breaker per interval, carrying how
// many rejections were not logged since the previous one. The interval is
// measured on the breaker's own clock (breaker.WithClock; the system
// clock by default), read only when DEBUG is enabled, so that a test's
// manual clock drives it too. The default is 10s; zero or a negative d logs
// every rejection.
func WithRejectionLogInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.rejectEvery = max(d, 0) })
}
