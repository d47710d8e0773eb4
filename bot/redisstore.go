package bot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis keys; one prefix so that the bot can share a database.
const (
	redisPrefix   = "okrbot:"
	redisTokenKey = redisPrefix + "tenant_token"
)

// RedisStore is a Store and a TokenShare in Redis, so that replicas share
// the dedup memory, the click locks and the tenant token.
type RedisStore struct {
	rdb *redis.Client
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
	return &RedisStore{rdb: redis.NewClient(opt)}, nil
}

// Claim implements Store.
func (s *RedisStore) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, redisPrefix+key, 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redis: %w", err)
	}
	return ok, nil
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
func (s *RedisStore) Close() error { return s.rdb.Close() }

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
