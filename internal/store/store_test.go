package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"okrbot/internal/feishu"
	"okrbot/internal/store"
	"okrbot/internal/testkit"
	"okrbot/internal/testkit/fakeclock"
)

var _ feishu.TokenShare = (*store.Redis)(nil)

// Store is what every store offers and the suite below checks.
type Store interface {
	Claim(ctx context.Context, ttl time.Duration, keys ...string) (bool, error)
	Release(ctx context.Context, keys ...string) error
	Ping(ctx context.Context) error
	Close() error
}

var (
	_ Store = (*store.Memory)(nil)
	_ Store = (*store.Redis)(nil)
)

// dedupTTL is the bot's dedup memory (bot.DedupTTL).
const dedupTTL = 8 * time.Hour

// backend is one kind of store for the shared suite.
type backend struct {
	// open returns a client of the test's store; every client of one test
	// sees the same keys, as replicas sharing a store do.
	open func() Store
	now  func() time.Time // the store's clock
	// pass lets d go by on the store's clock (the test's fake clock, or
	// real time).
	pass func(d time.Duration)
	// ttl is short enough to watch a claim lapse; a claim may lapse up to
	// early before it (clock granularity) and must have lapsed late after.
	ttl, early, late time.Duration
}

func memoryBackend(t *testing.T) backend {
	clk := newClock()
	m := store.NewMemory(clk.Now)
	t.Cleanup(func() { _ = m.Close() })
	// Start off a whole second of the store's epoch, so that rounding to
	// seconds shows.
	clk.Advance(700 * time.Millisecond)
	return backend{
		open: func() Store { return m },
		now:  clk.Now,
		pass: clk.Advance,
		ttl:  10 * time.Second, early: 0, late: time.Second,
	}
}

func redisBackend(t *testing.T) backend {
	r := testkit.StartRedis(t)
	return backend{
		open: func() Store { return newRedis(t, r.URL()) },
		now:  time.Now,
		pass: time.Sleep,
		// Redis keeps expiries in whole milliseconds.
		ttl: 300 * time.Millisecond, early: 2 * time.Millisecond, late: 3 * time.Second,
	}
}

func newRedis(t *testing.T, url string) *store.Redis {
	t.Helper()
	s, err := store.NewRedis(url)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newClock() *fakeclock.Clock { return fakeclock.New(time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)) }

func TestMemory(t *testing.T) { testStore(t, memoryBackend) }

func TestRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	testStore(t, redisBackend)
}

func mustClaim(t *testing.T, s Store, want bool, ttl time.Duration, keys ...string) {
	t.Helper()
	ok, err := s.Claim(context.Background(), ttl, keys...)
	if err != nil || ok != want {
		t.Fatalf("Claim(%v) = %v, %v; want %v, nil", keys, ok, err, want)
	}
}

// testStore is the behaviour every store must have.
func testStore(t *testing.T, newBackend func(t *testing.T) backend) {
	t.Run("ClaimIsAtomic", func(t *testing.T) {
		t.Parallel()
		b := newBackend(t)
		// Several clients, as several replicas would have.
		stores := []Store{b.open(), b.open(), b.open()}
		for round := range 10 {
			event, message := fmt.Sprintf("event:E%d", round), fmt.Sprintf("message:M%d", round)
			var wins atomic.Int32
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					keys := []string{event, message}
					if i%2 == 1 {
						keys = []string{message, event} // no order deadlocks
					}
					<-start
					ok, err := stores[i%len(stores)].Claim(context.Background(), time.Minute, keys...)
					if err != nil {
						t.Errorf("Claim: %v", err)
					}
					if ok {
						wins.Add(1)
					}
				}()
			}
			close(start)
			wg.Wait()
			if n := wins.Load(); n != 1 {
				t.Fatalf("round %d: %d of 50 concurrent claims won, want exactly 1", round, n)
			}
		}
		// Keys are independent.
		mustClaim(t, stores[0], true, time.Minute, "message:M-other")
	})

	t.Run("OverlappingClaimsAreAllOrNone", func(t *testing.T) {
		t.Parallel()
		b := newBackend(t)
		stores := []Store{b.open(), b.open(), b.open()}
		keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"}
		for round := range 5 {
			pairs := make([][]string, 50)
			won := make([]bool, len(pairs))
			for i := range pairs {
				a := rand.IntN(len(keys))
				c := (a + 1 + rand.IntN(len(keys)-1)) % len(keys)
				pairs[i] = []string{fmt.Sprintf("r%d:%s", round, keys[a]), fmt.Sprintf("r%d:%s", round, keys[c])}
			}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range pairs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					ok, err := stores[i%len(stores)].Claim(context.Background(), time.Minute, pairs[i]...)
					if err != nil {
						t.Errorf("Claim: %v", err)
					}
					won[i] = ok
				}()
			}
			close(start)
			wg.Wait()
			holder := map[string]int{}
			for i, p := range pairs {
				if !won[i] {
					continue
				}
				for _, k := range p {
					if j, ok := holder[k]; ok {
						t.Fatalf("round %d: claims %v and %v both won %s", round, pairs[j], p, k)
					}
					holder[k] = i
				}
			}
			// Nothing is released, so a claim may only lose to a key a
			// winner holds: a loser that kept half its keys would make
			// others lose to nobody.
			for i, p := range pairs {
				if !won[i] && !slices.ContainsFunc(p, func(k string) bool { _, ok := holder[k]; return ok }) {
					t.Fatalf("round %d: claim %v lost, but no winner holds any of its keys (winners hold %v)", round, p, holder)
				}
			}
		}
	})

	t.Run("MultiKeyClaimIsAllOrNone", func(t *testing.T) {
		t.Parallel()
		b := newBackend(t)
		s, other := b.open(), b.open()
		mustClaim(t, s, true, time.Minute, "b")
		// {a, b} loses to the held b, and leaves a free.
		mustClaim(t, other, false, time.Minute, "a", "b")
		mustClaim(t, other, false, time.Minute, "b", "a")
		mustClaim(t, other, true, time.Minute, "a")
		// Both free: both taken.
		mustClaim(t, s, true, dedupTTL, "event:E", "message:M")
		mustClaim(t, other, false, time.Minute, "event:E")
		mustClaim(t, other, false, time.Minute, "message:M")
		// The same message under a new event id is still a duplicate.
		mustClaim(t, other, false, dedupTTL, "event:E2", "message:M")
		mustClaim(t, other, true, dedupTTL, "event:E2", "message:M2")
	})

	t.Run("ClaimExpires", func(t *testing.T) {
		t.Parallel()
		b := newBackend(t)
		s, other := b.open(), b.open()
		start := b.now()
		mustClaim(t, s, true, b.ttl, "click:k:1", "click:k:2")
		mustClaim(t, other, false, b.ttl, "click:k:1")
		// Held for the whole ttl; free soon after it.
		step := b.ttl / 20
		for {
			b.pass(step)
			ok, err := other.Claim(context.Background(), time.Minute, "click:k:2")
			if err != nil {
				t.Fatal(err)
			}
			held := b.now().Sub(start)
			if ok {
				if held < b.ttl-b.early {
					t.Fatalf("a claim with ttl %s lapsed after %s", b.ttl, held)
				}
				break
			}
			if held > b.ttl+b.late {
				t.Fatalf("a claim with ttl %s still held after %s", b.ttl, held)
			}
		}
		// A claim's keys lapse together, and a new claim holds its own ttl.
		mustClaim(t, other, true, time.Minute, "click:k:1")
		mustClaim(t, s, false, b.ttl, "click:k:1")
		// A long ttl really is applied.
		mustClaim(t, s, true, dedupTTL, "event:long")
		b.pass(2 * b.ttl)
		mustClaim(t, other, false, dedupTTL, "event:long")
	})

	t.Run("Release", func(t *testing.T) {
		t.Parallel()
		b := newBackend(t)
		s, other := b.open(), b.open()
		ctx := context.Background()
		mustClaim(t, s, true, time.Minute, "event:e1", "message:m1")
		mustClaim(t, other, false, time.Minute, "event:e1")
		// Released by one replica, claimable by another.
		if err := s.Release(ctx, "event:e1", "message:m1"); err != nil {
			t.Fatal(err)
		}
		mustClaim(t, other, true, time.Minute, "event:e1", "message:m1")
		// Releasing part of a claim frees that part only.
		if err := other.Release(ctx, "message:m1"); err != nil {
			t.Fatal(err)
		}
		mustClaim(t, s, false, time.Minute, "event:e1")
		mustClaim(t, s, true, time.Minute, "message:m1")
		// Releasing an unknown key is no error, and touches no other key.
		if err := s.Release(ctx, "event:never"); err != nil {
			t.Fatalf("release of an unknown key: %v", err)
		}
		if err := s.Release(ctx); err != nil {
			t.Fatalf("release of no key: %v", err)
		}
		mustClaim(t, s, false, time.Minute, "event:e1")
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

// Memory only: the clock it is given, and the sweep.

func TestMemorySweep(t *testing.T) {
	clk := newClock()
	m := store.NewMemory(clk.Now)
	defer m.Close()
	mustClaim(t, m, true, time.Minute, "event:short", "message:short")
	mustClaim(t, m, true, time.Hour, "event:long")
	m.Sweep()
	if n := m.Len(); n != 3 {
		t.Fatalf("Len after sweeping nothing expired = %d, want 3", n)
	}
	clk.Advance(2 * time.Minute)
	if n := m.Len(); n != 3 {
		t.Fatalf("Len before the sweep = %d, want 3 (expired keys not yet swept)", n)
	}
	m.Sweep()
	if n := m.Len(); n != 1 {
		t.Fatalf("Len after the sweep = %d, want 1", n)
	}
	mustClaim(t, m, false, time.Hour, "event:long")
	mustClaim(t, m, true, time.Hour, "event:short")
	// A clock that steps back holds keys longer, never shorter.
	clk.Advance(-time.Hour)
	mustClaim(t, m, false, time.Hour, "event:short")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryDistinctKeys(t *testing.T) {
	// Keys are kept as 128-bit hashes: similar keys stay distinct.
	m := store.NewMemory(nil)
	defer m.Close()
	for i := range 10000 {
		mustClaim(t, m, true, time.Minute, fmt.Sprintf("event:%d", i), fmt.Sprintf("message:%d", i))
	}
	mustClaim(t, m, true, time.Minute, "")
	mustClaim(t, m, true, time.Minute, "event:")
	mustClaim(t, m, false, time.Minute, "event:9999")
	if n := m.Len(); n != 20002 {
		t.Fatalf("Len = %d, want 20002", n)
	}
}
