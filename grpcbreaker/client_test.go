package grpcbreaker_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
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

// Every code is judged by the table: the dependency's own status, with the
// caller's context still live.
func TestUnaryClientJudgesEveryCode(t *testing.T) {
	for _, code := range allCodes() {
		t.Run(code.String(), func(t *testing.T) {
			reg := newRegistry(breakertest.NewClock(t0), 10)
			e := newEnv(t, setup{client: reg})
			e.svc.set(behaviour{err: errorOf(code)})

			err := e.unary(context.Background())

			assert.Equal(t, code, status.Code(err), "the caller gets the call's status")
			assert.NotErrorIs(t, err, breaker.ErrOpen)
			assert.Equal(t, one(wantOutcome(code)), countsOf(stats(t, reg, bufTarget)))
		})
	}
}

// The caller's own deadline or cancellation is no verdict on the
// dependency; a DeadlineExceeded from the server is.
func TestUnaryClientCallerContext(t *testing.T) {
	tests := []struct {
		name     string
		call     func(e *env) error
		code     codes.Code
		want     outcome
		handlers int64
	}{
		{
			name: "caller's deadline passes while the server works",
			call: func(e *env) error {
				e.svc.set(behaviour{block: true})
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				return e.unary(ctx)
			},
			code: codes.DeadlineExceeded, want: ignored, handlers: 1,
		},
		{
			name: "caller's deadline passed before the call",
			call: func(e *env) error {
				ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
				defer cancel()
				return e.unary(ctx)
			},
			code: codes.DeadlineExceeded, want: ignored, handlers: 0,
		},
		{
			name: "caller cancels while the server works",
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
			code: codes.Canceled, want: ignored, handlers: 1,
		},
		{
			name: "the server's own deadline passed",
			call: func(e *env) error {
				e.svc.set(behaviour{err: status.Error(codes.DeadlineExceeded, "downstream timed out")})
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				return e.unary(ctx)
			},
			code: codes.DeadlineExceeded, want: failure, handlers: 1,
		},
		{
			name: "the server cancelled",
			call: func(e *env) error {
				e.svc.set(behaviour{err: status.Error(codes.Canceled, "gave up")})
				return e.unary(context.Background())
			},
			code: codes.Canceled, want: ignored, handlers: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newRegistry(breakertest.NewClock(t0), 10)
			e := newEnv(t, setup{client: reg})

			err := tt.call(e)

			assert.Equal(t, tt.code, status.Code(err))
			assert.Equal(t, one(tt.want), countsOf(stats(t, reg, bufTarget)))
			if tt.handlers > 0 {
				e.waitServed(t, int(tt.handlers))
			}
			assert.Equal(t, tt.handlers, e.svc.calls.Load())
		})
	}
}

// An open breaker's rejection is not sent, is an Unavailable status, and
// carries the breaker's OpenError.
func TestUnaryClientRejects(t *testing.T) {
	clock := breakertest.NewClock(t0)
	reg := newRegistry(clock, 1)
	e := newEnv(t, setup{client: reg})
	e.svc.set(behaviour{err: errorOf(codes.Unavailable)})

	require.Equal(t, codes.Unavailable, status.Code(e.unary(context.Background())))
	require.Equal(t, breaker.Open, stats(t, reg, bufTarget).State)

	clock.Advance(10 * time.Second)
	err := e.unary(context.Background())

	assert.Equal(t, int64(1), e.svc.calls.Load(), "a rejected call is not sent")
	st, ok := status.FromError(err)
	require.True(t, ok, "a rejection is a gRPC status")
	assert.Equal(t, codes.Unavailable, st.Code())
	assert.Equal(t, `breaker: circuit "passthrough:///bufnet" is open`, st.Message())
	assert.Equal(t, `rpc error: code = Unavailable desc = breaker: circuit "passthrough:///bufnet" is open`, err.Error())
	assert.ErrorIs(t, err, breaker.ErrOpen)
	var oe *breaker.OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, bufTarget, oe.Name())
	assert.Equal(t, breaker.Open, oe.State())
	assert.Equal(t, 20*time.Second, oe.RetryAfter())

	again := e.unary(context.Background())
	assert.Same(t, err, again, "the rejections of one open period share one error")
	assert.Equal(t, counts{Failure: 1, Rejected: 2}, countsOf(stats(t, reg, bufTarget)))

	// After the recovery timeout, one trial closes the breaker again.
	clock.Advance(20 * time.Second)
	e.svc.set(behaviour{})
	require.NoError(t, e.unary(context.Background()))
	assert.Equal(t, breaker.Closed, stats(t, reg, bufTarget).State)
}

// A half-open breaker whose trial slot is taken rejects with state
// half_open and no retry delay.
func TestUnaryClientHalfOpenRejects(t *testing.T) {
	clock := breakertest.NewClock(t0)
	reg := newRegistry(clock, 1)
	e := newEnv(t, setup{client: reg})
	e.svc.set(behaviour{err: errorOf(codes.Internal)})
	require.Error(t, e.unary(context.Background()))
	clock.Advance(30 * time.Second)

	started := make(chan struct{})
	e.svc.set(behaviour{block: true, started: started})
	ctx, cancel := context.WithCancel(context.Background())
	trial := make(chan error, 1)
	go func() { trial <- e.unary(ctx) }()
	<-started

	err := e.unary(context.Background())
	var oe *breaker.OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, breaker.HalfOpen, oe.State())
	assert.Zero(t, oe.RetryAfter())
	assert.Equal(t, codes.Unavailable, status.Code(err))

	cancel() // the trial's caller gives up: ignored, the slot is free again
	assert.Equal(t, codes.Canceled, status.Code(<-trial))
	s := stats(t, reg, bufTarget)
	assert.Equal(t, breaker.HalfOpen, s.State)
	assert.Equal(t, counts{Failure: 1, Ignored: 1, Rejected: 1}, countsOf(s))
}

func TestClientNames(t *testing.T) {
	tests := []struct {
		name string
		opts []grpcbreaker.Option
		want []string // the breakers after one UnaryCall and one EmptyCall
	}{
		{name: "per target", want: []string{bufTarget}},
		{
			name: "per method",
			opts: []grpcbreaker.Option{grpcbreaker.WithPerMethod()},
			want: []string{
				bufTarget + "/grpc.testing.TestService/EmptyCall",
				bufTarget + "/grpc.testing.TestService/UnaryCall",
			},
		},
		{
			name: "namer",
			opts: []grpcbreaker.Option{grpcbreaker.WithNamer(func(target, method string) string {
				return "grpc " + method
			})},
			want: []string{"grpc /grpc.testing.TestService/EmptyCall", "grpc /grpc.testing.TestService/UnaryCall"},
		},
		{
			name: "a nil namer keeps the default",
			opts: []grpcbreaker.Option{grpcbreaker.WithPerMethod(), grpcbreaker.WithNamer(nil)},
			want: []string{
				bufTarget + "/grpc.testing.TestService/EmptyCall",
				bufTarget + "/grpc.testing.TestService/UnaryCall",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newRegistry(breakertest.NewClock(t0), 10)
			e := newEnv(t, setup{client: reg, clientOpt: tt.opts})
			for range 2 { // the second time from the name cache
				require.NoError(t, e.unary(context.Background()))
				_, err := e.client.EmptyCall(context.Background(), nil)
				require.NoError(t, err)
			}
			var names []string
			for _, b := range reg.All() {
				names = append(names, b.Name())
			}
			assert.Equal(t, tt.want, names)
		})
	}
}

// A code predicate replaces the table; the breaker's own predicate still
// sees each failure.
func TestClientFailurePredicates(t *testing.T) {
	tests := []struct {
		name  string
		opts  []grpcbreaker.Option
		bopts []breaker.Option
		code  codes.Code
		want  outcome
	}{
		{name: "counted by the option", opts: aborted(), code: codes.Aborted, want: failure},
		{name: "not counted by the option", opts: aborted(), code: codes.Unavailable, want: success},
		{name: "Canceled not counted", opts: aborted(), code: codes.Canceled, want: ignored},
		{
			name:  "excluded by the breaker's predicate",
			bopts: []breaker.Option{breaker.WithFailurePredicate(func(err error) bool { return status.Code(err) != codes.Internal })},
			code:  codes.Internal, want: ignored,
		},
		{
			name:  "counted by both",
			bopts: []breaker.Option{breaker.WithFailurePredicate(func(err error) bool { return status.Code(err) != codes.Internal })},
			code:  codes.Unavailable, want: failure,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newRegistry(breakertest.NewClock(t0), 10, tt.bopts...)
			e := newEnv(t, setup{client: reg, clientOpt: tt.opts})
			e.svc.set(behaviour{err: errorOf(tt.code)})

			assert.Equal(t, tt.code, status.Code(e.unary(context.Background())))
			assert.Equal(t, one(tt.want), countsOf(stats(t, reg, bufTarget)))
		})
	}
}

func aborted() []grpcbreaker.Option {
	return []grpcbreaker.Option{grpcbreaker.WithFailurePredicate(func(c codes.Code) bool { return c == codes.Aborted })}
}

// With no breaker to be had, calls go through unprotected and a warning is
// logged at most once a minute.
func TestClientUnprotected(t *testing.T) {
	reg := newRegistry(breakertest.NewClock(t0), 1, breaker.WithMaxBreakers(1))
	_, err := reg.Get("other")
	require.NoError(t, err)
	logs := &recordingHandler{}
	e := newEnv(t, setup{client: reg, clientOpt: []grpcbreaker.Option{grpcbreaker.WithLogger(slog.New(logs))}})
	e.svc.set(behaviour{err: errorOf(codes.Unavailable)})

	for range 3 {
		assert.Equal(t, codes.Unavailable, status.Code(e.unary(context.Background())))
	}

	assert.Equal(t, int64(3), e.svc.calls.Load(), "every call is made")
	_, ok := reg.Lookup(bufTarget)
	assert.False(t, ok)
	recs := logs.all()
	require.Len(t, recs, 1)
	assert.Equal(t, slog.LevelWarn, recs[0].Level)
	assert.Equal(t, "grpcbreaker: call made without a circuit breaker", recs[0].Message)
	attrs := map[string]string{}
	recs[0].Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value.String()
		return true
	})
	assert.Equal(t, bufTarget, attrs["circuit_breaker.name"])
	assert.Equal(t, "/grpc.testing.TestService/UnaryCall", attrs["rpc.method"])
	assert.Contains(t, attrs["error"], "registry full")
}

// A panic below the interceptor is a failure and goes on with its value.
func TestClientPanicIsFailure(t *testing.T) {
	reg := newRegistry(breakertest.NewClock(t0), 10)
	unary := grpcbreaker.UnaryClientInterceptor(reg, grpcbreaker.WithNamer(func(string, string) string { return "dep" }))
	assert.PanicsWithValue(t, "boom", func() {
		_ = unary(context.Background(), "/s/M", nil, nil, nil,
			func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { panic("boom") })
	})
	stream := grpcbreaker.StreamClientInterceptor(reg, grpcbreaker.WithNamer(func(string, string) string { return "dep" }))
	assert.PanicsWithValue(t, "bang", func() {
		_, _ = stream(context.Background(), &grpc.StreamDesc{}, nil, "/s/M",
			func(context.Context, *grpc.StreamDesc, *grpc.ClientConn, string, ...grpc.CallOption) (grpc.ClientStream, error) {
				panic("bang")
			})
	})
	assert.Equal(t, counts{Failure: 2}, countsOf(stats(t, reg, "dep")))
}

// A plain error from an inner interceptor is judged like gRPC judges it:
// Unknown, or the code of a context error.
func TestClientPlainErrors(t *testing.T) {
	tests := []struct {
		err  error
		want outcome
	}{
		{errors.New("plain"), failure},
		{context.DeadlineExceeded, failure}, // not the caller's: its context is live
		{context.Canceled, ignored},
		{status.Error(codes.NotFound, "x"), success},
		{wrapped{status.Error(codes.DataLoss, "x")}, failure},
		{wrapped{status.Error(codes.AlreadyExists, "x")}, success},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			reg := newRegistry(breakertest.NewClock(t0), 10)
			unary := grpcbreaker.UnaryClientInterceptor(reg, grpcbreaker.WithNamer(func(string, string) string { return "dep" }))
			err := unary(context.Background(), "/s/M", nil, nil, nil,
				func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return tt.err })
			assert.Equal(t, tt.err, err, "the caller gets the error unchanged")
			assert.Equal(t, one(tt.want), countsOf(stats(t, reg, "dep")))
		})
	}
}

// wrapped hides an error behind a type of its own.
type wrapped struct{ err error }

func (w wrapped) Error() string { return "wrapped: " + w.err.Error() }
func (w wrapped) Unwrap() error { return w.err }

func TestNilRegistryPanics(t *testing.T) {
	assert.PanicsWithValue(t, "grpcbreaker: UnaryClientInterceptor with a nil registry", func() { grpcbreaker.UnaryClientInterceptor(nil) })
	assert.PanicsWithValue(t, "grpcbreaker: StreamClientInterceptor with a nil registry", func() { grpcbreaker.StreamClientInterceptor(nil) })
	assert.PanicsWithValue(t, "grpcbreaker: UnaryServerInterceptor with a nil registry", func() { grpcbreaker.UnaryServerInterceptor(nil) })
	assert.PanicsWithValue(t, "grpcbreaker: StreamServerInterceptor with a nil registry", func() { grpcbreaker.StreamServerInterceptor(nil) })
}

func TestDefaultFailure(t *testing.T) {
	for _, c := range allCodes() {
		assert.Equal(t, wantOutcome(c) == failure, grpcbreaker.DefaultFailure(c), c.String())
	}
}

// recordingHandler is a slog.Handler that keeps its records.
type recordingHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordingHandler) all() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), h.recs...)
}
