//go:build !race

package telemetry_test

import (
	"context"
	"log/slog"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/telemetry"
)

// Recording a call allocates nothing: not for a breaker attached alone, not
// for one found in an attached registry, with an SDK and a recording span.
// (The race detector allocates, hence the build tag.)
func TestCallPathAllocatesNothing(t *testing.T) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() {
		require.NoError(t, tp.Shutdown(context.Background()))
		require.NoError(t, mp.Shutdown(context.Background()))
	})
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	defer span.End()
	tel, err := telemetry.New(telemetry.WithMeterProvider(mp), telemetry.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)

	reg := breaker.NewRegistry(breaker.WithFailureThreshold(math.MaxInt32))
	inReg, err := reg.Get("in_registry")
	require.NoError(t, err)
	detach, err := tel.AttachRegistry(reg)
	require.NoError(t, err)
	defer detach()
	alone, err := breaker.New("alone", breaker.WithFailureThreshold(math.MaxInt32))
	require.NoError(t, err)
	detach2, err := tel.AttachBreaker(alone)
	require.NoError(t, err)
	defer detach2()

	for _, b := range []*breaker.Breaker{inReg, alone} {
		_ = b.Execute(ctx, succeed) // first series creation may allocate
		_ = b.Execute(ctx, func(context.Context) error { return errBoom })
		assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = b.Execute(ctx, succeed) }), "success %s", b.Name())
		assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = b.Execute(ctx, func(context.Context) error { return errBoom }) }), "failure %s", b.Name())
	}

	// A rejection with no span and DEBUG off allocates nothing either.
	alone.ForceOpen()
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = alone.Execute(context.Background(), succeed) }), "rejection")
}
