package grpcbreaker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/grpcbreaker"
)

// A half-open trial must tell what runs below the interceptor that it is
// one, as breaker.Execute tells its function: a handler or a retry
// interceptor that calls through a retry.Policy then makes one attempt
// instead of holding the trial slot through backoff waits while every
// other call is rejected.
func TestUnaryInterceptorsPassTheTrialDown(t *testing.T) {
	unavailable := status.Error(codes.Unavailable, "down")
	t.Run("server", func(t *testing.T) {
		clock := breakertest.NewClock(t0)
		reg := newRegistry(clock, 1)
		in := grpcbreaker.UnaryServerInterceptor(reg)
		info := &grpc.UnaryServerInfo{FullMethod: "/" + service + "/EmptyCall"}
		var trial []bool
		handler := func(ctx context.Context, _ any) (any, error) {
			trial = append(trial, breaker.IsTrial(ctx))
			return nil, unavailable
		}
		_, _ = in(context.Background(), nil, info, handler)
		clock.Advance(30 * time.Second)
		_, _ = in(context.Background(), nil, info, handler)
		assert.Equal(t, []bool{false, true}, trial)
		require.Equal(t, breaker.Open, stats(t, reg, service).State)
	})
	t.Run("client", func(t *testing.T) {
		clock := breakertest.NewClock(t0)
		reg := newRegistry(clock, 1)
		in := grpcbreaker.UnaryClientInterceptor(reg, grpcbreaker.WithNamer(func(string, string) string { return "api" }))
		var trial []bool
		invoker := func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
			trial = append(trial, breaker.IsTrial(ctx))
			return unavailable
		}
		_ = in(context.Background(), "/"+service+"/EmptyCall", nil, nil, nil, invoker)
		clock.Advance(30 * time.Second)
		_ = in(context.Background(), "/"+service+"/EmptyCall", nil, nil, nil, invoker)
		assert.Equal(t, []bool{false, true}, trial)
		require.Equal(t, breaker.Open, stats(t, reg, "api").State)
	})
}

func TestStreamInterceptorsPassTheTrialDown(t *testing.T) {
	unavailable := status.Error(codes.Unavailable, "down")
	t.Run("server", func(t *testing.T) {
		clock := breakertest.NewClock(t0)
		reg := newRegistry(clock, 1)
		in := grpcbreaker.StreamServerInterceptor(reg)
		info := &grpc.StreamServerInfo{FullMethod: "/" + service + "/FullDuplexCall"}
		var trial []bool
		handler := func(_ any, ss grpc.ServerStream) error {
			trial = append(trial, breaker.IsTrial(ss.Context()))
			return unavailable
		}
		_ = in(nil, ctxStream{ctx: context.Background()}, info, handler)
		clock.Advance(30 * time.Second)
		_ = in(nil, ctxStream{ctx: context.Background()}, info, handler)
		assert.Equal(t, []bool{false, true}, trial)
		require.Equal(t, breaker.Open, stats(t, reg, service).State)
	})
	t.Run("client", func(t *testing.T) {
		clock := breakertest.NewClock(t0)
		reg := newRegistry(clock, 1)
		in := grpcbreaker.StreamClientInterceptor(reg, grpcbreaker.WithNamer(func(string, string) string { return "api" }))
		var trial []bool
		streamer := func(ctx context.Context, _ *grpc.StreamDesc, _ *grpc.ClientConn, _ string, _ ...grpc.CallOption) (grpc.ClientStream, error) {
			trial = append(trial, breaker.IsTrial(ctx))
			return nil, unavailable
		}
		desc := &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}
		_, _ = in(context.Background(), desc, nil, "/"+service+"/FullDuplexCall", streamer)
		clock.Advance(30 * time.Second)
		_, _ = in(context.Background(), desc, nil, "/"+service+"/FullDuplexCall", streamer)
		assert.Equal(t, []bool{false, true}, trial)
		require.Equal(t, breaker.Open, stats(t, reg, "api").State)
	})
}

// ctxStream is a server stream that has only a context.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s ctxStream) Context() context.Context { return s.ctx }
