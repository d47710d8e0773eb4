package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"okrbot/internal/store"
	"okrbot/internal/testkit"
)

// The Redis store against a real redis-server: what the replicas rely on
// when Redis or the way to it fails.

func TestRedisToken(t *testing.T) {
	t.Parallel()
	r := testkit.StartRedis(t)
	a, b := newRedis(t, r.URL()), newRedis(t, r.URL())
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
	// The token is not a dedup key, nor the other way round.
	mustClaim(t, a, true, time.Minute, "event:tenant_token", "message:tenant_token", "click:tenant_token")
	if tok, _, _ := b.LoadToken(ctx); tok != "" {
		t.Fatalf("a claim shows as the token %q", tok)
	}
	// The token lapses with its ttl.
	if err := a.StoreToken(ctx, "t-short", 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	poll(t, 3*time.Second, "token stored for 200ms to lapse", func(ctx context.Context) error {
		tok, _, err := b.LoadToken(ctx)
		if err == nil && tok != "" {
			return fmt.Errorf("still shared: %q", tok)
		}
		return err
	})
}

func TestRedisTokenFetchLock(t *testing.T) {
	t.Parallel()
	r := testkit.StartRedis(t)
	stores := []*store.Redis{newRedis(t, r.URL()), newRedis(t, r.URL()), newRedis(t, r.URL())}
	ctx := context.Background()
	var wins atomic.Int32
	var winner atomic.Int32
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
				winner.Store(int32(i % 3))
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d of 30 concurrent LockTokenFetch won, want exactly 1", n)
	}
	w := int(winner.Load())
	other := stores[(w+1)%3]
	if ok, _ := other.LockTokenFetch(ctx, 10*time.Second); ok {
		t.Fatal("lock taken while held")
	}
	// The lock is not a dedup key: the dedup memory does not see it.
	mustClaim(t, other, true, time.Minute, "event:tenant_token")
	if err := stores[w].UnlockTokenFetch(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := other.LockTokenFetch(ctx, 200*time.Millisecond); err != nil || !ok {
		t.Fatalf("lock after unlock = %v, %v; want true", ok, err)
	}
	// A holder that dies without unlocking loses the lock after its ttl.
	poll(t, 3*time.Second, "a lock taken for 200ms to lapse", func(ctx context.Context) error {
		ok, err := stores[w].LockTokenFetch(ctx, time.Minute)
		if err == nil && !ok {
			return errors.New("still held")
		}
		return err
	})
}

// poll calls f until it returns nil, and fails the test if that takes
// longer than within.
func poll(t *testing.T, within time.Duration, what string, f func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), within)
		err := f(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (last: %v)", what, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// claimWins is a poll step: nil once the claim of keys wins.
func claimWins(s *store.Redis, keys ...string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		ok, err := s.Claim(ctx, dedupTTL, keys...)
		if err == nil && !ok {
			return errors.New("still held")
		}
		return err
	}
}

func TestRedisOutageAndRecovery(t *testing.T) {
	t.Parallel()
	r := testkit.StartRedis(t)
	s := newRedis(t, r.URL())
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	mustClaim(t, s, true, time.Minute, "event:before", "message:before")
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
			ok, err := s.Claim(ctx, time.Minute, "event:during", "message:during")
			if err == nil && ok {
				t.Error("Claim won while Redis is down")
			}
			// (false, nil) would make the bot drop the event as a
			// duplicate instead of answering 503.
			return err
		}},
		{"Release", func(ctx context.Context) error { return s.Release(ctx, "click:nothing") }},
		{"LoadToken", func(ctx context.Context) error { _, _, err := s.LoadToken(ctx); return err }},
		{"StoreToken", func(ctx context.Context) error { return s.StoreToken(ctx, "t", time.Minute) }},
		{"DropToken", func(ctx context.Context) error { return s.DropToken(ctx, "t") }},
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
	// /readyz shows Ping's error to anyone: it must not name the address.
	if err := s.Ping(ctx); err == nil || bytes.Contains([]byte(err.Error()), []byte(r.Addr())) {
		t.Errorf("Ping with Redis stopped = %v; want an error that does not name %s", err, r.Addr())
	}

	r.Restart(t)
	// The same store, not recreated, works again within a few seconds.
	poll(t, 5*time.Second, "Ping after restart", s.Ping)
	// The restarted server is empty (no persistence): the old claim is gone.
	mustClaim(t, s, true, time.Minute, "event:before", "message:before")
	mustClaim(t, s, false, time.Minute, "event:before")
	if tok, _, err := s.LoadToken(ctx); err != nil || tok != "" {
		t.Fatalf("LoadToken after restart = %q, %v", tok, err)
	}
}

// A claim that reported an error must not hold its keys afterwards, even
// when Redis ran it after the bot stopped waiting: the bot answered 503,
// and Feishu's redelivery must find the event unclaimed.
func TestRedisFailedClaimLeavesNothing(t *testing.T) {
	t.Parallel()
	r := testkit.StartRedis(t)
	a, b := newRedis(t, r.URL()), newRedis(t, r.URL())
	ctx := context.Background()
	if err := a.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	r.Pause(t)
	ok, err := a.Claim(ctx, dedupTTL, "event:hung", "message:hung")
	r.Resume(t)
	if err == nil {
		t.Fatalf("claim against a hung Redis = %v, nil; want an error", ok)
	}
	// Another replica takes the redelivery within a few seconds.
	poll(t, 5*time.Second, "claim of keys whose claim failed", claimWins(b, "event:hung", "message:hung"))
	// And holds it, as any claim.
	mustClaim(t, a, false, dedupTTL, "event:hung")
	mustClaim(t, a, false, dedupTTL, "message:hung")
}

// A claim that meets a stall (an answer later than the read timeout, so
// that the client sends it again) must not report the key as held by
// someone else: nobody else claimed it, and the bot would drop the event as
// a duplicate.
func TestRedisClaimAcrossStall(t *testing.T) {
	t.Parallel()
	r := testkit.StartRedis(t)
	s := newRedis(t, r.URL())
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	r.Pause(t)
	resumed := make(chan struct{})
	go func() {
		defer close(resumed)
		time.Sleep(2500 * time.Millisecond) // past the 2 s read timeout
		r.Resume(t)
	}()
	ok, err := s.Claim(ctx, dedupTTL, "event:stall", "message:stall")
	<-resumed
	if err == nil && !ok {
		t.Fatal("the only claim of the keys reported them held: the event would be dropped as a duplicate")
	}
	t.Logf("claim across the stall: %v, %v", ok, err)
	if err != nil {
		// It failed: then it must leave nothing behind.
		poll(t, 5*time.Second, "claim after a failed claim across a stall", claimWins(s, "event:stall", "message:stall"))
	}
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
func TestRedisUnreachableFailsFast(t *testing.T) {
	t.Parallel()
	s := newRedis(t, "redis://"+blackhole(t)+"/0")
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Second)
	defer cancel()
	start := time.Now()
	_, err := s.Claim(ctx, dedupTTL, "event:x", "message:x")
	took := time.Since(start)
	if err == nil {
		t.Fatal("claim against a black hole succeeded")
	}
	if took > 6*time.Second {
		t.Errorf("claim against a black hole took %s to fail, want a few seconds", took.Round(time.Millisecond))
	}
}

func TestRedisBadURL(t *testing.T) {
	if _, err := store.NewRedis("http://localhost:6379"); err == nil {
		t.Error("NewRedis accepted an http:// URL")
	}
}

// An event lost for good: the connection to Redis is cut while the bot
// claims an event's keys. The claim reports an error (the bot answers 503
// and Feishu delivers again), so it must hold nothing once Redis answers
// again, whether or not Redis ran it: the redelivery must win.
func TestRedisClaimCutMidway(t *testing.T) {
	for _, tc := range []struct {
		name string
		ran  bool
	}{
		{"before Redis ran it", false},
		{"after Redis ran it", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := testkit.StartRedis(t)
			px := startProxy(t, r.Addr())
			a := newRedis(t, px.URL()) // this replica's way to Redis breaks
			b := newRedis(t, r.URL())  // another replica's does not
			ctx := context.Background()
			// Load the claim script, so that the cut claim is the one
			// command that carries the keys.
			mustClaim(t, a, true, dedupTTL, "event:warm", "message:warm")

			px.CutOn("event:E", tc.ran)
			ok, err := a.Claim(ctx, dedupTTL, "event:E", "message:M")
			if err == nil {
				t.Fatalf("claim cut midway = %v, nil; want an error", ok)
			}
			select {
			case <-px.Tripped():
			default:
				t.Fatal("the proxy never saw the claim")
			}
			if tc.ran {
				// Redis ran the claim: until this replica reaches Redis
				// again the keys are held (by a claim marked as failed
				// once it does).
				mustClaim(t, b, false, dedupTTL, "message:M")
			}

			px.Up()
			// The same replica takes the redelivery within a few seconds.
			poll(t, 5*time.Second, "claim of the keys of a claim cut midway", claimWins(a, "event:E", "message:M"))
			// And holds it, as any claim.
			mustClaim(t, b, false, dedupTTL, "event:E")
			mustClaim(t, b, false, dedupTTL, "message:M")
			mustClaim(t, a, false, dedupTTL, "event:E", "message:M")
		})
	}
}

// A Release whose connection is cut reports an error, and still takes
// effect once Redis answers again: the bot released the keys so that a
// redelivery is taken.
func TestRedisReleaseCutMidway(t *testing.T) {
	t.Parallel()
	r := testkit.StartRedis(t)
	px := startProxy(t, r.Addr())
	a := newRedis(t, px.URL())
	b := newRedis(t, r.URL())
	ctx := context.Background()
	mustClaim(t, a, true, dedupTTL, "event:R", "message:R")

	px.CutOn("event:R", false)
	if err := a.Release(ctx, "event:R", "message:R"); err == nil {
		t.Fatal("a release cut before it reached Redis reported success")
	}
	// It never reached Redis: the keys are still held.
	mustClaim(t, b, false, dedupTTL, "event:R")
	mustClaim(t, b, false, dedupTTL, "message:R")

	px.Up()
	poll(t, 5*time.Second, "claim of released keys after the release was cut", claimWins(b, "event:R", "message:R"))
}

// proxy is a TCP proxy to Redis that can cut the connection carrying a
// given command, and then refuse service (accept and hang up at once) until
// Up.
type proxy struct {
	ln       net.Listener
	upstream string
	wg       sync.WaitGroup

	mu      sync.Mutex
	conns   map[net.Conn]bool
	down    bool
	trigger []byte
	ran     bool // cut after Redis answered, dropping the answer
	tripped chan struct{}
}

func startProxy(t *testing.T, upstream string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, upstream: upstream, conns: map[net.Conn]bool{}, tripped: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) URL() string { return "redis://" + p.ln.Addr().String() + "/0" }

// CutOn arms the proxy: the next command whose bytes contain trigger cuts
// its connection. With ran the command reaches Redis and its answer is
// dropped; without, the command never reaches Redis. From then on the
// proxy hangs up on every connection until Up.
func (p *proxy) CutOn(trigger string, ran bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trigger, p.ran = []byte(trigger), ran
}

// Tripped is closed once the armed cut happened.
func (p *proxy) Tripped() <-chan struct{} { return p.tripped }

// Up lets connections through again.
func (p *proxy) Up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// trip cuts every connection and refuses service.
func (p *proxy) trip() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return
	}
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	select {
	case <-p.tripped:
	default:
		close(p.tripped)
	}
}

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	for _, c := range cs {
		p.conns[c] = true
	}
	return true
}

func (p *proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(p.conns, c)
	}
}

// armed reports whether seen (the connection's recent bytes) fires the
// armed cut, and disarms it if so.
func (p *proxy) armed(seen []byte) (fire, ran bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.trigger == nil || !bytes.Contains(seen, p.trigger) {
		return false, false
	}
	p.trigger = nil
	return true, p.ran
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		u, err := net.DialTimeout("tcp", p.upstream, time.Second)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, u) {
			c.Close()
			u.Close()
			continue
		}
		var dropAnswer atomic.Bool
		p.wg.Add(2)
		go func() { // client → Redis
			defer p.wg.Done()
			defer p.untrack(c, u)
			buf := make([]byte, 32<<10)
			var tail []byte
			for {
				n, err := c.Read(buf)
				if n > 0 {
					seen := append(append([]byte(nil), tail...), buf[:n]...)
					if fire, ran := p.armed(seen); fire {
						if !ran {
							p.trip()
							return
						}
						dropAnswer.Store(true)
					}
					if _, werr := u.Write(buf[:n]); werr != nil {
						return
					}
					tail = seen[max(len(seen)-64, 0):]
				}
				if err != nil {
					return
				}
			}
		}()
		go func() { // Redis → client
			defer p.wg.Done()
			defer p.untrack(c, u)
			buf := make([]byte, 32<<10)
			for {
				n, err := u.Read(buf)
				if n > 0 {
					if dropAnswer.Load() {
						p.trip() // Redis ran it; the answer is lost
						return
					}
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}
