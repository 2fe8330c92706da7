package retry

import (
	"context"

	"github.com/fusebox-go/fusebox/breaker"
)

// isTrial reports whether ctx is the context a half-open breaker gave its
// trial call: such a call gets one attempt (see the package documentation).
func isTrial(ctx context.Context) bool { return breaker.IsTrial(ctx) }
