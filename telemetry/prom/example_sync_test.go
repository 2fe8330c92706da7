package prom_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/sharedstate/sharedstatetest"
	"github.com/fusebox-go/fusebox/telemetry/prom"
)

// A replica that shares its breakers' state gives the handler its Syncer:
// the page then shows whether it reaches the store, what waits to be
// proposed, its messages, proposals and errors, and the propagation delay.
func ExampleWithSyncer() {
	reg := breaker.NewRegistry()
	store := sharedstatetest.NewStore() // redisstate.New(client) in production
	s, err := sharedstate.Attach(reg, store.Client(), sharedstate.WithReplicaID("pod-a"))
	if err != nil {
		panic(err)
	}
	defer s.Close()

	h, err := prom.NewHandler(reg,
		prom.WithSyncer(s),
		prom.WithoutScopeInfo(), // shorter lines for this example
		prom.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		panic(err)
	}
	defer func() { _ = h.Shutdown(context.Background()) }()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for line := range strings.Lines(rec.Body.String()) {
		for _, prefix := range []string{"circuit_breaker_sync_connected ", "circuit_breaker_sync_pending_proposals ", "circuit_breaker_sync_messages_total{"} {
			if strings.HasPrefix(line, prefix) {
				fmt.Print(line)
			}
		}
	}
	// Output:
	// circuit_breaker_sync_connected 1
	// circuit_breaker_sync_messages_total{circuit_breaker_sync_result="applied"} 0
	// circuit_breaker_sync_messages_total{circuit_breaker_sync_result="malformed"} 0
	// circuit_breaker_sync_messages_total{circuit_breaker_sync_result="self"} 0
	// circuit_breaker_sync_messages_total{circuit_breaker_sync_result="stale"} 0
	// circuit_breaker_sync_messages_total{circuit_breaker_sync_result="unknown"} 0
	// circuit_breaker_sync_pending_proposals 0
}
