package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"okrbot/internal/feishuemu"
)

type ackTarget struct {
	name   string
	p      *proc
	client *http.Client
	url    string
	res    loadResult
	cpu    time.Duration
	gcpu   time.Duration // the tool's CPU (generator) during the rounds
}

// ackSection measures the acknowledgement path of okrbot, a gin no-op
// server and the SDK's dispatcher with the same closed-loop generator,
// rounds interleaved, then okrbot with commands that produce replies.
func (r *runner) ackSection(ctx context.Context) error {
	host, err := newEmuHost(false)
	if err != nil {
		return err
	}
	defer host.close()
	bot, err := startOkrbot(ctx, r, "okrbot-ack", host.URL)
	if err != nil {
		return err
	}
	defer bot.stop(5 * time.Second)
	ginp, err := startRole(ctx, r, roleGinNoop)
	if err != nil {
		return err
	}
	defer ginp.stop(2 * time.Second)
	sdkp, err := startRole(ctx, r, roleSDK)
	if err != nil {
		return err
	}
	defer sdkp.stop(2 * time.Second)

	targets := []*ackTarget{
		{name: "okrbot", p: bot},
		{name: "gin no-op", p: ginp},
		{name: "SDK dispatcher", p: sdkp},
	}
	for _, t := range targets {
		t.client = newClient(r.cfg.conc)
		t.url = "http://" + t.p.addr + eventPath
	}
	// "bare": group messages that do not mention the bot, spread over 64
	// chats so that no chat's queue limit is met.
	groups := r.g.chatIDs(64)
	bare := func(i int) ([]byte, http.Header, error) {
		return r.g.seal(r.g.message(groups[i%len(groups)], "group", "hello team, lunch at noon?"))
	}
	const unbounded = 1 << 30
	warm := min(r.cfg.roundDur/2, 500*time.Millisecond)
	for _, t := range targets {
		res := closedLoop(ctx, t.client, t.url, r.cfg.conc, unbounded, warm, bare)
		if res.ok == 0 {
			return fmt.Errorf("%s: no 200 during warm-up (statuses %v, errors %d: %s)", t.name, res.statuses, res.errs, res.firstErr)
		}
	}
	for round := range r.cfg.rounds {
		for k := range targets {
			t := targets[(round+k)%len(targets)]
			c0, g0 := t.p.mustCPU(), selfCPU()
			res := closedLoop(ctx, t.client, t.url, r.cfg.conc, unbounded, r.cfg.roundDur, bare)
			g1 := selfCPU()
			// Let queued work (okrbot drops the messages after the
			// acknowledgement) finish inside the measurement.
			sleepCtx(ctx, 150*time.Millisecond)
			c1 := t.p.mustCPU()
			t.res.add(res)
			t.gcpu += g1 - g0
			if c0 < 0 || c1 < 0 || t.cpu < 0 {
				t.cpu = -1
			} else {
				t.cpu += c1 - c0
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	okr, gn, sdk := targets[0].res.rate(), targets[1].res.rate(), targets[2].res.rate()
	for i, t := range targets {
		l := summarize(t.res.lat)
		detail := fmt.Sprintf("%s requests; generator %s", thousands(int64(t.res.ok)), cpuPer(t.gcpu, t.res.ok, "req"))
		if n := t.res.non200() + t.res.errs; n > 0 {
			detail += fmt.Sprintf(", %d failed %s", n, statusList(t.res))
		}
		target, v := "", ""
		if i == 0 {
			target = "≥0.6× gin, ≥1.3× SDK"
			if gn > 0 && sdk > 0 {
				detail += fmt.Sprintf("; %.2f× gin, %.2f× SDK", okr/gn, okr/sdk)
				v = verdict(okr >= 0.6*gn && okr >= 1.3*sdk && t.res.non200()+t.res.errs == 0)
			}
		}
		r.row("1 ack bare", t.name, rateStr(t.res.rate()), fmtDur(l.p50), fmtDur(l.p99), cpuPer(t.cpu, t.res.ok, "req"), detail, target, v)
	}
	return r.ackWithReplies(ctx, host, targets[0])
}

func statusList(res loadResult) string {
	var parts []string
	keys := make([]int, 0, len(res.statuses))
	for k := range res.statuses {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		if k != http.StatusOK {
			parts = append(parts, fmt.Sprintf("%d×%d", res.statuses[k], k))
		}
	}
	if res.errs > 0 {
		parts = append(parts, fmt.Sprintf("%d transport errors (%s)", res.errs, res.firstErr))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// ackWithReplies sends p2p /periods commands the emulator knows about (so
// the replies are accepted) through the same closed loop, and counts the
// CPU until every reply has arrived.
func (r *runner) ackWithReplies(ctx context.Context, host *emuHost, t *ackTarget) error {
	n := r.cfg.replyN
	chats := r.g.chatIDs(256)
	plains := make([][]byte, n)
	ids := make([]string, n)
	for i := range n {
		ids[i] = r.g.messageID()
		// No bot endpoint is set on this emulator: PostMessage records the
		// message and its event without delivering it; the tool delivers.
		d, err := host.main.PostMessage(ctx, feishuemu.UserMessage{
			ChatID: chats[i%len(chats)], ChatType: "p2p", SenderOpenID: operator, Text: "/periods", MessageID: ids[i],
		})
		if err != nil && !errors.Is(err, feishuemu.ErrNoEndpoint) {
			return err
		}
		body, ok := host.main.EventBody(d.EventID)
		if !ok {
			return fmt.Errorf("emulator lost event %s", d.EventID)
		}
		plains[i] = body
	}
	c0, g0 := t.p.mustCPU(), selfCPU()
	res := closedLoop(ctx, t.client, t.url, r.cfg.conc, n, 60*time.Second, func(i int) ([]byte, http.Header, error) {
		return r.g.seal(plains[i])
	})
	got := host.waitReplies(ctx, ids, time.Now().Add(20*time.Second))
	c1, g1 := t.p.mustCPU(), selfCPU()
	cpu := c1 - c0
	if c0 < 0 || c1 < 0 {
		cpu = -1
	}
	l := summarize(res.lat)
	detail := fmt.Sprintf("%s/%s replied; generator+emulator %s", thousands(int64(got)), thousands(int64(n)), cpuPer(g1-g0, n, "cmd"))
	if f := res.non200() + res.errs; f > 0 {
		detail += fmt.Sprintf(", %d not acknowledged %s", f, statusList(res))
	}
	r.row("1 ack with replies", "okrbot, p2p /periods", rateStr(res.rate()), fmtDur(l.p50), fmtDur(l.p99),
		cpuPer(cpu, n, "cmd")+" (to reply)", detail, "", "")
	return nil
}
