package feishu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	lark "github.com/larksuite/oapi-sdk-go/v3"
	larkcore "github.com/larksuite/oapi-sdk-go/v3/core"
	gocache "github.com/patrickmn/go-cache"
	"golang.org/x/sync/singleflight"

	"okrbot/internal/okr"
)

// tokenPath is the self-built app's tenant token endpoint.
const tokenPath = "/open-apis/auth/v3/tenant_access_token/internal"

const tokenKey = "tenant_access_token"

// TokenProvider hands out the tenant access token. It keeps the token in an
// in-process cache until shortly before it expires, makes concurrent callers
// on a cold cache share one fetch, and drops a token the Open Platform has
// called invalid.
type TokenProvider struct {
	client    *lark.Client
	appID     string
	appSecret string
	cache     *gocache.Cache
	group     singleflight.Group
	metrics   *Metrics
	timeout   time.Duration
	retry     Backoff
	now       func() time.Time

	share TokenShare // nil: this process keeps its own token

	mu        sync.Mutex
	validTill time.Time // when the cached token expires; for readiness
	reach     reachability
}

// TokenShare lets replicas share one tenant token, so that a burst across
// replicas still makes one fetch. A Redis store implements it.
type TokenShare interface {
	// LoadToken returns the shared token and how long it may still be
	// used, or "" when there is none.
	LoadToken(ctx context.Context) (string, time.Duration, error)
	// StoreToken shares tok for ttl.
	StoreToken(ctx context.Context, tok string, ttl time.Duration) error
	// DropToken forgets tok if it is still the shared token.
	DropToken(ctx context.Context, tok string) error
	// LockTokenFetch reports whether this replica may fetch a token now;
	// the lock lapses by itself after ttl.
	LockTokenFetch(ctx context.Context, ttl time.Duration) (bool, error)
	// UnlockTokenFetch gives the lock up.
	UnlockTokenFetch(ctx context.Context) error
}

// ShareTokens makes the provider share its token through s. Call it before
// the first Token.
func (p *TokenProvider) ShareTokens(s TokenShare) { p.share = s }

// reachability remembers whether the Open Platform has been answering.
type reachability struct {
	now        func() time.Time
	mu         sync.Mutex
	lastAnswer time.Time
	failingFor time.Time // first failure since the last answer; zero while it answers
}

func (r *reachability) observe(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var e *okr.Error
	if errors.As(err, &e) && !e.Answered() {
		if r.failingFor.IsZero() {
			r.failingFor = r.now()
		}
		return
	}
	r.lastAnswer, r.failingFor = r.now(), time.Time{}
}

// Unreachable reports how long calls to the Open Platform have been getting
// no answer (timeouts, refused or reset connections); zero while it answers.
func (p *TokenProvider) Unreachable() time.Duration {
	p.reach.mu.Lock()
	defer p.reach.mu.Unlock()
	if p.reach.failingFor.IsZero() {
		return 0
	}
	return p.now().Sub(p.reach.failingFor)
}

// NewTokenProvider returns a provider that fetches tokens with client,
// waiting at most timeout for one answer; now is its clock (nil: time.Now).
func NewTokenProvider(client *lark.Client, appID, appSecret string, timeout time.Duration, m *Metrics, now func() time.Time) *TokenProvider {
	if now == nil {
		now = time.Now
	}
	return &TokenProvider{
		client:    client,
		appID:     appID,
		appSecret: appSecret,
		cache:     gocache.New(gocache.NoExpiration, 0), // one key: expiry is checked on Get
		metrics:   m,
		timeout:   timeout,
		retry:     DefaultBackoff(),
		now:       now,
		reach:     reachability{now: now},
	}
}

// Token returns a valid tenant access token, fetching one if none is cached.
func (p *TokenProvider) Token(ctx context.Context) (string, error) {
	if tok, ok := p.cache.Get(tokenKey); ok {
		return tok.(string), nil
	}
	return shareFetch(ctx, &p.group, tokenKey, func(fctx context.Context) (string, error) {
		if tok, ok := p.cache.Get(tokenKey); ok {
			return tok.(string), nil
		}
		if p.share == nil {
			return p.fetchWithRetry(fctx)
		}
		return p.fetchShared(fctx)
	})
}

// shareFetch runs fetch once for all concurrent callers of key. The fetch
// outlives any one caller (up to 30 s): a caller that gives up must not fail
// the others waiting on the same fetch.
func shareFetch[T any](ctx context.Context, g *singleflight.Group, key string, fetch func(context.Context) (T, error)) (T, error) {
	ch := g.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return fetch(fctx)
	})
	var zero T
	select {
	case r := <-ch:
		if r.Err != nil {
			return zero, r.Err
		}
		return r.Val.(T), nil
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// Invalidate drops tok from the cache (and from the share) if it is still
// the cached token, so that the next Token call fetches a fresh one. A
// token that was already replaced is left alone.
func (p *TokenProvider) Invalidate(ctx context.Context, tok string) {
	if p.share != nil {
		_ = p.share.DropToken(ctx, tok) // a failed drop only costs the other replicas one refused call
	}
	if cur, ok := p.cache.Get(tokenKey); ok && cur.(string) == tok {
		p.cache.Delete(tokenKey)
		p.mu.Lock()
		p.validTill = time.Time{}
		p.mu.Unlock()
	}
}

// fetchShared takes the token another replica shared, or fetches one under
// the share's lock and shares it. When the share fails the provider fetches
// on its own: a token is worth more than one fetch saved.
func (p *TokenProvider) fetchShared(ctx context.Context) (string, error) {
	if tok, ok := p.loadShared(ctx); ok {
		return tok, nil
	}
	won, err := p.share.LockTokenFetch(ctx, 15*time.Second)
	if err == nil && !won {
		// Another replica is fetching: wait for what it shares.
		wait := time.NewTimer(10 * time.Second)
		defer wait.Stop()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
	poll:
		for {
			if tok, ok := p.loadShared(ctx); ok {
				return tok, nil
			}
			select {
			case <-tick.C:
			case <-wait.C:
				break poll
			case <-ctx.Done():
				break poll
			}
		}
	}
	if won {
		defer func() { _ = p.share.UnlockTokenFetch(context.WithoutCancel(ctx)) }()
		// Another replica may have shared a token between the first look
		// and the lock.
		if tok, ok := p.loadShared(ctx); ok {
			return tok, nil
		}
	}
	tok, err := p.fetchWithRetry(ctx)
	if err == nil {
		p.mu.Lock()
		left := p.validTill.Sub(p.now())
		p.mu.Unlock()
		_ = p.share.StoreToken(ctx, tok, cacheTTL(left))
	}
	return tok, err
}

func (p *TokenProvider) loadShared(ctx context.Context) (string, bool) {
	tok, ttl, err := p.share.LoadToken(ctx)
	if err != nil || tok == "" || ttl <= 0 {
		return "", false
	}
	p.keep(tok, ttl, ttl)
	return tok, true
}

// keep caches tok for ttl; life is when it expires, for readiness.
func (p *TokenProvider) keep(tok string, ttl, life time.Duration) {
	p.cache.Set(tokenKey, tok, ttl)
	p.mu.Lock()
	p.validTill = p.now().Add(life)
	p.mu.Unlock()
}

// Valid reports whether the last token fetched is still unexpired and has not
// been called invalid.
func (p *TokenProvider) Valid() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.now().Before(p.validTill)
}

func (p *TokenProvider) fetchWithRetry(ctx context.Context) (string, error) {
	var tok string
	err := p.retry.Do(ctx, func(ctx context.Context) error {
		var err error
		tok, err = p.fetch(ctx)
		return err
	})
	return tok, err
}

type tokenResponse struct {
	Code   int    `json:"code"`
	Msg    string `json:"msg"`
	Token  string `json:"tenant_access_token"`
	Expire int    `json:"expire"`
}

// fetch calls the token endpoint once. The SDK's generated auth/v3 model
// expects a "data" object that this endpoint does not send, so the raw
// request helper is used and the top-level fields are decoded here.
func (p *TokenProvider) fetch(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	start := p.now()
	resp, err := p.client.Post(ctx, tokenPath, map[string]string{
		"app_id":     p.appID,
		"app_secret": p.appSecret,
	}, larkcore.AccessTokenTypeNone)
	if err != nil {
		terr := transportError(apiToken, err)
		p.reach.observe(terr)
		p.metrics.observe(apiToken, -1, p.now().Sub(start))
		p.metrics.tokenFetch("error")
		return "", terr
	}
	p.reach.observe(nil)
	var body tokenResponse
	if jerr := json.Unmarshal(resp.RawBody, &body); jerr != nil {
		p.metrics.observe(apiToken, -1, p.now().Sub(start))
		p.metrics.tokenFetch("error")
		return "", &okr.Error{API: apiToken, HTTPStatus: resp.StatusCode, Msg: "unreadable token response", LogID: resp.LogId(),
			Class: Classify(resp.StatusCode, 0)}
	}
	p.metrics.observe(apiToken, body.Code, p.now().Sub(start))
	if body.Code != 0 || body.Token == "" {
		p.metrics.tokenFetch("error")
		apiErr := &okr.Error{API: apiToken, HTTPStatus: resp.StatusCode, Code: body.Code, Msg: body.Msg, LogID: resp.LogId(),
			RetryAfter: rateLimitReset(resp), Class: Classify(resp.StatusCode, body.Code)}
		if isCredentialCode(body.Code) {
			return "", fmt.Errorf("%w: %w", ErrCredentials, apiErr)
		}
		return "", apiErr
	}
	p.metrics.tokenFetch("ok")
	life := time.Duration(body.Expire) * time.Second
	p.keep(body.Token, cacheTTL(life), life)
	return body.Token, nil
}

// cacheTTL keeps a token until five minutes before it expires (half its life
// when it is short), so no request goes out with a token about to lapse.
func cacheTTL(life time.Duration) time.Duration {
	if life > 10*time.Minute {
		return life - 5*time.Minute
	}
	if life <= 0 {
		return time.Second
	}
	return life / 2
}

// Run fetches a token at start-up and keeps one fresh in the background
// until ctx ends, so that /readyz reflects reality and the first command
// does not pay for the fetch.
func (p *TokenProvider) Run(ctx context.Context, log *slog.Logger) {
	for {
		_, err := p.Token(ctx)
		wait := time.Minute
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("tenant token fetch failed; retrying", "err", err)
			wait = 5 * time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
