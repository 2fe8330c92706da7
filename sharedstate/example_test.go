package sharedstate_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/sharedstate/sharedstatetest"
)

// Two replicas share one store (Redis in production: package redisstate).
// When one replica's breaker opens, the other's opens too, as a peer's
// decision.
func ExampleAttach() {
	store := sharedstatetest.NewStore() // redisstate.New(client) in production

	replica := func(id string) (*breaker.Registry, *sharedstate.Syncer) {
		reg := breaker.NewRegistry(breaker.WithFailureThreshold(1))
		s, err := sharedstate.Attach(reg, store.Client(), sharedstate.WithReplicaID(id))
		if err != nil {
			panic(err)
		}
		return reg, s
	}
	regA, a := replica("pod-a")
	defer a.Close()
	regB, b := replica("pod-b")
	defer b.Close()

	opened := make(chan breaker.Event, 1)
	regB.OnStateChange(func(_ context.Context, e breaker.Event) { opened <- e })
	if _, err := regB.Get("payments"); err != nil {
		panic(err)
	}

	pa, _ := regA.Get("payments")
	_ = pa.Execute(context.Background(), func(context.Context) error { return errors.New("down") })

	select {
	case e := <-opened:
		fmt.Printf("pod-b: %s %v by %s (%s)\n", e.Breaker.Name(), e.To, e.Peer, e.Origin)
	case <-time.After(10 * time.Second):
		fmt.Println("not shared")
	}
	// Output:
	// pod-b: payments open by pod-a (peer)
}
