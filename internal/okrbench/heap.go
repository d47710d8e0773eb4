package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"
)

// heapSample is okrbot's heap as seen through /metrics after garbage
// collections.
type heapSample struct {
	alloc   float64 // lowest go_memstats_heap_alloc_bytes seen after a GC: ≈ the live heap
	nextGC  float64 // go_memstats_next_gc_bytes at the end
	gcs     float64 // GCs observed while sampling
	scrapes int
}

// settle scrapes /metrics until okrbot has run at least five garbage
// collections since the first scrape (the scrapes' own allocations drive
// them; okrbot exposes no way to force one) and returns the lowest
// heap_alloc seen after the first of them: the value just after a GC, i.e.
// the live heap plus what was allocated since. Bounded by 3,000 scrapes and
// 15 s.
func settle(ctx context.Context, p *proc) (heapSample, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	s := heapSample{alloc: math.Inf(1)}
	gc0 := -1.0
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; i < 3000 && time.Now().Before(deadline) && ctx.Err() == nil; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+"/metrics", nil)
		resp, err := c.Do(req)
		if err != nil {
			return s, err
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return s, err
		}
		gcs, ok1 := metricValue(body, "go_gc_duration_seconds_count")
		alloc, ok2 := metricValue(body, "go_memstats_heap_alloc_bytes")
		next, ok3 := metricValue(body, "go_memstats_next_gc_bytes")
		if !ok1 || !ok2 || !ok3 {
			return s, fmt.Errorf("/metrics lacks go_gc_duration_seconds_count, go_memstats_heap_alloc_bytes or go_memstats_next_gc_bytes")
		}
		s.scrapes++
		if gc0 < 0 {
			gc0 = gcs
			continue
		}
		if gcs > gc0 {
			s.alloc = min(s.alloc, alloc)
			s.nextGC = next
			s.gcs = gcs - gc0
			if s.gcs >= 5 {
				return s, nil
			}
		}
	}
	if math.IsInf(s.alloc, 1) {
		return s, fmt.Errorf("no garbage collection within %d scrapes of /metrics", s.scrapes)
	}
	return s, nil
}

// heapSection sends distinct p2p /help commands (each remembered: its
// event id and message id are kept for redelivery dedup) to a fresh
// okrbot whose replies the host answers without storing them, and divides
// the growth of the settled heap by the number acknowledged.
func (r *runner) heapSection(ctx context.Context) error {
	host, err := newEmuHost(true)
	if err != nil {
		return err
	}
	defer host.close()
	bot, err := startOkrbot(ctx, r, "okrbot-heap", host.URL)
	if err != nil {
		return err
	}
	defer bot.stop(5 * time.Second)
	client := newClient(r.cfg.conc)
	url := "http://" + bot.addr + eventPath
	chats := r.g.chatIDs(64)
	help := func(i int) ([]byte, http.Header, error) {
		return r.g.seal(r.g.message(chats[i%len(chats)], "p2p", "/help"))
	}
	send := func(n int) (int, error) {
		_, before := host.replyCount()
		res := closedLoop(ctx, client, url, r.cfg.conc, n, 90*time.Second, help)
		if res.ok == 0 {
			return 0, fmt.Errorf("no event acknowledged (statuses %v, errors %d: %s)", res.statuses, res.errs, res.firstErr)
		}
		host.waitReplyCount(ctx, before+res.ok, time.Now().Add(30*time.Second))
		return res.ok, nil
	}
	// Warm-up: pools, chat queues, caches reach their working size.
	if _, err := send(min(1000, r.cfg.heapN/4)); err != nil {
		return err
	}
	before, err := settle(ctx, bot)
	if err != nil {
		return err
	}
	n, err := send(r.cfg.heapN)
	if err != nil {
		return err
	}
	after, err := settle(ctx, bot)
	if err != nil {
		return err
	}
	growth := after.alloc - before.alloc
	per := growth / float64(n)
	perNext := (after.nextGC - before.nextGC) / 2 / float64(n)
	detail := fmt.Sprintf("%s events; heap after GC %.1f → %.1f MB (+%.2f MB); next_gc/2 says %.0f B/event; %d+%d scrapes, ≥%.0f GCs each",
		thousands(int64(n)), before.alloc/1e6, after.alloc/1e6, growth/1e6, perNext, before.scrapes, after.scrapes, min(before.gcs, after.gcs))
	r.row("4 heap", "okrbot, remembered p2p /help", "", "", "", "",
		fmt.Sprintf("%.0f B/event: ", per)+detail, "≤200 B/event", verdict(per <= 200))
	return nil
}
