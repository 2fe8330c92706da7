package prom

import (
	"math"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBucketOf(t *testing.T) {
	values := []float64{-1, 0, 0.0005, math.Inf(1)} // durations are never NaN
	for _, b := range durationBounds {
		values = append(values, math.Nextafter(b, 0), b, math.Nextafter(b, 100))
	}
	for _, v := range values {
		assert.Equal(t, sort.SearchFloat64s(durationBounds[:], v), bucketOf(v), "%v", v)
	}
}
