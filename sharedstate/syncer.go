package sharedstate

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/internal/typednil"
)

// Syncer shares the openings and closings of a registry's breakers with
// other replicas through a [Store]. Create one with [Attach] and stop it
// with [Syncer.Close]. A Syncer is safe for concurrent use.
//
// It never acts on a breaker's call path: a local transition is noted in a
// pending map (the latest per breaker wins) and one background goroutine
// proposes it to the store, applies other replicas' decisions with
// [breaker.Breaker.Apply], and reconciles periodically.
type Syncer struct {
	reg   *breaker.Registry
	store Store
	cfg   config

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}
	once   sync.Once
	stops  []func()

	// mu guards what follows. It is a leaf lock: never held while calling
	// the store, a breaker or a logger.
	mu        sync.Mutex
	entries   map[string]*entry
	pending   map[string]pending
	connected bool
	lastSync  time.Time
	lastErr   error
	lastErrAt time.Time

	// The background goroutine's own state.
	sub      Subscription
	version  uint64
	backoff  time.Duration
	retry    *time.Timer
	fullNext bool

	n counters
}

// entry is what the Syncer knows about one breaker name.
type entry struct {
	applied  uint64    // the highest epoch seen for the name
	episode  uint64    // the epoch of the opening the local breaker is in; 0: none or not known yet
	rec      Record    // the record of epoch applied
	deadline time.Time // rec open and not forced: when its open period ends, on this replica's clock
	ver      uint64    // bumped with rec
	creating int       // OnCreate callbacks applying rec right now
	peerGen  uint64    // bumped by every transition a remote decision made
	openSeq  uint64    // bumped by every local opening
}

// pending is a proposal waiting to be sent.
type pending struct {
	Proposal
	resolve bool      // a close whose opening's epoch was not known yet: take the entry's episode when sending
	openSeq uint64    // an opening: entry.openSeq when it happened
	until   time.Time // an opening that is not forced: when it ends here
	peerGen uint64
}

type counters struct {
	applied, stale, self, unknown, malformed atomic.Uint64
	written, joined, refused, voted          atomic.Uint64
	reconciles, repaired, errors             atomic.Uint64
	prop                                     histogram
}

// Attach connects reg to store: from now on the openings and closings of
// reg's breakers, also those created later, are shared with every replica
// attached to the same store, and theirs are applied here. Before it
// returns, Attach reads the store's state once, bounded by
// [WithStartupTimeout], so that a restarted replica starts with the fleet's
// openings; if the store does not answer in time, Attach still succeeds and
// keeps trying in the background. The error wraps [breaker.ErrInvalidConfig]
// for an invalid option.
//
// A breaker the registry removes (Remove, or idle eviction) is forgotten:
// its pending proposal is dropped and only the store's record of its name,
// if any, is kept, so that a breaker of that name created later starts with
// the fleet's state.
//
// Close the Syncer to detach; attaching one registry twice (to one store or
// two) shares every decision twice.
func Attach(reg *breaker.Registry, store Store, opts ...Option) (*Syncer, error) {
	if reg == nil {
		return nil, &breaker.ConfigError{Field: "registry", Value: nil, Reason: "must not be nil"}
	}
	if typednil.Is(store) {
		return nil, &breaker.ConfigError{Field: "store", Value: store, Reason: "must not be nil"}
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.replicaID == "" {
		cfg.replicaID = defaultReplicaID()
	}
	if !cfg.startupSet {
		cfg.startupTimeout = cfg.commandTimeout
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Syncer{
		reg: reg, store: store, cfg: cfg,
		ctx: ctx, cancel: cancel,
		done:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
		entries: make(map[string]*entry),
		pending: make(map[string]pending),
	}
	s.stops = append(s.stops, reg.OnStateChange(s.onChange), reg.OnCreate(s.onCreate), reg.OnRemove(s.onRemove))

	started := false
	if cfg.startupTimeout > 0 {
		// One deadline for both: Attach waits at most the startup timeout.
		deadline := time.Now().Add(cfg.startupTimeout)
		s.subscribe(deadline)
		started = s.reconcile(deadline)
	}
	s.retry = time.NewTimer(0)
	if started && s.sub != nil {
		s.retry.Stop()
	}
	go s.run()
	return s, nil
}

// ReplicaID returns the id this replica has in the store.
func (s *Syncer) ReplicaID() string { return s.cfg.replicaID }

// Registry returns the registry whose breakers the Syncer shares.
func (s *Syncer) Registry() *breaker.Registry { return s.reg }

// Quorum returns how many distinct replicas must trip for an opening to be
// fleet-wide ([WithQuorum]): 1, the default, means any replica's. Above 1,
// the openings this replica applies from others have origin
// [breaker.OriginCluster]; otherwise [breaker.OriginPeer].
func (s *Syncer) Quorum() int { return s.cfg.quorum }

// RemoteCloseCloses reports whether a peer's close closes a breaker still
// open for the same or an older opening ([WithRemoteCloseCloses]) rather
// than making it half-open.
func (s *Syncer) RemoteCloseCloses() bool { return s.cfg.remoteCloseCloses }

// Close detaches the registry: local transitions are no longer proposed,
// remote ones no longer applied, and the background goroutine has exited
// when Close returns. Proposals still pending are dropped. Breakers keep
// their state. One exception to "no longer applied": a breaker that a
// registry Get is creating while Close runs may still be given the
// store's state the Syncer knew for its name (the decision the fleet
// made), just after Close returns. Close is idempotent and always returns
// nil.
func (s *Syncer) Close() error {
	s.once.Do(func() {
		for _, stop := range s.stops {
			stop()
		}
		s.cancel()
		<-s.done
	})
	return nil
}

// onChange runs synchronously after a breaker of the registry changed
// state, or an operator forced or reset it without changing its state (an
// EventAction), on whatever goroutine made the change (often a call's). It
// only notes what to propose and wakes the background goroutine.
func (s *Syncer) onChange(_ context.Context, e breaker.Event) {
	if e.Kind != breaker.EventStateChange && e.Kind != breaker.EventAction || e.Breaker == nil {
		return
	}
	name := e.Breaker.Name()
	s.mu.Lock()
	defer s.mu.Unlock()
	en := s.entry(name)
	if e.Origin != breaker.OriginLocal {
		// A remote decision moved the breaker: what was pending describes
		// a state it has left.
		en.peerGen++
		delete(s.pending, name)
		return
	}
	p := pending{Proposal: Proposal{Name: name, Reason: e.Reason, By: s.cfg.replicaID}, peerGen: en.peerGen}
	switch {
	case e.To == breaker.Open && e.Reason == breaker.ReasonForceOpen:
		if !s.cfg.operatorActions {
			return
		}
		p.To, p.Forced = breaker.Open, true
	case e.To == breaker.Closed && e.Reason == breaker.ReasonReset:
		if !s.cfg.operatorActions {
			return
		}
		p.To, p.Forced = breaker.Closed, true
	case e.To == breaker.Open:
		if e.From == breaker.HalfOpen {
			// A failed probe of the opening it was in: that opening is
			// renewed even if other replicas still hold it open.
			p.Base = en.episode
		}
		en.episode = 0
		en.openSeq++
		p.To, p.OpenFor, p.openSeq = breaker.Open, e.OpenFor, en.openSeq
		if p.OpenFor <= 0 {
			return // not a timed opening: nothing a peer could apply
		}
		p.until = time.Now().Add(p.OpenFor)
		p.Quorum, p.QuorumWindow = s.cfg.quorum, s.cfg.quorumWindow
	case e.To == breaker.Closed:
		if en.episode != 0 && en.rec.State == breaker.Closed && en.rec.Epoch > en.episode {
			return // the fleet closed that opening already
		}
		p.To, p.Base, p.resolve = breaker.Closed, en.episode, en.episode == 0
	default:
		return // half-open stays local: each replica probes on its own
	}
	s.pending[name] = p
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// onCreate applies what is known about a breaker's name to a breaker the
// registry just created, before Get returns it.
func (s *Syncer) onCreate(b *breaker.Breaker) {
	name := b.Name()
	s.mu.Lock()
	en, ok := s.entries[name]
	if !ok || en.rec.Epoch == 0 {
		s.mu.Unlock()
		return
	}
	en.creating++
	for {
		rec, deadline, ver := en.rec, en.deadline, en.ver
		s.mu.Unlock()
		s.applyTo(b, rec, deadline)
		s.mu.Lock()
		if en.ver == ver {
			en.creating--
			s.mu.Unlock()
			return
		}
	}
}

// onRemove forgets what the Syncer knew of a breaker the registry removed
// (Remove, or idle eviction), so that its memory follows the registry's:
// the pending proposal goes (the breaker it described is gone), and so
// does what described that breaker (the opening it was in, its local
// openings, the remote decisions it took). The store's record of the name,
// if there is one, stays: a breaker of that name created later must start
// with the fleet's state (onCreate applies it), and its epoch keeps an
// older message stale; so the Syncer holds an entry per breaker of the
// registry and per record of the store, not per name it ever saw. An
// entry with no record goes altogether. If a new
// breaker of the name is already in the registry (the removal is told
// after the registry's lock is released), the entry is that breaker's now
// and stays as it is.
func (s *Syncer) onRemove(b *breaker.Breaker) {
	name := b.Name()
	s.mu.Lock()
	defer s.mu.Unlock()
	// Looked up under s.mu: a breaker created after this finds the entry
	// trimmed in onCreate, which runs after the registry holds it.
	if cur, ok := s.reg.Lookup(name); ok && cur != b {
		return
	}
	delete(s.pending, name)
	en := s.entries[name]
	switch {
	case en == nil || en.creating > 0:
	case en.rec.Epoch == 0:
		delete(s.entries, name)
	default:
		// A breaker created later is in no opening until the record is
		// applied to it. The sequence numbers go on, so that the answer to
		// a proposal still in flight for the removed breaker is not taken
		// for the new one's.
		en.episode = 0
	}
}

// entry returns the entry for name, creating it. s.mu must be held.
func (s *Syncer) entry(name string) *entry {
	en := s.entries[name]
	if en == nil {
		en = &entry{}
		s.entries[name] = en
	}
	return en
}

func (s *Syncer) run() {
	defer close(s.done)
	defer func() {
		if s.sub != nil {
			_ = s.sub.Close()
		}
	}()
	tick := time.NewTicker(s.cfg.reconcileInterval)
	defer tick.Stop()
	defer s.retry.Stop()
	for {
		var msgs <-chan Message
		if s.sub != nil {
			msgs = s.sub.Messages()
		}
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
			if s.backoff == 0 {
				s.flush()
			}
		case m, ok := <-msgs:
			s.receive(m, ok)
		case <-tick.C:
			if s.backoff == 0 {
				s.sync()
			}
		case <-s.retry.C:
			s.sync()
		}
	}
}

// sync makes sure of the subscription, reconciles and sends what is
// pending.
func (s *Syncer) sync() {
	if s.sub == nil && !s.subscribe(time.Now().Add(s.cfg.commandTimeout)) {
		return
	}
	if s.reconcile(time.Now().Add(s.cfg.commandTimeout)) {
		s.flush()
	}
}

func (s *Syncer) subscribe(deadline time.Time) bool {
	ctx, cancel := context.WithDeadline(s.ctx, deadline)
	defer cancel()
	sub, err := s.store.Subscribe(ctx)
	if err != nil {
		s.failed(err)
		return false
	}
	s.sub = sub
	s.fullNext = true
	return true
}

func (s *Syncer) receive(m Message, ok bool) {
	switch {
	case !ok:
		_ = s.sub.Close()
		s.sub = nil
		s.failed(errors.New("sharedstate: subscription ended"))
	case m.Err != nil:
		s.n.malformed.Add(1)
	case m.Resync:
		s.fullNext = true
		if s.backoff == 0 {
			s.sync()
		}
	default:
		if m.Record.By != s.cfg.replicaID && !m.Record.Written.IsZero() {
			s.n.prop.observe(time.Since(m.Record.Written))
		}
		s.applyRecord(m.Record, false)
	}
}

// reconcile reads the store's state and applies what is newer than what
// this replica knows.
func (s *Syncer) reconcile(deadline time.Time) bool {
	since := s.version
	if s.fullNext {
		since = 0
	}
	ctx, cancel := context.WithDeadline(s.ctx, deadline)
	snap, err := s.store.Snapshot(ctx, since)
	cancel()
	if err != nil {
		s.failed(err)
		return false
	}
	s.succeeded()
	s.n.reconciles.Add(1)
	s.version, s.fullNext = snap.Version, false
	if snap.Malformed > 0 {
		s.n.malformed.Add(uint64(snap.Malformed))
	}
	if !snap.Unchanged {
		for _, rec := range snap.Records {
			s.applyRecord(rec, true)
		}
	}
	return true
}

// flush sends the pending proposals, one at a time, until none is left or
// the store fails.
func (s *Syncer) flush() {
	for s.ctx.Err() == nil {
		s.mu.Lock()
		var p pending
		found := false
		for _, v := range s.pending {
			p, found = v, true
			break
		}
		if !found {
			s.mu.Unlock()
			return
		}
		delete(s.pending, p.Name)
		send := p.Proposal
		if p.resolve {
			send.Base = s.entry(p.Name).episode
		}
		s.mu.Unlock()
		if !p.until.IsZero() {
			// Share what is left of the opening, not its whole length: the
			// proposal may have waited for the store.
			if send.OpenFor = time.Until(p.until); send.OpenFor <= 0 {
				continue // over here already: its trials decide what comes next
			}
		}

		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.commandTimeout)
		res, err := s.store.Propose(ctx, send)
		cancel()
		if err != nil {
			s.mu.Lock()
			if _, newer := s.pending[p.Name]; !newer {
				s.pending[p.Name] = p
			}
			s.mu.Unlock()
			s.failed(err)
			return
		}
		s.succeeded()
		s.result(p, send, res)
	}
}

// result takes in what the store made of proposal p (sent as send).
func (s *Syncer) result(p pending, send Proposal, res Result) {
	rec := res.Record
	switch res.Outcome {
	case Written:
		s.n.written.Add(1)
	case Joined:
		s.n.joined.Add(1)
	case Refused:
		s.n.refused.Add(1)
	case Voted:
		s.n.voted.Add(1)
	}
	s.mu.Lock()
	en := s.entry(p.Name)
	if rec.Epoch > en.applied {
		s.note(en, rec)
	}
	if (res.Outcome == Written || res.Outcome == Joined) && send.To == breaker.Open && !send.Forced &&
		en.openSeq == p.openSeq && en.peerGen == p.peerGen {
		en.episode = rec.Epoch // the opening this replica is in, as the fleet knows it
	}
	requeue := res.Outcome == Refused && send.To == breaker.Closed && !send.Forced && send.Base == 0 &&
		rec.State == breaker.Open && !rec.Forced && rec.By == s.cfg.replicaID && en.peerGen == p.peerGen
	if requeue {
		// The opening this replica proposed reached the store although
		// the answer did not: close that one.
		if _, newer := s.pending[p.Name]; !newer {
			q := p
			q.Base, q.resolve = rec.Epoch, false
			s.pending[p.Name] = q
		}
	}
	s.mu.Unlock()
	if (res.Outcome == Refused || res.Outcome == Joined && rec.Forced) && rec.Epoch != 0 && rec.By != s.cfg.replicaID {
		// A newer decision this replica missed: adopt it. An opening that
		// joined an operator's forced record is one: noted above, it would
		// never be applied by a reconcile (not newer than what is known),
		// and this replica would probe while the fleet is held open.
		s.adopt(rec)
	}
}

// note records rec as the newest known for its name. s.mu must be held.
func (s *Syncer) note(en *entry, rec Record) {
	en.applied, en.rec = rec.Epoch, rec
	en.deadline = time.Time{}
	if rec.State == breaker.Open && !rec.Forced {
		en.deadline = time.Now().Add(rec.Remaining)
	}
	en.ver++
}

// applyRecord takes in a record from a message or a reconcile.
func (s *Syncer) applyRecord(rec Record, reconciled bool) {
	if rec.Name == "" || rec.Epoch == 0 {
		s.n.malformed.Add(1)
		return
	}
	self := rec.By == s.cfg.replicaID
	s.mu.Lock()
	en := s.entry(rec.Name)
	if rec.Epoch <= en.applied {
		s.mu.Unlock()
		switch {
		case reconciled:
		case self:
			s.n.self.Add(1)
		default:
			s.n.stale.Add(1)
		}
		return
	}
	s.note(en, rec)
	deadline, creating := en.deadline, en.creating > 0
	if self && rec.State == breaker.Open && !rec.Forced && en.episode == 0 && en.peerGen == 0 {
		en.episode = rec.Epoch
	}
	s.mu.Unlock()
	switch {
	case self:
		if !reconciled {
			s.n.self.Add(1)
		}
		return
	case creating:
		s.count(reconciled, &s.n.applied)
		return // the OnCreate callback applies it
	}
	b, ok := s.reg.Lookup(rec.Name)
	if !ok {
		s.count(reconciled, &s.n.unknown) // kept for when the breaker is created
		return
	}
	s.count(reconciled, &s.n.applied)
	s.applyTo(b, rec, deadline)
}

func (s *Syncer) count(reconciled bool, c *atomic.Uint64) {
	if reconciled {
		s.n.repaired.Add(1)
		return
	}
	c.Add(1)
}

// adopt applies a record the store returned instead of this replica's
// proposal.
func (s *Syncer) adopt(rec Record) {
	s.mu.Lock()
	en := s.entry(rec.Name)
	deadline, creating := en.deadline, en.creating > 0
	current := en.rec.Epoch == rec.Epoch
	s.mu.Unlock()
	if !current || creating {
		return
	}
	if b, ok := s.reg.Lookup(rec.Name); ok {
		s.applyTo(b, rec, deadline)
	}
}

// applyTo moves b as rec says. deadline is when an open rec's period ends.
func (s *Syncer) applyTo(b *breaker.Breaker, rec Record, deadline time.Time) {
	r := breaker.Remote{Reason: rec.Reason, Origin: breaker.OriginPeer, Peer: rec.By}
	if rec.Cluster {
		r.Origin = breaker.OriginCluster
	}
	switch {
	case rec.Forced:
		if !s.cfg.operatorActions {
			return
		}
		r.To, r.Forced = rec.State, true
	case rec.State == breaker.Open:
		remaining := time.Until(deadline)
		if remaining <= 0 {
			s.join(b, rec)
			return // the fleet is probing already: this breaker probes on its own
		}
		r.To, r.OpenFor = breaker.Open, s.jitter(remaining)
	case rec.State == breaker.Closed:
		s.mu.Lock()
		episode := s.entry(rec.Name).episode
		s.mu.Unlock()
		if episode == 0 || episode >= rec.Epoch || b.State() != breaker.Open {
			return
		}
		r.To = breaker.HalfOpen
		if s.cfg.remoteCloseCloses {
			r.To = breaker.Closed
		}
	default:
		return
	}
	if _, err := b.Apply(s.ctx, r); err != nil {
		s.n.errors.Add(1)
		return
	}
	if rec.State == breaker.Open {
		s.join(b, rec)
	} else if rec.Forced {
		s.mu.Lock()
		s.entry(rec.Name).episode = 0
		s.mu.Unlock()
	}
}

// join records that b, if open, is in rec's opening.
func (s *Syncer) join(b *breaker.Breaker, rec Record) {
	if b.State() != breaker.Open {
		return
	}
	s.mu.Lock()
	if en := s.entry(rec.Name); en.applied == rec.Epoch {
		en.episode = rec.Epoch
	}
	s.mu.Unlock()
}

// jitter lengthens a peer's remaining open time by up to the probe jitter.
func (s *Syncer) jitter(d time.Duration) time.Duration {
	if s.cfg.probeJitter == 0 {
		return d
	}
	return d + time.Duration(rand.Float64()*s.cfg.probeJitter*float64(d))
}

// failed records a store error and schedules the next attempt with
// backoff.
func (s *Syncer) failed(err error) {
	s.n.errors.Add(1)
	s.mu.Lock()
	// Lost, or unreachable from the start: either way worth one warning.
	was := s.connected || s.lastSync.IsZero() && s.lastErrAt.IsZero()
	s.connected, s.lastErr, s.lastErrAt = false, err, time.Now()
	s.mu.Unlock()
	if s.backoff == 0 {
		s.backoff = minBackoff
	} else {
		s.backoff = min(2*s.backoff, s.cfg.maxBackoff)
	}
	wait := s.backoff/2 + time.Duration(rand.Int64N(int64(s.backoff/2)+1))
	if s.retry != nil {
		s.retry.Reset(wait)
	}
	if was && s.cfg.logger != nil {
		s.cfg.logger.LogAttrs(s.ctx, slog.LevelWarn, "shared breaker state unreachable: breakers act locally",
			slog.String("replica", s.cfg.replicaID), slog.String("error", err.Error()))
	}
}

// succeeded records a store command that worked.
func (s *Syncer) succeeded() {
	s.mu.Lock()
	was, failedBefore := s.connected, !s.lastErrAt.IsZero()
	s.connected, s.lastSync = true, time.Now()
	s.mu.Unlock()
	if s.backoff != 0 {
		s.backoff = 0
		s.fullNext = true
		if s.retry != nil {
			s.retry.Stop()
		}
	}
	if !was && failedBefore && s.cfg.logger != nil {
		s.cfg.logger.LogAttrs(s.ctx, slog.LevelInfo, "shared breaker state reachable again",
			slog.String("replica", s.cfg.replicaID))
	}
}
