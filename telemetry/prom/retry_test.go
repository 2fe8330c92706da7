package prom_test

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/retry"
	"github.com/fusebox-go/fusebox/telemetry"
)

// newRetryPolicy returns a policy on an exact schedule (1ms, 2ms, ...)
// with a budget of 0.5 per call and 3 tokens.
func newRetryPolicy(t *testing.T, name string) *retry.Policy {
	t.Helper()
	b, err := retry.NewBudget(0.5, 3)
	require.NoError(t, err)
	p, err := retry.New(name, retry.WithJitter(retry.NoJitter), retry.WithBackoff(time.Millisecond, time.Second), retry.WithBudget(b))
	require.NoError(t, err)
	return p
}

// runRetryScenario drives p through a first-attempt success, a success at
// the third attempt, a call the budget stops after one retry, and a
// permanent error, with a sampled span in the context.
func runRetryScenario(t *testing.T, p *retry.Policy) {
	t.Helper()
	attempts := 0
	fail := func(n int, err error) func(context.Context) (int, error) {
		attempts = 0
		return func(context.Context) (int, error) {
			if attempts++; attempts <= n {
				return 0, err
			}
			return 1, nil
		}
	}
	_, err := retry.Do(sampled, p, fail(0, errBoom))
	require.NoError(t, err)
	_, err = retry.Do(sampled, p, fail(2, errBoom))
	require.NoError(t, err)
	_, err = retry.Do(sampled, p, fail(100, errBoom))
	require.ErrorIs(t, err, retry.ErrBudget)
	_, err = retry.Do(sampled, p, fail(100, retry.Permanent(errIgnored)))
	require.ErrorIs(t, err, errIgnored)
}

// The native collector renders a retry policy's series as the OTel
// exporter does, byte for byte, in both formats, exemplars included.
func TestNativeMatchesExporterRetry(t *testing.T) {
	noResourceEnv(t)
	for _, format := range []struct{ name, accept string }{
		{"text", ""},
		{"openmetrics", "application/openmetrics-text; version=1.0.0"},
	} {
		t.Run("format="+format.name, func(t *testing.T) {
			pages := map[string]string{}
			for _, m := range modes {
				synctest.Test(t, func(t *testing.T) {
					reg, _, _ := newRegistry(t)
					h, promReg, _ := newModeHandler(t, m, reg)
					p := newRetryPolicy(t, "model_server")
					detach, err := h.AttachRetry(p)
					require.NoError(t, err)
					defer detach()
					runRetryScenario(t, p)
					page, _ := scrape(t, h, format.accept)
					pages[m.name] = normaliseExemplars(normalise(page))
					problems, err := testutil.GatherAndLint(promReg)
					require.NoError(t, err)
					assert.Empty(t, problems, m.name)
				})
			}
			want := pages["otel"]
			for _, line := range []string{
				`retry_calls_total{otel_scope_name="github.com/fusebox-go/fusebox/telemetry",otel_scope_schema_url="",otel_scope_version="` + telemetry.Version + `",retry_name="model_server",retry_outcome="success_after_retry"} 1`,
				`retry_stops_total{otel_scope_name="github.com/fusebox-go/fusebox/telemetry",otel_scope_schema_url="",otel_scope_version="` + telemetry.Version + `",retry_name="model_server",retry_reason="budget"} 1`,
				`retry_attempts_total{otel_scope_name="github.com/fusebox-go/fusebox/telemetry",otel_scope_schema_url="",otel_scope_version="` + telemetry.Version + `",retry_name="model_server"} 7`,
				`retry_budget_available{otel_scope_name="github.com/fusebox-go/fusebox/telemetry",otel_scope_schema_url="",otel_scope_version="` + telemetry.Version + `",retry_name="model_server"} 1.5`,
				`retry_call_retries_bucket{otel_scope_name="github.com/fusebox-go/fusebox/telemetry",otel_scope_schema_url="",otel_scope_version="` + telemetry.Version + `",retry_name="model_server",retry_outcome="success_after_retry",le="2"} 1`,
				`retry_call_delay_seconds_count{otel_scope_name="github.com/fusebox-go/fusebox/telemetry",otel_scope_schema_url="",otel_scope_version="` + telemetry.Version + `",retry_name="model_server"} 2`,
			} {
				if format.name == "text" {
					require.Contains(t, want, line)
				}
			}
			if format.name == "openmetrics" {
				require.Contains(t, want, `retry_call_retries_bucket{otel_scope_name="github.com/fusebox-go/fusebox/telemetry",otel_scope_schema_url="",otel_scope_version="`+telemetry.Version+`",retry_name="model_server",retry_outcome="success_after_retry",le="2.0"} 1 # {span_id="b7ad6b7169203331",trace_id="0af7651916cd43dd8448eb211c80319c"} 2.0 <time>`)
			}
			for name, page := range pages {
				assertSamePage(t, want, page, name+" differs from the OTel exporter's page")
			}
		})
	}
}

func TestAttachRetryDetach(t *testing.T) {
	noResourceEnv(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			reg, _, _ := newRegistry(t)
			h, _, _ := newModeHandler(t, m, reg)
			p := newRetryPolicy(t, "db")
			_, err := h.AttachRetry(nil)
			require.Error(t, err)
			detach, err := h.AttachRetry(p)
			require.NoError(t, err)
			_, err = h.AttachRetry(p)
			require.ErrorIs(t, err, telemetry.ErrAlreadyAttached)
			_, err = h.AttachRetry(newRetryPolicy(t, "db"))
			require.ErrorIs(t, err, telemetry.ErrRetryNameTaken, "another policy of the same name would merge into its series")
			_, err = retry.Do(sampled, p, func(context.Context) (int, error) { return 0, retry.Permanent(errBoom) })
			require.Error(t, err)
			runRetryScenario(t, p) // retried calls: the histograms have series
			page, _ := scrape(t, h, "")
			require.Contains(t, page, `retry_name="db"`)

			detach()
			detach()
			page, _ = scrape(t, h, "")
			if m.name == "native" || m.name == "native+reader" {
				require.NotContains(t, page, "retry_", "a detached policy leaves the native page")
			} else {
				require.Contains(t, page, "retry_call_retries_bucket", "the SDK keeps the histograms")
				for _, l := range strings.Split(page, "\n") {
					if !strings.HasPrefix(l, "#") && strings.Contains(l, `retry_name="db"`) {
						require.True(t, strings.HasPrefix(l, "retry_call_"), "only the histograms stay: %s", l)
					}
				}
			}
			again, err := h.AttachRetry(p)
			require.NoError(t, err)
			require.NoError(t, h.Shutdown(context.Background()))
			again() // harmless after Shutdown
			require.False(t, p.Events().Active(), "Shutdown detached it")
			_, err = h.AttachRetry(p)
			require.Error(t, err)
		})
	}
}
