package bench

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/failsafegrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/grpcbreaker"
)

// The cases: an op (a success through a closed breaker, or a rejection by
// an open one) and a lib (none: no interceptor; noop: an interceptor that
// only calls on, which is what gRPC's interceptor plumbing costs; fusebox:
// grpcbreaker; failsafegrpc: failsafe-go's interceptor around its circuit
// breaker with default settings but a one-minute delay).
var (
	ops  = []string{"success", "rejection"}
	libs = []string{"none", "noop", "fusebox", "failsafegrpc"}
)

// noopClient and noopServer are the interceptors of lib=noop.
func noopClient(ctx context.Context, m string, req, reply any, cc *grpc.ClientConn, inv grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return inv(ctx, m, req, reply, cc, opts...)
}

func noopServer(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	return h(ctx, req)
}

const (
	target  = "passthrough:///bench"
	service = "grpc.testing.TestService"
	method  = "/grpc.testing.TestService/EmptyCall"
)

// clientInterceptor returns lib's unary client interceptor, its breaker
// opened when op is a rejection, and a check of a rejected call's error.
func clientInterceptor(b *testing.B, lib, op string) (grpc.UnaryClientInterceptor, func(error) bool) {
	switch lib {
	case "fusebox":
		reg := breaker.NewRegistry(breaker.WithRecoveryTimeout(time.Hour))
		if op == "rejection" {
			br, err := reg.Get(target)
			if err != nil {
				b.Fatal(err)
			}
			br.ForceOpen()
		}
		return grpcbreaker.UnaryClientInterceptor(reg), func(err error) bool {
			return errors.Is(err, breaker.ErrOpen) && status.Code(err) == codes.Unavailable
		}
	case "failsafegrpc":
		cb := circuitbreaker.NewBuilder[any]().WithDelay(time.Minute).Build()
		if op == "rejection" {
			cb.Open()
		}
		return failsafegrpc.NewUnaryClientInterceptor[any](cb), func(err error) bool {
			return errors.Is(err, circuitbreaker.ErrOpen)
		}
	case "noop":
		return noopClient, nil
	}
	return nil, nil
}

// serverInterceptor is clientInterceptor's server side; the client sees
// a rejection as an error with code (Unavailable for fusebox; failsafe-go
// returns its own error, which gRPC sends as Unknown).
func serverInterceptor(b *testing.B, lib, op string) (grpc.UnaryServerInterceptor, codes.Code) {
	switch lib {
	case "fusebox":
		reg := breaker.NewRegistry(breaker.WithRecoveryTimeout(time.Hour))
		if op == "rejection" {
			br, err := reg.Get(service)
			if err != nil {
				b.Fatal(err)
			}
			br.ForceOpen()
		}
		return grpcbreaker.UnaryServerInterceptor(reg), codes.Unavailable
	case "failsafegrpc":
		cb := circuitbreaker.NewBuilder[any]().WithDelay(time.Minute).Build()
		if op == "rejection" {
			cb.Open()
		}
		return failsafegrpc.NewUnaryServerInterceptor[any](cb), codes.Unknown
	case "noop":
		return noopServer, codes.OK
	}
	return nil, codes.OK
}

//go:noinline
func invoke(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
	return nil
}

// BenchmarkClientInterceptor is the interceptor alone: one call of it
// with an invoker that returns nil at once, which is exactly what it adds
// to a call; lib=noop is the floor.
func BenchmarkClientInterceptor(b *testing.B) {
	cc, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	ctx := context.Background()
	for _, op := range ops {
		for _, lib := range libs[1:] {
			if lib == "noop" && op == "rejection" {
				continue
			}
			b.Run("op="+op+"/lib="+lib, func(b *testing.B) {
				ic, isRejection := clientInterceptor(b, lib, op)
				b.ReportAllocs()
				for b.Loop() {
					err := ic(ctx, method, nil, nil, cc, invoke)
					if op == "success" && err != nil || op == "rejection" && !isRejection(err) {
						b.Fatalf("%s: %v", op, err)
					}
				}
			})
		}
	}
}

// BenchmarkClientBufconn is one EmptyCall over an in-memory connection,
// with lib's client interceptor (lib=none: without one).
func BenchmarkClientBufconn(b *testing.B) {
	for _, op := range ops {
		for _, lib := range libs {
			if (lib == "none" || lib == "noop") && op == "rejection" {
				continue
			}
			b.Run("op="+op+"/lib="+lib, func(b *testing.B) {
				ic, isRejection := clientInterceptor(b, lib, op)
				var dial []grpc.DialOption
				if ic != nil {
					dial = append(dial, grpc.WithUnaryInterceptor(ic))
				}
				client := start(b, dial, nil)
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					_, err := client.EmptyCall(ctx, &testgrpc.Empty{})
					if op == "success" && err != nil || op == "rejection" && !isRejection(err) {
						b.Fatalf("%s: %v", op, err)
					}
				}
			})
		}
	}
}

// BenchmarkServerBufconn is one EmptyCall over an in-memory connection,
// with lib's server interceptor; a rejection reaches the client as a
// status.
func BenchmarkServerBufconn(b *testing.B) {
	for _, op := range ops {
		for _, lib := range libs {
			if (lib == "none" || lib == "noop") && op == "rejection" {
				continue
			}
			b.Run("op="+op+"/lib="+lib, func(b *testing.B) {
				ic, code := serverInterceptor(b, lib, op)
				var serve []grpc.ServerOption
				if ic != nil {
					serve = append(serve, grpc.UnaryInterceptor(ic))
				}
				client := start(b, nil, serve)
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					_, err := client.EmptyCall(ctx, &testgrpc.Empty{})
					if op == "success" && err != nil || op == "rejection" && status.Code(err) != code {
						b.Fatalf("%s: %v", op, err)
					}
				}
			})
		}
	}
}

// server answers EmptyCall.
type server struct {
	testgrpc.UnimplementedTestServiceServer
}

func (server) EmptyCall(context.Context, *testgrpc.Empty) (*testgrpc.Empty, error) {
	return &testgrpc.Empty{}, nil
}

// start serves the test service over bufconn and returns a client of it;
// both stop when the benchmark ends.
func start(b *testing.B, dial []grpc.DialOption, serve []grpc.ServerOption) testgrpc.TestServiceClient {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(serve...)
	testgrpc.RegisterTestServiceServer(srv, server{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	cc, err := grpc.NewClient(target, append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
	}, dial...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cc.Close()
		srv.Stop()
		<-done
	})
	client := testgrpc.NewTestServiceClient(cc)
	if _, err := client.EmptyCall(context.Background(), &testgrpc.Empty{}); err != nil && len(serve) == 0 && len(dial) == 0 {
		b.Fatal(err) // warm the connection up
	}
	return client
}
