package feishu_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"okrbot/internal/feishu"
	"okrbot/internal/feishuemu"
	"okrbot/internal/okr"
	"okrbot/internal/store"
	"okrbot/internal/testkit"
	"okrbot/internal/testkit/fakeclock"
)

// The token provider and the client against the Open Platform emulator:
// real HTTP, the real SDK.

var appSeq atomic.Int64

// freshAppID gives every emulator its own app: nothing the SDK keeps per
// app id can leak from one test into another.
func freshAppID() string { return fmt.Sprintf("cli_feishutest%06d", appSeq.Add(1)) }

// platform is an emulated Open Platform for one test.
type platform struct {
	emu  *feishuemu.Emulator
	url  string
	opts feishuemu.Options
}

func newPlatform(t *testing.T) *platform {
	t.Helper()
	opts := testkit.EmulatorOptions()
	opts.AppID = freshAppID()
	emu := feishuemu.New(opts)
	srv := httptest.NewServer(emu)
	t.Cleanup(func() { srv.Close(); emu.Close() })
	return &platform{emu: emu, url: srv.URL, opts: opts}
}

// replica is one bot process's way to the platform: its own SDK client,
// token provider and client.
type replica struct {
	tokens  *feishu.TokenProvider
	client  *feishu.Client
	metrics *prometheus.Registry
}

func (p *platform) replica(now func() time.Time) *replica {
	const timeout = 5 * time.Second
	sdk := feishu.NewSDKClient(p.opts.AppID, p.opts.AppSecret, p.url, timeout, nil)
	m := feishu.NewMetrics()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collectors()...)
	tokens := feishu.NewTokenProvider(sdk, p.opts.AppID, p.opts.AppSecret, timeout, m, now)
	return &replica{tokens: tokens, client: feishu.NewClient(sdk, tokens, timeout, m), metrics: reg}
}

// counter returns the value of the counter name with the given label.
func (r *replica) counter(t *testing.T, name, label, value string) float64 {
	t.Helper()
	mfs, err := r.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

func newClock() *fakeclock.Clock { return fakeclock.New(time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)) }

func TestColdBurstFetchesOneToken(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	r := p.replica(nil)
	// The token endpoint is slow, so every call arrives before it answers.
	p.emu.SetLatency(feishuemu.APIToken, 200*time.Millisecond)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := okr.Month{Year: 2000 + i/12, Month: i%12 + 1}
			if _, err := r.client.CreatePeriod(context.Background(), feishuemu.MonthlyRuleID, m); err != nil {
				t.Errorf("CreatePeriod(%s): %v", m, err)
			}
		}()
	}
	wg.Wait()
	if n := p.emu.TokenFetches(); n != 1 {
		t.Errorf("token fetches = %d, want 1", n)
	}
	if n := len(p.emu.Periods()); n != 100 {
		t.Errorf("periods = %d, want 100", n)
	}
	if n := p.emu.CallCount(feishuemu.APICreatePeriod); n != 100 {
		t.Errorf("create calls = %d, want 100 (none repeated)", n)
	}
	if n := r.counter(t, "okrbot_token_fetches_total", "result", "ok"); n != 1 {
		t.Errorf("okrbot_token_fetches_total{result=ok} = %v, want 1", n)
	}
}

func TestProviderSharesOneFetch(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	clk := newClock()
	r := p.replica(clk.Now)
	p.emu.SetLatency(feishuemu.APIToken, 100*time.Millisecond)
	if r.tokens.Valid() {
		t.Fatal("valid before any fetch")
	}
	shared := sameToken(t, 100, func(int) *feishu.TokenProvider { return r.tokens })
	if n := p.emu.TokenFetches(); n != 1 {
		t.Errorf("token fetches = %d, want 1", n)
	}
	if !r.tokens.Valid() {
		t.Error("provider not valid after a fetch")
	}
	// Valid follows the token's lifetime on the provider's clock.
	clk.Advance(feishuemu.DefaultTokenTTL + time.Second)
	if r.tokens.Valid() {
		t.Error("provider still valid past the token's expiry")
	}

	// A caller that gives up does not break the fetch for the others.
	r.tokens.Invalidate(context.Background(), shared)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.tokens.Token(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller got %v", err)
	}
	tok, err := r.tokens.Token(context.Background())
	if err != nil {
		t.Fatalf("next caller: %v", err)
	}
	if !r.tokens.Valid() {
		t.Error("provider not valid after a refetch")
	}
	// Invalidating a token that was already replaced keeps the new one.
	r.tokens.Invalidate(context.Background(), "t-stale")
	fetches := p.emu.TokenFetches()
	if again, err := r.tokens.Token(context.Background()); err != nil || again != tok {
		t.Errorf("after invalidating a stale token: %q, %v; want the cached %q", again, err, tok)
	}
	if n := p.emu.TokenFetches() - fetches; n != 0 {
		t.Errorf("invalidating a stale token caused %d fetches", n)
	}
}

func TestRevokedTokenRefetchedOnce(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	r := p.replica(nil)
	ctx := context.Background()
	if _, err := r.client.CreatePeriod(ctx, feishuemu.MonthlyRuleID, okr.Month{Year: 2022, Month: 1}); err != nil {
		t.Fatal(err)
	}
	fetches := p.emu.TokenFetches()

	p.emu.RevokeTokens()
	created, err := r.client.CreatePeriod(ctx, feishuemu.MonthlyRuleID, okr.Month{Year: 2022, Month: 2})
	if err != nil || created.StartMonth != "2022-02" {
		t.Fatalf("create after revocation = %+v, %v", created, err)
	}
	if n := p.emu.TokenFetches() - fetches; n != 1 {
		t.Errorf("token fetches after revocation = %d, want 1", n)
	}
	if n := p.emu.CallCount(feishuemu.APICreatePeriod); n != 3 {
		t.Errorf("create calls = %d, want 3 (first, refused with the revoked token, repeated)", n)
	}
	if n := len(p.emu.Periods()); n != 2 {
		t.Errorf("periods = %d, want 2", n)
	}

	// A token refused twice in a row is not fetched a third time: the call
	// fails as token-invalid (and may be retried by the user).
	p.emu.Inject(feishuemu.Fault{API: feishuemu.APICreatePeriod, Code: feishu.CodeTokenInvalid, Times: 2})
	fetches = p.emu.TokenFetches()
	_, err = r.client.CreatePeriod(ctx, feishuemu.MonthlyRuleID, okr.Month{Year: 2022, Month: 3})
	if okr.ClassOf(err) != okr.ClassTokenInvalid {
		t.Errorf("create refused twice for its token = %v, want a token-invalid error", err)
	}
	if n := p.emu.TokenFetches() - fetches; n != 1 {
		t.Errorf("token fetches for a call refused twice = %d, want 1", n)
	}
}

func TestWrongSecretIsCredentialsError(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	r := p.replica(nil)
	p.emu.SetAppSecret("rotated")
	_, err := r.tokens.Token(context.Background())
	if !errors.Is(err, feishu.ErrCredentials) {
		t.Fatalf("Token() = %v, want ErrCredentials", err)
	}
	if okr.ClassOf(err) != okr.ClassPermanent {
		t.Errorf("class of a rejected secret = %v, want permanent", okr.ClassOf(err))
	}
	if n := p.emu.TokenFetches(); n != 1 {
		t.Errorf("token fetches = %d, want 1 (a refused secret is not retried)", n)
	}
	if r.tokens.Valid() {
		t.Error("valid without a token")
	}
	// Without a token no call goes out, and the error says why.
	_, err = r.client.CreatePeriod(context.Background(), feishuemu.MonthlyRuleID, okr.Month{Year: 2022, Month: 1})
	if !errors.Is(err, feishu.ErrCredentials) {
		t.Errorf("CreatePeriod without a token = %v, want ErrCredentials", err)
	}
	if n := p.emu.CallCount(feishuemu.APICreatePeriod); n != 0 {
		t.Errorf("%d create calls made without a token", n)
	}
	if n := r.counter(t, "okrbot_token_fetches_total", "result", "error"); n < 1 {
		t.Errorf("okrbot_token_fetches_total{result=error} = %v, want the refusals counted", n)
	}
}

// Reachability: how long the Open Platform has been giving no answer at
// all, on the provider's clock. An answer, even a refusal, resets it.
func TestReachability(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	clk := newClock()
	r := p.replica(clk.Now)
	ctx := context.Background()
	if d := r.tokens.Unreachable(); d != 0 {
		t.Fatalf("a fresh provider has been unreachable for %s", d)
	}
	if _, err := r.tokens.Token(ctx); err != nil {
		t.Fatal(err)
	}
	create := func(month int) error {
		_, err := r.client.CreatePeriod(ctx, feishuemu.MonthlyRuleID, okr.Month{Year: 2023, Month: month})
		return err
	}

	// A call that got no answer starts the count.
	p.emu.Inject(feishuemu.Fault{API: feishuemu.APICreatePeriod, Hangup: true})
	err := create(1)
	var e *okr.Error
	if !errors.As(err, &e) || e.Answered() || !errors.Is(err, okr.ErrNetwork) || !e.MayHaveRun() {
		t.Fatalf("create hung up on = %v; want an unanswered network error", err)
	}
	clk.Advance(90 * time.Second)
	if d := r.tokens.Unreachable(); d != 90*time.Second {
		t.Errorf("unreachable for %s after 90 s without an answer", d)
	}
	// Another failure does not restart it.
	p.emu.Inject(feishuemu.Fault{API: feishuemu.APICreatePeriod, Hangup: true})
	if err := create(2); err == nil {
		t.Fatal("create hung up on succeeded")
	}
	clk.Advance(30 * time.Second)
	if d := r.tokens.Unreachable(); d != 2*time.Minute {
		t.Errorf("unreachable for %s after two failures 90 s apart and 30 s more; want 2m0s", d)
	}
	// An answer, even an error code, ends it.
	p.emu.Inject(feishuemu.Fault{API: feishuemu.APICreatePeriod, Code: feishu.CodeConflict})
	if err := create(3); okr.ClassOf(err) != okr.ClassConflict {
		t.Fatalf("create = %v, want the injected conflict", err)
	}
	if d := r.tokens.Unreachable(); d != 0 {
		t.Errorf("unreachable for %s after an answer", d)
	}

	// The token endpoint counts too.
	r.tokens.Invalidate(ctx, mustToken(t, r))
	p.emu.Inject(feishuemu.Fault{API: feishuemu.APIToken, Hangup: true, Times: -1})
	if _, err := r.tokens.Token(ctx); err == nil || okr.ClassOf(err) != okr.ClassTransient {
		t.Fatalf("Token with the endpoint hanging up = %v, want a transient error", err)
	}
	clk.Advance(time.Minute)
	if d := r.tokens.Unreachable(); d != time.Minute {
		t.Errorf("unreachable for %s after the token endpoint stopped answering a minute ago", d)
	}
	p.emu.ClearFaults()
	if _, err := r.tokens.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if d := r.tokens.Unreachable(); d != 0 {
		t.Errorf("unreachable for %s after a token was fetched", d)
	}
}

func mustToken(t *testing.T, r *replica) string {
	t.Helper()
	tok, err := r.tokens.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Replicas sharing their token through Redis: a cold burst across all of
// them still makes one fetch. (One tenant, so one app id for all of them;
// the SDK's own token cache is off in NewSDKClient.)
func TestReplicasShareOneFetch(t *testing.T) {
	t.Parallel()
	rs := testkit.StartRedis(t)
	p := newPlatform(t)
	p.emu.SetLatency(feishuemu.APIToken, 200*time.Millisecond)
	var replicas []*replica
	for range 3 {
		r := p.replica(nil)
		s, err := store.NewRedis(rs.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		r.tokens.ShareTokens(s)
		replicas = append(replicas, r)
	}
	shared := sameToken(t, 60, func(i int) *feishu.TokenProvider { return replicas[i%len(replicas)].tokens })
	if n := p.emu.TokenFetches(); n != 1 {
		t.Errorf("token fetches across 3 replicas = %d, want 1", n)
	}
	for i, r := range replicas {
		if !r.tokens.Valid() {
			t.Errorf("replica %d not valid with the shared token", i)
		}
	}

	// A token refused at one replica is dropped from the share, so a
	// replica that starts afresh fetches a new one instead of reusing it.
	p.emu.RevokeTokens()
	if _, err := replicas[0].client.CreatePeriod(context.Background(), feishuemu.MonthlyRuleID, okr.Month{Year: 2024, Month: 1}); err != nil {
		t.Fatalf("create after revocation: %v", err)
	}
	late := p.replica(nil)
	s, err := store.NewRedis(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	late.tokens.ShareTokens(s)
	if tok := mustToken(t, late); tok == shared {
		t.Error("a new replica got the revoked token from the share")
	}
	if n := p.emu.TokenFetches(); n != 2 {
		t.Errorf("token fetches = %d, want 2 (one after the revocation, shared)", n)
	}

	// With the share down, a replica still gets a token on its own.
	rs.Stop()
	alone := p.replica(nil)
	s2, err := store.NewRedis(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s2.Close() })
	alone.tokens.ShareTokens(s2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := alone.tokens.Token(ctx); err != nil {
		t.Errorf("Token with the share down: %v", err)
	}
}

// sameToken asks n callers at once for a token, caller i from provider(i),
// fails t unless they all got the same, non-empty one, and returns it.
func sameToken(t *testing.T, n int, provider func(i int) *feishu.TokenProvider) string {
	t.Helper()
	var wg sync.WaitGroup
	toks := make([]string, n)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := provider(i).Token(context.Background())
			if err != nil {
				t.Error(err)
			}
			toks[i] = tok
		}()
	}
	wg.Wait()
	for _, tok := range toks {
		if tok != toks[0] || tok == "" {
			t.Fatalf("callers got different tokens: %q vs %q", tok, toks[0])
		}
	}
	return toks[0]
}
