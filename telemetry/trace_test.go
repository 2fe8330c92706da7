package telemetry_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/fusebox-go/fusebox/breaker"
)

// spanEvent is a span event reduced to what the tests compare.
type spanEvent struct {
	Name  string
	Attrs map[attribute.Key]attribute.Value
}

func spanEvents(s sdktrace.ReadOnlySpan) []spanEvent {
	var out []spanEvent
	for _, e := range s.Events() {
		attrs := map[attribute.Key]attribute.Value{}
		for _, kv := range e.Attributes {
			attrs[kv.Key] = kv.Value
		}
		out = append(out, spanEvent{Name: e.Name, Attrs: attrs})
	}
	return out
}

func stateChange(from, to, reason string, failures int) spanEvent {
	return spanEvent{Name: "circuit_breaker.state_change", Attrs: map[attribute.Key]attribute.Value{
		"circuit_breaker.name":                 attribute.StringValue("model_server"),
		"circuit_breaker.from_state":           attribute.StringValue(from),
		"circuit_breaker.to_state":             attribute.StringValue(to),
		"circuit_breaker.reason":               attribute.StringValue(reason),
		"circuit_breaker.consecutive_failures": attribute.IntValue(failures),
	}}
}

func rejected(state string) spanEvent {
	return spanEvent{Name: "circuit_breaker.rejected", Attrs: map[attribute.Key]attribute.Value{
		"circuit_breaker.name":  attribute.StringValue("model_server"),
		"circuit_breaker.state": attribute.StringValue(state),
	}}
}

// Span events land on the caller's span, and only when a call rejected or
// changed state: successes, failures and ignored calls add nothing.
func TestSpanEventsOnCallerSpan(t *testing.T) {
	e := newEnv(t)
	b := e.get(t, "model_server")
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })

	ctx, span := tp.Tracer("test").Start(context.Background(), "checkout")
	runScenario(t, ctx, e.clock, b)
	span.End()

	spans := rec.Ended()
	require.Len(t, spans, 1, "no span of its own")
	assert.Equal(t, "checkout", spans[0].Name())
	opened := stateChange("closed", "open", "failure_threshold", 2)
	opened.Attrs["error.type"] = attribute.StringValue("*errors.errorString")
	opened.Attrs["error.message"] = attribute.StringValue(errBoom.Error())
	assert.Equal(t, []spanEvent{
		opened,
		rejected("open"),
		rejected("open"),
		rejected("open"),
		stateChange("open", "half_open", "recovery_timeout", 2),
		stateChange("half_open", "closed", "trials_succeeded", 0),
	}, spanEvents(spans[0]))
}

func TestSpanEventRejectedHalfOpen(t *testing.T) {
	e := newEnv(t)
	b := e.get(t, "model_server")
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })

	require.ErrorIs(t, call(context.Background(), e.clock, b, 0, errBoom), errBoom)
	require.ErrorIs(t, call(context.Background(), e.clock, b, 0, errBoom), errBoom)
	e.clock.Advance(30 * time.Second)

	// One trial slot: while the trial runs, another call is rejected.
	ctx, span := tp.Tracer("test").Start(context.Background(), "probe")
	require.NoError(t, b.Execute(context.Background(), func(context.Context) error {
		assert.ErrorIs(t, call(ctx, e.clock, b, 0, nil), breaker.ErrOpen)
		return nil
	}))
	span.End()
	require.Len(t, rec.Ended(), 1)
	assert.Equal(t, []spanEvent{rejected("half_open")}, spanEvents(rec.Ended()[0]))
}

// spySpan is a span that reports whether it is recording and counts the
// events added to it anyway.
type spySpan struct {
	noop.Span
	recording bool
	added     int
}

func (s *spySpan) IsRecording() bool { return s.recording }

func (s *spySpan) AddEvent(string, ...trace.EventOption) { s.added++ }

func TestNoSpanEventsOnNonRecordingSpan(t *testing.T) {
	e := newEnv(t)
	b := e.get(t, "model_server")
	spy := &spySpan{}
	runScenario(t, trace.ContextWithSpan(context.Background(), spy), e.clock, b)
	assert.Zero(t, spy.added)

	// The same spy, recording, receives the six events.
	e2 := newEnv(t)
	spy.recording = true
	runScenario(t, trace.ContextWithSpan(context.Background(), spy), e2.clock, e2.get(t, "model_server"))
	assert.Equal(t, 6, spy.added)
}
