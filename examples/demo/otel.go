package main

import (
	"context"
	"errors"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

const (
	tracerName  = "github.com/fusebox-go/fusebox/examples/demo"
	serviceName = "fusebox-demo"
)

// otlpConfigured reports whether the standard OpenTelemetry environment asks
// for OTLP export.
func otlpConfigured() bool {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"} {
		if os.Getenv(k) != "" {
			return true
		}
	}
	return false
}

// setupTracing installs an OTLP/HTTP trace pipeline with resource res
// when the environment asks for one, and W3C trace-context propagation
// either way. The exporter reads the standard OTEL_EXPORTER_OTLP_*
// variables. Every call is sampled, so that each duration sample can carry
// its trace as an exemplar. The returned shutdown flushes it.
func setupTracing(ctx context.Context, res *resource.Resource) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	if !otlpConfigured() {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// metricsReader returns an OTLP/HTTP metrics reader when the environment
// asks for OTLP export, else nil. It exports every OTEL_METRIC_EXPORT_INTERVAL
// (default 60s) and reads the standard OTEL_EXPORTER_OTLP_* variables.
func metricsReader(ctx context.Context) (sdkmetric.Reader, error) {
	if !otlpConfigured() {
		return nil, nil
	}
	exp, err := otlpmetrichttp.New(ctx)
	if err != nil {
		return nil, err
	}
	return sdkmetric.NewPeriodicReader(exp), nil
}

// demoServiceName is OTEL_SERVICE_NAME, or fusebox-demo.
func demoServiceName() string {
	if n := os.Getenv("OTEL_SERVICE_NAME"); n != "" {
		return n
	}
	return serviceName
}

// tracedCall runs call in a client span named name, so the breaker's span
// events (rejections, state changes) land on it.
func tracedCall(ctx context.Context, name string, call func(context.Context) error) error {
	ctx, span := otel.Tracer(tracerName).Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	err := call(ctx)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}

// serverSpan continues the caller's trace in a server span around h.
func serverSpan(name string, h func(ctx context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, span := otel.Tracer(tracerName).Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		err := h(ctx)
		if err != nil && !errors.Is(err, context.Canceled) {
			span.SetStatus(codes.Error, err.Error())
		}
		return err
	}
}
