//go:build !race

package prom_test

import (
	"context"
	"log/slog"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/telemetry/prom"
)

// With the native collector, a call allocates nothing, with or without a
// sampled span: a bucket takes a new exemplar (which allocates) at most once
// between two scrapes. (The race detector allocates, hence the build tag.)
func TestNativeCallPathAllocatesNothing(t *testing.T) {
	reg := breaker.NewRegistry(breaker.WithFailureThreshold(math.MaxInt32))
	h, err := prom.NewHandler(reg, prom.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, h.Shutdown(context.Background())) })
	b, err := reg.Get("db")
	require.NoError(t, err)
	succeed := func(context.Context) error { return nil }
	fail := func(context.Context) error { return errBoom }

	for _, ctx := range []context.Context{context.Background(), sampled} {
		assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = b.Execute(ctx, succeed) }), "success")
		assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = b.Execute(ctx, fail) }), "failure")
	}
	b.ForceOpen()
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = b.Execute(context.Background(), succeed) }), "rejection")
}
