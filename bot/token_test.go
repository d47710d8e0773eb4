package bot_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"okrbot/bot"
	"okrbot/internal/config"
	"okrbot/internal/feishuemu"
	"okrbot/internal/testkit"
)

func TestColdBurstFetchesOneToken(t *testing.T) {
	env := testkit.New(t, testkit.WithoutTokenRefresh(),
		testkit.WithConfig(func(c *config.Config) { c.OKR.DefaultPeriodRuleID = monthly }))
	// The token endpoint is slow, so every command arrives before it answers.
	env.Emu.SetLatency(feishuemu.APIToken, 200*time.Millisecond)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env.Say(t, fmt.Sprintf("/newperiod %d-%02d", 2000+i/12, i%12+1))
		}()
	}
	wg.Wait()
	replies := env.Replies(t)
	if len(replies) != 100 {
		t.Fatalf("%d replies, want 100", len(replies))
	}
	if n := env.Emu.TokenFetches(); n != 1 {
		t.Errorf("token fetches = %d, want 1", n)
	}
	if n := len(env.Emu.Periods()); n != 100 {
		t.Errorf("periods = %d, want 100", n)
	}
}

func TestProviderSharesOneFetch(t *testing.T) {
	env := testkit.New(t, testkit.WithoutTokenRefresh())
	env.Emu.SetLatency(feishuemu.APIToken, 100*time.Millisecond)
	p := env.App.Tokens
	var wg sync.WaitGroup
	toks := make([]string, 100)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := p.Token(context.Background())
			if err != nil {
				t.Error(err)
			}
			toks[i] = tok
		}()
	}
	wg.Wait()
	for _, tok := range toks {
		if tok != toks[0] || tok == "" {
			t.Fatalf("callers got different tokens: %q vs %q", tok, toks[0])
		}
	}
	if n := env.Emu.TokenFetches(); n != 1 {
		t.Errorf("token fetches = %d, want 1", n)
	}
	if !p.Valid() {
		t.Error("provider not valid after a fetch")
	}
	// A caller that gives up does not break the fetch for the others.
	p.Invalidate(context.Background(), toks[0])
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Token(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller got %v", err)
	}
	if _, err := p.Token(context.Background()); err != nil {
		t.Errorf("next caller: %v", err)
	}
}

func TestRevokedTokenRefetchedOnce(t *testing.T) {
	env := testkit.New(t)
	first := env.Say(t, "/newperiod 2022-01 "+monthly)
	env.ReplyTo(t, first.MessageID)
	fetches := env.Emu.TokenFetches()

	env.Emu.RevokeTokens()
	d := env.Say(t, "/newperiod 2022-02 "+monthly)
	testkit.MustSay(t, env.ReplyTo(t, d.MessageID).Card, "OKR period created", "2022-02")
	if n := env.Emu.TokenFetches() - fetches; n != 1 {
		t.Errorf("token fetches after revocation = %d, want 1", n)
	}
	if n := env.Emu.CallCount(feishuemu.APICreatePeriod); n != 3 {
		t.Errorf("create calls = %d, want 3 (first, refused with the revoked token, repeated)", n)
	}
	if len(env.Emu.Periods()) != 2 {
		t.Errorf("periods = %d, want 2", len(env.Emu.Periods()))
	}
}

func TestWrongSecretIsCredentialsError(t *testing.T) {
	env := testkit.New(t, testkit.WithoutTokenRefresh())
	env.Emu.SetAppSecret("rotated")
	_, err := env.App.Tokens.Token(context.Background())
	if !errors.Is(err, bot.ErrCredentials) {
		t.Fatalf("Token() = %v, want ErrCredentials", err)
	}
	if n := env.Emu.TokenFetches(); n != 1 {
		t.Errorf("token fetches = %d, want 1 (a refused secret is not retried)", n)
	}
	// Without a token the bot can neither create nor reply: the log says why.
	d := env.Say(t, "/newperiod 2022-01 "+monthly)
	env.Settle(t)
	if n := env.Emu.CallCount(feishuemu.APICreatePeriod) + env.Emu.CallCount(feishuemu.APIReply); n != 0 {
		t.Errorf("%d calls made without a token", n)
	}
	logs := env.Logs.String()
	if !strings.Contains(logs, d.EventID) || !strings.Contains(logs, "reply failed") || !strings.Contains(logs, "app credentials rejected") {
		t.Errorf("log does not report the failed reply with the event id:\n%s", logs)
	}
}
