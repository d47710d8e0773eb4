package bot

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

// RedisStore is a Store and a TokenShare in Redis, so that replicas share
// the dedup memory, the click locks and the tenant token.
type RedisStore struct {
	rdb *redis.Client

	base  context.Context // ends background work on Close
	stop  context.CancelFunc
	marks sync.WaitGroup // failed claims still being marked
}

// NewRedisStore connects to the Redis at url (redis:// or rediss://).
// Timeouts are short: when Redis is away the bot must answer 503 quickly so
// that Feishu delivers again, and it reconnects by itself.
func NewRedisStore(url string) (*RedisStore, error) {
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
	return &RedisStore{rdb: redis.NewClient(opt), base: base, stop: stop}, nil
}

// claimScript sets KEYS[1] to this claim's nonce ARGV[1] for ARGV[2] ms
// unless another live claim holds it. Finding its own nonce counts as a win:
// the client's retry of a claim whose first attempt ran but timed out. A
// holder marked failed (under prefix ARGV[3]) can be taken over: that
// claimer was told it failed and answered 503.
var claimScript = redis.NewScript(`
local v = redis.call("GET", KEYS[1])
if v and v ~= ARGV[1] and redis.call("EXISTS", ARGV[3] .. v) == 0 then return 0 end
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
return 1`)

// markFailedScript records that claim ARGV[1] failed and frees KEYS[1] if
// the claim holds it.
var markFailedScript = redis.NewScript(`
redis.call("SET", ARGV[3] .. ARGV[1], 1, "PX", ARGV[2])
if redis.call("GET", KEYS[1]) == ARGV[1] then redis.call("DEL", KEYS[1]) end
return 1`)

// Claim implements Store. A claim that returns an error holds nothing, even
// if Redis runs its command later: it is marked failed as soon as Redis
// answers again, so a redelivery of the event can claim it.
func (s *RedisStore) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	nonce := rand.Text()
	n, err := claimScript.Run(ctx, s.rdb, []string{redisPrefix + key}, nonce, ttl.Milliseconds(), redisFailedPrefix).Int()
	if err != nil {
		s.markFailed(redisPrefix+key, nonce, ttl)
		return false, fmt.Errorf("redis: %w", err)
	}
	return n == 1, nil
}

// markFailed keeps trying, in the background, to mark a failed claim until
// Redis answers, Close is called, or ten minutes pass.
func (s *RedisStore) markFailed(key, nonce string, ttl time.Duration) {
	s.marks.Add(1)
	go func() {
		defer s.marks.Done()
		ctx, cancel := context.WithTimeout(s.base, 10*time.Minute)
		defer cancel()
		for {
			if markFailedScript.Run(ctx, s.rdb, []string{key}, nonce, ttl.Milliseconds(), redisFailedPrefix).Err() == nil {
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

// Release implements Store.
func (s *RedisStore) Release(ctx context.Context, key string) error {
	if err := s.rdb.Del(ctx, redisPrefix+key).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Ping implements Store.
func (s *RedisStore) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Close implements Store.
func (s *RedisStore) Close() error {
	s.stop()
	s.marks.Wait()
	return s.rdb.Close()
}

// LoadToken implements TokenShare.
func (s *RedisStore) LoadToken(ctx context.Context) (string, time.Duration, error) {
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

// StoreToken implements TokenShare.
func (s *RedisStore) StoreToken(ctx context.Context, tok string, ttl time.Duration) error {
	if err := s.rdb.Set(ctx, redisTokenKey, tok, ttl).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// dropIfEqual deletes KEYS[1] only while it still holds ARGV[1], so that a
// replica dropping a stale token never drops the fresh one another shared.
var dropIfEqual = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// DropToken implements TokenShare.
func (s *RedisStore) DropToken(ctx context.Context, tok string) error {
	if err := dropIfEqual.Run(ctx, s.rdb, []string{redisTokenKey}, tok).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// LockTokenFetch implements TokenShare.
func (s *RedisStore) LockTokenFetch(ctx context.Context, ttl time.Duration) (bool, error) {
	return s.Claim(ctx, "tenant_token_lock", ttl)
}

// UnlockTokenFetch implements TokenShare.
func (s *RedisStore) UnlockTokenFetch(ctx context.Context) error {
	return s.Release(ctx, "tenant_token_lock")
}
