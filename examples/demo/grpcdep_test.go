package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fusebox-go/fusebox/breaker"
)

// external_api is called over gRPC through grpcbreaker's client
// interceptor, under the registry's external_api breaker with the
// scenario's options: ten consecutive Unavailable answers open it (the
// interceptor's own default would be a breaker of five, named after the
// loopback target), and then calls are rejected with a status that is
// also breaker.ErrOpen.
func TestExternalAPIOverGRPC(t *testing.T) {
	a, _ := startApp(t, scenarios()["outage"], "")
	g := a.deps["external_api"].grpc
	require.NotNil(t, g, "external_api is served over gRPC")
	assert.Nil(t, a.deps["external_api"].srv)
	ctx := context.Background()

	for i := range 10 {
		err := g.call(ctx, false)
		require.Error(t, err, "call %d", i+1)
		assert.Equal(t, codes.Unavailable, status.Code(err), "call %d: the service is down", i+1)
		assert.NotErrorIs(t, err, breaker.ErrOpen, "call %d", i+1)
	}
	err := g.call(ctx, false)
	assert.Equal(t, codes.Unavailable, status.Code(err), "a rejection is a gRPC status")
	assert.ErrorIs(t, err, breaker.ErrOpen)
	var oe *breaker.OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "external_api", oe.Name())

	b, ok := a.reg.Lookup("external_api")
	require.True(t, ok)
	st := b.Stats()
	assert.Equal(t, uint64(10), st.TotalFailures)
	assert.Equal(t, uint64(1), st.TotalRejected)
	assert.Len(t, a.reg.All(), 3, "no breaker named after the target")
}

// A caller that gives up is ignored by the breaker; a healthy service
// answers.
func TestExternalAPIOverGRPCCalm(t *testing.T) {
	a, _ := startApp(t, scenarios()["calm"], "")
	g := a.deps["external_api"].grpc
	ctx := context.Background()
	okCalls := 0
	for range 20 {
		if g.call(ctx, false) == nil { // 2% stray errors
			okCalls++
		}
	}
	assert.GreaterOrEqual(t, okCalls, 18)
	err := g.call(ctx, true)
	assert.Equal(t, codes.Canceled, status.Code(err), "the caller gave up")
	b, _ := a.reg.Lookup("external_api")
	st := b.Stats()
	assert.Equal(t, uint64(okCalls), st.TotalSuccesses)
	assert.Equal(t, uint64(1), st.TotalIgnored)
}

func TestRawCodec(t *testing.T) {
	c := rawCodec{}
	in := rawMessage(`{"ok":true}`)
	b, err := c.Marshal(&in)
	require.NoError(t, err)
	var out rawMessage
	require.NoError(t, c.Unmarshal(b, &out))
	assert.Equal(t, in, out)
	b[0] = 'x'
	assert.Equal(t, byte('{'), out[0], "Unmarshal copies: gRPC may reuse its buffer")

	for _, v := range []any{in, "text", []byte("x"), nil} {
		_, err := c.Marshal(v)
		assert.ErrorContains(t, err, "cannot marshal", "%T", v)
		assert.ErrorContains(t, c.Unmarshal([]byte("x"), v), "cannot unmarshal", "%T", v)
	}
	require.NoError(t, c.Unmarshal(nil, &out))
	assert.Empty(t, out, "an empty message")
}
