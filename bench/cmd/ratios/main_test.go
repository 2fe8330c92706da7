package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/fusebox-go/fusebox/bench
BenchmarkClosedSuccess/lib=fusebox-2   100 4.0 ns/op 0 B/op 0 allocs/op
BenchmarkClosedSuccess/lib=fusebox-2   100 5.0 ns/op 0 B/op 0 allocs/op
BenchmarkClosedSuccess/lib=fusebox-2   100 9.0 ns/op 0 B/op 0 allocs/op
BenchmarkClosedSuccess/lib=eapache-2   100 8.0 ns/op 0 B/op 0 allocs/op
BenchmarkClosedSuccess/lib=eapache-2   100 10.0 ns/op 0 B/op 0 allocs/op
BenchmarkClosedSuccess/lib=fusebox     100 12.0 ns/op 0 B/op 0 allocs/op
BenchmarkClosedSuccess/lib=eapache     100 6.0 ns/op 0 B/op 0 allocs/op
BenchmarkOpenRejection/lib=fusebox-2   100 30.0 ns/op 0 B/op 1 allocs/op
BenchmarkOpenRejection/lib=gobreaker-2 100 80.0 ns/op 0 B/op 0 allocs/op
BenchmarkBreakerMemory/lib=fusebox-2   1 1000 ns/op 400 B/breaker
BenchmarkBreakerMemory/lib=eapache-2   1 100 ns/op 100 B/breaker
`

func readSample(t *testing.T) *results {
	t.Helper()
	name := filepath.Join(t.TempDir(), "bench.txt")
	require.NoError(t, os.WriteFile(name, []byte(sample), 0o644))
	res, err := read([]string{name})
	require.NoError(t, err)
	return res
}

func TestMedians(t *testing.T) {
	res := readSample(t)
	v, ok := res.ns("ClosedSuccess", "fusebox", 2)
	require.True(t, ok)
	assert.InDelta(t, 5.0, v, 1e-9, "odd count: the middle value")
	v, ok = res.ns("ClosedSuccess", "eapache", 2)
	require.True(t, ok)
	assert.InDelta(t, 9.0, v, 1e-9, "even count: the mean of the middle two")
	v, ok = res.ns("ClosedSuccess", "fusebox", 1)
	require.True(t, ok, "no -N suffix is GOMAXPROCS 1")
	assert.InDelta(t, 12.0, v, 1e-9)
	assert.Equal(t, []int{1, 2}, res.procs)
}

func TestRatiosAndTargets(t *testing.T) {
	res := readSample(t)
	var out strings.Builder
	printRatios(&out, res, "fusebox")
	printTargets(&out, res)
	got := out.String()

	assert.Contains(t, got, "| ClosedSuccess | 2 | 0.56 |  |", "5/9 against eapache")
	assert.Contains(t, got, "| BreakerMemory | 2 | 4.00 |  |", "memory compares B/breaker, not time")
	assert.Contains(t, got, "| ClosedSuccess -cpu 2: fusebox <= 1.2 x eapache | 5.0 vs 9.0 ns | met |")
	assert.Contains(t, got, "| ClosedSuccess -cpu 1: fusebox <= 1.2 x eapache | 12.0 vs 6.0 ns | MISSED |")
	assert.Contains(t, got, "| OpenRejection -cpu 2: fusebox <= gobreaker/2 | 30.0 vs 80.0 ns | met |")
	assert.Contains(t, got, "| -cpu 2: fusebox allocates nothing (closed, failure, rejection) | OpenRejection 1 | MISSED |")
	assert.Contains(t, got, "| BreakerMemory -cpu 2: fusebox < 1 KiB per breaker in a registry of 10,000 | 400 B | met |")
}

func TestMediansTable(t *testing.T) {
	res := readSample(t)
	var out strings.Builder
	printMedians(&out, res)
	got := out.String()
	assert.Contains(t, got, "| case | -cpu | fusebox | eapache | gobreaker |")
	assert.Contains(t, got, "| ClosedSuccess | 2 | 5.0 (0) | 9.0 (0) |  |")
	assert.Contains(t, got, "| BreakerMemory | 2 | 400 B | 100 B |  |")
}

func TestCellFormats(t *testing.T) {
	res := &results{values: map[key]map[string][]float64{
		{"Metrics10k", "fusebox", 1}: {"sec/op": {0.5707}, "allocs/op": {3049059}},
		{"X", "fusebox", 1}:          {"sec/op": {123.4e-9}, "allocs/op": {20.5}},
	}}
	assert.Equal(t, "570.7 ms (3049059)", res.cell("Metrics10k", "fusebox", 1))
	assert.Equal(t, "123 (20.5)", res.cell("X", "fusebox", 1))
	assert.Empty(t, res.cell("X", "eapache", 1))
}
