package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	lark "github.com/larksuite/oapi-sdk-go/v3"
	larkcore "github.com/larksuite/oapi-sdk-go/v3/core"

	"okrbot/internal/feishuemu"
)

// coldSection sends a burst of /newperiod commands, all at once, to an
// okrbot that has just become ready, and counts the token, bot-info and
// rule-list requests the emulator saw from its start; then the same count
// for the SDK's default client making as many concurrent calls on a cold
// token cache.
func (r *runner) coldSection(ctx context.Context) error {
	host, err := newEmuHost(false)
	if err != nil {
		return err
	}
	defer host.close()
	bot, err := startOkrbot(ctx, r, "okrbot-cold", host.URL)
	if err != nil {
		return err
	}
	defer bot.stop(5 * time.Second)
	host.main.SetBotEndpoints("http://"+bot.addr+eventPath, "http://"+bot.addr+"/webhook/card")

	n := r.cfg.burst
	// Group chats, the bot @-mentioned (so it needs its own open_id), 10
	// commands per chat, under the per-chat limit of 32.
	chats := r.g.chatIDs(max(1, (n+9)/10))
	ids := make([]string, n)
	for i := range ids {
		ids[i] = r.g.messageID()
	}
	var (
		wg      sync.WaitGroup
		ready   sync.WaitGroup
		start   = make(chan struct{})
		non200  atomic.Int64
		errored atomic.Int64
	)
	ready.Add(n)
	for i := range n {
		wg.Go(func() {
			ready.Done()
			<-start
			d, err := host.main.PostMessage(ctx, feishuemu.UserMessage{
				ChatID: chats[i%len(chats)], ChatType: "group", MentionBot: true, SenderOpenID: operator,
				Text: "/newperiod " + monthOf(i), MessageID: ids[i],
			})
			switch {
			case err != nil:
				errored.Add(1)
			case d.Status != 200:
				non200.Add(1)
			}
		})
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	wg.Wait()
	got := host.waitReplies(ctx, ids, time.Now().Add(30*time.Second))
	took := time.Since(t0)
	tok, info, rules := host.main.CallCount(feishuemu.APIToken), host.main.CallCount(feishuemu.APIBotInfo), host.main.CallCount(feishuemu.APIListRules)
	_, dup, _, _ := host.createStats()
	detail := fmt.Sprintf("token %d, bot-info %d, rule-list %d (start-up included); %s/%s replied in %s, dup creates %d",
		tok, info, rules, thousands(int64(got)), thousands(int64(n)), took.Round(10*time.Millisecond), dup)
	if e, f := errored.Load(), non200.Load(); e+f > 0 {
		detail += fmt.Sprintf("; %d pushes not acknowledged, %d transport errors", f, e)
	}
	r.row("3 cold burst", fmt.Sprintf("okrbot, %s @bot /newperiod at once", thousands(int64(n))), "", "", "", "",
		detail, "1 token, 1 bot-info, 1 rule-list", verdict(tok == 1 && info == 1 && rules == 1 && got == n))
	return r.coldSDK(ctx, n)
}

// coldSDK makes n concurrent calls with the SDK's default client (its own
// token cache) against a fresh emulator.
func (r *runner) coldSDK(ctx context.Context, n int) error {
	host, err := newEmuHost(false)
	if err != nil {
		return err
	}
	defer host.close()
	client := lark.NewClient(appID, appSecret, lark.WithOpenBaseUrl(host.URL),
		lark.WithLogLevel(larkcore.LogLevelError), lark.WithReqTimeout(10*time.Second))
	var (
		wg     sync.WaitGroup
		ready  sync.WaitGroup
		start  = make(chan struct{})
		failed atomic.Int64
	)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ready.Add(n)
	for range n {
		wg.Go(func() {
			ready.Done()
			<-start
			resp, err := client.Okr.PeriodRule.List(cctx)
			if err != nil || !resp.Success() {
				failed.Add(1)
			}
		})
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(t0)
	tok := host.main.CallCount(feishuemu.APIToken)
	detail := fmt.Sprintf("token %s for %s period_rules calls in %s", thousands(int64(tok)), thousands(int64(n)), took.Round(10*time.Millisecond))
	if f := failed.Load(); f > 0 {
		detail += fmt.Sprintf(", %d failed", f)
	}
	r.row("3 cold burst", fmt.Sprintf("SDK default client, %s calls at once", thousands(int64(n))), "", "", "", "",
		detail, "(reference)", "")
	return nil
}
