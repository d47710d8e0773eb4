package bot

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func submit(t *testing.T, q *Queue, lane string, run func()) {
	t.Helper()
	s, err := q.Reserve(lane)
	if err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	s.Submit(lane, job{run: run, abandon: func() {}})
}

func TestQueueKeepsLaneOrder(t *testing.T) {
	q := NewQueue(4, 100, 100, 0, nil)
	var mu sync.Mutex
	got := map[string][]int{}
	for i := range 20 {
		for _, lane := range []string{"a", "b", "c"} {
			submit(t, q, lane, func() {
				mu.Lock()
				got[lane] = append(got[lane], i)
				mu.Unlock()
			})
		}
	}
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for lane, seq := range got {
		if len(seq) != 20 {
			t.Fatalf("lane %s ran %d jobs, want 20", lane, len(seq))
		}
		for i, v := range seq {
			if v != i {
				t.Fatalf("lane %s ran out of order: %v", lane, seq)
			}
		}
	}
}

func TestQueueSlowLaneDoesNotBlockOthers(t *testing.T) {
	q := NewQueue(2, 10, 10, 0, nil)
	release := make(chan struct{})
	submit(t, q, "slow", func() { <-release })
	submit(t, q, "slow", func() {})
	done := make(chan struct{})
	submit(t, q, "fast", func() { close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a job in another lane waited for the slow lane")
	}
	close(release)
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestQueueFullAndClosed(t *testing.T) {
	var depth []int
	var mu sync.Mutex
	q := NewQueue(1, 2, 2, 0, func(n int) { mu.Lock(); depth = append(depth, n); mu.Unlock() })
	release := make(chan struct{})
	submit(t, q, "a", func() { <-release })
	s, err := q.Reserve("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Reserve("a"); !errors.Is(err, ErrBusy) {
		t.Fatalf("third Reserve = %v, want ErrBusy", err)
	}
	s.Cancel()
	s.Cancel() // a second Cancel must not free room twice
	if q.Len() != 1 {
		t.Fatalf("Len = %d after Cancel, want 1", q.Len())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := q.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a job running = %v, want deadline exceeded", err)
	}
	if _, err := q.Reserve("a"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reserve after Close = %v, want ErrClosed", err)
	}
	close(release)
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if last := depth[len(depth)-1]; last != 0 {
		t.Fatalf("depth reported last %d, want 0 (%v)", last, depth)
	}
}
