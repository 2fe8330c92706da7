package redisstate

import (
	"context"

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
