package bot_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"okrbot/bot"
	"okrbot/internal/testkit"
)

// The Redis store against a real redis-server: what the replicas rely on.

var (
	_ bot.Store      = (*bot.RedisStore)(nil)
	_ bot.TokenShare = (*bot.RedisStore)(nil)
)

func newRedisStore(t *testing.T, r *testkit.Redis) *bot.RedisStore {
	t.Helper()
	s, err := bot.NewRedisStore(r.URL())
	if err != nil {
		t.Fatalf("NewRedisStore: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestRedisStoreClaimIsAtomic(t *testing.T) {
	t.Parallel()
	r := testkit.StartRedis(t)
	// Several clients, as several replicas would have.
	stores := []*bot.RedisStore{newRedisStore(t, r), newRedisStore(t, r), newRedisStore(t, r)}
	ctx := context.Background()
	for round := range 10 {
		key := fmt.Sprintf("message:om_round%d", round)
		var wins atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ok, err := stores[i%len(stores)].Claim(ctx, key, time.Minute)
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
	if ok, err := stores[0].Claim(ctx, "message:om_other", time.Minute); err != nil || !ok {
		t.Fatalf("claim of a fresh key = %v, %v; want true", ok, err)
	}
}

func TestRedisStoreClaimExpires(t *testing.T) {
	t.Parallel()
	r := testkit.StartRedis(t)
	s := newRedisStore(t, r)
	ctx := context.Background()
	const ttl = 300 * time.Millisecond
	if ok, err := s.Claim(ctx, "click:k:1", ttl); err != nil || !ok {
		t.Fatalf("first claim = %v, %v", ok, err)
	}
	claimed := time.Now()
	if ok, err := s.Claim(ctx, "click:k:1", ttl); err != nil || ok {
		t.Fatalf("second claim within the ttl = %v, %v; want false", ok, err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		ok, err := s.Claim(ctx, "click:k:1", ttl)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if held := time.Since(claimed); held < ttl-50*time.Millisecond {
				t.Fatalf("claim lapsed after %s, before its ttl %s", held, ttl)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("claim with ttl %s still held after 3 s", ttl)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The dedup TTL really is applied (a claim without expiry would grow
	// Redis forever).
	if ok, err := s.Claim(ctx, "event:long", bot.DedupTTL); err != nil || !ok {
		t.Fatalf("claim = %v, %v", ok, err)
	}
	if ok, _ := s.Claim(ctx, "event:long", bot.DedupTTL); ok {
		t.Fatal("a held dedup key was claimed twice")
	}
}

func TestRedisStoreRelease(t *testing.T) {
	t.Parallel()
	r := testkit.StartRedis(t)
	a, b := newRedisStore(t, r), newRedisStore(t, r)
	ctx := context.Background()
	if ok, err := a.Claim(ctx, "event:e1", time.Minute); err != nil || !ok {
		t.Fatalf("claim = %v, %v", ok, err)
	}
	if ok, _ := b.Claim(ctx, "event:e1", time.Minute); ok {
		t.Fatal("another client claimed a held key")
	}
	// Released by one replica, claimable by another.
	if err := a.Release(ctx, "event:e1"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Claim(ctx, "event:e1", time.Minute); err != nil || !ok {
		t.Fatalf("claim after release = %v, %v; want true", ok, err)
	}
	// Releasing an unknown key is no error, and touches no other key.
	if err := a.Release(ctx, "event:never"); err != nil {
		t.Fatalf("release of an unknown key: %v", err)
	}
	if ok, _ := a.Claim(ctx, "event:e1", time.Minute); ok {
		t.Fatal("releasing another key released e1")
	}
}

func TestRedisStoreToken(t *testing.T) {
	t.Parallel()
	r := testkit.StartRedis(t)
	a, b := newRedisStore(t, r), newRedisStore(t, r)
	ctx := context.Background()
	if tok, _, err := a.LoadToken(ctx); err != nil || tok != "" {
		t.Fatalf("LoadToken on an empty Redis = %q, %v; want \"\", nil", tok, err)
	}
	if err := a.StoreToken(ctx, "t-old", time.Minute); err != nil {
		t.Fatal(err)
	}
	tok, ttl, err := b.LoadToken(ctx)
	if err != nil || tok != "t-old" || ttl <= 50*time.Second || ttl > time.Minute {
		t.Fatalf("LoadToken = %q, %s, %v; want t-old with ~1m left", tok, ttl, err)
	}
	// Another replica has already replaced the token: dropping the stale
	// one must leave the fresh one alone.
	if err := b.StoreToken(ctx, "t-new", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := a.DropToken(ctx, "t-old"); err != nil {
		t.Fatalf("DropToken of a replaced token: %v", err)
	}
	if tok, _, _ := a.LoadToken(ctx); tok != "t-new" {
		t.Fatalf("after dropping the stale token the shared one is %q, want t-new", tok)
	}
	if err := a.DropToken(ctx, "t-new"); err != nil {
		t.Fatal(err)
	}
	if tok, _, err := b.LoadToken(ctx); err != nil || tok != "" {
		t.Fatalf("after dropping the shared token LoadToken = %q, %v", tok, err)
	}
	// Dropping when there is nothing is no error either.
	if err := a.DropToken(ctx, "t-new"); err != nil {
		t.Fatalf("DropToken with no shared token: %v", err)
	}
	// The token lapses with its ttl.
	if err := a.StoreToken(ctx, "t-short", 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		tok, _, err := b.LoadToken(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tok == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("token stored for 200ms still shared after 3 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRedisStoreTokenFetchLock(t *testing.T) {
	t.Parallel()
	r := testkit.StartRedis(t)
	stores := []*bot.RedisStore{newRedisStore(t, r), newRedisStore(t, r), newRedisStore(t, r)}
	ctx := context.Background()
	var wins atomic.Int32
	winner := -1
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := stores[i%3].LockTokenFetch(ctx, 10*time.Second)
			if err != nil {
				t.Errorf("LockTokenFetch: %v", err)
			}
			if ok {
				wins.Add(1)
				mu.Lock()
				winner = i % 3
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d of 30 concurrent LockTokenFetch won, want exactly 1", n)
	}
	other := stores[(winner+1)%3]
	if ok, _ := other.LockTokenFetch(ctx, 10*time.Second); ok {
		t.Fatal("lock taken while held")
	}
	// The lock is not a dedup key: the dedup memory does not see it.
	if ok, err := other.Claim(ctx, "event:tenant_token", time.Minute); err != nil || !ok {
		t.Fatalf("unrelated claim = %v, %v", ok, err)
	}
	if err := stores[winner].UnlockTokenFetch(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := other.LockTokenFetch(ctx, 200*time.Millisecond); err != nil || !ok {
		t.Fatalf("lock after unlock = %v, %v; want true", ok, err)
	}
	// A holder that dies without unlocking loses the lock after its ttl.
	deadline := time.Now().Add(3 * time.Second)
	for {
		ok, err := stores[winner].LockTokenFetch(ctx, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a lock taken for 200ms is still held after 3 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitErr calls f until it returns an error (want true) or nil (want
// false), and fails if that takes longer than within.
func waitErr(t *testing.T, within time.Duration, wantErr bool, what string, f func(ctx context.Context) error) {
	t.Helper()
	start := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), within)
		err := f(ctx)
		cancel()
		if (err != nil) == wantErr {
			return
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s (last err %v)", what, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRedisStoreOutageAndRecovery(t *testing.T) {
	t.Parallel()
	r := testkit.StartRedis(t)
	s := newRedisStore(t, r)
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if ok, err := s.Claim(ctx, "event:before", time.Minute); err != nil || !ok {
		t.Fatalf("claim = %v, %v", ok, err)
	}
	if err := s.StoreToken(ctx, "t-before", time.Minute); err != nil {
		t.Fatal(err)
	}

	r.Stop()
	// Each call must fail, and fail fast: the webhook answers 503 and
	// /readyz has a 2 s budget.
	for _, c := range []struct {
		name string
		f    func(ctx context.Context) error
	}{
		{"Ping", s.Ping},
		{"Claim", func(ctx context.Context) error {
			ok, err := s.Claim(ctx, "event:during", time.Minute)
			if err == nil && ok {
				t.Error("Claim won while Redis is down")
			}
			// (false, nil) would make the bot drop the event as a
			// duplicate instead of answering 503.
			return err
		}},
		{"Release", func(ctx context.Context) error { return s.Release(ctx, "event:before") }},
		{"LoadToken", func(ctx context.Context) error { _, _, err := s.LoadToken(ctx); return err }},
		{"StoreToken", func(ctx context.Context) error { return s.StoreToken(ctx, "t", time.Minute) }},
		{"LockTokenFetch", func(ctx context.Context) error { _, err := s.LockTokenFetch(ctx, time.Second); return err }},
	} {
		start := time.Now()
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.f(cctx)
		cancel()
		if err == nil {
			t.Errorf("%s with Redis stopped: no error", c.name)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s with Redis stopped took %s to fail, want a few seconds at most", c.name, took.Round(time.Millisecond))
		}
	}

	r.Restart(t)
	// The same store, not recreated, works again within a few seconds.
	waitErr(t, 5*time.Second, false, "Ping after restart", s.Ping)
	// The restarted server is empty (no persistence): the old claim is gone.
	if ok, err := s.Claim(ctx, "event:before", time.Minute); err != nil || !ok {
		t.Fatalf("claim after restart = %v, %v; want true", ok, err)
	}
	if ok, err := s.Claim(ctx, "event:before", time.Minute); err != nil || ok {
		t.Fatalf("second claim after restart = %v, %v; want false", ok, err)
	}
	if tok, _, err := s.LoadToken(ctx); err != nil || tok != "" {
		t.Fatalf("LoadToken after restart = %q, %v", tok, err)
	}
}

// A claim that reported an error must not hold its key afterwards, even
// when Redis ran it after the bot stopped waiting: the bot answered 503,
// and Feishu's redelivery must find the event unclaimed.
func TestRedisStoreFailedClaimLeavesNothing(t *testing.T) {
	t.Parallel()
	r := testkit.StartRedis(t)
	a, b := newRedisStore(t, r), newRedisStore(t, r)
	ctx := context.Background()
	if err := a.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	r.Pause(t)
	ok, err := a.Claim(ctx, "event:hung", bot.DedupTTL)
	r.Resume(t)
	if err == nil {
		t.Fatalf("claim against a hung Redis = %v, nil; want an error", ok)
	}
	// Another replica takes the redelivery within a few seconds.
	waitErr(t, 5*time.Second, false, "claim of a key whose claim failed", func(ctx context.Context) error {
		ok, err := b.Claim(ctx, "event:hung", bot.DedupTTL)
		if err == nil && !ok {
			return fmt.Errorf("still held")
		}
		return err
	})
	// And holds it, as any claim.
	if ok, _ := a.Claim(ctx, "event:hung", bot.DedupTTL); ok {
		t.Fatal("key claimed twice")
	}
}

// A claim that meets a stall (an answer later than the read timeout, so
// that the client sends it again) must not report the key as held by
// someone else: nobody else claimed it, and the bot would drop the event as
// a duplicate.
func TestRedisStoreClaimAcrossStall(t *testing.T) {
	t.Parallel()
	r := testkit.StartRedis(t)
	s := newRedisStore(t, r)
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	r.Pause(t)
	resumed := make(chan struct{})
	go func() {
		defer close(resumed)
		time.Sleep(2500 * time.Millisecond)
		r.Resume(t)
	}()
	ok, err := s.Claim(ctx, "event:stall", bot.DedupTTL)
	<-resumed
	if err == nil && !ok {
		t.Fatal("the only claim of a key reported it held: the event would be dropped as a duplicate")
	}
	t.Logf("claim across the stall: %v, %v", ok, err)
}

// blackhole returns an address that accepts no connection and refuses none
// (a host that is down, a firewall dropping packets): a listener with a
// full backlog that never accepts.
func blackhole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Skipf("socket: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	// Fill the backlog; then connections hang.
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("could not fill a listen backlog to make a black hole")
	return ""
}

// Unreachable without a refusal, a store call must still fail fast: the
// webhook has 10 s to answer 503 and Feishu waits 3 s.
func TestRedisStoreUnreachableFailsFast(t *testing.T) {
	t.Parallel()
	s, err := bot.NewRedisStore("redis://" + blackhole(t) + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Second)
	defer cancel()
	start := time.Now()
	_, err = s.Claim(ctx, "event:x", bot.DedupTTL)
	took := time.Since(start)
	if err == nil {
		t.Fatal("claim against a black hole succeeded")
	}
	if took > 6*time.Second {
		t.Errorf("claim against a black hole took %s to fail, want a few seconds", took.Round(time.Millisecond))
	}
}
