package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/sharedstate/redisstate"
)

// redisURLEnv is read for the Redis URL when -redis is not given.
const redisURLEnv = "FUSEBOX_REDIS_URL"

// parseRedisURL reads a -redis URL (redis://host:port[/db], rediss://...,
// unix:///path/to.sock[?db=N]) into client options set up as the README's
// "Many replicas" section says: every command bounded by its context's
// deadline (the syncer's command timeout), and no retries of the client's
// own (the syncer retries, with backoff).
func parseRedisURL(url string) (*redis.Options, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = -1
	return opts, nil
}

// quietRedisLog drops go-redis's own log lines.
type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

// redactURL quotes a URL for an error message, its password hidden.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(not a URL)"
	}
	return strconv.Quote(u.Redacted())
}

// defaultReplicaID names this process in the store: the host name and the
// port it listens on, which no other process on the host holds at the same
// time, and which a restarted process takes again.
func defaultReplicaID(listen net.Addr) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "demo"
	}
	if len(host) > 100 {
		host = host[:100]
	}
	port := "0"
	if a, ok := listen.(*net.TCPAddr); ok {
		port = fmt.Sprint(a.Port)
	}
	return host + ":" + port
}

// shared is a registry attached to Redis: the syncer and the client it
// uses.
type shared struct {
	syncer *sharedstate.Syncer
	client *redis.Client
}

// attachShared shares reg's openings, closings and operator actions with
// every other replica attached to the Redis of opts, as replica id. Redis
// need not answer yet: attachShared then logs a warning, the breakers act
// alone, and the syncer keeps trying in the background until it does.
func attachShared(reg *breaker.Registry, opts *redis.Options, id string, logger *slog.Logger) (*shared, error) {
	client := redis.NewClient(opts)
	store, err := redisstate.New(client)
	if err != nil {
		return nil, errors.Join(err, client.Close())
	}
	s, err := sharedstate.Attach(reg, store,
		sharedstate.WithReplicaID(id),
		sharedstate.WithOperatorActions(true), // force-open and reset from /breakers reach every replica
		sharedstate.WithLogger(logger),
	)
	if err != nil {
		return nil, errors.Join(err, client.Close())
	}
	st := s.Status()
	attrs := []any{slog.String("replica", id), slog.String("redis", describeRedis(opts))}
	if st.Connected {
		logger.Info("sharing breaker decisions through Redis", attrs...)
	} else {
		if st.LastError != nil {
			attrs = append(attrs, slog.String("error", st.LastError.Error()))
		}
		logger.Warn("Redis does not answer yet: breakers act alone until it does", attrs...)
	}
	return &shared{syncer: s, client: client}, nil
}

// Close detaches the registry, then closes the client.
func (s *shared) Close() error {
	return errors.Join(s.syncer.Close(), s.client.Close())
}

// describeRedis names the server of opts for logs, without its password.
func describeRedis(opts *redis.Options) string {
	return fmt.Sprintf("%s %s db %d", opts.Network, opts.Addr, opts.DB)
}
