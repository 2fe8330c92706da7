// Package retry runs a call again when it fails: the spec's RetryHandler
// and ErrorClassifier, built to sit beside a circuit breaker.
//
// A [Policy] decides, for each failed attempt, whether to try again and how
// long to wait. It never waits past the caller's deadline, returns at once
// when the caller gives up, does not retry a breaker's rejection, honours
// a dependency's Retry-After only up to a maximum, and draws retries from a
// budget so that an outage does not multiply the load on the dependency.
// The last real error always reaches the caller.
//
// # Usage
//
//	p, err := retry.New("model_server",
//		retry.WithMaxRetries(3),                                 // the spec's max_retries=3: 4 attempts
//		retry.WithBackoff(100*time.Millisecond, 10*time.Second), // exponential, capped (the defaults)
//		retry.WithClassifier(classify),                          // the spec's ErrorClassifier
//	)
//	if err != nil { ... } // a *ConfigError naming the field
//
//	res, err := retry.Do(ctx, p, func(ctx context.Context) (Result, error) {
//		return client.Predict(ctx, input)
//	})
//
// [Policy.Execute] runs a function that returns only an error, and [Wrap]
// turns a function into one that retries (the decorator form). Inside the
// function, [Attempt] tells which attempt is running, for a log field or
// an HTTP span's http.request.resend_count.
//
// Defaults: 3 retries (the spec's max_retries=3), exponential backoff from
// 100ms doubling up to 10s with full jitter, no bound but the context's
// deadline, every error retried except those below, a budget of 0.2
// retries per call plus 10, a Retry-After honoured up to 10s, and a
// breaker's rejection not retried.
//
// # Which failures are retried
//
// After a failed attempt the policy applies these rules in order; the
// first that decides ends the list.
//
//  1. The caller's context has ended (cancelled, or past its deadline):
//     stop ([ReasonCancelled], [ReasonDeadline]).
//  2. The error comes from a nested retry (an [*Error] in its chain): stop
//     ([ReasonNotRetryable]). A retry inside a retry in one process
//     therefore never multiplies attempts: the inner one retries, the
//     outer one does not retry what the inner one gave up on.
//  3. The function marked the error with [Permanent] (stop) or
//     [Classified] (its decision).
//  4. A circuit breaker rejected the attempt ([breaker.ErrOpen]): stop
//     ([ReasonCircuitOpen]), unless [WithOpenWait] says to wait for the
//     breaker (see below).
//  5. The classifier ([WithClassifier]; by default every error is
//     retried) says [Retry], [RetryAfter] or [Stop].
//  6. The call is a half-open breaker's trial: stop ([ReasonTrial]; see
//     below).
//  7. No retries are left ([WithMaxRetries]): stop ([ReasonExhausted]).
//  8. A RetryAfter longer than [WithMaxRetryAfter]: stop at once
//     ([ReasonRetryAfter]), never wait hours.
//  9. The wait would end at or after the context's deadline, or start the
//     next attempt after [WithMaxDuration]: stop at once
//     ([ReasonDeadline]), without sleeping.
//  10. The budget has no token: stop ([ReasonBudget]).
//
// Otherwise the policy waits, and a cancellation during the wait ends the
// call at once. A panic in the function is never retried: it goes on up
// the stack unchanged.
//
// # Errors
//
// A call that stops because of what its error is (rules 2 to 6) returns
// that error unchanged, so errors.Is(err, breaker.ErrOpen) still picks
// out a rejection to serve a fallback. A call that stops for a reason of
// the policy's own (rules 1 and 7 to 10) returns an [*Error] that wraps
// both the last attempt's error and the reason's sentinel ([ErrExhausted],
// [ErrBudget], [ErrDeadline], [ErrRetryAfter]) and, when the caller's
// context ended, the context's cause:
//
//	_, err := retry.Do(ctx, p, fetch)
//	errors.Is(err, io.ErrUnexpectedEOF) // the dependency's own error
//	errors.Is(err, retry.ErrBudget)     // the budget refused a retry
//
// A deadline that the next wait would pass is not an error of the context:
// the policy gives up before it, so errors.Is(err, context.DeadlineExceeded)
// is true only if an attempt itself returned it.
//
// # With a circuit breaker
//
// A policy and a [breaker.Breaker] compose in either order, with the same
// function type, func(context.Context) (T, error):
//
//	// The spec's order: the breaker wraps the retry handler. The breaker
//	// sees one outcome per call, after its retries.
//	v, err := breaker.Do(ctx, b, retry.Wrap(p, fn))
//
//	// Per attempt: the policy wraps the breaker. The breaker sees every
//	// attempt, and the policy stops as soon as the breaker rejects one.
//	v, err := retry.Do(ctx, p, breaker.Wrap(b, fn))
//
// Use the spec's order when the breaker should judge calls as the caller
// sees them: a call that succeeded on its second attempt is a success, and
// brief blips never open the breaker. With the defaults (5 failures, 4
// attempts each) up to 20 attempts reach a dependency that is down before
// the breaker opens (15 from a fresh policy, whose budget runs dry first);
// after that the breaker rejects the whole call without running the
// policy. Use the per-attempt order (what failsafe-go,
// resilience4j and Polly recommend) when every failure should count
// towards opening, so that the breaker opens after exactly its threshold
// of failed attempts, and the policy stops retrying the moment it does.
//
// In the spec's order a half-open breaker admits only a few trial calls,
// and a trial holds its slot until it returns. If the policy retried a
// trial, the slot would be held through every backoff wait while other
// callers are rejected. So the policy makes one attempt for a trial (it
// reads [breaker.IsTrial] from the context the breaker gives the
// function): the trial's own error goes back to the breaker at once, which
// reopens or, after enough successful trials, closes.
//
// In the per-attempt order a rejection stops the call by default. With
// [WithOpenWait] the policy instead waits for a breaker that will let a
// probe through soon: it sleeps the rejection's RetryAfter plus a random
// part of the initial backoff, when that is within the option's maximum
// and the deadline. A half-open rejection (every trial slot taken) has a
// RetryAfter of zero, which never means "at once": it waits the ordinary
// backoff, so callers do not spin against a half-open breaker.
//
// # Budget
//
// A [Budget] is a token bucket filled by calls, not by time: every
// finished call adds ratio tokens (0.2 by default), every retry takes one,
// and it holds at most burst (10). So retries stay at or under
// ratio x calls + burst whatever the failure rate, and a dependency that is
// down gets about 1.2 attempts per call instead of 4. A refused retry ends
// the call with an [*Error] wrapping [ErrBudget] and the real error. Each
// policy has a budget of its own unless [WithBudget] shares one (share one
// per dependency) or [WithoutBudget] turns it off.
//
// # Observing
//
// [Policy.Stats] returns monotonic totals: calls by [Outcome] (success at
// the first attempt, success after retrying, failure without retrying,
// failure after retrying), failed calls by the [Reason] retrying stopped,
// attempts, retries, time spent waiting, and the budget's tokens. Package
// telemetry reads them at collection time, as it reads a breaker's.
//
// A policy publishes typed [Event] values on an [events.Bus]: one before
// each wait (the attempt that failed, its error, the delay) and one when a
// call that did not succeed at its first attempt ends (outcome, reason,
// attempts, time waited), each with the caller's context. Events are built
// only while someone subscribed, and a call that succeeds at its first
// attempt publishes none.
//
// # Cost
//
// A call whose first attempt succeeds costs one atomic counter add (two
// with a shared budget): it allocates nothing, reads no clock (unless
// [WithMaxDuration] is set), takes no lock and builds no event. The price
// of that is that a panic in a first attempt is not counted in Stats (it
// runs with no deferred function); a panic in a retry is.
//
// # Concurrency
//
// A Policy and a Budget are safe for concurrent use and start no
// goroutine. A wait is a timer that is stopped when the call returns.
// Tests can drive waits with testing/synctest: the policy reads the time
// only through the time package.
package retry
