package bot

import (
	"context"
	"errors"
	"sync"
)

// ErrBusy reports that the queue is full: the event should be answered 503
// so that Feishu delivers it again later.
var ErrBusy = errors.New("bot: busy")

// ErrClosed reports that the bot is shutting down and takes no more work.
var ErrClosed = errors.New("bot: shutting down")

// Queue runs jobs on a bounded pool of workers. Jobs of one lane (a chat)
// run one at a time in the order submitted; lanes do not wait for each
// other. Capacity bounds the jobs waiting or running, so memory stays
// bounded and a full queue is reported instead of dropping work.
type Queue struct {
	capacity int
	ready    chan string // lanes with work and no worker on them

	mu      sync.Mutex
	lanes   map[string][]func()
	busy    map[string]bool // lane queued in ready or running
	pending int             // jobs reserved, waiting or running
	closed  bool
	idle    chan struct{} // closed when pending drops to zero after Close

	wg        sync.WaitGroup
	onDepth   func(int)
	closeOnce sync.Once
}

// NewQueue starts workers that run at most capacity jobs waiting or running.
func NewQueue(workers, capacity int, onDepth func(int)) *Queue {
	if onDepth == nil {
		onDepth = func(int) {}
	}
	q := &Queue{
		capacity: capacity,
		ready:    make(chan string, capacity),
		lanes:    map[string][]func(){},
		busy:     map[string]bool{},
		idle:     make(chan struct{}),
		onDepth:  onDepth,
	}
	for range workers {
		q.wg.Add(1)
		go q.work()
	}
	return q
}

// Slot is room in the queue for one job, taken before the job is known to
// be wanted, so that accepting a job can never fail after a duplicate check.
type Slot struct {
	q    *Queue
	used bool
}

// Reserve takes room for one job. It fails with ErrBusy when the queue is
// full and ErrClosed after Close.
func (q *Queue) Reserve() (*Slot, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, ErrClosed
	}
	if q.pending >= q.capacity {
		return nil, ErrBusy
	}
	q.pending++
	q.onDepth(q.pending)
	return &Slot{q: q}, nil
}

// Submit queues job on lane. It cannot fail: the room was reserved.
func (s *Slot) Submit(lane string, job func()) {
	if s.used {
		panic("bot: slot used twice")
	}
	s.used = true
	q := s.q
	q.mu.Lock()
	defer q.mu.Unlock()
	q.lanes[lane] = append(q.lanes[lane], job)
	if !q.busy[lane] {
		q.busy[lane] = true
		q.ready <- lane // never blocks: at most capacity lanes have work
	}
}

// Cancel gives the room back unused.
func (s *Slot) Cancel() {
	if s.used {
		return
	}
	s.used = true
	s.q.done()
}

func (q *Queue) done() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pending--
	q.onDepth(q.pending)
	if q.closed && q.pending == 0 {
		close(q.idle)
	}
}

func (q *Queue) work() {
	defer q.wg.Done()
	for lane := range q.ready {
		q.mu.Lock()
		jobs := q.lanes[lane]
		job := jobs[0]
		if len(jobs) == 1 {
			delete(q.lanes, lane)
		} else {
			q.lanes[lane] = jobs[1:]
		}
		q.mu.Unlock()

		job()

		q.mu.Lock()
		if len(q.lanes[lane]) > 0 {
			q.ready <- lane // the lane's next job goes behind other lanes' work
		} else {
			delete(q.busy, lane)
		}
		q.mu.Unlock()
		q.done()
	}
}

// Len reports the jobs reserved, waiting or running.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending
}

// Close stops taking jobs and waits until every job taken has run, or ctx
// ends. The workers exit once the queue is empty.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		if q.pending == 0 {
			close(q.idle)
		}
	}
	q.mu.Unlock()
	select {
	case <-q.idle:
		q.closeOnce.Do(func() { close(q.ready) })
		q.wg.Wait()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
