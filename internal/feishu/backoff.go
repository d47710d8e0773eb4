package feishu

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"okrbot/internal/okr"
)

// Backoff retries a call with capped exponential backoff and jitter.
type Backoff struct {
	Attempts int           // calls in all, the first included
	Base     time.Duration // wait before the second call
	Max      time.Duration // cap on one wait
	Budget   time.Duration // cap on the time spent in all
}

// DefaultBackoff suits reads, replies and token fetches: three calls within
// about 30 s (docs/contract.md §7).
func DefaultBackoff() Backoff {
	return Backoff{Attempts: 3, Base: 500 * time.Millisecond, Max: 10 * time.Second, Budget: 30 * time.Second}
}

// Do calls f until it succeeds, fails for a reason a retry cannot mend, or
// the attempts or the budget run out. A rate-limited answer waits as told.
func (b Backoff) Do(ctx context.Context, f func(context.Context) error) error {
	start := time.Now()
	wait := b.Base
	for attempt := 1; ; attempt++ {
		err := f(ctx)
		if err == nil || !okr.ClassOf(err).Retryable() || attempt >= b.Attempts {
			return err
		}
		d := wait/2 + rand.N(wait/2+1)
		var e *okr.Error
		if errors.As(err, &e) && e.Class == okr.ClassRateLimited && e.RetryAfter > d {
			d = e.RetryAfter
		}
		d = min(d, b.Max)
		if b.Budget > 0 && time.Since(start)+d > b.Budget {
			return err
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(wait*2, b.Max)
	}
}
