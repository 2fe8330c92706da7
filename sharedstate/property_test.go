package sharedstate_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
)

// G3 and convergence under random faults: replicas trip, probe and recover
// while their connections lose, duplicate, delay (and so reorder) messages
// and go down. Throughout, no replica's known epoch ever goes back and the
// store's published epochs only grow; once the faults heal, every replica
// knows the store's record, and if that record is an opening in force, no
// replica is closed (each is open, or half-open if its own opening ended
// first: its trial then decides for the fleet).
func TestPropertyEpochsAndConvergence(t *testing.T) {
	for seed := range uint64(50) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { runSchedule(t, seed) })
		})
	}
}

func runSchedule(t *testing.T, seed uint64) {
	rnd := rand.New(rand.NewPCG(seed, 7))
	store, rs := fleet(t, 4, sharedstate.WithReconcileInterval(time.Second))
	for _, r := range rs {
		r.breaker(t)
	}
	observer, err := store.Client().Subscribe(context.Background())
	require.NoError(t, err)
	defer observer.Close()
	var published uint64
	drain := func() {
		for {
			select {
			case m := <-observer.Messages():
				if m.Resync {
					continue
				}
				require.Greater(t, m.Record.Epoch, published, "published epochs only grow")
				published = m.Record.Epoch
			default:
				return
			}
		}
	}
	known := make([]uint64, len(rs))
	check := func() {
		synctest.Wait()
		drain()
		for i, r := range rs {
			_, applied := r.s.Episode(name)
			require.GreaterOrEqual(t, applied, known[i], "%s's known epoch went back", r.id)
			known[i] = applied
		}
	}

	var log []string
	for range 60 {
		r := rs[rnd.IntN(len(rs))]
		switch op := rnd.IntN(9); op {
		case 0, 1:
			log = append(log, r.id+" fails")
			_ = r.breaker(t).Execute(context.Background(), func(context.Context) error { return errDown })
		case 2, 3:
			log = append(log, r.id+" succeeds")
			_ = r.succeed(t)
		case 4:
			d := time.Duration(rnd.IntN(12)) * time.Second
			log = append(log, fmt.Sprint("sleep ", d))
			time.Sleep(d)
		case 5:
			p := rnd.Float64()
			log = append(log, fmt.Sprintf("%s loses %.2f", r.id, p))
			r.c.SetLoss(p)
		case 6:
			p := rnd.Float64()
			log = append(log, fmt.Sprintf("%s duplicates %.2f", r.id, p))
			r.c.SetDuplicate(p)
		case 7:
			d := time.Duration(rnd.IntN(300)) * time.Millisecond
			log = append(log, fmt.Sprintf("%s delays %v", r.id, d))
			r.c.SetDelay(d)
		case 8:
			down := rnd.IntN(2) == 0
			log = append(log, fmt.Sprintf("%s down %v", r.id, down))
			r.c.SetDown(down)
		}
		check()
	}

	for _, r := range rs {
		r.c.SetLoss(0)
		r.c.SetDuplicate(0)
		r.c.SetDelay(0)
		r.c.SetDown(false)
	}
	time.Sleep(sharedstate.DefaultMaxBackoff + 2*time.Second)
	check()
	rec, ok := store.Record(name)
	if !ok {
		return
	}
	for _, r := range rs {
		_, applied := r.s.Episode(name)
		require.Equal(t, rec.Epoch, applied, "%s knows the store's record; schedule %q", r.id, log)
		if rec.State == breaker.Open && rec.Remaining > 0 {
			require.NotEqual(t, breaker.Closed, r.state(t), "%s is closed while the fleet's opening is in force; schedule %q", r.id, log)
		}
	}
}
