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
	// Close releases the store's resources.
	Close() error
}

// DedupTTL covers Feishu's redelivery schedule (15 s, 5 min, 1 h, 6 h) with
// room to spare.
const DedupTTL = 8 * time.Hour

// MemoryStore is a Store in this process's memory.
type MemoryStore struct {
	c    *gocache.Cache
	stop chan struct{}
	done chan struct{}
}

// NewMemoryStore returns an empty MemoryStore. Close stops its purging of
// expired keys.
func NewMemoryStore() *MemoryStore {
	// go-cache's own janitor can only be stopped by the garbage collector;
	// this one stops on Close, so a shut-down bot leaves nothing running.
	s := &MemoryStore{c: gocache.New(DedupTTL, 0), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(10 * time.Minute)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				s.c.DeleteExpired()
			case <-s.stop:
				return
			}
		}
	}()
	return s
}

// Close stops the purging of expired keys.
func (s *MemoryStore) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	return nil
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
