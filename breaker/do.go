package breaker

import "context"

// Do runs fn through b, like [Breaker.Execute], and returns fn's value. When
// b rejects the call, fn does not run and Do returns the zero T and an
// [*OpenError]. Do is the Go form of the spec's cb.call(func, ...).
func Do[T any](ctx context.Context, b *Breaker, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	if fn == nil {
		return zero, ErrNilFunc
	}
	var pm Permit
	if err := b.admit(ctx, &pm); err != nil {
		return zero, err
	}
	defer pm.finishCall()
	v, err := fn(pm.callContext())
	pm.Done(err)
	return v, err
}

// Wrap returns a function that runs fn through b on every call: the Go form
// of the spec's @circuit_breaker decorator.
func Wrap[T any](b *Breaker, fn func(context.Context) (T, error)) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) { return Do(ctx, b, fn) }
}
