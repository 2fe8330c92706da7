//go:build !race

package grpcbreaker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/grpcbreaker"
)

// The interceptors allocate nothing on a closed breaker's success and
// failure paths, nor for a client rejection. (The race detector
// allocates, hence the build tag.)
func TestInterceptorsAllocateNothing(t *testing.T) {
	cc, err := grpc.NewClient("passthrough:///allocs", grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	reg := newRegistry(breakertest.NewClock(t0), 1<<30)
	unary := grpcbreaker.UnaryClientInterceptor(reg)
	perMethod := grpcbreaker.UnaryClientInterceptor(reg, grpcbreaker.WithPerMethod())
	server := grpcbreaker.UnaryServerInterceptor(reg)
	serverPerMethod := grpcbreaker.UnaryServerInterceptor(reg, grpcbreaker.WithPerMethod())
	info := &grpc.UnaryServerInfo{FullMethod: "/pkg.Svc/Method"}
	unavailable := status.Error(codes.Unavailable, "down")
	notFound := status.Error(codes.NotFound, "no")
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()

	for _, tt := range []struct {
		name string
		err  error
	}{{"success", nil}, {"failure", unavailable}, {"not a failure", notFound}} {
		invoke := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return tt.err }
		handle := func(context.Context, any) (any, error) { return nil, tt.err }
		assert.Zero(t, testing.AllocsPerRun(100, func() { _ = unary(ctx, "/pkg.Svc/Method", nil, nil, cc, invoke) }), "client "+tt.name)
		assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = server(ctx, nil, info, handle) }), "server "+tt.name)
		assert.Zero(t, testing.AllocsPerRun(100, func() { _ = perMethod(ctx, "/pkg.Svc/Method", nil, nil, cc, invoke) }), "client per method "+tt.name)
		assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = serverPerMethod(ctx, nil, info, handle) }), "server per method "+tt.name)
	}

	b, err := reg.Get("passthrough:///allocs")
	require.NoError(t, err)
	b.ForceOpen()
	invoke := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	require.ErrorIs(t, unary(ctx, "/pkg.Svc/Method", nil, nil, cc, invoke), breaker.ErrOpen)
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = unary(ctx, "/pkg.Svc/Method", nil, nil, cc, invoke) }), "client rejection")
}
