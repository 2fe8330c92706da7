package deps_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/fusebox-go/fusebox"

// deps lists the packages that patterns import, directly or not, that are
// neither in the standard library nor in this module.
func deps(t *testing.T, patterns ...string) []string {
	t.Helper()
	args := append([]string{"list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}"}, patterns...)
	out, err := exec.Command("go", args...).CombinedOutput()
	require.NoError(t, err, "go %s: %s", strings.Join(args, " "), out)
	var third []string
	for _, p := range strings.Fields(string(out)) {
		if p != module && !strings.HasPrefix(p, module+"/") {
			third = append(third, p)
		}
	}
	slices.Sort(third)
	return slices.Compact(third)
}

// The core packages use the standard library only: importing breaker pulls
// in no third-party module.
func TestStandardLibraryOnly(t *testing.T) {
	for _, pkg := range []string{"events", "breaker", "breaker/breakertest", "httpbreaker", "retry", "sharedstate"} {
		t.Run(pkg, func(t *testing.T) {
			if out, err := exec.Command("go", "list", module+"/"+pkg).CombinedOutput(); err != nil {
				t.Skipf("no package %s yet: %s", pkg, out)
			}
			assert.Empty(t, deps(t, module+"/"+pkg), "%s must import the standard library and fusebox only", pkg)
		})
	}
}

// telemetry uses the OpenTelemetry API (otel, otel/metric, otel/trace and
// the semantic conventions), and whatever those need, never the SDK.
func TestTelemetryUsesTheAPIOnly(t *testing.T) {
	got := deps(t, module+"/telemetry")
	api := deps(t, "go.opentelemetry.io/otel", "go.opentelemetry.io/otel/attribute", "go.opentelemetry.io/otel/metric",
		"go.opentelemetry.io/otel/metric/noop", "go.opentelemetry.io/otel/trace", "go.opentelemetry.io/otel/semconv/v1.43.0")
	for _, p := range got {
		assert.False(t, strings.HasPrefix(p, "go.opentelemetry.io/otel/sdk"), "telemetry imports the SDK: %s", p)
		assert.Contains(t, api, p, "telemetry imports %s, which the OpenTelemetry API does not need", p)
	}
}

// Only telemetry/prom brings the SDK, the Prometheus exporter and
// client_golang; nothing in the module brings gRPC or an OTLP exporter,
// which live in modules of their own.
func TestHeavyModulesStayOut(t *testing.T) {
	all := deps(t, module+"/...")
	for _, p := range all {
		assert.False(t, strings.HasPrefix(p, "google.golang.org/grpc"), "the main module imports gRPC: %s", p)
		assert.False(t, strings.HasPrefix(p, "go.opentelemetry.io/otel/exporters/otlp"), "the main module imports an OTLP exporter: %s", p)
		assert.False(t, strings.HasPrefix(p, "github.com/redis/"), "the main module imports a Redis client: %s", p)
	}
}
