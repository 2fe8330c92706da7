package prom_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/sharedstate/sharedstatetest"
	"github.com/fusebox-go/fusebox/telemetry/prom"
)

// BenchmarkSyncScrape measures a scrape of a page that holds only the
// circuit_breaker_sync_* series (an empty registry), rendered natively
// and through the OTel exporter, with no new delay between scrapes.
func BenchmarkSyncScrape(b *testing.B) {
	for _, path := range []string{"native", "otel"} {
		b.Run("path="+path, func(b *testing.B) {
			reg := breaker.NewRegistry()
			s, err := sharedstate.Attach(reg, sharedstatetest.NewStore().Client())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			opts := []prom.Option{prom.WithSyncer(s), prom.WithLogger(slog.New(slog.DiscardHandler))}
			if path == "otel" {
				opts = append(opts, prom.WithOTelExporter())
			}
			h, err := prom.NewHandler(reg, opts...)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = h.Shutdown(context.Background()) })
			req := httptest.NewRequest("GET", "/metrics", nil)
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
