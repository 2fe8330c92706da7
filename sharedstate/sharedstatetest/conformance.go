package sharedstatetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
)

// TestStore checks that a [sharedstate.Store] follows the rules its
// documentation gives: what Propose writes, joins, refuses and votes,
// what it publishes, and what Snapshot returns. connect returns a new
// connection to one empty store each call within a run; each subtest uses
// its own breaker names. It needs no time to pass.
func TestStore(t *testing.T, connect func(t *testing.T) sharedstate.Store) {
	const openFor = time.Minute
	ctx := func(t *testing.T) context.Context {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		t.Cleanup(cancel)
		return c
	}
	propose := func(t *testing.T, s sharedstate.Store, p sharedstate.Proposal) sharedstate.Result {
		t.Helper()
		if p.To == breaker.Open && p.OpenFor == 0 && !p.Forced {
			p.OpenFor = openFor
		}
		if p.Reason == 0 {
			p.Reason = breaker.ReasonFailureThreshold
		}
		res, err := s.Propose(ctx(t), p)
		if err != nil {
			t.Fatalf("Propose(%+v): %v", p, err)
		}
		return res
	}
	expect := func(t *testing.T, what string, res sharedstate.Result, want sharedstate.Outcome) {
		t.Helper()
		if res.Outcome != want {
			t.Fatalf("%s: outcome %v, want %v (record %+v)", what, res.Outcome, want, res.Record)
		}
	}

	t.Run("open, join, close", func(t *testing.T) {
		s := connect(t)
		sub, err := connect(t).Subscribe(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		opened := propose(t, s, sharedstate.Proposal{Name: "a", To: breaker.Open, By: "r1"})
		expect(t, "first open", opened, sharedstate.Written)
		rec := opened.Record
		if rec.Name != "a" || rec.State != breaker.Open || rec.By != "r1" || rec.Reason != breaker.ReasonFailureThreshold || rec.Epoch == 0 {
			t.Fatalf("written record %+v", rec)
		}
		if rec.Remaining <= openFor-5*time.Second || rec.Remaining > openFor {
			t.Fatalf("remaining %v, want about %v", rec.Remaining, openFor)
		}
		if rec.Written.IsZero() || rec.Forced || rec.Cluster {
			t.Fatalf("written record %+v", rec)
		}
		got := receive(t, sub)
		if got.Record.Epoch != rec.Epoch || got.Record.Name != "a" || got.Record.State != breaker.Open || got.Record.By != "r1" {
			t.Fatalf("published %+v, want the written record %+v", got.Record, rec)
		}

		joined := propose(t, s, sharedstate.Proposal{Name: "a", To: breaker.Open, By: "r2"})
		expect(t, "second open", joined, sharedstate.Joined)
		if joined.Record.Epoch != rec.Epoch || joined.Record.By != "r1" {
			t.Fatalf("joined %+v, want %+v", joined.Record, rec)
		}

		stale := propose(t, s, sharedstate.Proposal{Name: "a", To: breaker.Closed, Base: rec.Epoch - 1, By: "r2", Reason: breaker.ReasonTrialsSucceeded})
		expect(t, "close of another opening", stale, sharedstate.Refused)
		if stale.Record.Epoch != rec.Epoch || stale.Record.State != breaker.Open {
			t.Fatalf("refused close returned %+v", stale.Record)
		}

		closed := propose(t, s, sharedstate.Proposal{Name: "a", To: breaker.Closed, Base: rec.Epoch, By: "r2", Reason: breaker.ReasonTrialsSucceeded})
		expect(t, "close", closed, sharedstate.Written)
		if closed.Record.Epoch <= rec.Epoch || closed.Record.State != breaker.Closed || closed.Record.Reason != breaker.ReasonTrialsSucceeded {
			t.Fatalf("close wrote %+v", closed.Record)
		}
		if got := receive(t, sub); got.Record.Epoch != closed.Record.Epoch {
			t.Fatalf("published %+v, want the close", got.Record)
		}
		again := propose(t, s, sharedstate.Proposal{Name: "a", To: breaker.Closed, Base: rec.Epoch, By: "r3", Reason: breaker.ReasonTrialsSucceeded})
		expect(t, "second close", again, sharedstate.Refused)

		reopened := propose(t, s, sharedstate.Proposal{Name: "a", To: breaker.Open, By: "r3"})
		expect(t, "open after close", reopened, sharedstate.Written)
		if reopened.Record.Epoch <= closed.Record.Epoch {
			t.Fatalf("epoch %d after %d", reopened.Record.Epoch, closed.Record.Epoch)
		}
	})

	t.Run("failed probe renews its opening", func(t *testing.T) {
		s := connect(t)
		first := propose(t, s, sharedstate.Proposal{Name: "b", To: breaker.Open, By: "r1"}).Record
		renewed := propose(t, s, sharedstate.Proposal{Name: "b", To: breaker.Open, Base: first.Epoch, By: "r1", Reason: breaker.ReasonTrialFailed})
		expect(t, "reopen of the same opening", renewed, sharedstate.Written)
		if renewed.Record.Epoch <= first.Epoch || renewed.Record.Reason != breaker.ReasonTrialFailed {
			t.Fatalf("renewed %+v after %+v", renewed.Record, first)
		}
	})

	t.Run("close without a record", func(t *testing.T) {
		s := connect(t)
		res := propose(t, s, sharedstate.Proposal{Name: "c", To: breaker.Closed, By: "r1", Reason: breaker.ReasonTrialsSucceeded})
		expect(t, "close of nothing", res, sharedstate.Refused)
		if res.Record.Epoch != 0 {
			t.Fatalf("record %+v, want none", res.Record)
		}
	})

	t.Run("quorum", func(t *testing.T) {
		s := connect(t)
		q := func(by string, to breaker.State) sharedstate.Result {
			return propose(t, s, sharedstate.Proposal{Name: "d", To: to, By: by, Quorum: 3, QuorumWindow: time.Minute, Reason: map[breaker.State]breaker.Reason{breaker.Open: breaker.ReasonFailureThreshold, breaker.Closed: breaker.ReasonTrialsSucceeded}[to]})
		}
		expect(t, "vote 1", q("r1", breaker.Open), sharedstate.Voted)
		expect(t, "vote 1 again", q("r1", breaker.Open), sharedstate.Voted)
		expect(t, "vote 2", q("r2", breaker.Open), sharedstate.Voted)
		expect(t, "r2 withdraws", q("r2", breaker.Closed), sharedstate.Refused)
		expect(t, "vote 3", q("r3", breaker.Open), sharedstate.Voted)
		res := q("r4", breaker.Open)
		expect(t, "vote 4", res, sharedstate.Written)
		if !res.Record.Cluster || res.Record.By != "r4" {
			t.Fatalf("quorum wrote %+v", res.Record)
		}
		expect(t, "vote after", q("r5", breaker.Open), sharedstate.Joined)
	})

	t.Run("operator actions", func(t *testing.T) {
		s := connect(t)
		forced := propose(t, s, sharedstate.Proposal{Name: "e", To: breaker.Open, Forced: true, By: "op", Reason: breaker.ReasonForceOpen})
		expect(t, "force open", forced, sharedstate.Written)
		if !forced.Record.Forced || forced.Record.State != breaker.Open || forced.Record.Remaining != 0 {
			t.Fatalf("forced %+v", forced.Record)
		}
		expect(t, "open while forced", propose(t, s, sharedstate.Proposal{Name: "e", To: breaker.Open, Base: forced.Record.Epoch, By: "r1"}), sharedstate.Joined)
		expect(t, "close while forced", propose(t, s, sharedstate.Proposal{Name: "e", To: breaker.Closed, Base: forced.Record.Epoch, By: "r1", Reason: breaker.ReasonTrialsSucceeded}), sharedstate.Refused)
		reset := propose(t, s, sharedstate.Proposal{Name: "e", To: breaker.Closed, Forced: true, By: "op", Reason: breaker.ReasonReset})
		expect(t, "reset", reset, sharedstate.Written)
		if !reset.Record.Forced || reset.Record.State != breaker.Closed || reset.Record.Epoch <= forced.Record.Epoch {
			t.Fatalf("reset %+v", reset.Record)
		}
		expect(t, "open after reset", propose(t, s, sharedstate.Proposal{Name: "e", To: breaker.Open, By: "r1"}), sharedstate.Written)
	})

	t.Run("snapshot", func(t *testing.T) {
		s := connect(t)
		base, err := s.Snapshot(ctx(t), 0)
		if err != nil {
			t.Fatal(err)
		}
		if base.Unchanged {
			t.Fatal("a snapshot since 0 must be full")
		}
		same, err := s.Snapshot(ctx(t), base.Version)
		if err != nil {
			t.Fatal(err)
		}
		if base.Version != 0 && (!same.Unchanged || len(same.Records) != 0) {
			t.Fatalf("unchanged store: %+v", same)
		}
		w := propose(t, s, sharedstate.Proposal{Name: "f", To: breaker.Open, By: "r1"}).Record
		next, err := s.Snapshot(ctx(t), base.Version)
		if err != nil {
			t.Fatal(err)
		}
		if next.Unchanged || next.Version == base.Version {
			t.Fatalf("a write must change the version: %+v", next)
		}
		found := false
		for _, r := range next.Records {
			if r.Name == "f" {
				found = true
				if r.Epoch != w.Epoch || r.State != breaker.Open || r.Remaining <= openFor-5*time.Second {
					t.Fatalf("snapshot record %+v, written %+v", r, w)
				}
			}
		}
		if !found {
			t.Fatalf("snapshot %+v lacks the written record", next)
		}
	})

	t.Run("names and ids as given", func(t *testing.T) {
		s := connect(t)
		for i, n := range []string{"with space", "ünïcode/ä", "a:b{c}", "dots.and|bars"} {
			by := fmt.Sprintf("pod %d {x}", i)
			res := propose(t, s, sharedstate.Proposal{Name: n, To: breaker.Open, By: by})
			expect(t, n, res, sharedstate.Written)
			if res.Record.Name != n || res.Record.By != by {
				t.Fatalf("record %+v for %q by %q", res.Record, n, by)
			}
		}
	})
}

// receive waits for the next record on sub, skipping resync notices.
func receive(t *testing.T, sub sharedstate.Subscription) sharedstate.Message {
	t.Helper()
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case m, ok := <-sub.Messages():
			if !ok {
				t.Fatal("subscription closed")
			}
			if m.Resync {
				continue
			}
			if m.Err != nil {
				t.Fatalf("malformed message: %v", m.Err)
			}
			return m
		case <-timeout.C:
			t.Fatal("no message within 5s")
		}
	}
}
