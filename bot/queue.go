package bot

import (
	"context"
	"sync"
	"time"
)

// job is one unit of queued work: run does it; abandon answers for it when
// it will never run (the shutdown timeout ran out first). Jobs of a lane
// run in order of order (the message's create time), ties in arrival
// order.
type job struct {
	run     func()
	abandon func()
	order   int64
}

// Queue runs jobs on a bounded pool of workers. Jobs of one lane (a chat)
// run one at a time in the order submitted; lanes do not wait for each
// other. Capacity bounds the jobs waiting or running, and laneCap the jobs
// of one lane, so that memory stays bounded, one chat cannot crowd out the
// others, and a full queue is reported instead of dropping work.
type Queue struct {
	capacity int
	laneCap  int
	window   time.Duration // how long an idle lane waits for siblings of its first job
	ready    chan string   // lanes with work and no worker on them

	mu        sync.Mutex
	lanes     map[string][]job
	laneCount map[string]int  // jobs reserved or waiting per lane, running excluded
	busy      map[string]bool // lane queued in ready or running
	pending   int             // jobs reserved, waiting or running
	closed    bool
	abandoned bool
	idle      chan struct{} // closed when pending drops to zero after Close

	wg        sync.WaitGroup
	onDepth   func(int)
	closeOnce sync.Once
}

// NewQueue starts workers that run at most capacity jobs waiting or running,
// of which at most laneCap wait in one lane. With a window, a job that
// finds its lane idle waits that long before it runs, so that jobs of the
// lane handed over out of order by concurrent receivers (the long
// connection runs each frame in its own goroutine) are put back in order.
func NewQueue(workers, capacity, laneCap int, window time.Duration, onDepth func(int)) *Queue {
	if onDepth == nil {
		onDepth = func(int) {}
	}
	q := &Queue{
		capacity:  capacity,
		laneCap:   laneCap,
		window:    window,
		ready:     make(chan string, capacity),
		lanes:     map[string][]job{},
		laneCount: map[string]int{},
		busy:      map[string]bool{},
		idle:      make(chan struct{}),
		onDepth:   onDepth,
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
	lane string
	used bool
}

// Reserve takes room for one job of lane. It fails with ErrBusy when the
// queue or the lane is full and ErrClosed after Close.
func (q *Queue) Reserve(lane string) (*Slot, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, ErrClosed
	}
	if q.pending >= q.capacity || q.laneCount[lane] >= q.laneCap {
		return nil, ErrBusy
	}
	q.pending++
	q.laneCount[lane]++
	q.onDepth(q.pending)
	return &Slot{q: q, lane: lane}, nil
}

// Submit queues j on the slot's lane. It cannot fail: the room was reserved.
func (s *Slot) Submit(lane string, j job) {
	if s.used {
		panic("bot: slot used twice")
	}
	s.used = true
	q := s.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if lane != s.lane {
		q.laneCount[s.lane]--
		q.laneCount[lane]++
	}
	jobs := q.lanes[lane]
	i := len(jobs)
	for i > 0 && jobs[i-1].order > j.order {
		i--
	}
	q.lanes[lane] = append(jobs[:i], append([]job{j}, jobs[i:]...)...)
	if !q.busy[lane] {
		q.busy[lane] = true
		if q.window > 0 {
			// The lane is pending until then, so ready is not closed yet.
			time.AfterFunc(q.window, func() { q.ready <- lane })
			return
		}
		q.ready <- lane // never blocks: at most capacity lanes have work
	}
}

// Cancel gives the room back unused.
func (s *Slot) Cancel() {
	if s.used {
		return
	}
	s.used = true
	s.q.mu.Lock()
	s.q.dropLaneLocked(s.lane)
	s.q.mu.Unlock()
	s.q.done()
}

func (q *Queue) dropLaneLocked(lane string) {
	if q.laneCount[lane]--; q.laneCount[lane] <= 0 {
		delete(q.laneCount, lane)
	}
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
		j := jobs[0]
		if len(jobs) == 1 {
			delete(q.lanes, lane)
		} else {
			q.lanes[lane] = jobs[1:]
		}
		q.dropLaneLocked(lane)
		abandoned := q.abandoned
		q.mu.Unlock()

		if abandoned {
			j.abandon()
		} else {
			j.run()
		}

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

// Stop makes every job not yet started be abandoned instead of run.
func (q *Queue) Stop() {
	q.mu.Lock()
	q.abandoned = true
	q.mu.Unlock()
}

// Abandon, after Close gave up waiting, answers for every job that has not
// started (its abandon runs instead of run) and waits until the queue is
// empty and the workers have exited.
func (q *Queue) Abandon() {
	q.Stop()
	<-q.idle
	q.closeOnce.Do(func() { close(q.ready) })
	q.wg.Wait()
}
