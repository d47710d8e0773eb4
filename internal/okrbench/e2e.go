package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"okrbot/internal/feishuemu"
)

// pairs hands out distinct (month, rule) pairs for /newperiod: every month
// of 1970–2100 with the monthly rule, then with each extra monthly rule.
type pairs struct{ next int }

func (p *pairs) take() (month, rule string, ok bool) {
	k := p.next
	if k/monthsAvailable >= len(monthlyRules) {
		return "", "", false
	}
	p.next++
	return monthOf(k % monthsAvailable), monthlyRules[k/monthsAvailable], true
}

type stepResult struct {
	rate, sent, acked, replied int
	sendRate                   float64
	statuses                   map[int]int
	errs                       int
	firstErr                   string
	lat                        latencies
	cpu, tool                  time.Duration
	dup, creates, createOK     int
	conns                      int64 // connections the bot opened to the Open Platform
	maxLag                     time.Duration
}

// e2eSection runs /newperiod open loop at each rate against one okrbot
// wired to the emulator. The events are built and sealed (encrypted,
// signed) before each step and posted by the tool at their scheduled
// times, as Feishu pushes them; creates go to the emulator (see emuHost);
// replies are answered by the host, or, with -strict-replies, validated
// and stored by the emulator.
func (r *runner) e2eSection(ctx context.Context) error {
	host, err := newEmuHost(!r.cfg.strictReplies)
	if err != nil {
		return err
	}
	defer host.close()
	bot, err := startOkrbot(ctx, r, "okrbot-e2e", host.URL)
	if err != nil {
		return err
	}
	defer bot.stop(5 * time.Second)

	need := 100
	for _, rate := range r.cfg.rates {
		need += int(float64(rate) * r.cfg.stepDur.Seconds())
	}
	if limit := monthsAvailable * len(monthlyRules); need > limit {
		return fmt.Errorf("%d commands asked for, but only %d distinct (month, rule) pairs exist: lower -rates or -step", need, limit)
	}
	e := &e2e{r: r, host: host, bot: bot, chats: r.g.chatIDs(256), client: newClient(1024),
		url: "http://" + bot.addr + eventPath}
	e.client.Timeout = feishuemu.DefaultDeliveryTimeout // Feishu waits 3 s for the acknowledgement
	// Warm-up, not reported: connections, pools, caches.
	if _, err := e.step(ctx, 500, 100); err != nil {
		return err
	}
	for _, rate := range r.cfg.rates {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sleepCtx(ctx, 300*time.Millisecond)
		n := max(1, int(float64(rate)*r.cfg.stepDur.Seconds()))
		s, err := e.step(ctx, rate, n)
		if err != nil {
			return err
		}
		lost := s.sent - s.replied
		cpu1000 := "—"
		var cpuPerK float64
		if s.cpu >= 0 && s.replied > 0 {
			// Per command that did the whole work; a refused push (503)
			// costs little, so dividing by the sent would flatter.
			cpuPerK = s.cpu.Seconds() / float64(s.replied) * 1000
			cpu1000 = fmt.Sprintf("%.3f s/1k replied", cpuPerK)
		}
		detail := fmt.Sprintf("sent %s, replied %s, lost %s, dup creates %d; %s created, %d not",
			thousands(int64(s.sent)), thousands(int64(s.replied)), thousands(int64(lost)), s.dup,
			thousands(int64(s.createOK)), s.creates-s.createOK)
		if na := s.sent - s.acked; na > 0 {
			detail += fmt.Sprintf("; %d pushes not acknowledged %s", na, statusList(loadResult{statuses: s.statuses}))
			if s.firstErr != "" {
				detail += " (" + s.firstErr + ")"
			}
		}
		detail += fmt.Sprintf("; %s new conns to the emulator; tool %.3f s/1k", thousands(s.conns), s.tool.Seconds()/float64(s.sent)*1000)
		if s.maxLag > 5*time.Millisecond {
			detail += fmt.Sprintf("; sender up to %s behind schedule", fmtDur(s.maxLag))
		}
		ok := lost == 0 && s.acked == s.sent && s.dup == 0 && s.lat.p99 < 25*time.Millisecond && s.cpu >= 0 && cpuPerK <= 0.35
		r.row(fmt.Sprintf("2 e2e %s/s", thousands(int64(rate))), "okrbot, /newperiod",
			fmt.Sprintf("%s sent/s", thousands(int64(s.sendRate+0.5))), fmtDur(s.lat.p50), fmtDur(s.lat.p99), cpu1000,
			detail, "0 lost, 0 dup, p99<25ms, ≤0.35 s/1k", verdict(ok))
	}
	return nil
}

type e2e struct {
	r      *runner
	host   *emuHost
	bot    *proc
	chats  []string
	pairs  pairs
	client *http.Client
	url    string
}

// step sends n /newperiod commands at rate per second, open loop: each is
// posted at its scheduled time whether or not earlier ones were answered.
// Latency is from just before the push to the arrival of the bot's reply
// at the emulator.
func (e *e2e) step(ctx context.Context, rate, n int) (stepResult, error) {
	s := stepResult{rate: rate, statuses: map[int]int{}}
	ids := make([]string, n)
	bodies := make([][]byte, n)
	headers := make([]http.Header, n)
	for i := range n {
		month, rule, ok := e.pairs.take()
		if !ok {
			return s, fmt.Errorf("out of distinct (month, rule) pairs")
		}
		chat, text := e.chats[i%len(e.chats)], "/newperiod "+month+" "+rule
		var plain []byte
		if e.r.cfg.strictReplies {
			// No bot endpoint is set: PostMessage records the message (so
			// the emulator accepts the reply) without delivering it.
			ids[i] = e.r.g.messageID()
			d, err := e.host.main.PostMessage(ctx, feishuemu.UserMessage{
				ChatID: chat, ChatType: "p2p", SenderOpenID: operator, Text: text, MessageID: ids[i],
			})
			if err != nil && !errors.Is(err, feishuemu.ErrNoEndpoint) {
				return s, err
			}
			if plain, ok = e.host.main.EventBody(d.EventID); !ok {
				return s, fmt.Errorf("emulator lost event %s", d.EventID)
			}
		} else {
			plain, ids[i] = e.r.g.messageWithID(chat, "p2p", text)
		}
		var err error
		if bodies[i], headers[i], err = e.r.g.seal(plain); err != nil {
			return s, err
		}
	}
	total0, dup0, ok0, _ := e.host.createStats()
	conns0 := e.host.conns.Load()
	sentAt := make([]time.Time, n)
	status := make([]int, n)
	errs := make([]string, n)

	c0, g0 := e.bot.mustCPU(), selfCPU()
	interval := time.Second / time.Duration(rate)
	t0 := time.Now().Add(10 * time.Millisecond)
	sem := make(chan struct{}, 4096) // bounds the pushes in flight
	var wg sync.WaitGroup
	var last time.Time
	for i := range n {
		due := t0.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			if !sleepCtx(ctx, d) {
				break
			}
		}
		s.maxLag = max(s.maxLag, time.Since(due))
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		s.sent++
		last = time.Now()
		wg.Go(func() {
			defer func() { <-sem }()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(bodies[i]))
			if err != nil {
				errs[i] = err.Error()
				return
			}
			req.Header = headers[i]
			sentAt[i] = time.Now()
			resp, err := e.client.Do(req)
			if err != nil {
				errs[i] = err.Error()
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			status[i] = resp.StatusCode
		})
	}
	if s.sent > 1 {
		s.sendRate = float64(s.sent-1) / last.Sub(t0).Seconds()
	} else {
		s.sendRate = float64(s.sent)
	}
	wg.Wait()
	ids = ids[:s.sent]
	s.replied = e.host.waitReplies(ctx, ids, last.Add(e.r.cfg.deadline))
	c1, g1 := e.bot.mustCPU(), selfCPU()
	s.cpu, s.tool = c1-c0, g1-g0
	if c0 < 0 || c1 < 0 {
		s.cpu = -1
	}
	lat := make([]time.Duration, 0, s.sent)
	for i, id := range ids {
		if status[i] == http.StatusOK {
			s.acked++
		} else {
			s.statuses[status[i]]++
			if errs[i] != "" && s.firstErr == "" {
				s.firstErr = errs[i]
			}
		}
		if t, ok := e.host.replyTime(id); ok && !sentAt[i].IsZero() {
			lat = append(lat, t.Sub(sentAt[i]))
		}
	}
	s.lat = summarize(lat)
	total1, dup1, ok1, _ := e.host.createStats()
	s.creates, s.dup, s.createOK = total1-total0, dup1-dup0, ok1-ok0
	s.conns = e.host.conns.Load() - conns0
	return s, nil
}
