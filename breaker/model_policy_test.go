package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
)

// This file extends the reference model (model_test.go) to the trip
// policies and the options around them: FailureRate and SlowCalls over
// count and time windows, combined with ConsecutiveFailures; recovery
// backoff (jitter 0); WithHalfOpenMaxWait; shadow mode; and Reconfigure
// between steps.

// modelPolicySequences is how many random sequences TestModelPolicies runs.
const modelPolicySequences = 2000

// modelKnownBugs can steer the model clear of a breaker bug while it is
// open, each proved by a TestModelPolicyBug... test below. All four bugs
// these switches were made for are fixed, so the model checks every case.
var modelKnownBugs = struct {
	// The driver does not add a windowed policy while a closed call of the
	// current period is in flight (TestModelPolicyBugReconfigureAddsPolicyMidCall).
	midCallPolicy bool
	// The driver does not lower half_open_max_calls while half-open
	// (TestModelPolicyBugLoweringHalfOpenMaxCalls). Off, the model stops at
	// a half-open breaker that can never close: it must first learn how
	// the fix closes it.
	loweredTrials bool
	// Windows are compared only while closed
	// (TestModelPolicyBugWindowKeptAfterOpening).
	windowAfterOpening bool
	// The clock of a policy input never goes before the breaker's creation
	// (TestModelPolicyBugTimeWindowBeforeCreation).
	negativeTime bool
}{false, false, false, false}

// modelPolicy is a windowed trip policy: SlowCalls when slowerThan > 0,
// else FailureRate.
type modelPolicy struct {
	ratio      float64
	minCalls   int
	win        modelWindowDef
	slowerThan time.Duration
}

func (p *modelPolicy) trip() breaker.TripPolicy {
	if p.slowerThan > 0 {
		return breaker.SlowCalls(p.slowerThan, p.ratio, p.minCalls, p.win.window())
	}
	return breaker.FailureRate(p.ratio, p.minCalls, p.win.window())
}

// modelWindowDef is a window: the last calls calls, or the last span kept
// in buckets.
type modelWindowDef struct {
	calls   int
	span    time.Duration
	buckets int
}

func (d modelWindowDef) window() breaker.Window {
	if d.calls > 0 {
		return breaker.LastCalls(d.calls)
	}
	return breaker.LastDuration(d.span, d.buckets)
}

// width is a time window's bucket width.
func (d modelWindowDef) width() int64 { return int64(d.span) / int64(d.buckets) }

type modelBackoff struct {
	initial, max time.Duration
	mult         float64
}

// modelWindow is what a windowed policy sees of the current closed period:
// its calls in order, each tagged with the bucket it was recorded in. A
// count window holds the last calls; a time window, the calls whose bucket
// is one of the newest `buckets` buckets. Bucket b spans [b*width,
// (b+1)*width) of breaker time; the newest bucket is the latest one the
// window has seen (a call or a Stats read), so a call made after the clock
// went back is recorded in the newest bucket, and a bucket expires whole.
type modelWindow struct {
	def     modelWindowDef
	newest  int64
	entries []windowEntry
	cov     map[string]int
}

type windowEntry struct {
	bucket        int64
	failure, slow bool
}

func newModelWindow(def modelWindowDef, now int64, cov map[string]int) *modelWindow {
	w := &modelWindow{def: def, cov: cov}
	w.reset(now)
	return w
}

// floorDiv is a/b rounded down (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// reset empties the window at now.
func (w *modelWindow) reset(now int64) {
	w.entries = nil
	if w.def.buckets > 0 {
		w.newest = floorDiv(now, w.def.width())
	}
}

// see moves a time window to now: a later bucket becomes the newest, and
// the calls in buckets no longer among the newest `buckets` leave.
func (w *modelWindow) see(now int64) {
	if w.def.buckets == 0 {
		return
	}
	b := floorDiv(now, w.def.width())
	if b <= w.newest {
		return
	}
	w.newest = b
	kept := w.entries[:0]
	for _, e := range w.entries {
		if e.bucket > w.newest-int64(w.def.buckets) {
			kept = append(kept, e)
		}
	}
	switch {
	case len(kept) < len(w.entries) && len(kept) > 0:
		w.cov["bucket_expired_some_kept"]++
	case len(kept) < len(w.entries):
		w.cov["bucket_expired_all"]++
	case len(kept) > 0:
		w.cov["bucket_rollover_all_kept"]++
	}
	w.entries = kept
}

// add records a call at now.
func (w *modelWindow) add(now int64, failure, slow bool) {
	e := windowEntry{failure: failure, slow: slow}
	if w.def.calls > 0 {
		w.entries = append(w.entries, e)
		if len(w.entries) > w.def.calls {
			w.entries = append([]windowEntry(nil), w.entries[1:]...)
			w.cov["count_window_evicted"]++
		}
		return
	}
	w.see(now)
	if floorDiv(now, w.def.width()) < w.newest {
		w.cov["clock_back_record"]++
	}
	e.bucket = w.newest
	w.entries = append(w.entries, e)
}

// counts returns the calls in the window at now, and how many failed and
// were slow.
func (w *modelWindow) counts(now int64) (calls, failures, slows int) {
	w.see(now)
	for _, e := range w.entries {
		calls++
		if e.failure {
			failures++
		}
		if e.slow {
			slows++
		}
	}
	return calls, failures, slows
}

func (w *modelWindow) stats(p *modelPolicy, now int64) *breaker.WindowStats {
	calls, failures, slows := w.counts(now)
	count := failures
	if p.slowerThan > 0 {
		count = slows
	}
	ws := &breaker.WindowStats{Calls: calls, Count: count, Threshold: p.ratio, MinCalls: p.minCalls}
	if calls > 0 {
		ws.Ratio = float64(count) / float64(calls)
	}
	return ws
}

// The values the policy decoder picks from. Bucket widths are 1s, 1s,
// 3.333333333s and 2s; clock moves and call durations land on and next to
// their edges and on the slow-call thresholds.
var (
	policyRatios     = [...]float64{0.25, 0.5, 0.6, 1}
	policyMinCalls   = [...]int{1, 2, 3, 5}
	policySlowerThan = [...]time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}
	policyTimeouts   = [...]time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Second}
	policyMaxWaits   = [...]time.Duration{0, time.Second, 3 * time.Second, 10 * time.Second}
	policyMults      = [...]float64{1, 1.5, 2, 3}
	policyWindows    = [...]modelWindowDef{
		{calls: 1}, {calls: 2}, {calls: 4}, {calls: 10},
		{span: time.Second, buckets: 1}, {span: 3 * time.Second, buckets: 3},
		{span: 10 * time.Second, buckets: 3}, {span: 10 * time.Second, buckets: 5},
	}
	policyAdvances = [...]time.Duration{0, 0, 0, 0, 0, 0, time.Nanosecond, 250 * time.Millisecond, time.Second,
		2 * time.Second, 10 * time.Second / 3, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute}
	policyBackwards     = [...]time.Duration{-time.Second, -500 * time.Millisecond, -10 * time.Second, -time.Hour}
	policyCallDurations = [...]time.Duration{0, time.Nanosecond, 500*time.Millisecond - 1, 500 * time.Millisecond,
		time.Second - 1, time.Second, 2*time.Second - 1, 2 * time.Second, 3 * time.Second, 10 * time.Second, -time.Second, 5 * time.Second}
)

// mix spreads the bits of v so that every field decoded from it depends on
// all of them.
func mix(v byte) uint32 { return (uint32(v) + 1) * 0x9E3779B1 }

// policyFrom decodes a windowed policy (a SlowCalls one when slow) from v.
func policyFrom(v byte, slow bool) *modelPolicy {
	x := mix(v)
	p := &modelPolicy{ratio: policyRatios[x>>30], win: policyWindows[x>>27&7], minCalls: policyMinCalls[x>>25&3]}
	if p.win.calls > 0 {
		p.minCalls = min(p.minCalls, p.win.calls)
	}
	if slow {
		p.slowerThan = policySlowerThan[(x>>20&15)%3]
	}
	return p
}

// backoffFrom decodes a recovery backoff (jitter 0) from v.
func backoffFrom(v byte) *modelBackoff {
	x := mix(v)
	bo := &modelBackoff{initial: []time.Duration{time.Second, 2 * time.Second}[x>>31], mult: policyMults[x>>27&3]}
	bo.max = []time.Duration{bo.initial, 5 * time.Second, 10 * time.Second, 45 * time.Second}[x>>29&3]
	return bo
}

// reconfKind says what a Reconfigure step changes.
type reconfKind uint8

const (
	reThreshold reconfKind = iota // WithFailureThreshold, or WithTripPolicy without ConsecutiveFailures
	reTimeout                     // WithRecoveryTimeout
	reTrials                      // WithHalfOpenMaxCalls
	reRate                        // remove, replace or retune the FailureRate policy
	reSlow                        // the same for SlowCalls
	reMaxWait                     // WithHalfOpenMaxWait
	reShadow                      // toggle shadow mode, by Reconfigure or SetShadowMode
	reBackoff                     // WithRecoveryBackoff
	reInvalid                     // a valid change with one invalid option: nothing changes
	reMany                        // threshold, timeout and half-open calls at once
	numReconfKinds
)

// reconf is a Reconfigure step: kind with its argument v.
type reconf struct {
	kind reconfKind
	v    byte
}

func (rc reconf) String() string {
	return fmt.Sprintf("%s(%d)", [...]string{"threshold", "timeout", "half_open_max_calls", "failure_rate", "slow_calls",
		"half_open_max_wait", "shadow", "backoff", "invalid", "many"}[rc.kind], rc.v)
}

// policyHeader is how many configuration bytes follow the first two in a
// policy input.
const policyHeader = 4

// decodePolicyModel decodes a policy input: c0 (threshold, half-open calls,
// timeout), c1 (events; its top bit marks the input), 4 bytes (FailureRate,
// SlowCalls, backoff, half-open deadline and shadow mode), then 3 bytes per
// step (operation, argument, clock move).
func decodePolicyModel(c0, c1 byte, data []byte) (modelConfig, []modelOp) {
	var hdr [policyHeader]byte
	n := copy(hdr[:], data)
	data = data[n:]
	cfg := modelConfig{
		threshold: int(c0 % 5),
		trials:    1 + int(c0>>3%3),
		timeout:   policyTimeouts[c0>>5%4],
		events:    eventsMode(c1 % 3),
		maxWait:   policyMaxWaits[hdr[3]&3],
		shadow:    hdr[3]>>2&3 == 0,

		policyInput: true,
	}
	if hdr[0]%4 != 0 {
		cfg.rate = policyFrom(hdr[0], false)
	}
	if hdr[1]%3 != 0 {
		cfg.slow = policyFrom(hdr[1], true)
	}
	if hdr[2]%3 == 0 {
		cfg.backoff = backoffFrom(hdr[2])
	}
	if cfg.threshold == 0 && !cfg.windowed() {
		cfg.threshold = 3
	}
	var ops []modelOp
	for len(data) >= 3 && len(ops) < maxModelSteps {
		o, arg, adv := data[0], data[1], data[2]
		data = data[3:]
		op := modelOp{}
		if a := adv % 16; a == 15 {
			op.advance = policyBackwards[adv>>4&3]
		} else if op.advance = policyAdvances[a]; op.advance != 0 {
			op.advance += [...]time.Duration{0, -time.Nanosecond, time.Nanosecond, 333 * time.Millisecond}[adv>>4&3]
		}
		switch k := o % 64; {
		case k < 8:
			op.kind, op.out = opCall, outSuccess
		case k < 16, k >= 60:
			op.kind, op.out = opCall, outFailure
		case k < 18:
			op.kind, op.out = opCall, outIgnored
		case k < 19:
			op.kind, op.out = opCall, outCancelled
		case k < 20:
			op.kind, op.out = opCall, outPanic
		case k < 27, k >= 55:
			op.kind, op.out = opSlow, outcome(arg%uint8(numOutcomes))
			op.d = policyCallDurations[int(arg>>3)%len(policyCallDurations)]
		case k < 30:
			op.kind = opBurst
			for i := range 2 + int(arg&3) {
				op.outs = append(op.outs, outcome(arg>>(2+i)&1)) // success or failure
			}
		case k < 31:
			op.kind = opReset
		case k < 32:
			op.kind = opState
			if arg&3 == 0 {
				op.kind = opForce // keep forced periods rare
			}
		case k < 34:
			op.kind = opState
		case k < 35:
			op.kind = opStats
		case k < 40:
			op.kind = opStart
		case k < 45:
			op.kind, op.idx, op.out = opFinish, int(arg%maxInFlight), outcome(arg>>2%uint8(numOutcomes))
		default: // 45 to 54
			op.kind, op.rc = opReconfigure, reconf{kind: reconfKind(k - 45), v: arg}
		}
		ops = append(ops, op)
	}
	return cfg, ops
}

// randomPolicyInput returns the input of random policy sequence seed.
func randomPolicyInput(seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 0x9011c1))
	data := make([]byte, 2+policyHeader+3*(10+rng.IntN(90)))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	data[1] |= 0x80
	return data
}

// reconfigure applies rc to the breaker and the model. It works out the new
// configuration from the model's current one, the options that make it,
// and the field Reconfigure must refuse (then nothing changes).
func (r *modelRun) reconfigure(rc reconf) {
	cur := r.m.cfg
	next := cur
	var opts []breaker.Option
	field := ""
	v := rc.v
	policies := func() {
		opts = append(opts, breaker.WithTripPolicy(next.tripPolicies()...))
		if next.threshold == 0 && !next.windowed() {
			field = "trip_policy"
		}
	}
	switch rc.kind {
	case reThreshold:
		if next.threshold = int(v % 5); next.threshold > 0 {
			opts = append(opts, breaker.WithFailureThreshold(next.threshold))
		} else {
			policies()
		}
	case reTimeout:
		next.timeout = policyTimeouts[v%4]
		opts = append(opts, breaker.WithRecoveryTimeout(next.timeout))
	case reTrials:
		next.trials = 1 + int(v%3)
		opts = append(opts, breaker.WithHalfOpenMaxCalls(next.trials))
	case reRate, reSlow:
		slow := rc.kind == reSlow
		p := &next.rate
		if slow {
			p = &next.slow
		}
		switch q := policyFrom(v>>2, slow); {
		case v&3 == 0:
			*p = nil
		case v&3 == 3 && *p != nil: // the same window, other settings: it keeps its counts
			np := **p
			np.ratio, np.slowerThan = q.ratio, q.slowerThan
			np.minCalls = policyMinCalls[v>>6]
			if np.win.calls > 0 {
				np.minCalls = min(np.minCalls, np.win.calls)
			}
			*p = &np
		default:
			*p = q
		}
		policies()
	case reMaxWait:
		next.maxWait = policyMaxWaits[v&3]
		opts = append(opts, breaker.WithHalfOpenMaxWait(next.maxWait))
	case reShadow:
		next.shadow = !cur.shadow
		if v&1 != 0 {
			r.b.SetShadowMode(next.shadow)
			r.m.cfg.shadow = next.shadow
			r.m.cov["reconfigure_shadow"]++
			return
		}
		opts = append(opts, breaker.WithShadowMode(next.shadow))
	case reBackoff:
		next.backoff = backoffFrom(v)
		bo := next.backoff
		opts = append(opts, breaker.WithRecoveryBackoff(bo.initial, bo.max, bo.mult, 0))
	case reMany:
		next.threshold, next.timeout, next.trials = 1+int(v%4), policyTimeouts[v>>2%4], 1+int(v>>4%3)
		opts = append(opts, breaker.WithFailureThreshold(next.threshold), breaker.WithRecoveryTimeout(next.timeout),
			breaker.WithHalfOpenMaxCalls(next.trials))
	case reInvalid:
		opts = append(opts, breaker.WithFailureThreshold(1+int(v%4)))
		invalid := []struct {
			field string
			opt   breaker.Option
		}{
			{"half_open_max_calls", breaker.WithHalfOpenMaxCalls(0)},
			{"recovery_timeout", breaker.WithRecoveryTimeout(0)},
			{"half_open_max_wait", breaker.WithHalfOpenMaxWait(-time.Nanosecond)},
			{"failure_rate.ratio", breaker.WithTripPolicy(breaker.FailureRate(0, 1, breaker.LastCalls(4)))},
			{"recovery_backoff.max", breaker.WithRecoveryBackoff(time.Second, time.Millisecond, 2, 0)},
			{"clock", breaker.WithClock(r.clock)},
		}[int(v>>2)%6]
		opts, field = append(opts, invalid.opt), invalid.field
	}
	if modelKnownBugs.loweredTrials && r.m.state == breaker.HalfOpen && next.trials < cur.trials {
		r.notes[r.step] = "skipped: lowers half_open_max_calls while half-open"
		r.m.cov["steered"]++
		return
	}
	if modelKnownBugs.midCallPolicy {
		for _, f := range r.flights {
			a := f.adm
			if a.gen == r.m.gen && a.state == breaker.Closed && !a.shadow &&
				(next.rate != nil && a.cfg.rate == nil || next.slow != nil && a.cfg.slow == nil) {
				r.notes[r.step] = "skipped: adds a windowed policy while a closed call is in flight"
				r.m.cov["steered"]++
				return
			}
		}
	}
	err := r.b.Reconfigure(opts...)
	if field != "" {
		var ce *breaker.ConfigError
		if !errors.As(err, &ce) || !errors.Is(err, breaker.ErrInvalidConfig) || ce.Field != field {
			r.fatalf("Reconfigure: got %v, want a *ConfigError for %s", err, field)
		}
		r.notes[r.step] = "refused: " + field
		r.m.cov["reconfigure_refused"]++
		return
	}
	if err != nil {
		r.fatalf("Reconfigure to %s: %v", next, err)
	}
	r.notes[r.step] = nowConfig(next)
	r.m.cov["reconfigure_"+[...]string{"threshold", "timeout", "trials", "rate", "slow", "max_wait", "shadow", "backoff", "invalid", "many"}[rc.kind]]++
	if rc.kind == reMany && next.trials != cur.trials && next.threshold != cur.threshold {
		r.m.cov["reconfigure_many_changed"]++
	}
	r.m.reconfigure(next)
}

// nowConfig describes the configuration a step switched to, when a failure
// is printed.
type nowConfig modelConfig

func (c nowConfig) String() string { return "now " + modelConfig(c).String() }

// reconfigure switches the model to next: state, counts and totals stay; a
// window whose definition is unchanged keeps its calls, a new or changed
// one starts empty.
func (m *model) reconfigure(next modelConfig) {
	m.rateWin = m.keepWindow(m.cfg.rate, next.rate, m.rateWin, "rate")
	m.slowWin = m.keepWindow(m.cfg.slow, next.slow, m.slowWin, "slow")
	m.cfg = next
	// A half-open breaker whose successful trials already reach the new
	// count closes at once: no later trial could close it.
	if m.state == breaker.HalfOpen && m.succeeded >= next.trials {
		m.cov["reconfigure_closes_half_open"]++
		m.swap(breaker.Closed, false, breaker.ReasonTrialsSucceeded, 0, 0)
	}
}

func (m *model) keepWindow(old, next *modelPolicy, w *modelWindow, name string) *modelWindow {
	switch {
	case next == nil:
		if old != nil {
			m.cov[name+"_policy_removed"]++
		}
		return nil
	case old == nil:
		m.cov[name+"_policy_added"]++
	case old.win == next.win:
		if calls, _, _ := w.counts(m.now); calls > 0 && m.state == breaker.Closed {
			m.cov["window_kept_with_calls"]++
		}
		return w
	default:
		if calls, _, _ := w.counts(m.now); calls > 0 && m.state == breaker.Closed {
			m.cov["window_changed_with_calls"]++
		}
	}
	return newModelWindow(next.win, m.now, m.cov)
}

// TestModelPolicies runs modelPolicySequences random sequences with the
// windowed policies (count and time windows, alone or with the consecutive
// policy), recovery backoff, the half-open deadline, shadow mode and
// Reconfigure steps against the reference model, which checks after every
// step what TestModel checks. A failure names the seed, the configuration
// and the last steps; replay it with FuzzModel by adding
// randomPolicyInput(seed) to its corpus.
func TestModelPolicies(t *testing.T) {
	var st modelStats
	for seed := range uint64(modelPolicySequences) {
		runModel(t, fmt.Sprintf("policy seed %d", seed), randomPolicyInput(seed), &st)
		if t.Failed() {
			return
		}
	}
	t.Logf("%d sequences, %d steps, %d calls (%d held in flight), %d stale results, transitions %v\ncoverage:%s",
		st.sequences, st.steps, st.calls, st.inFlight, st.stale, st.reasons, st.covString())
	// The generator must keep reaching every feature, or the test proves
	// less than it claims. The floors are about half of what the seeds
	// reach.
	for reason, least := range map[breaker.Reason]int{
		breaker.ReasonFailureRate: 600, breaker.ReasonSlowCalls: 150, breaker.ReasonHalfOpenTimeout: 350,
		breaker.ReasonFailureThreshold: 700, breaker.ReasonRecoveryTimeout: 3000, breaker.ReasonTrialsSucceeded: 700,
		breaker.ReasonTrialFailed: 2000, breaker.ReasonForceOpen: 100, breaker.ReasonReset: 300,
	} {
		if st.reasons[reason] < least {
			t.Errorf("only %d transitions for %s, want at least %d", st.reasons[reason], reason, least)
		}
	}
	for feature, least := range map[string]int{
		"rate_trip_with_threshold":  500,  // both policies on, the rate one trips
		"threshold_trip_with_rate":  500,  // both on, the consecutive one trips
		"min_calls_gated":           1000, // the ratio is reached below min calls
		"count_window_evicted":      1000,
		"bucket_expired_some_kept":  80, // a bucket expires whole, newer ones stay
		"bucket_expired_all":        1000,
		"bucket_rollover_all_kept":  500, // a new bucket, no old one expires yet
		"clock_back_record":         400, // recorded in the newest bucket after the clock went back
		"slow_call":                 3000,
		"slow_exactly_threshold":    300,
		"backoff_reopen":            2000,
		"backoff_capped":            1000,
		"backoff_retry_after":       3000, // a rejection's RetryAfter checked under a backoff
		"retry_after_clock_back":    1000, // a held OpenError read after the clock went back
		"late_trial_after_timeout":  300,
		"shadow_open":               3000,
		"shadow_half_open":          400,
		"shadow_forced":             500,
		"reconfigure_threshold":     500,
		"reconfigure_timeout":       500,
		"reconfigure_trials":        500,
		"reconfigure_many_changed":  250,
		"reconfigure_max_wait":      500,
		"reconfigure_shadow":        500,
		"reconfigure_backoff":       500,
		"reconfigure_rate":          500,
		"reconfigure_slow":          500,
		"reconfigure_refused":       500,
		"rate_policy_added":         100,
		"rate_policy_removed":       100,
		"slow_policy_added":         100,
		"slow_policy_removed":       100,
		"window_kept_with_calls":    800,
		"window_changed_with_calls": 60,
	} {
		if st.cov[feature] < least {
			t.Errorf("%s reached %d times, want at least %d", feature, st.cov[feature], least)
		}
	}
	if st.stale < 1000 || st.inFlight < 2000 {
		t.Errorf("too few stale results (%d) or calls in flight (%d)", st.stale, st.inFlight)
	}
}

// TestModelPolicyBugReconfigureAddsPolicyMidCall: a call admitted before
// Reconfigure adds a FailureRate or SlowCalls policy, and returning after
// it, must return its own error ("the new settings apply from the next call
// on"). It used to panic with a nil pointer dereference: finish handed
// recordWindows the settings the call was admitted under (c.rate or c.slow
// nil) together with the windows the breaker has now (non-nil).
func TestModelPolicyBugReconfigureAddsPolicyMidCall(t *testing.T) {
	for _, p := range []breaker.TripPolicy{
		breaker.FailureRate(0.5, 1, breaker.LastCalls(4)),
		breaker.SlowCalls(time.Second, 0.5, 1, breaker.LastCalls(4)),
	} {
		t.Run(p.String(), func(t *testing.T) {
			b, _ := newClocked(t, breaker.WithFailureThreshold(5))
			var err error
			require.NotPanics(t, func() {
				err = b.Execute(context.Background(), func(context.Context) error {
					require.NoError(t, b.Reconfigure(breaker.WithTripPolicy(breaker.ConsecutiveFailures(5), p)))
					return errBoom
				})
			})
			require.ErrorIs(t, err, errBoom)
			assert.Equal(t, uint64(1), b.Stats().TotalFailures)
		})
	}
}

// TestModelPolicyBugLoweringHalfOpenMaxCalls: lowering half_open_max_calls
// while half-open to no more than the trials that already succeeded must
// close the breaker. It used to leave it half-open for good: admission
// compared the trials with the new count and rejected every call, trials
// were judged by the count they were admitted under, and nothing else
// closed it.
func TestModelPolicyBugLoweringHalfOpenMaxCalls(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1), breaker.WithHalfOpenMaxCalls(3))
	play(t, b, clock, "f +60s s")
	require.Equal(t, breaker.HalfOpen, b.State())
	require.Equal(t, 1, b.Stats().SuccessCount)
	require.NoError(t, b.Reconfigure(breaker.WithHalfOpenMaxCalls(1)))
	clock.Advance(time.Hour)
	admitted := 0
	for range 3 {
		if b.Execute(context.Background(), succeed) == nil {
			admitted++
		}
	}
	assert.Positive(t, admitted, "an hour later every call is still rejected")
	assert.Equal(t, breaker.Closed, b.State())
}

// TestModelPolicyBugWindowKeptAfterOpening: the windowed policies "look at
// closed-state calls only: a transition clears their window" (TripPolicy)
// and a window "is emptied by every transition" (package doc). They used to
// be emptied only on entering closed, so an open breaker's Stats reported
// the calls that opened it, and a late closed call was still added.
func TestModelPolicyBugWindowKeptAfterOpening(t *testing.T) {
	b, clock := newClocked(t, breaker.WithHalfOpenMaxCalls(1), breaker.WithTripPolicy(
		breaker.FailureRate(0.5, 2, breaker.LastCalls(4)),
		breaker.SlowCalls(time.Second, 1, 4, breaker.LastCalls(4))))

	inside, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- b.Execute(context.Background(), func(context.Context) error { close(inside); <-release; return errBoom })
	}()
	<-inside
	play(t, b, clock, "sf")
	require.Equal(t, breaker.Open, b.State())
	s := b.Stats()
	assert.Zero(t, s.FailureRate.Calls, "the opening emptied the failure-rate window")
	assert.Zero(t, s.SlowCallRate.Calls, "the opening emptied the slow-call window")

	close(release)
	require.ErrorIs(t, <-done, errBoom)
	assert.Zero(t, b.Stats().FailureRate.Calls, "a call of the last closed period does not count in the open one")

	clock.Advance(60 * time.Second)
	require.Equal(t, breaker.HalfOpen, b.State())
	assert.Zero(t, b.Stats().FailureRate.Calls, "half-open: still empty")
}

// TestModelPolicyBugTimeWindowBeforeCreation: a clock that goes back must
// cause no panic (GUARANTEES.md). When a time window starts afresh (on
// entering closed, Reset included, or by Reconfigure) while the breaker's
// clock reads earlier than when the breaker was created, its newest bucket
// index is negative; window.record used to index buckets with w.last%len
// and panic with "index out of range".
func TestModelPolicyBugTimeWindowBeforeCreation(t *testing.T) {
	b, clock := newClocked(t, breaker.WithTripPolicy(breaker.FailureRate(0.5, 5, breaker.LastDuration(10*time.Second, 5))))
	clock.Advance(-3 * time.Second)
	b.Reset()
	var err error
	require.NotPanics(t, func() { err = b.Execute(context.Background(), succeed) })
	require.NoError(t, err)
	assert.Equal(t, 1, b.Stats().FailureRate.Calls)
}
