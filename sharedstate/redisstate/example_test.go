package redisstate_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/sharedstate/redisstate"
)

// Two replicas share a Redis server (here an in-process one): an opening
// in one opens the other's breaker as a peer's decision.
func ExampleNew() {
	srv, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	replica := func(id string) (*breaker.Registry, func()) {
		client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
		store, err := redisstate.New(client, redisstate.WithNamespace("checkout"))
		if err != nil {
			panic(err)
		}
		reg := breaker.NewRegistry(breaker.WithFailureThreshold(1))
		s, err := sharedstate.Attach(reg, store, sharedstate.WithReplicaID(id))
		if err != nil {
			panic(err)
		}
		return reg, func() { _ = s.Close(); _ = client.Close() }
	}
	regA, closeA := replica("pod-a")
	defer closeA()
	regB, closeB := replica("pod-b")
	defer closeB()

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
