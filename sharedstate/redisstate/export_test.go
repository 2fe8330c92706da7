package redisstate

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fusebox-go/fusebox/sharedstate"
)

// ProposeAfter runs first and then the proposal in one MULTI/EXEC, so that
// nothing else runs between them (for example: kill the subscribers, then
// publish a decision they are sure to miss).
func (s *Store) ProposeAfter(ctx context.Context, first func(redis.Pipeliner), p sharedstate.Proposal) (sharedstate.Result, error) {
	if err := proposeScript.Load(ctx, s.client).Err(); err != nil {
		return sharedstate.Result{}, err
	}
	keys, args := s.proposeArgs(p)
	var cmd *redis.Cmd
	_, err := s.client.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		first(pipe)
		cmd = pipe.EvalSha(ctx, proposeScript.Hash(), keys, args...)
		return nil
	})
	if err != nil {
		return sharedstate.Result{}, err
	}
	res, err := cmd.StringSlice()
	if err != nil {
		return sharedstate.Result{}, err
	}
	return parseProposeReply(p.Name, res)
}

// silentScript writes an opening as proposeScript does, but publishes
// nothing: a decision whose message every subscriber lost.
var silentScript = redis.NewScript(luaHelpers + `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local epoch = now_us
if cur then epoch = math.max(epoch, tonumber(split(cur)[1]) + 1) end
local rec = table.concat({num(epoch), 'o', num(now_ms + tonumber(ARGV[2])), 'failure_threshold', '-', num(now_us), ARGV[3]}, US)
redis.call('HSET', KEYS[1], ARGV[1], rec)
local v = tonumber(redis.call('GET', KEYS[2]) or '0')
redis.call('SET', KEYS[2], num(math.max(v + 1, epoch)))
return 1
`)

// OpenSilently writes an opening of name by by, without publishing it.
func (s *Store) OpenSilently(ctx context.Context, name, by string, openFor time.Duration) error {
	return silentScript.Run(ctx, s.client, []string{s.rec, s.ver}, name, openFor.Milliseconds(), by).Err()
}
