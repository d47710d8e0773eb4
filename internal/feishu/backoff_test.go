package feishu_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"okrbot/internal/feishu"
	"okrbot/internal/okr"
)

// answer is a failed call as the client reports it, classified by the one
// code table.
func answer(status, code int) *okr.Error {
	return &okr.Error{API: "x", HTTPStatus: status, Code: code, Class: feishu.Classify(status, code)}
}

func TestBackoff(t *testing.T) {
	b := feishu.Backoff{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Millisecond, Budget: 5 * time.Second}
	transient := func() error { return answer(500, 0) }
	tests := []struct {
		name  string
		errs  []error
		calls int
	}{
		{"success first", []error{nil}, 1},
		{"transient then success", []error{transient(), nil}, 2},
		{"rate limited then success", []error{answer(429, feishu.CodeRateLimited), nil}, 2},
		{"token refused then success", []error{answer(400, feishu.CodeTokenInvalid), nil}, 2},
		{"no answer then success", []error{&okr.Error{API: "x", Class: okr.ClassTransient, Err: okr.ErrNetwork}, nil}, 2},
		{"caller's deadline then success", []error{context.DeadlineExceeded, nil}, 2},
		{"permanent is not repeated", []error{answer(400, 99991672)}, 1},
		{"conflict is not repeated", []error{answer(400, feishu.CodeConflict)}, 1},
		{"not found is not repeated", []error{answer(400, feishu.CodeNotFound)}, 1},
		{"final is not repeated", []error{answer(400, feishu.CodeEditWindow)}, 1},
		{"unknown error is not repeated", []error{errors.New("boom")}, 1},
		{"gives up after attempts", []error{transient(), transient(), transient(), nil}, 3},
	}
	for _, tt := range tests {
		calls := 0
		err := b.Do(context.Background(), func(context.Context) error {
			calls++
			return tt.errs[calls-1]
		})
		if calls != tt.calls {
			t.Errorf("%s: %d calls, want %d", tt.name, calls, tt.calls)
		}
		if want := tt.errs[calls-1]; err != want {
			t.Errorf("%s: err %v, want the last call's %v", tt.name, err, want)
		}
	}
}

func TestBackoffWaitsForRateLimitReset(t *testing.T) {
	b := feishu.Backoff{Attempts: 2, Base: time.Millisecond, Max: 10 * time.Second, Budget: 10 * time.Second}
	var first time.Time
	var gap time.Duration
	calls := 0
	err := b.Do(context.Background(), func(context.Context) error {
		calls++
		if calls == 1 {
			first = time.Now()
			e := answer(429, feishu.CodeRateLimited)
			e.RetryAfter = 150 * time.Millisecond
			return e
		}
		gap = time.Since(first)
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("Do = %v after %d calls; want success after 2", err, calls)
	}
	// A lower bound only: the reset is waited for, not the 1 ms base.
	if gap < 150*time.Millisecond {
		t.Errorf("repeated %s after a rate limit with a 150ms reset", gap)
	}
}

func TestBackoffBudget(t *testing.T) {
	// A rate-limit reset longer than the budget is not waited for.
	calls := 0
	start := time.Now()
	e := answer(429, feishu.CodeRateLimited)
	e.RetryAfter = time.Minute
	err := feishu.Backoff{Attempts: 3, Base: time.Millisecond, Max: time.Minute, Budget: 100 * time.Millisecond}.Do(context.Background(),
		func(context.Context) error { calls++; return e })
	if calls != 1 || err != e {
		t.Errorf("%d calls, err %v; want 1 call returning the rate limit", calls, err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("waited %s for a reset past the budget", took)
	}
	// Max caps one wait, even a reset: the second call comes.
	calls = 0
	err = feishu.Backoff{Attempts: 2, Base: time.Millisecond, Max: 5 * time.Millisecond, Budget: 10 * time.Second}.Do(context.Background(),
		func(context.Context) error {
			calls++
			if calls == 1 {
				return e
			}
			return nil
		})
	if calls != 2 || err != nil {
		t.Errorf("with Max below the reset: %d calls, err %v; want the second call to succeed", calls, err)
	}
}

func TestBackoffStopsWithCaller(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	b := feishu.Backoff{Attempts: 5, Base: time.Hour, Max: time.Hour, Budget: 10 * time.Hour}
	calls := 0
	want := answer(503, 0)
	done := make(chan error, 1)
	go func() {
		done <- b.Do(ctx, func(context.Context) error { calls++; cancel(); return want })
	}()
	select {
	case err := <-done:
		if err != want || calls != 1 {
			t.Errorf("Do = %v after %d calls; want the first call's error", err, calls)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Do kept waiting after its caller gave up")
	}
}

func TestDefaultBackoff(t *testing.T) {
	b := feishu.DefaultBackoff()
	if b.Attempts != 3 || b.Budget <= 0 || b.Budget > 30*time.Second || b.Base <= 0 || b.Max < b.Base {
		t.Errorf("DefaultBackoff() = %+v; want three calls within 30 s", b)
	}
}
