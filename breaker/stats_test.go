package breaker_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
}

func TestStatsJSONGolden(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(2))
	fresh, err := json.MarshalIndent(b.Stats(), "", "  ")
	require.NoError(t, err)
	golden(t, "stats_new.json", append(fresh, '\n'))

	require.NoError(t, b.Execute(context.Background(), succeed))
	clock.Advance(90 * time.Second)
	require.Error(t, b.Execute(context.Background(), fail))
	require.Error(t, b.Execute(context.Background(), fail))
	require.ErrorIs(t, b.Execute(context.Background(), succeed), breaker.ErrOpen)
	open, err := json.MarshalIndent(b.Stats(), "", "  ")
	require.NoError(t, err)
	golden(t, "stats_open.json", append(open, '\n'))
}

func TestStatsJSONRoundTrip(t *testing.T) {
	b, clock := newClocked(t, breaker.WithFailureThreshold(1))
	clock.Advance(time.Second)
	require.Error(t, b.Execute(context.Background(), fail))
	b.ForceOpen()
	want := b.Stats()
	data, err := json.Marshal(want)
	require.NoError(t, err)
	var got breaker.Stats
	require.NoError(t, json.Unmarshal(data, &got))
	assert.Equal(t, want, got)

	var empty breaker.Stats
	require.NoError(t, json.Unmarshal([]byte(`{"state":"closed","last_failure_time":null}`), &empty))
	assert.True(t, empty.LastFailureTime.IsZero())
	assert.Error(t, json.Unmarshal([]byte(`{"state":"half-open"}`), &empty))
}
