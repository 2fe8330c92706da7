package bench

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/afex/hystrix-go/hystrix"
	eapache "github.com/eapache/go-resiliency/breaker"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/fusebox-go/fusebox/breaker"
	circuit "github.com/rubyist/circuitbreaker"
	"github.com/sony/gobreaker/v2"
)

// registrySize is the number of breakers in the scale cases.
const registrySize = 10_000

// registryNames returns registrySize distinct names shaped like real ones.
func registryNames() []string {
	names := make([]string, registrySize)
	for i := range names {
		names[i] = fmt.Sprintf("svc-%05d.upstream", i)
	}
	return names
}

// fullRegistry returns a fusebox registry holding a breaker for every name.
func fullRegistry(tb testing.TB, names []string) *breaker.Registry {
	reg := breaker.NewRegistry()
	for _, n := range names {
		if _, err := reg.Get(n); err != nil {
			tb.Fatal(err)
		}
	}
	return reg
}

// BenchmarkRegistryGet: Get of an existing name in a registry of 10,000
// breakers. hystrix-go, the only peer with a registry, is its process-wide
// command map (GetCircuit).
func BenchmarkRegistryGet(b *testing.B) {
	names := registryNames()
	b.Run("lib=fusebox", func(b *testing.B) {
		b.ReportAllocs()
		reg := fullRegistry(b, names)
		i := 0
		for b.Loop() {
			name := names[i%registrySize]
			br, err := reg.Get(name)
			if err != nil || br.Name() != name {
				b.Fatalf("Get(%q) = %v, %v", name, br, err)
			}
			i++
		}
	})
	b.Run("lib=hystrix", func(b *testing.B) {
		b.ReportAllocs()
		hnames := hystrixCommands(b, names)
		i := 0
		for b.Loop() {
			name := hnames[i%registrySize]
			cb, created, err := hystrix.GetCircuit(name)
			if err != nil || created || cb.Name != name {
				b.Fatalf("GetCircuit(%q) = %v, %v, %v", name, cb, created, err)
			}
			i++
		}
	})
}

// BenchmarkRegistryGetParallel: the same from GOMAXPROCS goroutines, each
// walking the names from its own offset.
func BenchmarkRegistryGetParallel(b *testing.B) {
	names := registryNames()
	b.Run("lib=fusebox", func(b *testing.B) {
		b.ReportAllocs()
		reg := fullRegistry(b, names)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(nameSeq.Add(7919))
			for pb.Next() {
				name := names[i%registrySize]
				br, err := reg.Get(name)
				if err != nil || br.Name() != name {
					b.Errorf("Get(%q) = %v, %v", name, br, err)
					return
				}
				i++
			}
		})
	})
	b.Run("lib=hystrix", func(b *testing.B) {
		b.ReportAllocs()
		hnames := hystrixCommands(b, names)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(nameSeq.Add(7919))
			for pb.Next() {
				name := hnames[i%registrySize]
				cb, created, err := hystrix.GetCircuit(name)
				if err != nil || created || cb.Name != name {
					b.Errorf("GetCircuit(%q) = %v, %v, %v", name, cb, created, err)
					return
				}
				i++
			}
		})
	})
}

// hystrixCommands creates (once per process) a hystrix command for every
// name, prefixed so they never clash with the other cases' commands. Each
// command starts goroutines that live until the process exits, so the set
// is made once and shared.
func hystrixCommands(tb testing.TB, names []string) []string {
	hystrixOnce.Do(func() {
		hystrixNames = make([]string, len(names))
		for i, n := range names {
			hystrixNames[i] = "registry-" + n
			if _, _, err := hystrix.GetCircuit(hystrixNames[i]); err != nil {
				tb.Fatal(err)
			}
		}
	})
	return hystrixNames
}

var (
	hystrixOnce  sync.Once
	hystrixNames []string
)

// BenchmarkBreakerMemory: one op builds 10,000 breakers with the library's
// defaults (fusebox through a Registry, as a service would); B/breaker is
// the heap they retain, measured after a GC, divided by 10,000.
func BenchmarkBreakerMemory(b *testing.B) {
	names := registryNames()
	libs := []struct {
		lib  string
		make func(names []string) any
	}{
		{"fusebox", func(names []string) any { return fullRegistry(b, names) }},
		{"gobreaker", func(names []string) any {
			m := make(map[string]*gobreaker.CircuitBreaker[struct{}], len(names))
			for _, n := range names {
				m[n] = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{Name: n})
			}
			return m
		}},
		{"failsafe", func(names []string) any {
			m := make(map[string]circuitbreaker.CircuitBreaker[any], len(names))
			for _, n := range names {
				m[n] = circuitbreaker.NewWithDefaults[any]()
			}
			return m
		}},
		{"eapache", func(names []string) any {
			m := make(map[string]*eapache.Breaker, len(names))
			for _, n := range names {
				m[n] = eapache.New(5, 3, time.Minute)
			}
			return m
		}},
		{"rubyist", func(names []string) any {
			m := make(map[string]*circuit.Breaker, len(names))
			for _, n := range names {
				m[n] = circuit.NewConsecutiveBreaker(5)
			}
			return m
		}},
	}
	for _, l := range libs {
		b.Run("lib="+l.lib, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				runtime.KeepAlive(l.make(names))
			}
			// Reported after the loop: b.Loop's first call clears metrics.
			b.ReportMetric(math.Round(retained(func() any { return l.make(names) })/registrySize), "B/breaker")
		})
	}
}

// retained returns the heap bytes still reachable from what build returns,
// measured between two collections.
func retained(build func() any) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	return float64(after.HeapAlloc) - float64(before.HeapAlloc)
}
