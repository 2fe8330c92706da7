package grpcbreaker_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/metric/noop"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/telemetry"
)

// With otelgrpc's stats handlers installed, a server breaker's span events
// land on otelgrpc's server span, which exists before any interceptor
// runs; a client breaker's land on the caller's span, because otelgrpc
// starts the client span below the interceptors, once per attempt, and a
// rejected call makes no attempt.
func TestSpanEventsWithOtelgrpc(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	serverEnded := &serverSpans{ended: make(chan struct{}, 8)}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr), sdktrace.WithSpanProcessor(serverEnded))
	t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })
	tel, err := telemetry.New(
		telemetry.WithMeterProvider(noop.NewMeterProvider()),
		telemetry.WithLogger(slog.New(slog.DiscardHandler)),
	)
	require.NoError(t, err)
	creg := newRegistry(breakertest.NewClock(t0), 2)
	sreg := newRegistry(breakertest.NewClock(t0), 1)
	detachC, err := tel.AttachRegistry(creg)
	require.NoError(t, err)
	defer detachC()
	detachS, err := tel.AttachRegistry(sreg)
	require.NoError(t, err)
	defer detachS()

	e := newEnv(t, setup{
		client: creg, server: sreg,
		dial:  []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tp)))},
		serve: []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tp)))},
	})
	e.svc.set(behaviour{err: errorOf(codes.Internal)})
	tracer := tp.Tracer("test")
	call := func(name string) codes.Code {
		ctx, span := tracer.Start(context.Background(), name)
		defer span.End()
		return status.Code(e.unary(ctx))
	}

	// 1: the handler fails; the server breaker opens, the client counts one failure.
	require.Equal(t, codes.Internal, call("call-1"))
	// 2: the server breaker rejects; the client breaker opens.
	require.Equal(t, codes.Unavailable, call("call-2"))
	// 3: the client breaker rejects; no RPC is made.
	require.Equal(t, codes.Unavailable, call("call-3"))
	for range 2 { // otelgrpc ends a server span after the client has its status
		<-serverEnded.ended
	}

	var callers, clients, servers []sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		switch s.SpanKind() {
		case trace.SpanKindClient:
			clients = append(clients, s)
		case trace.SpanKindServer:
			servers = append(servers, s)
		default:
			callers = append(callers, s)
		}
	}
	require.Len(t, callers, 3)
	require.Len(t, clients, 2, "a call the client breaker rejects makes no RPC span")
	require.Len(t, servers, 2)
	slices.SortFunc(servers, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range callers {
		byName[s.Name()] = s
	}

	for _, s := range servers {
		assert.Equal(t, "grpc.testing.TestService/UnaryCall", s.Name())
	}
	assert.Equal(t, []event{{"circuit_breaker.state_change", map[string]string{
		"circuit_breaker.name": service, "circuit_breaker.from_state": "closed", "circuit_breaker.to_state": "open",
		"circuit_breaker.reason": "failure_threshold", "circuit_breaker.consecutive_failures": "1",
		"error.type": "*status.Error", "error.message": "rpc error: code = Internal desc = test: Internal",
	}}}, eventsOf(servers[0]), "the failure that opened the server breaker: the breaker sees the status error")
	assert.Equal(t, []event{{"circuit_breaker.rejected", map[string]string{
		"circuit_breaker.name": service, "circuit_breaker.state": "open",
	}}}, eventsOf(servers[1]), "the server breaker's rejection")

	for _, s := range clients {
		assert.Empty(t, eventsOf(s), "the client span starts below the interceptor")
	}
	assert.Empty(t, eventsOf(byName["call-1"]))
	assert.Equal(t, []event{{"circuit_breaker.state_change", map[string]string{
		"circuit_breaker.name": bufTarget, "circuit_breaker.from_state": "closed", "circuit_breaker.to_state": "open",
		"circuit_breaker.reason": "failure_threshold", "circuit_breaker.consecutive_failures": "2",
		"error.type": "*status.Error", "error.message": `rpc error: code = Unavailable desc = breaker: circuit "grpc.testing.TestService" is open`,
	}}}, eventsOf(byName["call-2"]), "the failure that opened the client breaker: the server's rejection")
	assert.Equal(t, []event{{"circuit_breaker.rejected", map[string]string{
		"circuit_breaker.name": bufTarget, "circuit_breaker.state": "open",
	}}}, eventsOf(byName["call-3"]), "the client breaker's rejection")
}

// serverSpans signals each server span that ends.
type serverSpans struct {
	sdktrace.SpanProcessor // nil: only OnEnd is called
	ended                  chan struct{}
}

func (p *serverSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (p *serverSpans) Shutdown(context.Context) error                  { return nil }
func (p *serverSpans) ForceFlush(context.Context) error                { return nil }
func (p *serverSpans) OnEnd(s sdktrace.ReadOnlySpan) {
	if s.SpanKind() == trace.SpanKindServer {
		p.ended <- struct{}{}
	}
}

// event is a span event's name and attributes, as strings.
type event struct {
	Name  string
	Attrs map[string]string
}

// eventsOf returns the circuit_breaker events of s.
func eventsOf(s sdktrace.ReadOnlySpan) []event {
	var out []event
	for _, e := range s.Events() {
		if len(e.Name) < 16 || e.Name[:16] != "circuit_breaker." {
			continue
		}
		attrs := map[string]string{}
		for _, kv := range e.Attributes {
			attrs[string(kv.Key)] = kv.Value.String()
		}
		out = append(out, event{e.Name, attrs})
	}
	return out
}
