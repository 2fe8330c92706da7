package sharedstatetest

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
)

// Store is an in-memory store: the server side, shared by the Clients of
// every replica in a test.
type Store struct {
	mu      sync.Mutex
	recs    map[string]stored
	votes   map[string]map[string]time.Time
	version uint64
	subs    map[*subscription]struct{}
	rnd     *rand.Rand
	writes  int
}

type stored struct {
	epoch   uint64
	state   breaker.State
	until   time.Time
	forced  bool
	cluster bool
	reason  breaker.Reason
	by      string
	written time.Time
}

// NewStore returns an empty store. Its random faults (loss, duplication)
// follow a fixed seed, so a test that sets them runs the same way each
// time.
func NewStore() *Store {
	return &Store{
		recs:  make(map[string]stored),
		votes: make(map[string]map[string]time.Time),
		subs:  make(map[*subscription]struct{}),
		rnd:   rand.New(rand.NewPCG(1, 2)),
	}
}

// Client returns a new connection to the store, for one replica, with no
// fault.
func (s *Store) Client() *Client { return &Client{st: s} }

// Restart empties the store, as a Redis restart without persistence does;
// every subscription is told to resynchronise.
func (s *Store) Restart() {
	s.mu.Lock()
	s.recs = make(map[string]stored)
	s.votes = make(map[string]map[string]time.Time)
	s.version = 0
	subs := s.subscribers()
	s.mu.Unlock()
	for _, sub := range subs {
		sub.deliver(sharedstate.Message{Resync: true}, 0)
	}
}

// Record returns the record the store holds for name.
func (s *Store) Record(name string) (sharedstate.Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[name]
	return r.record(name, time.Now()), ok
}

// Writes returns how many records the store has written (and published).
func (s *Store) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

func (s *Store) subscribers() []*subscription {
	out := make([]*subscription, 0, len(s.subs))
	for sub := range s.subs {
		out = append(out, sub)
	}
	return out
}

func (r stored) record(name string, now time.Time) sharedstate.Record {
	if r.epoch == 0 {
		return sharedstate.Record{}
	}
	rec := sharedstate.Record{
		Name: name, Epoch: r.epoch, State: r.state, Forced: r.forced, Cluster: r.cluster,
		Reason: r.reason, By: r.by, Written: r.written,
	}
	if r.state == breaker.Open && !r.forced {
		rec.Remaining = r.until.Sub(now)
	}
	return rec
}

// propose applies the rules of sharedstate.Store.Propose. It returns the
// record to publish, if any.
func (s *Store) propose(p sharedstate.Proposal, now time.Time) (sharedstate.Result, *sharedstate.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.recs[p.Name]
	result := func(o sharedstate.Outcome) (sharedstate.Result, *sharedstate.Record) {
		return sharedstate.Result{Outcome: o, Record: cur.record(p.Name, now)}, nil
	}
	write := func(next stored) (sharedstate.Result, *sharedstate.Record) {
		next.epoch = max(cur.epoch+1, uint64(now.UnixMicro()))
		next.reason, next.by, next.written = p.Reason, p.By, now
		s.recs[p.Name] = next
		s.version = max(s.version+1, next.epoch)
		s.writes++
		rec := next.record(p.Name, now)
		return sharedstate.Result{Outcome: sharedstate.Written, Record: rec}, &rec
	}
	curOpen := cur.epoch != 0 && cur.state == breaker.Open
	switch {
	case p.Forced:
		delete(s.votes, p.Name)
		return write(stored{state: p.To, forced: true})
	case p.To == breaker.Open:
		if curOpen && (cur.forced || cur.until.After(now)) && (p.Base == 0 || p.Base != cur.epoch || cur.forced) {
			return result(sharedstate.Joined)
		}
		cluster := false
		if p.Quorum > 1 {
			v := s.votes[p.Name]
			if v == nil {
				v = make(map[string]time.Time)
				s.votes[p.Name] = v
			}
			v[p.By] = now
			for by, t := range v {
				if now.Sub(t) > p.QuorumWindow {
					delete(v, by)
				}
			}
			if len(v) < p.Quorum {
				return result(sharedstate.Voted)
			}
			delete(s.votes, p.Name)
			cluster = true
		}
		return write(stored{state: breaker.Open, until: now.Add(p.OpenFor), cluster: cluster})
	default:
		if v := s.votes[p.Name]; v != nil {
			delete(v, p.By)
		}
		if curOpen && !cur.forced && cur.epoch == p.Base {
			return write(stored{state: breaker.Closed})
		}
		return result(sharedstate.Refused)
	}
}

func (s *Store) snapshot(since uint64, now time.Time) sharedstate.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	if since != 0 && since == s.version {
		return sharedstate.Snapshot{Version: s.version, Unchanged: true}
	}
	snap := sharedstate.Snapshot{Version: s.version, Records: make([]sharedstate.Record, 0, len(s.recs))}
	for name, r := range s.recs {
		snap.Records = append(snap.Records, r.record(name, now))
	}
	return snap
}

// publish hands rec to every subscription, as each one's client allows.
func (s *Store) publish(rec sharedstate.Record) {
	s.mu.Lock()
	subs := s.subscribers()
	type plan struct {
		sub    *subscription
		copies int
		delay  time.Duration
	}
	plans := make([]plan, 0, len(subs))
	for _, sub := range subs {
		c := sub.c
		c.mu.Lock()
		down, loss, dup, delay := c.down, c.loss, c.dup, c.delay
		if down {
			sub.lost = true
		}
		c.mu.Unlock()
		copies := 1
		switch {
		case down || loss > 0 && s.rnd.Float64() < loss:
			copies = 0
		case dup > 0 && s.rnd.Float64() < dup:
			copies = 2
		}
		plans = append(plans, plan{sub, copies, delay})
	}
	s.mu.Unlock()
	for _, p := range plans {
		for range p.copies {
			p.sub.deliver(sharedstate.Message{Record: rec}, p.delay)
		}
	}
}

// Client is one replica's connection to a [Store]. It implements
// [sharedstate.Store]. Its faults can be changed at any time.
type Client struct {
	st    *Store
	mu    sync.Mutex
	down  bool
	pause chan struct{} // non-nil while paused
	delay time.Duration
	loss  float64
	dup   float64
}

var _ sharedstate.Store = (*Client)(nil)

// SetDown cuts the client off the store (true) or reconnects it (false).
// While down, commands fail at once with sharedstate.ErrUnavailable and
// messages to it are lost; on reconnection each of its subscriptions is
// told to resynchronise.
func (c *Client) SetDown(down bool) {
	c.mu.Lock()
	c.down = down
	c.mu.Unlock()
	if !down {
		c.st.resync(c)
	}
}

// Pause makes the client's commands hang until their context is done, as
// with a stopped server, until Resume.
func (c *Client) Pause() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pause == nil {
		c.pause = make(chan struct{})
	}
}

// Resume ends a Pause.
func (c *Client) Resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pause != nil {
		close(c.pause)
		c.pause = nil
	}
}

// SetDelay delays every command and every message delivery by d.
func (c *Client) SetDelay(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.delay = d
}

// SetLoss drops each message to this client with probability p.
func (c *Client) SetLoss(p float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loss = p
}

// SetDuplicate delivers each message to this client twice with
// probability p.
func (c *Client) SetDuplicate(p float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dup = p
}

// enter waits as the client's faults say before a command runs.
func (c *Client) enter(ctx context.Context) error {
	c.mu.Lock()
	down, pause, delay := c.down, c.pause, c.delay
	c.mu.Unlock()
	if down {
		return sharedstate.ErrUnavailable
	}
	if pause != nil {
		select {
		case <-pause:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return ctx.Err()
}

// Propose implements [sharedstate.Store].
func (c *Client) Propose(ctx context.Context, p sharedstate.Proposal) (sharedstate.Result, error) {
	if err := c.enter(ctx); err != nil {
		return sharedstate.Result{}, err
	}
	res, pub := c.st.propose(p, time.Now())
	if pub != nil {
		c.st.publish(*pub)
	}
	return res, nil
}

// Snapshot implements [sharedstate.Store].
func (c *Client) Snapshot(ctx context.Context, since uint64) (sharedstate.Snapshot, error) {
	if err := c.enter(ctx); err != nil {
		return sharedstate.Snapshot{}, err
	}
	return c.st.snapshot(since, time.Now()), nil
}

// Subscribe implements [sharedstate.Store].
func (c *Client) Subscribe(ctx context.Context) (sharedstate.Subscription, error) {
	if err := c.enter(ctx); err != nil {
		return nil, err
	}
	sub := &subscription{c: c, ch: make(chan sharedstate.Message, 4096)}
	c.st.mu.Lock()
	c.st.subs[sub] = struct{}{}
	c.st.mu.Unlock()
	return sub, nil
}

func (s *Store) resync(c *Client) {
	s.mu.Lock()
	var lost []*subscription
	for sub := range s.subs {
		if sub.c == c && sub.lost {
			sub.lost = false
			lost = append(lost, sub)
		}
	}
	s.mu.Unlock()
	for _, sub := range lost {
		sub.deliver(sharedstate.Message{Resync: true}, 0)
	}
}

type subscription struct {
	c      *Client
	lost   bool // guarded by c.st.mu
	mu     sync.Mutex
	closed bool
	ch     chan sharedstate.Message
}

func (s *subscription) Messages() <-chan sharedstate.Message { return s.ch }

func (s *subscription) Close() error {
	s.c.st.mu.Lock()
	delete(s.c.st.subs, s)
	s.c.st.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
	return nil
}

// deliver sends m after delay; a full buffer loses it, as a slow
// subscriber loses messages on a real server.
func (s *subscription) deliver(m sharedstate.Message, delay time.Duration) {
	send := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return
		}
		select {
		case s.ch <- m:
		default:
		}
	}
	if delay > 0 {
		time.AfterFunc(delay, send)
		return
	}
	send()
}
