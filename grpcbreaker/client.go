package grpcbreaker

import (
	"context"
	"io"
	"sync"

	"google.golang.org/grpc"

	"github.com/fusebox-go/fusebox/breaker"
)

// UnaryClientInterceptor returns an interceptor that makes each unary call
// through a breaker from reg: one per target ([grpc.ClientConn.Target], the
// string given to grpc.NewClient) unless [WithPerMethod] or [WithNamer]
// says otherwise.
//
// When the breaker permits the call, it is made and its status judged:
// OK is a success, a code that [WithFailurePredicate] counts
// ([DefaultFailure] by default) is a failure, a call that ended after the
// caller's own context ended is ignored, and so is Canceled; any other code
// is a success. The caller gets the call's error unchanged.
//
// When the breaker rejects the call, it is not made. The error is a gRPC
// status error with code Unavailable (status.Code and status.FromError see
// it) that wraps the breaker's [*breaker.OpenError]: errors.Is(err,
// breaker.ErrOpen) holds, and errors.As gives the OpenError and its
// RetryAfter. gRPC's own retry policy never sees it, for it runs below the
// interceptors.
//
// When no breaker can be had (a full registry, an invalid name), the call
// is made unprotected rather than failed, and that is logged at WARN at
// most once a minute (see [WithLogger]).
//
// UnaryClientInterceptor panics if reg is nil.
func UnaryClientInterceptor(reg *breaker.Registry, opts ...Option) grpc.UnaryClientInterceptor {
	return newInterceptor(reg, opts, false, "UnaryClientInterceptor").unaryClient
}

func (in *interceptor) unaryClient(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	b := in.breakerFor(ctx, target(cc), method)
	if b == nil {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	pm, err := b.Allow(ctx)
	if err != nil {
		return in.rej.of(err)
	}
	defer pm.Done(errPanicked) // only if invoker never returns
	// A half-open trial's context reports breaker.IsTrial to what runs below.
	err = invoker(pm.Context(), method, req, reply, cc, opts...)
	in.finish(&pm, ctx, err)
	return err
}

// StreamClientInterceptor returns an interceptor that makes each stream
// through a breaker from reg, named as for [UnaryClientInterceptor], with
// the same rejections and the same judgement of a status.
//
// A stream's outcome is decided when it ends: when RecvMsg returns io.EOF
// (a success), or the message of a stream whose server does not stream
// (a success), or any other error (judged by its status), or when opening
// the stream fails. SendMsg returns io.EOF when the server has ended the
// stream (RecvMsg then returns the status that decides); any other error
// from SendMsg is one the client made itself (gRPC aborts the stream), and
// the stream is ignored.
//
// A stream abandoned by its caller (its context cancelled, or past its
// deadline, before the stream's end was read) is ignored, not counted as a
// failure; the interceptor watches the caller's context for that with
// [context.AfterFunc]. A stream whose caller neither reads it to the end
// nor cancels its context is never finished: gRPC keeps it open too (see
// [grpc.ClientConn.NewStream]), and it counts nowhere. In the closed state
// that costs the breaker nothing; in the half-open state such a stream
// holds one of the breaker's trial slots until
// [breaker.WithHalfOpenMaxWait] reopens the breaker (the trial is then
// stale: its outcome, if it ever comes, no longer moves the state). Without
// WithHalfOpenMaxWait the slot is held until the stream ends or
// [breaker.Breaker.Reset], so give breakers that protect streams a
// half-open maximum wait.
//
// StreamClientInterceptor panics if reg is nil.
func StreamClientInterceptor(reg *breaker.Registry, opts ...Option) grpc.StreamClientInterceptor {
	return newInterceptor(reg, opts, false, "StreamClientInterceptor").streamClient
}

func (in *interceptor) streamClient(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	b := in.breakerFor(ctx, target(cc), method)
	if b == nil {
		return streamer(ctx, desc, cc, method, opts...)
	}
	pm, err := b.Allow(ctx)
	if err != nil {
		return nil, in.rej.of(err)
	}
	opened := false
	defer func() {
		if !opened {
			pm.Done(errPanicked) // streamer panicked
		}
	}()
	// A half-open trial's context reports breaker.IsTrial to what runs below.
	cs, err := streamer(pm.Context(), desc, cc, method, opts...)
	opened = true
	if err != nil {
		in.finish(&pm, ctx, err)
		return cs, err
	}
	// The stream holds the call from here on; pm is not used again.
	s := &clientStream{ClientStream: cs, in: in, ctx: ctx, pm: pm, serverStreams: desc.ServerStreams}
	s.stop = context.AfterFunc(ctx, s.abandoned)
	return s, nil
}

// clientStream records the outcome of a stream when it ends.
type clientStream struct {
	grpc.ClientStream
	in            *interceptor
	ctx           context.Context // the caller's
	pm            breaker.Permit
	serverStreams bool
	stop          func() bool // stops watching ctx

	mu    sync.Mutex
	ended bool
}

// SendMsg sends m. io.EOF means the stream has ended, and RecvMsg returns
// its status; any other error was made by the client itself (a message
// too large, one that cannot be encoded, a send after CloseSend) and
// aborts the stream, which is no verdict on the dependency: ignored.
func (s *clientStream) SendMsg(m any) error {
	err := s.ClientStream.SendMsg(m)
	if err != nil && err != io.EOF {
		s.aborted()
	}
	return err
}

// aborted ends the stream as ignored when the client aborted it itself,
// and stops watching the caller's context, which would otherwise hold a
// registration (or, for a context of a type the context package does not
// know, a goroutine) until that context ends.
func (s *clientStream) aborted() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.ended = true
		s.stop()
		s.pm.Ignore()
	}
}

// RecvMsg receives a message into m; io.EOF, any other error, and the one
// message of a stream whose server does not stream, end the stream.
func (s *clientStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	switch {
	case err == io.EOF:
		s.end(nil)
	case err != nil:
		s.end(err)
	case !s.serverStreams:
		s.end(nil) // gRPC has read the status: OK
	}
	return err
}

// abandoned ends the stream as ignored when the caller's context ended (it
// runs then, maybe before s.stop is set, so it does not touch it): no
// verdict on the dependency.
func (s *clientStream) abandoned() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.ended = true
		s.pm.Ignore()
	}
}

// end records the stream's outcome once, whichever of RecvMsg, SendMsg and
// the caller's context comes first, and stops watching the context. The
// lock makes a later caller wait for the first: once RecvMsg has returned
// the stream's end, its outcome is recorded.
func (s *clientStream) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = true
	s.stop()
	s.in.finish(&s.pm, s.ctx, err)
}

// target returns the target cc was created with.
func target(cc *grpc.ClientConn) string {
	if cc == nil {
		return ""
	}
	return cc.Target()
}
