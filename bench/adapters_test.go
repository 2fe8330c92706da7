package bench

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAdapters checks that every adapter builds the breaker each case
// assumes, so a benchmark measures the path it is named after.
func TestAdapters(t *testing.T) {
	for _, a := range adapters() {
		t.Run(a.lib, func(t *testing.T) {
			t.Run("closed breaker stays closed through failures", func(t *testing.T) {
				s := a.closed(t)
				for range 100 {
					require.Equal(t, errBoom, s.fail())
				}
				require.NoError(t, s.succeed())
				assert.Equal(t, closed, s.state())
			})
			t.Run("open breaker rejects", func(t *testing.T) {
				s := a.open(t)
				for range 100 {
					err := s.succeed()
					require.True(t, s.rejected(err), "got %v", err)
				}
				assert.Equal(t, open, s.state())
				assert.False(t, s.rejected(nil))
				assert.False(t, s.rejected(errBoom))
			})
			t.Run("half-open cycle", func(t *testing.T) {
				if a.cycle == nil {
					t.Skip(a.skip[caseHalfOpenCycle])
				}
				s := a.cycle(t)
				assert.NotEqual(t, closed, s.state())
				for range 20 {
					s.elapse()
					require.NoError(t, s.succeed())
					require.Equal(t, closed, s.state())
					require.Equal(t, errBoom, s.fail())
					require.NotEqual(t, closed, s.state())
				}
			})
		})
	}
}

// TestSkipsHaveReasons keeps every skip explained.
func TestSkipsHaveReasons(t *testing.T) {
	for _, a := range adapters() {
		for c, reason := range a.skip {
			assert.NotEmpty(t, reason, "%s skips %s", a.lib, c)
		}
		if a.cycle == nil {
			assert.Contains(t, a.skip, caseHalfOpenCycle, "%s has no cycle and no reason", a.lib)
		}
	}
}
