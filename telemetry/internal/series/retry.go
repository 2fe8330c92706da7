package series

import "github.com/fusebox-go/fusebox/retry"

// The retry instruments.
var (
	RetryCalls = Instrument{"retry.calls", "{call}",
		"Calls through the retry policy by outcome: whether they succeeded, and whether they retried."}
	RetryStops = Instrument{"retry.stops", "{call}",
		"Failed calls through the retry policy by the reason it stopped retrying."}
	RetryAttempts = Instrument{"retry.attempts", "{attempt}",
		"Attempts the retry policy made: every call's first attempt and every retry."}
	RetryBudget = Instrument{"retry.budget.available", "{token}",
		"Tokens in the retry policy's budget: how many retries it would allow now."}
	RetryRetries = Instrument{"retry.call.retries", "{retry}",
		"Retries of each call that retried, by outcome."}
	RetryDelay = Instrument{"retry.call.delay", "s",
		"Time each call that retried spent waiting between its attempts."}
)

// RetryBuckets are the bucket boundaries of the retries-per-call histogram.
// A call that did not retry is not recorded.
var RetryBuckets = [...]float64{1, 2, 3, 4, 5, 10}

// RetryOutcomes and RetryReasons are the outcomes and reasons in the order
// of their values, for indexing per-policy tables.
var (
	RetryOutcomes = retry.Outcomes
	RetryReasons  = retry.Reasons
)

// RetryVisitor receives the series of one policy from VisitRetry.
type RetryVisitor interface {
	RetryCalls(o retry.Outcome, n int64)
	RetryStops(r retry.Reason, n int64)
	RetryAttempts(n int64)
	RetryBudget(tokens float64)
}

// VisitRetry reports what one policy's Stats give, under the rules both
// paths share: every outcome and every reason always (at zero until they
// happen, so that rates and alerts have a series from the start), the
// attempts, and the budget for a policy that has one.
func VisitRetry(s retry.Stats, v RetryVisitor) {
	for _, o := range RetryOutcomes {
		v.RetryCalls(o, Count(s.Calls(o)))
	}
	for _, r := range RetryReasons {
		v.RetryStops(r, Count(s.StoppedBy(r)))
	}
	v.RetryAttempts(Count(s.TotalAttempts))
	if s.HasBudget {
		v.RetryBudget(s.BudgetAvailable)
	}
}
