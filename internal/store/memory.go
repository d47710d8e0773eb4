// Package store keeps what okrbot must remember across events: which
// events, messages and clicks were already taken (dedup claims and click
// locks) and, for replicas, the shared tenant token. Memory keeps it in this
// process; Redis shares it between replicas. Both satisfy bot.Store.
package store

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"
)

// shards spreads the keys over independently locked maps, so that the
// sweep of expired keys never stops the whole store.
const shards = 32

// sweepEvery is how often expired keys are dropped.
const sweepEvery = 5 * time.Minute

// key is a claimed key's SHA-256, cut to 128 bits: a fixed 16 bytes per key
// instead of the key's text keeps a remembered event small (docs/BENCHMARKS.md),
// and two keys only collide with a 128-bit hash collision, so a new message
// is never taken for a duplicate.
type key [16]byte

// Memory is a store in this process's memory. Its zero value is not usable;
// call NewMemory.
type Memory struct {
	now   func() time.Time
	epoch time.Time // expiries are seconds after it, in a uint32
	parts [shards]shard
	stop  chan struct{}
	done  chan struct{}
}

type shard struct {
	mu   sync.Mutex
	keys map[key]uint32 // expiry, seconds after epoch
}

// NewMemory returns an empty Memory store using clock now (nil: time.Now).
// Close stops its sweeping of expired keys.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	m := &Memory{now: now, epoch: now(), stop: make(chan struct{}), done: make(chan struct{})}
	for i := range m.parts {
		m.parts[i].keys = map[key]uint32{}
	}
	go m.sweep()
	return m
}

func hashKey(s string) key {
	sum := sha256.Sum256([]byte(s))
	return key(sum[:16])
}

func (m *Memory) part(k key) *shard { return &m.parts[k[0]%shards] }

// clock returns now as seconds after the epoch.
func (m *Memory) clock() uint32 { return uint32(max(m.now().Sub(m.epoch)/time.Second, 0)) }

// Claim records every key for ttl, all of them or none, and reports whether
// none of them was held yet. Of concurrent claims sharing a key exactly one
// wins.
func (m *Memory) Claim(_ context.Context, ttl time.Duration, keys ...string) (bool, error) {
	// The key is held while the clock's whole seconds are below exp.
	// Rounding the claim's end (not only the ttl) up to a whole second
	// keeps it for at least ttl, at most a second more.
	since := max(m.now().Sub(m.epoch), 0)
	now := uint32(since / time.Second)
	exp := max(uint32((since+max(ttl, 0)+time.Second-1)/time.Second), now+1)
	hs := make([]key, len(keys))
	for i, k := range keys {
		hs[i] = hashKey(k)
	}
	// Lock the shards in index order, so that two multi-key claims never
	// wait for each other crosswise.
	var held [shards]bool
	for _, h := range hs {
		held[h[0]%shards] = true
	}
	for i := range m.parts {
		if held[i] {
			m.parts[i].mu.Lock()
		}
	}
	defer func() {
		for i := range m.parts {
			if held[i] {
				m.parts[i].mu.Unlock()
			}
		}
	}()
	for _, h := range hs {
		if e, ok := m.part(h).keys[h]; ok && e > now {
			return false, nil
		}
	}
	for _, h := range hs {
		m.part(h).keys[h] = exp
	}
	return true, nil
}

// Release forgets keys, so that a later Claim wins again.
func (m *Memory) Release(_ context.Context, keys ...string) error {
	for _, k := range keys {
		h := hashKey(k)
		p := m.part(h)
		p.mu.Lock()
		delete(p.keys, h)
		p.mu.Unlock()
	}
	return nil
}

// Len reports the keys held, expired ones not yet swept included.
func (m *Memory) Len() int {
	n := 0
	for i := range m.parts {
		p := &m.parts[i]
		p.mu.Lock()
		n += len(p.keys)
		p.mu.Unlock()
	}
	return n
}

// Ping reports that the store answers; memory always does.
func (m *Memory) Ping(context.Context) error { return nil }

// Close stops the sweeping of expired keys.
func (m *Memory) Close() error {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
	return nil
}

func (m *Memory) sweep() {
	defer close(m.done)
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			m.Sweep()
		case <-m.stop:
			return
		}
	}
}

// Sweep drops the expired keys now; it also runs by itself every few
// minutes.
func (m *Memory) Sweep() {
	now := m.clock()
	for i := range m.parts {
		p := &m.parts[i]
		p.mu.Lock()
		for k, e := range p.keys {
			if e <= now {
				delete(p.keys, k)
			}
		}
		p.mu.Unlock()
	}
}
