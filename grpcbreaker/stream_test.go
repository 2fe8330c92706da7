package grpcbreaker_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/breaker/breakertest"
	"github.com/fusebox-go/fusebox/events"
)

// watchCalls returns a channel that receives the outcome of every call
// that reg's breakers finish or reject, from whichever goroutine finishes
// it.
func watchCalls(t testing.TB, reg *breaker.Registry) <-chan outcome {
	ch := make(chan outcome, 1024)
	stop := reg.Events().Subscribe(events.HandlerFunc[breaker.Event](func(_ context.Context, e breaker.Event) {
		if e.Kind == breaker.EventCall {
			ch <- outcome(e.Outcome.String())
		}
	}))
	t.Cleanup(stop)
	return ch
}

// next waits for the next outcome on ch.
func next(t testing.TB, ch <-chan outcome) outcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("no call finished in 10s")
		return ""
	}
}

// ending is how a test ends a stream.
type ending struct {
	name string
	code codes.Code // the handler's status at the end, when it returns one
	// abandon: the caller gives up (cancels, or lets the deadline pass:
	// giveUp returns once it has) when the handler has reached its end,
	// without reading the stream's end.
	abandon  func() (ctx context.Context, giveUp func(), cancel context.CancelFunc)
	want     outcome // on both sides
	wantCode codes.Code
}

func endings() []ending {
	return []ending{
		{name: "OK", code: codes.OK, want: success, wantCode: codes.OK},
		{name: "Unavailable", code: codes.Unavailable, want: failure, wantCode: codes.Unavailable},
		{name: "Internal", code: codes.Internal, want: failure, wantCode: codes.Internal},
		{name: "NotFound", code: codes.NotFound, want: success, wantCode: codes.NotFound},
		{name: "server Canceled", code: codes.Canceled, want: ignored, wantCode: codes.Canceled},
		{
			name: "caller cancels", want: ignored,
			abandon: func() (context.Context, func(), context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				return ctx, cancel, cancel
			},
		},
		{
			name: "caller's deadline passes", want: ignored,
			abandon: func() (context.Context, func(), context.CancelFunc) {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				return ctx, func() { <-ctx.Done() }, cancel
			},
		},
	}
}

// kind runs one stream of one kind: it exchanges two messages, reaches the
// handler's end, and reads the stream's end unless the ending abandons it.
type kind struct {
	name   string
	method string
	run    func(t *testing.T, e *env, ctx context.Context, abandon bool, started <-chan struct{}, giveUp func()) error
}

func kinds() []kind {
	return []kind{
		{name: "server streaming", method: "StreamingOutputCall", run: runServerStream},
		{name: "client streaming", method: "StreamingInputCall", run: runClientStream},
		{name: "bidi", method: "FullDuplexCall", run: runBidi},
	}
}

func runServerStream(t *testing.T, e *env, ctx context.Context, abandon bool, started <-chan struct{}, giveUp func()) error {
	params := []*testgrpc.ResponseParameters{{}, {}}
	stream, err := e.client.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{ResponseParameters: params})
	require.NoError(t, err)
	for range 2 {
		_, err := stream.Recv()
		require.NoError(t, err)
	}
	if abandon {
		<-started
		giveUp()
		return nil
	}
	if _, err = stream.Recv(); err == io.EOF {
		return nil
	}
	return err
}

func runClientStream(t *testing.T, e *env, ctx context.Context, abandon bool, started <-chan struct{}, giveUp func()) error {
	stream, err := e.client.StreamingInputCall(ctx)
	require.NoError(t, err)
	for range 2 {
		require.NoError(t, stream.Send(&testgrpc.StreamingInputCallRequest{}))
	}
	if abandon {
		require.NoError(t, stream.CloseSend())
		<-started
		giveUp()
		return nil
	}
	resp, err := stream.CloseAndRecv()
	if err == nil {
		assert.Equal(t, int32(2), resp.GetAggregatedPayloadSize())
	}
	return err
}

func runBidi(t *testing.T, e *env, ctx context.Context, abandon bool, started <-chan struct{}, giveUp func()) error {
	stream, err := e.client.FullDuplexCall(ctx)
	require.NoError(t, err)
	for range 2 {
		require.NoError(t, stream.Send(&testgrpc.StreamingOutputCallRequest{}))
		_, err := stream.Recv()
		require.NoError(t, err)
	}
	require.NoError(t, stream.CloseSend())
	if abandon {
		<-started
		giveUp()
		return nil
	}
	_, err = stream.Recv()
	if err == io.EOF {
		return nil
	}
	return err
}

// Every kind of stream, ended every way, is judged at its end on both
// sides; a stream its caller abandons is ignored.
func TestStreams(t *testing.T) {
	for _, k := range kinds() {
		for _, end := range endings() {
			t.Run(k.name+"/"+end.name, func(t *testing.T) {
				creg := newRegistry(breakertest.NewClock(t0), 10)
				sreg := newRegistry(breakertest.NewClock(t0), 10)
				clientCalls, serverCalls := watchCalls(t, creg), watchCalls(t, sreg)
				e := newEnv(t, setup{client: creg, server: sreg})

				ctx, giveUp, cancel := context.Background(), func() {}, context.CancelFunc(func() {})
				started := make(chan struct{})
				if end.abandon != nil {
					ctx, giveUp, cancel = end.abandon()
					e.svc.set(behaviour{block: true, started: started})
				} else {
					e.svc.set(behaviour{err: errorOf(end.code)})
				}
				defer cancel()

				err := k.run(t, e, ctx, end.abandon != nil, started, giveUp)

				assert.Equal(t, end.wantCode, status.Code(err), "the caller sees the handler's status")
				assert.Equal(t, end.want, next(t, clientCalls), "client")
				assert.Equal(t, end.want, next(t, serverCalls), "server")
				assert.Equal(t, one(end.want), countsOf(stats(t, creg, bufTarget)))
				assert.Equal(t, one(end.want), countsOf(stats(t, sreg, service)))
			})
		}
	}
}

// Opening a stream is judged when it fails, and refused while the breaker
// is open.
func TestClientStreamOpen(t *testing.T) {
	clock := breakertest.NewClock(t0)
	reg := newRegistry(clock, 1)
	e := newEnv(t, setup{client: reg})

	// The caller's context has ended before the stream opens: ignored.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.client.FullDuplexCall(ctx)
	assert.Equal(t, codes.Canceled, status.Code(err))
	assert.Equal(t, counts{Ignored: 1}, countsOf(stats(t, reg, bufTarget)))

	// A failure opens the breaker; the next stream is not opened.
	e.svc.set(behaviour{err: errorOf(codes.Unavailable)})
	stream, err := e.client.StreamingOutputCall(context.Background(), &testgrpc.StreamingOutputCallRequest{})
	require.NoError(t, err)
	_, err = stream.Recv()
	require.Equal(t, codes.Unavailable, status.Code(err))
	e.waitServed(t, 1)

	_, err = e.client.FullDuplexCall(context.Background())
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.ErrorIs(t, err, breaker.ErrOpen)
	var oe *breaker.OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, 30*time.Second, oe.RetryAfter())
	assert.Equal(t, int64(1), e.svc.calls.Load())
	assert.Equal(t, counts{Failure: 1, Ignored: 1, Rejected: 1}, countsOf(stats(t, reg, bufTarget)))
}

// A server that ends a bidi stream while the client still sends: SendMsg
// sees io.EOF, and the status read by RecvMsg decides.
func TestBidiServerEndsFirst(t *testing.T) {
	reg := newRegistry(breakertest.NewClock(t0), 10)
	calls := watchCalls(t, reg)
	e := newEnv(t, setup{client: reg})
	e.svc.set(behaviour{err: errorOf(codes.ResourceExhausted), early: true})

	stream, err := e.client.FullDuplexCall(context.Background())
	require.NoError(t, err)
	for err == nil { // until the stream's end reaches the client
		err = stream.Send(&testgrpc.StreamingOutputCallRequest{})
	}
	require.Equal(t, io.EOF, err)
	_, err = stream.Recv()
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	assert.Equal(t, failure, next(t, calls))
	assert.Equal(t, counts{Failure: 1}, countsOf(stats(t, reg, bufTarget)))
}

// An error the client makes itself in SendMsg aborts the stream: no
// verdict on the dependency.
func TestClientSendErrorIsIgnored(t *testing.T) {
	reg := newRegistry(breakertest.NewClock(t0), 10)
	calls := watchCalls(t, reg)
	e := newEnv(t, setup{client: reg})

	stream, err := e.client.FullDuplexCall(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.CloseSend())
	err = stream.Send(&testgrpc.StreamingOutputCallRequest{})
	assert.Equal(t, codes.Internal, status.Code(err), "a send after CloseSend")
	_, err = stream.Recv()
	assert.Error(t, err, "the stream was aborted")

	assert.Equal(t, ignored, next(t, calls))
	assert.Equal(t, counts{Ignored: 1}, countsOf(stats(t, reg, bufTarget)))
}

// A stream whose caller neither reads it to the end nor cancels it holds a
// half-open trial slot until WithHalfOpenMaxWait reopens the breaker; its
// outcome, once it comes, no longer moves the state.
func TestAbandonedStreamHoldsTrialUntilHalfOpenMaxWait(t *testing.T) {
	clock := breakertest.NewClock(t0)
	reg := newRegistry(clock, 1, breaker.WithHalfOpenMaxWait(10*time.Second))
	calls := watchCalls(t, reg)
	e := newEnv(t, setup{client: reg})
	b := trip(t, e, reg, calls)
	clock.Advance(30 * time.Second)

	// The trial: a stream read halfway and left open.
	started := make(chan struct{})
	e.svc.set(behaviour{block: true, started: started})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := e.client.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{}}})
	require.NoError(t, err)
	_, err = stream.Recv()
	require.NoError(t, err)
	<-started
	assert.Equal(t, breaker.HalfOpen, b.State())

	e.svc.set(behaviour{})
	var oe *breaker.OpenError
	require.ErrorAs(t, e.unary(context.Background()), &oe, "the slot is held")
	assert.Equal(t, breaker.HalfOpen, oe.State())

	clock.Advance(10 * time.Second)
	require.ErrorAs(t, e.unary(context.Background()), &oe, "the half-open wait is over: reopened")
	assert.Equal(t, breaker.Open, oe.State())
	assert.Equal(t, breaker.Open, b.State())

	clock.Advance(30 * time.Second)
	require.NoError(t, e.unary(context.Background()), "a new trial")
	assert.Equal(t, breaker.Closed, b.State())

	cancel() // the stream finally ends: counted, but stale
	for o := next(t, calls); o != ignored; o = next(t, calls) {
	}
	assert.Equal(t, breaker.Closed, b.State())
	assert.Equal(t, counts{Success: 1, Failure: 1, Ignored: 1, Rejected: 2}, countsOf(b.Stats()))
}

// Without WithHalfOpenMaxWait the slot is held until the stream ends; a
// stream abandoned by cancelling frees it at once.
func TestAbandonedStreamFreesTrialWhenCancelled(t *testing.T) {
	clock := breakertest.NewClock(t0)
	reg := newRegistry(clock, 1)
	calls := watchCalls(t, reg)
	e := newEnv(t, setup{client: reg})
	b := trip(t, e, reg, calls)
	clock.Advance(30 * time.Second)

	started := make(chan struct{})
	e.svc.set(behaviour{block: true, started: started})
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := e.client.FullDuplexCall(ctx)
	require.NoError(t, err)
	require.NoError(t, stream.CloseSend())
	<-started

	e.svc.set(behaviour{})
	clock.Advance(time.Hour)
	require.ErrorIs(t, e.unary(context.Background()), breaker.ErrOpen, "the slot is held")
	require.Equal(t, rejected, next(t, calls))

	cancel()
	require.Equal(t, ignored, next(t, calls))
	assert.Equal(t, breaker.HalfOpen, b.State(), "an ignored trial moves nothing")
	require.NoError(t, e.unary(context.Background()), "the slot is free")
	assert.Equal(t, breaker.Closed, b.State())
}

// trip opens the breaker of the env's client with one failing call.
func trip(t *testing.T, e *env, reg *breaker.Registry, calls <-chan outcome) *breaker.Breaker {
	t.Helper()
	e.svc.set(behaviour{err: errorOf(codes.Unavailable)})
	require.Equal(t, codes.Unavailable, status.Code(e.unary(context.Background())))
	require.Equal(t, failure, next(t, calls))
	b, ok := reg.Lookup(bufTarget)
	require.True(t, ok)
	require.Equal(t, breaker.Open, b.State())
	return b
}

// doneCtx is a context of a type the context package does not know: a
// watch on it (context.AfterFunc) runs a goroutine until it is stopped.
type doneCtx struct {
	context.Context
	done chan struct{}
}

func (c doneCtx) Done() <-chan struct{} { return c.done }

func (c doneCtx) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}

// A stream the client aborts itself in SendMsg stops watching the caller's
// context: nothing of it outlives the stream.
func TestClientSendErrorStopsWatchingTheContext(t *testing.T) {
	reg := newRegistry(breakertest.NewClock(t0), 10)
	e := newEnv(t, setup{client: reg})
	ctx := doneCtx{Context: context.Background(), done: make(chan struct{})}
	defer close(ctx.done)
	require.NoError(t, e.unary(context.Background()), "the connection is up before the goroutines are counted")
	before := goleak.IgnoreCurrent()

	stream, err := e.client.FullDuplexCall(ctx)
	require.NoError(t, err)
	require.NoError(t, stream.CloseSend())
	err = stream.Send(&testgrpc.StreamingOutputCallRequest{})
	require.Equal(t, codes.Internal, status.Code(err), "a send after CloseSend")
	_, err = stream.Recv()
	require.Error(t, err)
	goleak.VerifyNone(t, before)
}
