package grpcbreaker_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/grpcbreaker"
)

const pushbackKey = "grpc-retry-pushback-ms"

// A handler's status is judged by the same table as on a client; a plain
// error is judged as gRPC sends it.
func TestUnaryServerJudgesEveryCode(t *testing.T) {
	type tc struct {
		name string
		err  error
		code codes.Code
		want outcome
	}
	var tests []tc
	for _, c := range allCodes() {
		tests = append(tests, tc{c.String(), errorOf(c), c, wantOutcome(c)})
	}
	tests = append(tests,
		tc{"plain error", errors.New("plain"), codes.Unknown, failure},
		tc{"context.DeadlineExceeded of its own", context.DeadlineExceeded, codes.DeadlineExceeded, failure},
		tc{"wrapped status", wrapped{status.Error(codes.NotFound, "x")}, codes.NotFound, success},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newRegistry(breakertest.NewClock(t0), 10)
			e := newEnv(t, setup{server: reg})
			e.svc.set(behaviour{err: tt.err})

			err := e.unary(context.Background())
			e.waitServed(t, 1)

			assert.Equal(t, tt.code, status.Code(err))
			assert.Equal(t, one(tt.want), countsOf(stats(t, reg, service)))
		})
	}
}

// A client that gives up is no verdict on the handler; a handler whose
// own dependency ran out of time is a failure.
func TestUnaryServerCallerContext(t *testing.T) {
	tests := []struct {
		name string
		call func(e *env) error
		code codes.Code
		want outcome
	}{
		{
			name: "client's deadline passes while the handler works",
			call: func(e *env) error {
				e.svc.set(behaviour{block: true})
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				return e.unary(ctx)
			},
			code: codes.DeadlineExceeded, want: ignored,
		},
		{
			name: "client cancels while the handler works",
			call: func(e *env) error {
				started := make(chan struct{})
				e.svc.set(behaviour{block: true, started: started})
				ctx, cancel := context.WithCancel(context.Background())
				go func() {
					<-started
					cancel()
				}()
				return e.unary(ctx)
			},
			code: codes.Canceled, want: ignored,
		},
		{
			name: "the handler's dependency timed out",
			call: func(e *env) error {
				e.svc.set(behaviour{err: status.Error(codes.DeadlineExceeded, "downstream")})
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				return e.unary(ctx)
			},
			code: codes.DeadlineExceeded, want: failure,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newRegistry(breakertest.NewClock(t0), 10)
			e := newEnv(t, setup{server: reg})

			assert.Equal(t, tt.code, status.Code(tt.call(e)))
			e.waitServed(t, 1)
			assert.Equal(t, one(tt.want), countsOf(stats(t, reg, service)))
		})
	}
}

// An open server breaker answers Unavailable without running the handler,
// with the pushback trailer that gRPC's retry policy reads.
func TestServerRejects(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, clock *breakertest.Clock, reg *breaker.Registry, e *env)
		state   string
		want    []string // the pushback trailer's values
	}{
		{
			name: "open",
			prepare: func(_ *testing.T, clock *breakertest.Clock, _ *breaker.Registry, _ *env) {
				clock.Advance(10 * time.Second)
			},
			state: "open", want: []string{"20000"},
		},
		{
			name: "open, rounded up to the millisecond",
			prepare: func(_ *testing.T, clock *breakertest.Clock, _ *breaker.Registry, _ *env) {
				clock.Advance(10*time.Second + 400*time.Microsecond)
			},
			state: "open", want: []string{"20000"},
		},
		{
			name: "open, one millisecond left",
			prepare: func(_ *testing.T, clock *breakertest.Clock, _ *breaker.Registry, _ *env) {
				clock.Advance(30*time.Second - time.Millisecond)
			},
			state: "open", want: []string{"1"},
		},
		{
			name: "forced open: the recovery timeout as a hint",
			prepare: func(t *testing.T, clock *breakertest.Clock, reg *breaker.Registry, _ *env) {
				b, ok := reg.Lookup(service)
				require.True(t, ok)
				b.ForceOpen()
				clock.Advance(time.Hour)
			},
			state: "forced open", want: []string{"30000"},
		},
		{
			name: "half-open with its trial slot taken: no pushback",
			prepare: func(t *testing.T, clock *breakertest.Clock, _ *breaker.Registry, e *env) {
				clock.Advance(30 * time.Second)
				started := make(chan struct{})
				e.svc.set(behaviour{block: true, started: started})
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				go func() { _ = e.unary(ctx) }()
				<-started
			},
			state: "half_open", want: nil,
		},
	}
	for _, tt := range tests {
		for _, kind := range []string{"unary", "stream"} {
			t.Run(tt.name+"/"+kind, func(t *testing.T) {
				clock := breakertest.NewClock(t0)
				reg := newRegistry(clock, 1)
				e := newEnv(t, setup{server: reg})
				e.svc.set(behaviour{err: errorOf(codes.Internal)})
				require.Equal(t, codes.Internal, status.Code(e.unary(context.Background())))
				e.waitServed(t, 1)
				tt.prepare(t, clock, reg, e)
				handlers := e.svc.calls.Load()

				var trailer metadata.MD
				var err error
				if kind == "unary" {
					err = e.unary(context.Background(), grpc.Trailer(&trailer))
				} else {
					var stream grpc.ServerStreamingClient[testgrpc.StreamingOutputCallResponse]
					stream, err = e.client.StreamingOutputCall(context.Background(), &testgrpc.StreamingOutputCallRequest{})
					require.NoError(t, err)
					_, err = stream.Recv()
					trailer = stream.Trailer()
				}

				st := status.Convert(err)
				assert.Equal(t, codes.Unavailable, st.Code())
				assert.Equal(t, `breaker: circuit "grpc.testing.TestService" is `+tt.state, st.Message())
				assert.Equal(t, tt.want, trailer[pushbackKey])
				assert.Equal(t, handlers, e.svc.calls.Load(), "a rejected call does not reach the handler")
				assert.Equal(t, uint64(1), stats(t, reg, service).TotalRejected)
			})
		}
	}
}

// A handler's panic is a failure and goes on with its own value.
func TestServerPanicIsFailure(t *testing.T) {
	reg := newRegistry(breakertest.NewClock(t0), 10)
	e := newEnv(t, setup{server: reg})
	e.svc.set(behaviour{panicV: "boom"})

	err := e.unary(context.Background())
	assert.Equal(t, codes.Internal, status.Code(err))
	e.waitServed(t, 1)
	assert.Equal(t, "boom", <-e.panics)

	stream, err := e.client.StreamingOutputCall(context.Background(), &testgrpc.StreamingOutputCallRequest{})
	require.NoError(t, err)
	_, err = stream.Recv()
	assert.Equal(t, codes.Internal, status.Code(err))
	e.waitServed(t, 1)
	assert.Equal(t, "boom", <-e.panics)

	assert.Equal(t, counts{Failure: 2}, countsOf(stats(t, reg, service)))
}

func TestServerNames(t *testing.T) {
	var targets []string
	tests := []struct {
		name string
		opts []grpcbreaker.Option
		want []string
	}{
		{name: "per service", want: []string{service}},
		{
			name: "per method",
			opts: []grpcbreaker.Option{grpcbreaker.WithPerMethod()},
			want: []string{service + "/EmptyCall", service + "/StreamingOutputCall", service + "/UnaryCall"},
		},
		{
			name: "namer",
			opts: []grpcbreaker.Option{grpcbreaker.WithNamer(func(target, method string) string {
				targets = append(targets, target)
				return "in " + method
			})},
			want: []string{
				"in /grpc.testing.TestService/EmptyCall",
				"in /grpc.testing.TestService/StreamingOutputCall",
				"in /grpc.testing.TestService/UnaryCall",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newRegistry(breakertest.NewClock(t0), 10)
			e := newEnv(t, setup{server: reg, serverOpt: tt.opts})
			require.NoError(t, e.unary(context.Background()))
			_, err := e.client.EmptyCall(context.Background(), &testgrpc.Empty{})
			require.NoError(t, err)
			stream, err := e.client.StreamingOutputCall(context.Background(), &testgrpc.StreamingOutputCallRequest{})
			require.NoError(t, err)
			_, err = stream.Recv()
			require.ErrorIs(t, err, io.EOF)
			e.waitServed(t, 3)

			var names []string
			for _, b := range reg.All() {
				names = append(names, b.Name())
			}
			assert.Equal(t, tt.want, names)
		})
	}
	assert.Equal(t, []string{"", "", ""}, targets, "a server has no target")
}
