package events_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/events"
)

func TestBusDeliversInSubscriptionOrder(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			bus, flush := k.open(t)
			var rec recorder
			for _, name := range []string{"a", "b", "c"} {
				bus.Subscribe(rec.handler(name))
			}

			bus.Publish(t.Context(), 1)
			bus.Publish(t.Context(), 2)
			flush()

			assert.Equal(t, []call{
				{"a", 1}, {"b", 1}, {"c", 1},
				{"a", 2}, {"b", 2}, {"c", 2},
			}, rec.got())
		})
	}
}

func TestBusPublishWithoutSubscribers(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			bus, flush := k.open(t)
			require.False(t, bus.Active())

			bus.Publish(t.Context(), 1)
			flush()

			assert.Zero(t, bus.(panicCounter).Panics())
		})
	}
}

func TestBusUnsubscribe(t *testing.T) {
	tests := []struct {
		name        string
		unsubscribe []int // indexes into the subscriptions a, a (again), b
		want        []call
	}{
		{
			name: "none",
			want: []call{{"a", 1}, {"a", 1}, {"b", 1}},
		},
		{
			name:        "second subscription of the same handler",
			unsubscribe: []int{1},
			want:        []call{{"a", 1}, {"b", 1}},
		},
		{
			name:        "first subscription of the same handler",
			unsubscribe: []int{0},
			want:        []call{{"a", 1}, {"b", 1}},
		},
		{
			name:        "idempotent",
			unsubscribe: []int{0, 0, 0},
			want:        []call{{"a", 1}, {"b", 1}},
		},
		{
			name:        "last",
			unsubscribe: []int{2, 2},
			want:        []call{{"a", 1}, {"a", 1}},
		},
		{
			name:        "all",
			unsubscribe: []int{2, 0, 1, 0},
			want:        nil,
		},
	}
	for _, k := range kinds {
		for _, tc := range tests {
			t.Run(k.name+"/"+tc.name, func(t *testing.T) {
				bus, flush := k.open(t)
				var rec recorder
				a := rec.handler("a")
				unsub := []func(){
					bus.Subscribe(a),
					bus.Subscribe(a),
					bus.Subscribe(rec.handler("b")),
				}
				for _, i := range tc.unsubscribe {
					unsub[i]()
				}

				bus.Publish(t.Context(), 1)
				flush()

				assert.Equal(t, tc.want, rec.got())
			})
		}
	}
}

func TestBusUnsubscribeFromHandlerDuringPublish(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			bus, flush := k.open(t)
			var rec recorder
			bus.Subscribe(rec.handler("a"))
			var unsubscribeB func()
			recordB := rec.handler("b")
			unsubscribeB = bus.Subscribe(events.HandlerFunc[int](func(ctx context.Context, e int) {
				recordB.Handle(ctx, e)
				unsubscribeB()
				unsubscribeB() // idempotent from inside too
			}))
			bus.Subscribe(rec.handler("c"))

			bus.Publish(t.Context(), 1)
			bus.Publish(t.Context(), 2)
			flush()

			// The first Publish still reaches c; b is gone from the second.
			assert.Equal(t, []call{
				{"a", 1}, {"b", 1}, {"c", 1},
				{"a", 2}, {"c", 2},
			}, rec.got())
		})
	}
}

func TestBusSubscribeFromHandlerDuringPublish(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			bus, flush := k.open(t)
			var rec recorder
			subscribed := false
			bus.Subscribe(events.HandlerFunc[int](func(context.Context, int) {
				if !subscribed {
					subscribed = true
					bus.Subscribe(rec.handler("late"))
				}
			}))

			bus.Publish(t.Context(), 1)
			bus.Publish(t.Context(), 2)
			flush()

			// The new subscription takes effect from the next Publish.
			assert.Equal(t, []call{{"late", 2}}, rec.got())
		})
	}
}

func TestBusRecoversPanickingSubscriber(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			bus, flush := k.open(t)
			var rec recorder
			bus.Subscribe(rec.handler("a"))
			bus.Subscribe(events.HandlerFunc[int](func(context.Context, int) {
				panic("boom")
			}))
			bus.Subscribe(events.HandlerFunc[int](func(context.Context, int) {
				panic(nil) // a *runtime.PanicNilError since Go 1.21: still counted
			}))
			bus.Subscribe(rec.handler("b"))

			require.NotPanics(t, func() {
				bus.Publish(t.Context(), 1)
				bus.Publish(t.Context(), 2)
			})
			flush()

			assert.Equal(t, []call{{"a", 1}, {"b", 1}, {"a", 2}, {"b", 2}}, rec.got())
			assert.Equal(t, uint64(4), bus.(panicCounter).Panics())
		})
	}
}

func TestBusActive(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			bus, _ := k.open(t)
			h := events.HandlerFunc[int](func(context.Context, int) {})
			require.False(t, bus.Active(), "new bus")

			var first, second func()
			steps := []struct {
				name string
				do   func()
				want bool
			}{
				{"subscribe first", func() { first = bus.Subscribe(h) }, true},
				{"subscribe second", func() { second = bus.Subscribe(h) }, true},
				{"unsubscribe first", func() { first() }, true},
				{"unsubscribe first again", func() { first() }, true},
				{"unsubscribe second", func() { second() }, false},
				{"unsubscribe second again", func() { second() }, false},
				{"subscribe again", func() { first = bus.Subscribe(h) }, true},
				{"old unsubscribe does not touch the new subscription", func() { second() }, true},
				{"unsubscribe again", func() { first() }, false},
			}
			for _, s := range steps {
				s.do()
				assert.Equal(t, s.want, bus.Active(), s.name)
			}
		})
	}
}

func TestBusPassesContextUnchanged(t *testing.T) {
	type key struct{}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			bus, flush := k.open(t)
			ctx := context.WithValue(t.Context(), key{}, "v")
			var got context.Context
			bus.Subscribe(events.HandlerFunc[int](func(ctx context.Context, _ int) { got = ctx }))

			bus.Publish(ctx, 1)
			flush()

			assert.Equal(t, ctx, got)
			assert.Equal(t, "v", got.Value(key{}))
		})
	}
}

func TestBusSubscribeNilHandlerPanics(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			bus, _ := k.open(t)
			assert.PanicsWithValue(t, "events: Subscribe called with a nil Handler", func() {
				bus.Subscribe(nil)
			})
			assert.PanicsWithValue(t, "events: Subscribe called with a nil Handler", func() {
				bus.Subscribe(events.HandlerFunc[int](nil)) // a non-nil interface holding a nil func
			})
			assert.False(t, bus.Active())
		})
	}
}

func TestHandlerFunc(t *testing.T) {
	var got int
	var h events.Handler[int] = events.HandlerFunc[int](func(_ context.Context, e int) { got = e })
	h.Handle(t.Context(), 42)
	assert.Equal(t, 42, got)
}
