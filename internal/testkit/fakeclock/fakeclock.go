// Package fakeclock is the settable clock the tests hand to everything that
// takes a `now func() time.Time`. It imports nothing of okrbot, so the
// internal tests of any package may use it.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a clock that stands still until told to move. It is safe for
// concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a Clock showing t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock d forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
