// Package grpcbreaker puts circuit breakers around gRPC clients and
// servers, and judges each call by its status code the way gRPC means it:
// a dependency that is down, overloaded or broken opens the breaker, a
// request the dependency refused does not.
//
// # Client
//
// [UnaryClientInterceptor] and [StreamClientInterceptor] make each call
// through a breaker taken from a [breaker.Registry]: one per target (the
// string given to grpc.NewClient) by default, one per method with
// [WithPerMethod], or named by [WithNamer].
//
//	reg := breaker.NewRegistry(breaker.WithFailureThreshold(5), breaker.WithHalfOpenMaxWait(time.Minute))
//	conn, err := grpc.NewClient("dns:///inventory.internal:443",
//		grpc.WithTransportCredentials(creds),
//		grpc.WithChainUnaryInterceptor(grpcbreaker.UnaryClientInterceptor(reg)),
//		grpc.WithChainStreamInterceptor(grpcbreaker.StreamClientInterceptor(reg)),
//	)
//	...
//	resp, err := inventory.Get(ctx, req)
//	var oe *breaker.OpenError
//	if errors.As(err, &oe) { // not sent; status.Code(err) is Unavailable
//		return cached(req), nil
//	}
//
// While the breaker is open, calls are not made. Their error is a gRPC
// status error with code Unavailable (status.Code, status.FromError) that
// wraps the breaker's [*breaker.OpenError]: errors.Is(err, breaker.ErrOpen)
// holds, and the OpenError tells the breaker's name, state and RetryAfter.
// The rejections of one open period share one error value (the last one
// an interceptor made), so they allocate nothing.
//
// # Server
//
// [UnaryServerInterceptor] and [StreamServerInterceptor] protect handlers
// with one breaker per service ("pkg.Service") by default, or per method.
// While the breaker is open the handler does not run: the client gets a
// trailers-only response with code Unavailable and the trailer
// grpc-retry-pushback-ms, which tells a gRPC client whose retry policy
// lists UNAVAILABLE how long to wait before its next attempt (gRFC A6).
// A panic in a handler is a failure, and goes on up the stack with its
// original value.
//
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(recovery, grpcbreaker.UnaryServerInterceptor(reg)),
//		grpc.ChainStreamInterceptor(streamRecovery, grpcbreaker.StreamServerInterceptor(reg)),
//	)
//
// # Status codes
//
// Every interceptor judges a finished call the same way; [DefaultFailure]
// is the predicate, and [WithFailurePredicate] replaces it:
//
//	OK                                         success
//	Unavailable, ResourceExhausted, Internal,  failure
//	Unknown, DataLoss
//	DeadlineExceeded                           failure, unless the caller's deadline had passed
//	InvalidArgument, NotFound, AlreadyExists,  success: the dependency answered
//	PermissionDenied, Unauthenticated,
//	FailedPrecondition, OutOfRange,
//	Unimplemented, Aborted
//	Canceled                                   ignored
//	any error after the caller's own context   ignored: the caller gave up,
//	ended (cancelled or past its deadline)     which says nothing of the dependency
//
// An ignored call is neither a success nor a failure: it does not reset
// the consecutive-failure count, and a half-open trial that is ignored
// frees its slot. The caller's deadline is read from the clock as well as
// from the context, since a server's DeadlineExceeded, sent at the
// deadline the client gave it, can arrive before the client's own timer
// fires. On a server "the caller" is the client: its cancellation, its
// deadline (which gRPC propagates) or its going away. A handler whose own
// dependency timed out while the client still waits returns
// DeadlineExceeded with the incoming context live: a failure. So is an
// error that is not a status: gRPC sends it as Unknown (or as the code of
// a context error). The breaker's own failure predicate
// ([breaker.WithFailurePredicate]) still sees each failure as the call's
// status error and may ignore it.
//
// The other side of that rule: a caller whose deadline is shorter than the
// time a hung dependency takes sees only its own DeadlineExceeded, which
// is ignored, so such a hang opens no client breaker. The dependency's
// server catches it when its handlers bound their own calls (a handler's
// dependency that times out while its client still waits is a failure),
// and its client sees Unavailable once the server breaker opens.
//
// # Streams
//
// A stream is one call, judged when it ends: RecvMsg returning io.EOF (or
// the single response of a client-streaming call) is a success; RecvMsg
// returning any other error is judged by its status; an error from SendMsg
// other than io.EOF was made by the client itself and is ignored. A stream
// its caller abandons by cancelling its context is ignored. A stream whose
// caller neither reads it to the end nor cancels it is never finished
// (gRPC keeps it open too): in the half-open state it holds a trial slot
// until [breaker.WithHalfOpenMaxWait] reopens the breaker, so set that
// option on breakers that protect streams. On a server, a stream's outcome
// is its handler's error.
//
// # OpenTelemetry
//
// Attach package telemetry to the registry and the breakers add span
// events (circuit_breaker.rejected, circuit_breaker.state_change) to the
// span in the call's context. With otelgrpc's stats handlers installed,
// that context differs on the two sides, whatever the order of the
// interceptors:
//
//   - Server: gRPC runs the stats handler before any interceptor, so the
//     events land on otelgrpc's server span of the call.
//   - Client: gRPC runs the stats handler below the interceptors, once per
//     attempt, so otelgrpc's client span does not exist yet when the
//     breaker decides; the events land on the caller's span, the parent of
//     the client spans. A rejected call makes no attempt and has no client
//     span at all.
//
// otelgrpc's metrics count a rejection on the server like any other
// Unavailable response; a rejection on the client never reaches them.
//
// # Retries
//
// gRPC's own retry policy runs below the interceptors: a client breaker
// sees one call, however many attempts it took, and its rejection is never
// retried. On a server rejection gRPC waits the pushback instead of its
// own backoff, and gives up at the call's deadline or its maxAttempts.
//
// A retry interceptor chained outside the client interceptor
// (grpc.WithChainUnaryInterceptor(retry, grpcbreaker.UnaryClientInterceptor(reg)))
// sends each attempt through the breaker, which counts each attempt's
// outcome; it must not retry a rejection, which it recognises by
// errors.Is(err, breaker.ErrOpen), not by its code (Unavailable), or it
// spins against an open breaker. Chained inside, it makes one breaker call
// of all its attempts, and a half-open trial holds its slot through the
// retries' backoff unless the retry interceptor makes one attempt when
// [breaker.IsTrial] reports the call's context is a trial's (a
// retry.Policy does). The client and server interceptors give a trial's
// context to what runs below them (invoker, streamer, handler and the
// handler's stream), as breaker.Execute gives it to its function.
//
// # Order of interceptors
//
// Chain a recovery interceptor outside the server interceptors, so that
// they see a handler's panic and count it; gRPC itself does not recover
// panics. Chain authentication or validation that rejects bad requests
// outside them too, unless a refused request should count as a call.
//
// # Concurrency
//
// The interceptors are safe for concurrent use. They start no goroutine
// of their own; a client stream registers a [context.AfterFunc] on the
// caller's context, removed when the stream ends.
package grpcbreaker
