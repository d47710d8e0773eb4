package bot

import (
	"context"
	"time"

	gocache "github.com/patrickmn/go-cache"
)

// Store remembers which events, messages and clicks were already taken.
// Claim must be atomic: of concurrent claims of one key exactly one wins.
// A Redis implementation shares the memory between replicas.
type Store interface {
	// Claim records key for ttl and reports whether it was not held yet.
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Release forgets key, so that a later Claim wins again.
	Release(ctx context.Context, key string) error
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}

// DedupTTL covers Feishu's redelivery schedule (15 s, 5 min, 1 h, 6 h) with
// room to spare.
const DedupTTL = 8 * time.Hour

// MemoryStore is a Store in this process's memory.
type MemoryStore struct{ c *gocache.Cache }

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{c: gocache.New(DedupTTL, 10*time.Minute)}
}

// Claim implements Store.
func (s *MemoryStore) Claim(_ context.Context, key string, ttl time.Duration) (bool, error) {
	return s.c.Add(key, struct{}{}, ttl) == nil, nil
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, key string) error {
	s.c.Delete(key)
	return nil
}

// Ping implements Store.
func (s *MemoryStore) Ping(context.Context) error { return nil }
