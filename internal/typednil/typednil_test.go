package typednil_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fusebox-go/fusebox/internal/typednil"
)

type impl struct{}

func (*impl) Do() {}

func TestIs(t *testing.T) {
	var nilFunc func()
	var nilMap map[string]int
	var nilChan chan int
	var nilSlice []int
	var nilPtr *impl
	var iface interface{ Do() } = nilPtr
	for name, v := range map[string]any{"nil": nil, "pointer": nilPtr, "interface holding a nil pointer": iface, "func": nilFunc, "map": nilMap, "chan": nilChan, "slice": nilSlice} {
		assert.True(t, typednil.Is(v), name)
	}
	for name, v := range map[string]any{"pointer": &impl{}, "func": func() {}, "value": 0, "string": "", "struct": struct{}{}, "context": context.Background()} {
		assert.False(t, typednil.Is(v), name)
	}
}
