package grpcbreaker_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/fusebox-go/fusebox/breaker/breakertest"
)

// tcpListen listens on a loopback port; the client dials its address.
func tcpListen(t testing.TB) func() (net.Listener, func(context.Context, string) (net.Conn, error), string) {
	return func() (net.Listener, func(context.Context, string) (net.Conn, error), string) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		return lis, nil, lis.Addr().String()
	}
}

// Over a real loopback connection, gRPC's own retry policy honours the
// server breaker's pushback: its configured backoff (100s) would outlast
// the call's deadline, the 1ms pushback does not. The client breaker sees
// one call, after gRPC's retries.
func TestLoopbackRetryPolicyHonoursPushback(t *testing.T) {
	const serviceConfig = `{"methodConfig": [{
		"name": [{"service": "grpc.testing.TestService"}],
		"retryPolicy": {
			"maxAttempts": 3,
			"initialBackoff": "100s",
			"maxBackoff": "100s",
			"backoffMultiplier": 1,
			"retryableStatusCodes": ["UNAVAILABLE"]
		}
	}]}`
	clock := breakertest.NewClock(t0)
	sreg := newRegistry(clock, 1)
	creg := newRegistry(breakertest.NewClock(t0), 10)
	e := newEnv(t, setup{
		client: creg, server: sreg,
		dial:   []grpc.DialOption{grpc.WithDefaultServiceConfig(serviceConfig)},
		listen: tcpListen(t),
	})
	target := e.cc.Target()
	require.Contains(t, target, "127.0.0.1:")

	require.NoError(t, e.unary(context.Background()))
	e.svc.set(behaviour{err: errorOf(codes.Internal)}) // not retryable: one attempt
	require.Equal(t, codes.Internal, status.Code(e.unary(context.Background())))
	e.waitServed(t, 2)
	clock.Advance(30*time.Second - time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var trailer metadata.MD
	err := e.unary(ctx, grpc.Trailer(&trailer))
	e.waitServed(t, 3)

	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Equal(t, []string{"1"}, trailer["grpc-retry-pushback-ms"])
	assert.Equal(t, counts{Success: 1, Failure: 1, Rejected: 3}, countsOf(stats(t, sreg, service)), "three attempts")
	assert.Equal(t, counts{Success: 1, Failure: 2}, countsOf(stats(t, creg, target)), "one call")
	assert.Equal(t, int64(2), e.svc.calls.Load())
}
