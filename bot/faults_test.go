package bot_test

import (
	"strings"
	"testing"
	"time"

	"okrbot/internal/feishuemu"
	"okrbot/internal/testkit"
)

// The fault suite: the Open Platform misbehaves in each way Feishu can; the
// bot creates at most once per user action, tells the user what happened,
// never panics, and leaves no goroutine behind.

func faultEnv(t *testing.T, opts ...testkit.Option) *testkit.Env {
	t.Helper()
	opts = append([]testkit.Option{testkit.WithLeakCheck(), testkit.WithRequestTimeout(400 * time.Millisecond)}, opts...)
	return testkit.New(t, opts...)
}

func assertCreates(t *testing.T, env *testkit.Env, want int) {
	t.Helper()
	if n := env.Emu.CallCount(feishuemu.APICreatePeriod); n != want {
		t.Errorf("create calls = %d, want %d", n, want)
	}
	if strings.Contains(env.Logs.String(), `"outcome":"panic"`) {
		t.Errorf("a job panicked:\n%s", env.Logs.String())
	}
}

func TestFaultConnectionResetOnCreate(t *testing.T) {
	env := faultEnv(t)
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APICreatePeriod, Hangup: true})
	d := env.Say(t, "/newperiod 2022-01 "+monthly)
	reply := env.ReplyTo(t, d.MessageID)
	testkit.MustSay(t, reply.Card, "Network error", "Create period 2022-01 failed")
	if text := testkit.Text(reply.Card); strings.Contains(text, "create_period") {
		t.Errorf("the card shows an internal API name:\n%s", text)
	}
	if len(feishuemu.ButtonValues(reply.Card)) != 1 {
		t.Errorf("want a Retry button, have %v", feishuemu.ButtonValues(reply.Card))
	}
	assertCreates(t, env, 1)
}

func TestFaultCreateSlowerThanTimeoutThenRetry(t *testing.T) {
	env := faultEnv(t)
	// The create runs at Feishu, but its answer comes too late.
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APICreatePeriod, Delay: time.Second, AfterEffect: true, Status: 200})
	d := env.Say(t, "/newperiod 2022-04 "+quarterly)
	reply := env.ReplyTo(t, d.MessageID)
	testkit.MustSay(t, reply.Card, "Timeout")
	assertCreates(t, env, 1)
	if len(env.Emu.Periods()) != 1 {
		t.Fatalf("the slow create should have run: %v", env.Emu.Periods())
	}
	// Retry meets the period the timed-out call made, and says so.
	res := env.Click(t, reply, "retry", testkit.Operator)
	if !res.Updated {
		t.Fatalf("retry: %+v %s", res, res.Body)
	}
	updated, _ := env.Emu.Message(reply.ID)
	testkit.MustSay(t, updated.Card, "OKR period created", env.Emu.Periods()[0].ID, "timed out")
	assertCreates(t, env, 2)
	if len(env.Emu.Periods()) != 1 {
		t.Errorf("periods = %d, want 1", len(env.Emu.Periods()))
	}
}

func TestFault5xxBurstOnReads(t *testing.T) {
	env := faultEnv(t)
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APIListPeriods, Status: 500, Times: 2})
	d := env.Say(t, "/periods")
	testkit.MustSay(t, env.ReplyTo(t, d.MessageID).Card, "OKR periods")
	if n := env.Emu.CallCount(feishuemu.APIListPeriods); n != 3 {
		t.Errorf("list calls = %d, want 3 (two failures, one success)", n)
	}
}

func TestFault5xxOnCreateIsNotRepeated(t *testing.T) {
	env := faultEnv(t)
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APICreatePeriod, Status: 502, Times: 3})
	d := env.Say(t, "/newperiod 2022-01 "+monthly)
	reply := env.ReplyTo(t, d.MessageID)
	testkit.MustSay(t, reply.Card, "Retry")
	assertCreates(t, env, 1)
}

func TestFaultRateLimitedReplyWaitsForReset(t *testing.T) {
	env := faultEnv(t)
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APIReply, Status: 429, RateLimitReset: 1})
	d := env.Say(t, "/help")
	env.ReplyTo(t, d.MessageID)
	calls := []feishuemu.Call{}
	for _, c := range env.Emu.Calls() {
		if c.API == feishuemu.APIReply {
			calls = append(calls, c)
		}
	}
	if len(calls) != 2 || calls[0].Code != 99991400 {
		t.Fatalf("reply calls %+v, want a 429 then a success", calls)
	}
	if gap := calls[1].Time.Sub(calls[0].Time); gap < time.Second {
		t.Errorf("retried %v after a 429 that said wait 1 s", gap)
	}
}

func TestFaultRateLimitedCreateOffersRetry(t *testing.T) {
	env := faultEnv(t)
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APICreatePeriod, Status: 429, RateLimitReset: 5})
	d := env.Say(t, "/newperiod 2022-01 "+monthly)
	testkit.MustSay(t, env.ReplyTo(t, d.MessageID).Card, "99991400", "Retry")
	assertCreates(t, env, 1)
}

func TestFaultReplyKeepsFailing(t *testing.T) {
	env := faultEnv(t)
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APIReply, Status: 500, Times: -1})
	d := env.Say(t, "/newperiod 2022-01 "+monthly)
	env.Settle(t)
	env.Emu.ClearFaults()
	if len(env.Emu.Replies()) != 0 {
		t.Fatal("a reply got through")
	}
	assertCreates(t, env, 1)
	p := env.Emu.Periods()[0]
	logs := env.Logs.String()
	for _, want := range []string{`"msg":"period created"`, `"period_id":"` + p.ID, `"reply failed`, `"event_id":"` + d.EventID} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
	// Other chats are not held up by the failing one.
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APIReply, Status: 500, Times: -1})
	env.Post(t, feishuemu.UserMessage{Text: "/newperiod 2022-02 " + monthly, SenderOpenID: testkit.Operator})
	env.Emu.ClearFaults()
	g := env.Post(t, feishuemu.UserMessage{ChatType: "group", ChatID: testkit.GroupChat, Text: "/help", SenderOpenID: testkit.Operator, MentionBot: true})
	env.ReplyTo(t, g.MessageID)
}

func TestFaultTokenEndpointDownAtStartup(t *testing.T) {
	env := faultEnv(t)
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APIToken, Status: 503, Times: 2})
	d := env.Say(t, "/newperiod 2022-01 "+monthly)
	testkit.MustSay(t, env.ReplyTo(t, d.MessageID).Card, "OKR period created")
	assertCreates(t, env, 1)
}

func TestFaultTokenEndpointHangsUp(t *testing.T) {
	env := faultEnv(t, testkit.WithoutTokenRefresh())
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APIToken, Hangup: true, Times: 3})
	d := env.Say(t, "/help")
	env.Settle(t)
	// Three token attempts failed: no reply could be sent; the log says so.
	if !strings.Contains(env.Logs.String(), `"event_id":"`+d.EventID) {
		t.Error("failure not logged with the event id")
	}
	// The next command works: the token endpoint is back.
	d2 := env.Say(t, "/help")
	env.ReplyTo(t, d2.MessageID)
}
