package breaker

import "context"

// Do runs fn through b, like [Breaker.Execute], and returns fn's value. When
// b rejects the call, fn does not run and Do returns the zero T and an
// [*OpenError]. Do is the Go form of the spec's cb.call(func, ...).
func Do[T any](ctx context.Context, b *Breaker, fn func(context.Context) (T, error)) (T, error) {
	var v T
	if fn == nil {
		return v, ErrNilFunc
	}
	t, err := b.admit(ctx)
	if err != nil {
		return v, err
	}
	err = b.run(ctx, t, func(ctx context.Context) error {
		var err error
		v, err = fn(ctx)
		return err
	})
	return v, err
}

// Wrap returns a function that runs fn through b on every call: the Go form
// of the spec's @circuit_breaker decorator.
func Wrap[T any](b *Breaker, fn func(context.Context) (T, error)) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) { return Do(ctx, b, fn) }
}
