package grpcbreaker_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/grpcbreaker"
)

// t0 is the fake clocks' starting time.
var t0 = time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)

// The names of the test service's breakers: the client's target over
// bufconn, and the server's service.
const (
	bufTarget = "passthrough:///bufnet"
	service   = "grpc.testing.TestService"
)

// newRegistry returns a registry on clock whose breakers open after
// threshold failures, wait 30s before probing, and probe with one trial.
func newRegistry(clock *breakertest.Clock, threshold int, opts ...breaker.Option) *breaker.Registry {
	defaults := append([]breaker.Option{
		breaker.WithClock(clock),
		breaker.WithFailureThreshold(threshold),
		breaker.WithRecoveryTimeout(30 * time.Second),
		breaker.WithHalfOpenMaxCalls(1),
	}, opts...)
	return breaker.NewRegistry(defaults...)
}

// stats returns the stats of the registry's breaker name, failing the test
// if there is none.
func stats(t *testing.T, reg *breaker.Registry, name string) breaker.Stats {
	t.Helper()
	b, ok := reg.Lookup(name)
	require.Truef(t, ok, "no breaker %q", name)
	return b.Stats()
}

// outcome is what a breaker made of one call.
type outcome string

const (
	success  outcome = "success"
	failure  outcome = "failure"
	ignored  outcome = "ignored"
	rejected outcome = "rejected"
)

// counts is a breaker's totals by outcome.
type counts struct{ Success, Failure, Ignored, Rejected uint64 }

func countsOf(s breaker.Stats) counts {
	return counts{s.TotalSuccesses, s.TotalFailures, s.TotalIgnored, s.TotalRejected}
}

// one returns the counts of a single call with outcome o.
func one(o outcome) counts {
	switch o {
	case success:
		return counts{Success: 1}
	case failure:
		return counts{Failure: 1}
	case ignored:
		return counts{Ignored: 1}
	}
	return counts{Rejected: 1}
}

// behaviour is what the test service does for one call, after streaming
// whatever the method streams: it returns the error (nil for OK), or
// blocks until the call's context ends when block is set, then returns
// that context's error as the handler of a dependency would.
type behaviour struct {
	err     error
	block   bool
	panicV  any
	early   bool          // a bidi handler behaves at once, before reading
	started chan struct{} // closed, if not nil, when the handler starts
}

// testService implements the interop test service with a behaviour set
// per test. Server-streaming and bidi calls send one message per request
// message before behaving.
type testService struct {
	testgrpc.UnimplementedTestServiceServer
	mu    sync.Mutex
	b     behaviour
	calls atomic.Int64 // handlers started
}

func (s *testService) set(b behaviour) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = b
}

func (s *testService) behave(ctx context.Context) error {
	s.mu.Lock()
	b := s.b
	s.mu.Unlock()
	if b.started != nil {
		close(b.started)
	}
	if b.panicV != nil {
		panic(b.panicV)
	}
	if b.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return b.err
}

func (s *testService) EmptyCall(ctx context.Context, _ *testgrpc.Empty) (*testgrpc.Empty, error) {
	s.calls.Add(1)
	if err := s.behave(ctx); err != nil {
		return nil, err
	}
	return &testgrpc.Empty{}, nil
}

// UnaryCall answers with the request's ResponseStatus when it has one, and
// behaves otherwise.
func (s *testService) UnaryCall(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	s.calls.Add(1)
	if rs := req.GetResponseStatus(); rs != nil {
		if err := errorOf(codes.Code(rs.GetCode())); err != nil {
			return nil, err
		}
		return &testgrpc.SimpleResponse{}, nil
	}
	if err := s.behave(ctx); err != nil {
		return nil, err
	}
	return &testgrpc.SimpleResponse{Payload: req.GetPayload()}, nil
}

// StreamingOutputCall sends one message per response parameter, then
// behaves.
func (s *testService) StreamingOutputCall(req *testgrpc.StreamingOutputCallRequest, ss grpc.ServerStreamingServer[testgrpc.StreamingOutputCallResponse]) error {
	s.calls.Add(1)
	for range req.GetResponseParameters() {
		if err := ss.Send(&testgrpc.StreamingOutputCallResponse{}); err != nil {
			return err
		}
	}
	return s.behave(ss.Context())
}

// StreamingInputCall reads the whole upload, then behaves.
func (s *testService) StreamingInputCall(ss grpc.ClientStreamingServer[testgrpc.StreamingInputCallRequest, testgrpc.StreamingInputCallResponse]) error {
	s.calls.Add(1)
	n := 0
	for {
		_, err := ss.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		n++
	}
	if err := s.behave(ss.Context()); err != nil {
		return err
	}
	return ss.SendAndClose(&testgrpc.StreamingInputCallResponse{AggregatedPayloadSize: int32(n)})
}

// FullDuplexCall echoes each request until the client closes its side,
// then behaves.
func (s *testService) FullDuplexCall(ss grpc.BidiStreamingServer[testgrpc.StreamingOutputCallRequest, testgrpc.StreamingOutputCallResponse]) error {
	s.calls.Add(1)
	s.mu.Lock()
	early := s.b.early
	s.mu.Unlock()
	if early {
		return s.behave(ss.Context())
	}
	for {
		_, err := ss.Recv()
		if err == io.EOF {
			return s.behave(ss.Context())
		}
		if err != nil {
			return err
		}
		if err := ss.Send(&testgrpc.StreamingOutputCallResponse{}); err != nil {
			return err
		}
	}
}

// env is a client and a server of the test service over bufconn.
type env struct {
	svc    *testService
	cc     *grpc.ClientConn
	client testgrpc.TestServiceClient
	// served receives each handled call's method once the server's
	// interceptors are done with it (buffered).
	served chan string
	// panics receives what a handler panicked with (buffered).
	panics chan any
	// stop closes the client and stops the server once its handlers have
	// returned; it runs again, harmlessly, when the test ends.
	stop func()
}

// setup says how to build an env.
type setup struct {
	client    *breaker.Registry // nil: no client interceptors
	clientOpt []grpcbreaker.Option
	server    *breaker.Registry // nil: no server interceptors
	serverOpt []grpcbreaker.Option
	dial      []grpc.DialOption
	serve     []grpc.ServerOption
	listen    func() (net.Listener, func(context.Context, string) (net.Conn, error), string)
}

// newEnv starts a server and connects a client to it; both stop when the
// test ends.
func newEnv(t testing.TB, s setup) *env {
	t.Helper()
	e := &env{svc: &testService{}, served: make(chan string, 1<<14), panics: make(chan any, 16)}

	// Outermost: recover panics (gRPC does not) and report the call.
	unary := []grpc.UnaryServerInterceptor{func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer e.recovered(info.FullMethod, &err)
		return h(ctx, req)
	}}
	stream := []grpc.StreamServerInterceptor{func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
		defer e.recovered(info.FullMethod, &err)
		return h(srv, ss)
	}}
	if s.server != nil {
		unary = append(unary, grpcbreaker.UnaryServerInterceptor(s.server, s.serverOpt...))
		stream = append(stream, grpcbreaker.StreamServerInterceptor(s.server, s.serverOpt...))
	}
	srv := grpc.NewServer(append([]grpc.ServerOption{
		grpc.WaitForHandlers(true),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	}, s.serve...)...)
	testgrpc.RegisterTestServiceServer(srv, e.svc)

	listen := s.listen
	if listen == nil {
		listen = bufListen
	}
	lis, dialer, target := listen()
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()

	dial := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if dialer != nil {
		dial = append(dial, grpc.WithContextDialer(dialer))
	}
	if s.client != nil {
		dial = append(dial,
			grpc.WithChainUnaryInterceptor(grpcbreaker.UnaryClientInterceptor(s.client, s.clientOpt...)),
			grpc.WithChainStreamInterceptor(grpcbreaker.StreamClientInterceptor(s.client, s.clientOpt...)),
		)
	}
	cc, err := grpc.NewClient(target, append(dial, s.dial...)...)
	require.NoError(t, err)
	e.cc = cc
	e.client = testgrpc.NewTestServiceClient(cc)
	e.stop = sync.OnceFunc(func() {
		_ = cc.Close()
		srv.Stop()
		<-served
	})
	t.Cleanup(e.stop)
	return e
}

// bufListen is an in-memory listener, its dialer and the target to dial.
func bufListen() (net.Listener, func(context.Context, string) (net.Conn, error), string) {
	lis := bufconn.Listen(1 << 20)
	return lis, func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }, bufTarget
}

// recovered turns a handler's panic into Internal and reports the call.
func (e *env) recovered(method string, err *error) {
	if v := recover(); v != nil {
		e.panics <- v
		*err = status.Errorf(codes.Internal, "panic: %v", v)
	}
	e.served <- method
}

// waitServed waits until the server has handled n calls.
func (e *env) waitServed(t testing.TB, n int) {
	t.Helper()
	for range n {
		select {
		case <-e.served:
		case <-time.After(10 * time.Second):
			t.Fatal("the server did not finish a call in 10s")
		}
	}
}

// unary makes one UnaryCall.
func (e *env) unary(ctx context.Context, opts ...grpc.CallOption) error {
	_, err := e.client.UnaryCall(ctx, &testgrpc.SimpleRequest{}, opts...)
	return err
}

// errorOf returns the gRPC error a handler returns for code (nil for OK).
func errorOf(code codes.Code) error {
	if code == codes.OK {
		return nil
	}
	return status.Error(code, "test: "+code.String())
}

// allCodes are the sixteen non-OK codes and OK.
func allCodes() []codes.Code {
	cs := make([]codes.Code, 0, 17)
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		cs = append(cs, c)
	}
	return cs
}

// wantOutcome is the table: what a status from the dependency,
// with the caller's context still live, makes of the call by default.
func wantOutcome(c codes.Code) outcome {
	switch c {
	case codes.OK:
		return success
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted,
		codes.Internal, codes.Unknown, codes.DataLoss:
		return failure
	case codes.Canceled:
		return ignored
	}
	return success
}

// describe formats counts for failure messages.
func (c counts) String() string {
	return fmt.Sprintf("success=%d failure=%d ignored=%d rejected=%d", c.Success, c.Failure, c.Ignored, c.Rejected)
}
