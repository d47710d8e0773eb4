package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis keys; one prefix so that the bot can share a database.
const (
	redisPrefix       = "okrbot:"
	redisTokenKey     = redisPrefix + "tenant_token"
	redisFailedPrefix = redisPrefix + "failed_claim:"
)

// Redis is a store in Redis, so that replicas share the dedup memory, the
// click locks and the tenant token (it is also a feishu.TokenShare).
type Redis struct {
	rdb *redis.Client

	base  context.Context // ends background work on Close
	stop  context.CancelFunc
	marks sync.WaitGroup // failed claims still being marked
}

// NewRedis connects to the Redis at url (redis:// or rediss://).
// Timeouts are short: when Redis is away the bot must answer 503 quickly so
// that Feishu delivers again, and it reconnects by itself.
func NewRedis(url string) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = 2 * time.Second
	opt.WriteTimeout = 2 * time.Second
	opt.MaxRetries = 1
	opt.DialerRetries = 1 // a Redis that drops packets must fail in seconds, not 20
	base, stop := context.WithCancel(context.Background())
	return &Redis{rdb: redis.NewClient(opt), base: base, stop: stop}, nil
}

// claimScript sets every key of KEYS to this claim's nonce ARGV[1] for
// ARGV[2] ms, unless another live claim holds one of them: all or none, in
// one step, so that a claim cut short never leaves half of its keys held.
// Finding its own nonce counts as a win: the client's retry of a claim whose
// first attempt ran but timed out. A holder marked failed (under prefix
// ARGV[3]) can be taken over: that claimer was told it failed and answered
// 503.
var claimScript = redis.NewScript(`
for _, k in ipairs(KEYS) do
  local v = redis.call("GET", k)
  if v and v ~= ARGV[1] and redis.call("EXISTS", ARGV[3] .. v) == 0 then return 0 end
end
for _, k in ipairs(KEYS) do redis.call("SET", k, ARGV[1], "PX", ARGV[2]) end
return 1`)

// markFailedScript records that claim ARGV[1] failed and frees every key of
// KEYS the claim holds.
var markFailedScript = redis.NewScript(`
redis.call("SET", ARGV[3] .. ARGV[1], 1, "PX", ARGV[2])
for _, k in ipairs(KEYS) do
  if redis.call("GET", k) == ARGV[1] then redis.call("DEL", k) end
end
return 1`)

func prefixed(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = redisPrefix + k
	}
	return out
}

// Claim records every key for ttl, all or none, and reports whether none
// was held yet. A claim that returns an error holds nothing, even if Redis
// runs its command later: it is marked failed as soon as Redis answers
// again, so a redelivery of the event can claim it.
func (s *Redis) Claim(ctx context.Context, ttl time.Duration, keys ...string) (bool, error) {
	nonce := rand.Text()
	ks := prefixed(keys)
	n, err := claimScript.Run(ctx, s.rdb, ks, nonce, ttl.Milliseconds(), redisFailedPrefix).Int()
	if err != nil {
		s.retryInBackground(func(ctx context.Context) error {
			return markFailedScript.Run(ctx, s.rdb, ks, nonce, ttl.Milliseconds(), redisFailedPrefix).Err()
		})
		return false, fmt.Errorf("redis: %w", err)
	}
	return n == 1, nil
}

// retryInBackground keeps calling f until it succeeds, Close is called, or
// ten minutes pass: what the store owes Redis once it answers again.
func (s *Redis) retryInBackground(f func(ctx context.Context) error) {
	s.marks.Add(1)
	go func() {
		defer s.marks.Done()
		ctx, cancel := context.WithTimeout(s.base, 10*time.Minute)
		defer cancel()
		for {
			if f(ctx) == nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
}

// Release forgets keys, so that a later Claim wins again. When Redis does
// not answer, the keys are deleted in the background as soon as it does: a
// release is never lost silently.
func (s *Redis) Release(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil // DEL without a key is an error Redis would give forever
	}
	ks := prefixed(keys)
	if err := s.rdb.Del(ctx, ks...).Err(); err != nil {
		s.retryInBackground(func(ctx context.Context) error { return s.rdb.Del(ctx, ks...).Err() })
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Ping reports whether Redis answers. The error does not name Redis's
// address: /readyz shows it to anyone who asks.
func (s *Redis) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return errors.New("redis: no answer in time")
		}
		return errors.New("redis: not answering")
	}
	return nil
}

// Close ends the background work and the connections.
func (s *Redis) Close() error {
	s.stop()
	s.marks.Wait()
	return s.rdb.Close()
}

// LoadToken implements feishu.TokenShare.
func (s *Redis) LoadToken(ctx context.Context) (string, time.Duration, error) {
	pipe := s.rdb.Pipeline()
	get := pipe.Get(ctx, redisTokenKey)
	ttl := pipe.PTTL(ctx, redisTokenKey)
	if _, err := pipe.Exec(ctx); err != nil {
		if errors.Is(err, redis.Nil) {
			return "", 0, nil
		}
		return "", 0, fmt.Errorf("redis: %w", err)
	}
	return get.Val(), ttl.Val(), nil
}

// StoreToken implements feishu.TokenShare.
func (s *Redis) StoreToken(ctx context.Context, tok string, ttl time.Duration) error {
	if err := s.rdb.Set(ctx, redisTokenKey, tok, ttl).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// dropIfEqual deletes KEYS[1] only while it still holds ARGV[1], so that a
// replica dropping a stale token never drops the fresh one another shared.
var dropIfEqual = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// DropToken implements feishu.TokenShare.
func (s *Redis) DropToken(ctx context.Context, tok string) error {
	if err := dropIfEqual.Run(ctx, s.rdb, []string{redisTokenKey}, tok).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// LockTokenFetch implements feishu.TokenShare.
func (s *Redis) LockTokenFetch(ctx context.Context, ttl time.Duration) (bool, error) {
	return s.Claim(ctx, ttl, "tenant_token_lock")
}

// UnlockTokenFetch implements feishu.TokenShare.
func (s *Redis) UnlockTokenFetch(ctx context.Context) error {
	return s.Release(ctx, "tenant_token_lock")
}
