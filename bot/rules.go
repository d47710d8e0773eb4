package bot

import (
	"context"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"okrbot/internal/okr"
)

// ruleCache keeps the tenant's rules for a few minutes: the cards name a
// rule in words, typed rule ids and button values are checked against
// them. Concurrent callers on a cold cache share one request (docs/contract.md §6).
type ruleCache struct {
	okr   Periods
	ttl   time.Duration
	now   func() time.Time
	group singleflight.Group

	mu      sync.Mutex
	rules   []okr.Rule
	fetched time.Time
}

func newRuleCache(p Periods, now func() time.Time) *ruleCache {
	return &ruleCache{okr: p, ttl: 5 * time.Minute, now: now}
}

// get returns the rules, from the cache unless fresh is set or the cache
// is stale.
func (c *ruleCache) get(ctx context.Context, fresh bool) ([]okr.Rule, error) {
	c.mu.Lock()
	if !fresh && c.rules != nil && c.now().Sub(c.fetched) < c.ttl {
		r := c.rules
		c.mu.Unlock()
		return r, nil
	}
	c.mu.Unlock()
	ch := c.group.DoChan("rules", func() (any, error) {
		rules, err := c.okr.ListRules(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.rules, c.fetched = rules, c.now()
		c.mu.Unlock()
		return rules, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.([]okr.Rule), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// lookup finds rule id among the tenant's rules, asking again once if a
// cached list lacks it (the rule may be new).
func (c *ruleCache) lookup(ctx context.Context, id string) (okr.Rule, bool, error) {
	for _, fresh := range []bool{false, true} {
		rules, err := c.get(ctx, fresh)
		if err != nil {
			return okr.Rule{}, false, err
		}
		if i := slices.IndexFunc(rules, func(r okr.Rule) bool { return r.ID == id }); i >= 0 {
			return rules[i], true, nil
		}
	}
	return okr.Rule{}, false, nil
}
