package prom_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The metric table of the package documentation matches the golden page:
// names, types and labels (besides the otel_scope_* ones).
func TestDocumentationMatchesGolden(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	row := regexp.MustCompile(`^//\t(\w+)\s+(gauge|counter|histogram)\s+(.+)$`)
	documented := map[string][2]string{}
	inMetrics := false
	for _, line := range strings.Split(string(src), "\n") {
		if h, ok := strings.CutPrefix(line, "// # "); ok {
			inMetrics = h == "Metrics"
			continue
		}
		if m := row.FindStringSubmatch(line); inMetrics && m != nil {
			documented[m[1]] = [2]string{m[2], m[3]}
		}
	}
	require.NotEmpty(t, documented)

	page, err := os.ReadFile("testdata/scenario.txt")
	require.NoError(t, err)
	families := parsePage(t, string(page))
	require.Len(t, families, len(documented))
	for name, f := range families {
		d, ok := documented[name]
		if !assert.True(t, ok, "%s is not documented", name) {
			continue
		}
		assert.Equal(t, d[0], f.typ, name)
		var labels []string
		if d[1] != "(none)" {
			labels = strings.Split(d[1], ", ")
		}
		assert.ElementsMatch(t, labels, f.labels, name)
	}
}

type family struct {
	typ    string
	labels []string // without otel_scope_*
}

// parsePage reads the type and the label names of every metric family of a
// page in the Prometheus text format.
func parsePage(t *testing.T, page string) map[string]*family {
	t.Helper()
	families := map[string]*family{}
	var cur *family
	label := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"`)
	for _, line := range strings.Split(strings.TrimSpace(page), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(rest)
			require.Len(t, f, 2, line)
			cur = &family{typ: f[1]}
			families[f[0]] = cur
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		require.NotNil(t, cur, "sample before any TYPE: %s", line)
		for _, m := range label.FindAllStringSubmatch(line, -1) {
			if !strings.HasPrefix(m[1], "otel_scope_") {
				cur.labels = append(cur.labels, m[1])
			}
		}
		slices.Sort(cur.labels)
		cur.labels = slices.Compact(cur.labels)
	}
	return families
}
