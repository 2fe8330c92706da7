package grpcbreaker_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
)

// Many goroutines make unary calls and streams with mixed outcomes through
// a client and a server breaker that open, probe and close meanwhile.
// Every call is counted exactly once on each side that saw it; with -race
// this also checks the interceptors' synchronisation.
func TestConcurrentCalls(t *testing.T) {
	const (
		workers = 8
		calls   = 150
		streams = 20
	)
	cclock, sclock := breakertest.NewClock(t0), breakertest.NewClock(t0)
	creg := newRegistry(cclock, 5, breaker.WithHalfOpenMaxCalls(3), breaker.WithHalfOpenMaxWait(time.Minute))
	sreg := newRegistry(sclock, 3, breaker.WithHalfOpenMaxCalls(2))
	e := newEnv(t, setup{client: creg, server: sreg})
	cycle := []codes.Code{codes.OK, codes.Unavailable, codes.NotFound, codes.Internal, codes.OK, codes.Canceled, codes.ResourceExhausted, codes.OK}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				if w == 0 && i%10 == 0 {
					cclock.Advance(10 * time.Second)
					sclock.Advance(10 * time.Second)
				}
				ctx := context.Background()
				if (w+i)%13 == 0 {
					ctx = cancelled // not sent: ignored by the client
				}
				code := cycle[(w+i)%len(cycle)]
				_, err := e.client.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(code)}})
				if err != nil {
					assert.Contains(t, []codes.Code{code, codes.Unavailable, codes.Canceled}, status.Code(err))
				}
			}
		})
	}
	for w := range streams {
		wg.Go(func() {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stream, err := e.client.FullDuplexCall(ctx)
			if err != nil {
				return // rejected
			}
			if stream.Send(&testgrpc.StreamingOutputCallRequest{}) != nil {
				return
			}
			if _, err := stream.Recv(); err != nil {
				return // rejected by the server: its status ended the stream
			}
			if w%2 == 0 {
				cancel() // abandoned
				return
			}
			_ = stream.CloseSend()
			for {
				if _, err := stream.Recv(); err == io.EOF || err != nil {
					return
				}
			}
		})
	}
	wg.Wait()

	c := stats(t, creg, bufTarget)
	assert.Equal(t, uint64(workers*calls+streams), c.TotalCalls, "client: %v", countsOf(c))
	assert.Equal(t, c.TotalCalls, c.TotalSuccesses+c.TotalFailures+c.TotalIgnored+c.TotalRejected)
	assert.NotZero(t, c.TotalRejected, "the client breaker opened")

	// Every call that reached the server has ended there once it stops:
	// the abandoned streams end after their clients have gone.
	e.stop()
	s := stats(t, sreg, service)
	require.Equal(t, uint64(len(e.served)), s.TotalCalls, "server: %v", countsOf(s))
	assert.NotZero(t, s.TotalRejected, "the server breaker opened")
	assert.Equal(t, uint64(e.svc.calls.Load()), s.TotalSuccesses+s.TotalFailures+s.TotalIgnored, "every admitted call ran its handler once")
}
