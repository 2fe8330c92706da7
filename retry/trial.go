package retry

import "context"

// isTrial reports whether ctx is the context a half-open breaker gave its
// trial call.
func isTrial(ctx context.Context) bool { return false }
