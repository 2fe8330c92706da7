package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/sharedstate/sharedstatetest"
	"github.com/fusebox-go/fusebox/telemetry"
)

// A replica that shares its breakers' state attaches its Syncer, for the
// circuit_breaker.sync.* instruments. Here two replicas share an in-memory
// store (Redis in production: package redisstate); pod-b's breaker opens,
// and pod-a applies its decision.
func ExampleTelemetry_AttachSyncer() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(ctx) }()
	tel, err := telemetry.New(telemetry.WithMeterProvider(mp), telemetry.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}

	store := sharedstatetest.NewStore()
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
	detachRegistry, err := tel.AttachRegistry(regA)
	if err != nil {
		panic(err)
	}
	defer detachRegistry()
	detachSyncer, err := tel.AttachSyncer(a)
	if err != nil {
		panic(err)
	}
	defer detachSyncer()
	regB, b := replica("pod-b")
	defer b.Close()

	opened := make(chan struct{}, 1)
	regA.OnStateChange(func(context.Context, breaker.Event) { opened <- struct{}{} })
	if _, err := regA.Get("payments"); err != nil {
		panic(err)
	}
	pb, _ := regB.Get("payments")
	_ = pb.Execute(ctx, func(context.Context) error { return errors.New("down") })
	select {
	case <-opened:
	case <-time.After(10 * time.Second):
		fmt.Println("not shared")
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				if m.Name == "circuit_breaker.sync.connected" || m.Name == "circuit_breaker.sync.messages" && p.Value != 0 ||
					m.Name == "circuit_breaker.transitions" && p.Value != 0 {
					fmt.Println(m.Name, p.Attributes.Encoded(attribute.DefaultEncoder()), p.Value)
				}
			}
		case metricdata.Histogram[float64]:
			fmt.Println(m.Name, "count", d.DataPoints[0].Count)
		}
	}
	// Unordered output:
	// circuit_breaker.sync.connected  1
	// circuit_breaker.sync.messages circuit_breaker.sync.result=applied 1
	// circuit_breaker.sync.propagation.delay count 1
	// circuit_breaker.transitions circuit_breaker.from_state=closed,circuit_breaker.name=payments,circuit_breaker.origin=peer,circuit_breaker.reason=failure_threshold,circuit_breaker.to_state=open 1
}
