package handlers

import (
	"sync"
	"time"
)

// logLimiter lets a few refused-request log lines through per second and
// counts the rest, so that a client hammering the bot with bad requests
// cannot flood the log; the metrics still count every request.
type logLimiter struct {
	perSecond int
	now       func() time.Time

	mu         sync.Mutex
	window     time.Time
	used       int
	suppressed int
}

// allow reports whether a line may be written now, and how many were
// suppressed since the last one written (to be said on that line).
func (l *logLimiter) allow() (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.window) >= time.Second {
		l.window, l.used = now, 0
	}
	if l.used >= l.perSecond {
		l.suppressed++
		return false, 0
	}
	l.used++
	n := l.suppressed
	l.suppressed = 0
	return true, n
}
