package grpcbreaker

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

// interceptor holds what the four interceptors share: the registry, the
// configuration, the rejection errors and the unprotected-call log.
type interceptor struct {
	config
	reg    *breaker.Registry
	server bool
	rej    rejections

	// Names of the client's per-method breakers, by target and method, so
	// that a call does not build its name again.
	names     sync.Map // methodKey -> string
	nameCount atomic.Int64

	nextLog    atomic.Int64 // Unix ns before which no unprotected call is logged
	suppressed atomic.Uint64
}

type methodKey struct{ target, method string }

// maxCachedNames bounds the client's per-method name cache; past it, names
// are built on each call.
const maxCachedNames = 4096

// unprotectedLogInterval is how often, at most, an interceptor logs that it
// let calls through without a breaker.
const unprotectedLogInterval = time.Minute

func newInterceptor(reg *breaker.Registry, opts []Option, server bool, fn string) *interceptor {
	if reg == nil {
		panic("grpcbreaker: " + fn + " with a nil registry")
	}
	return &interceptor{config: newConfig(opts), reg: reg, server: server}
}

// name returns the breaker name of a call to fullMethod on target (""
// on a server).
func (in *interceptor) name(target, fullMethod string) string {
	switch in.naming {
	case byNamer:
		return in.namer(target, fullMethod)
	case byMethod:
		if in.server {
			return strings.TrimPrefix(fullMethod, "/")
		}
		return in.methodName(target, fullMethod)
	}
	if in.server {
		return serviceName(fullMethod)
	}
	return target
}

// methodName returns target+fullMethod, from the cache when it can.
func (in *interceptor) methodName(target, fullMethod string) string {
	k := methodKey{target, fullMethod}
	if n, ok := in.names.Load(k); ok {
		return n.(string)
	}
	n := target + fullMethod
	if in.nameCount.Load() < maxCachedNames {
		if _, loaded := in.names.LoadOrStore(k, n); !loaded {
			in.nameCount.Add(1)
		}
	}
	return n
}

// serviceName returns the service of a full method: "pkg.Service" for
// "/pkg.Service/Method".
func serviceName(fullMethod string) string {
	s := strings.TrimPrefix(fullMethod, "/")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[:i]
	}
	return s
}

// breakerFor returns the breaker of a call, or nil when none can be had (the
// registry is full, the name is invalid): the call then goes through
// unprotected rather than fail, and that is logged.
func (in *interceptor) breakerFor(ctx context.Context, target, fullMethod string) *breaker.Breaker {
	name := in.name(target, fullMethod)
	b, err := in.reg.Get(name)
	if err != nil {
		in.unprotected(ctx, name, fullMethod, err)
		return nil
	}
	return b
}

// unprotected logs a call let through without a breaker, unless one was
// logged less than a minute ago.
func (in *interceptor) unprotected(ctx context.Context, name, fullMethod string, err error) {
	now := time.Now().UnixNano()
	next := in.nextLog.Load()
	if now < next || !in.nextLog.CompareAndSwap(next, now+int64(unprotectedLogInterval)) {
		in.suppressed.Add(1)
		return
	}
	logger := in.logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.LogAttrs(ctx, slog.LevelWarn, "grpcbreaker: call made without a circuit breaker",
		slog.String("circuit_breaker.name", name),
		slog.String("rpc.method", fullMethod),
		slog.String("error", err.Error()),
		slog.Uint64("circuit_breaker.suppressed", in.suppressed.Swap(0)),
	)
}
