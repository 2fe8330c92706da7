package grpcbreaker

import (
	"log/slog"

	"google.golang.org/grpc/codes"
)

// Option configures the interceptors. Every option is read by all four
// interceptors unless its documentation says otherwise.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// naming says how an interceptor names a call's breaker.
type naming uint8

const (
	byDefault naming = iota // the client's target, the server's service
	byMethod                // the client's target and method, the server's method
	byNamer                 // config.namer
)

type config struct {
	naming    naming
	namer     func(target, fullMethod string) string
	isFailure func(codes.Code) bool
	logger    *slog.Logger // nil: slog.Default() at the time of the record
}

func newConfig(opts []Option) config {
	c := config{isFailure: DefaultFailure}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}

// WithPerMethod gives each method its own breaker instead of one per
// target (client) or per service (server). A client names it after the
// target and the full method, as in "dns:///api.example.com:443/pkg.Orders/Get";
// a server after the service and method, as in "pkg.Orders/Get". Use it
// when one method can fail while the others of the same server work (a
// method backed by a dependency of its own), at the cost of more breakers.
func WithPerMethod() Option {
	return optionFunc(func(c *config) { c.naming, c.namer = byMethod, nil })
}

// WithNamer sets how a call's breaker is named. namer receives the
// target the client was created with ([grpc.ClientConn.Target]; always ""
// on a server) and the call's full method ("/pkg.Service/Method"), and is
// called on every call, so keep it cheap: a name it builds by
// concatenation allocates each time. The name must pass
// [breaker.ValidateName]; breakers come from the registry with
// [breaker.Registry.Get], so names are shared with the rest of the program
// and count towards the registry's size limit. Keep their number bounded.
// A nil namer keeps the default (or [WithPerMethod]).
func WithNamer(namer func(target, fullMethod string) string) Option {
	return optionFunc(func(c *config) {
		if namer != nil {
			c.naming, c.namer = byNamer, namer
		}
	})
}

// WithFailurePredicate sets which status codes count as failures of the
// dependency; [DefaultFailure] is the default. A code it does not count is
// a success (the dependency answered), except Canceled, which is ignored:
// neither success nor failure. isFailure is never called for OK, and must
// be safe for concurrent use.
//
// Whatever isFailure says, a call that ends after the caller's own context
// ended (cancelled, or past its deadline) is ignored: the caller gave up,
// which says nothing about the dependency. And the breaker's own failure
// predicate ([breaker.WithFailurePredicate]) still sees each counted
// failure, as the call's status error. A nil isFailure keeps the default.
func WithFailurePredicate(isFailure func(code codes.Code) bool) Option {
	return optionFunc(func(c *config) {
		if isFailure != nil {
			c.isFailure = isFailure
		}
	})
}

// WithLogger sets the logger an interceptor warns on when it lets a call
// through without a breaker because none could be had (a full registry, an
// invalid name). The default, and what a nil l means, is slog.Default() at
// the time of the record.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// DefaultFailure is the default failure predicate. It counts the codes that
// say the dependency is down, overloaded or broken: Unavailable,
// DeadlineExceeded, ResourceExhausted, Internal, Unknown and DataLoss. The
// other codes say the request was wrong or refused (InvalidArgument,
// NotFound, AlreadyExists, PermissionDenied, Unauthenticated,
// FailedPrecondition, OutOfRange, Unimplemented, Aborted) or that someone
// gave up (Canceled); none of them is a failure.
func DefaultFailure(code codes.Code) bool {
	switch code {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted,
		codes.Internal, codes.Unknown, codes.DataLoss:
		return true
	}
	return false
}
