package grpcbreaker

import (
	"context"

	"google.golang.org/grpc"

	"github.com/fusebox-go/fusebox/breaker"
)

// UnaryServerInterceptor returns an interceptor that serves each unary call
// through a breaker from reg: one per service ("pkg.Service") unless
// [WithPerMethod] or [WithNamer] says otherwise.
//
// When the breaker permits the call, the handler runs and the status it
// returns is judged as on a client (see [UnaryClientInterceptor]), against
// the incoming context: a call whose client cancelled it, went away or let
// its deadline pass is ignored. A panic in the handler is a failure and
// goes on up the stack with its original value (install a recovery
// interceptor outside this one, or the server's process exits, as gRPC
// does not recover handler panics).
//
// When the breaker rejects the call, the handler does not run. The client
// gets a trailers-only response with code Unavailable and, when the breaker
// knows when it will admit a probe ([breaker.OpenError.RetryAfter] above
// zero), the trailer grpc-retry-pushback-ms with that delay in
// milliseconds, rounded up: a gRPC client whose retry policy lists
// UNAVAILABLE waits that long before its next attempt instead of its own
// backoff (gRFC A6). A half-open breaker whose trial slots are taken sends
// no pushback, so the client's backoff applies. The status message names
// the breaker.
//
// When no breaker can be had, the handler runs unprotected and that is
// logged, as on a client. UnaryServerInterceptor panics if reg is nil.
func UnaryServerInterceptor(reg *breaker.Registry, opts ...Option) grpc.UnaryServerInterceptor {
	return newInterceptor(reg, opts, true, "UnaryServerInterceptor").unaryServer
}

func (in *interceptor) unaryServer(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	b := in.breakerFor(ctx, "", info.FullMethod)
	if b == nil {
		return handler(ctx, req)
	}
	pm, err := b.Allow(ctx)
	if err != nil {
		if md := pushback(err); md != nil {
			_ = grpc.SetTrailer(ctx, md)
		}
		return nil, in.rej.of(err)
	}
	defer pm.Done(errPanicked) // only if handler never returns
	// A half-open trial's context reports breaker.IsTrial to the handler.
	resp, err := handler(pm.Context(), req)
	in.finish(&pm, ctx, err)
	return resp, err
}

// StreamServerInterceptor returns an interceptor that serves each stream
// through a breaker from reg, named, judged and rejected as for
// [UnaryServerInterceptor]. A stream's outcome is the handler's error when
// it returns, judged against the stream's context.
//
// StreamServerInterceptor panics if reg is nil.
func StreamServerInterceptor(reg *breaker.Registry, opts ...Option) grpc.StreamServerInterceptor {
	return newInterceptor(reg, opts, true, "StreamServerInterceptor").streamServer
}

func (in *interceptor) streamServer(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx := ss.Context()
	b := in.breakerFor(ctx, "", info.FullMethod)
	if b == nil {
		return handler(srv, ss)
	}
	pm, err := b.Allow(ctx)
	if err != nil {
		if md := pushback(err); md != nil {
			ss.SetTrailer(md)
		}
		return in.rej.of(err)
	}
	defer pm.Done(errPanicked) // only if handler never returns
	if tctx := pm.Context(); tctx != ctx {
		// A half-open trial: the handler sees breaker.IsTrial.
		ss = &trialStream{ServerStream: ss, ctx: tctx}
	}
	err = handler(srv, ss)
	in.finish(&pm, ctx, err)
	return err
}

// trialStream is the server stream of a half-open trial: its context
// reports breaker.IsTrial.
type trialStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context returns the trial's context.
func (s *trialStream) Context() context.Context { return s.ctx }
