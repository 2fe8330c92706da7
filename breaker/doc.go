// Package breaker implements the circuit-breaker pattern: a [Breaker] runs
// calls to a dependency while they mostly succeed, rejects them for a while
// once they keep failing, then probes with a few trial calls before letting
// traffic through again.
//
// # Usage
//
//	b, err := breaker.New("model_server",
//		breaker.WithFailureThreshold(5),
//		breaker.WithRecoveryTimeout(60*time.Second),
//		breaker.WithHalfOpenMaxCalls(3),
//	)
//	if err != nil { ... } // wraps ErrInvalidConfig
//
//	res, err := breaker.Do(ctx, b, func(ctx context.Context) (Result, error) {
//		return client.Predict(ctx, input)
//	})
//	if errors.Is(err, breaker.ErrOpen) {
//		// not called: serve a fallback
//	}
//
// [Breaker.Execute] protects a function that returns only an error, and
// [Wrap] turns a function into a protected one (the spec's decorator). A
// [Registry] shares breakers by name; the package-level [Get], [All] and
// [ResetAll] use a default one.
//
// # States
//
//	         failure_threshold consecutive failures
//	┌────────┐ ─────────────────────────────────► ┌──────┐
//	│ closed │                                    │ open │ ◄─┐
//	└────────┘ ◄─┐                                └──────┘   │ a trial
//	             │ half_open_max_calls    recovery_timeout │  │ fails
//	             │ trials succeed                          ▼  │
//	             │                                  ┌───────────┐
//	             └───────────────────────────────── │ half_open │
//	                                                └───────────┘
//
// Defaults, from the specification: failure_threshold 5, recovery_timeout
// 60s, half_open_max_calls 3.
//
//   - Closed: calls run. A failure adds to the consecutive-failure count, a
//     success resets it, an ignored outcome leaves it alone. At the
//     threshold the breaker opens.
//   - Open: calls are rejected without running. Once the recovery timeout
//     has passed the breaker is half-open. No timer or goroutine does this:
//     the next call, State or Stats notices it and publishes the change.
//   - Half-open: at most half_open_max_calls trials run at once; other calls
//     are rejected. When that many trials have succeeded the breaker closes;
//     a failed trial reopens it and restarts the recovery timeout; an ignored
//     trial frees its slot.
//
// A call admitted before a transition still counts in the totals when it
// returns, but cannot move the state of the period that followed.
// [Breaker.ForceOpen] holds the breaker open with no probes until
// [Breaker.Reset]; Reset closes it and clears the period's counts. Totals
// never go down.
//
// # Trip policies
//
// By default a breaker opens after failure_threshold consecutive failures.
// [WithTripPolicy] replaces or combines that with windowed policies, and
// the breaker opens as soon as any policy says so:
//
//	breaker.WithTripPolicy(
//		breaker.ConsecutiveFailures(20),                                      // a hard outage
//		breaker.FailureRate(0.5, 20, breaker.LastDuration(time.Minute, 6)),   // half the last minute's calls failed
//		breaker.SlowCalls(2*time.Second, 0.8, 20, breaker.LastCalls(100)),    // 80% of the last 100 took 2s+
//	)
//
// A window is the last N calls ([LastCalls]) or the last duration in buckets
// ([LastDuration]); it counts closed-state calls only and is emptied by
// every transition. [WithRecoveryBackoff] lengthens each open period after
// a failed probe, [WithHalfOpenMaxWait] reopens a breaker whose trials hang,
// [WithShadowMode] runs the whole state machine without ever rejecting, and
// [Breaker.Reconfigure] changes any of it at run time, keeping state and
// totals.
//
// # Outcomes
//
// A nil error is a success. A non-nil error is a failure if the failure
// predicate ([WithFailurePredicate]; by default every error) says so, and
// ignored otherwise. An error returned after the caller's own context was
// cancelled is ignored whatever the predicate says (the caller gave up; the
// dependency may be fine), while context.DeadlineExceeded is a failure. A
// panic is a failure and is re-raised with its original value.
//
// # Concurrency
//
// A Breaker is safe for concurrent use. With the default consecutive-failure
// policy the closed path takes no lock and allocates nothing: admission is
// a few atomic loads, and a success adds one atomic counter. The windowed
// policies (FailureRate, SlowCalls) take a short lock of their window per
// closed-state call. Transitions take a mutex that is never held while a
// protected function runs or while an event is published. No goroutine
// exists per breaker; the one runtime timer an open breaker arms on the
// system clock only marks its recovery time (see Time). A nil context is
// treated as context.Background().
//
// # Two-step calls
//
// [Breaker.Allow] admits a call and returns a [Permit]; [Permit.Done]
// records its outcome by the same rules as Execute. Use it for work that is
// not one function call: a streamed body, a callback, middleware that must
// see the response first. Execute, Do and package httpbreaker are built on
// it.
//
// # Errors
//
// Execute, [Do] and wrapped functions return an [*OpenError] (wrapping
// [ErrOpen]) when the call is rejected, [ErrNilFunc] for a nil function,
// and otherwise the function's own error unchanged. [New] and
// [Registry.Get] return a [*ConfigError] wrapping [ErrInvalidConfig] that
// names the bad field, and Get returns an error wrapping [ErrRegistryFull]
// when the registry is at its limit.
//
// # Events
//
// Each breaker publishes typed [Event] values on an [events.Bus]: one per
// call (outcome, error, duration, with the call's context) and one per state
// change (from, to, reason, time, and the failure count that caused it).
// Events are built only while the bus has subscribers, so an unobserved
// breaker reads no clock on its success path. A state change carries its
// reason and why it happened: the error of the call that caused it, the
// window of a rate policy that tripped, and its origin (local, or a peer's
// decision applied with [Breaker.Apply]). [Breaker.OnStateChange] and
// [Registry.OnStateChange] subscribe to state changes only, which costs
// calls nothing. They are published after the
// state is updated and outside any lock, so a subscriber may call State,
// Stats, Reset or ForceOpen. Package telemetry turns them into OpenTelemetry
// metrics, span events and slog records.
//
// # Time
//
// A breaker reads the system's monotonic clock unless given a [Clock] with
// [WithClock]; breakertest.Clock is a manual one for tests. On the system
// clock an open breaker arms a timer for its recovery time, so that a
// rejection reads no clock: the first call after the recovery time is
// admitted as soon as the runtime has run that timer (microseconds, longer
// when the process is starved of CPU), while State, Stats and Peek read the
// clock and are exact. With an injected clock every decision reads it.
// Times in Stats and events are wall-clock times derived from that reading.
package breaker
