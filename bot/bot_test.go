package bot_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"okrbot/cards"
	"okrbot/internal/config"
	"okrbot/internal/feishu"
	"okrbot/internal/feishuemu"
	"okrbot/internal/testkit"
)

const (
	monthly   = "7290000000000000001"
	quarterly = "7290000000000000002"
	yearly    = "7290000000000000003"
)

func TestNewPeriodP2P(t *testing.T) {
	env := testkit.New(t)
	d := env.Say(t, "/newperiod 2022-01 "+quarterly)
	reply := env.ReplyTo(t, d.MessageID)

	periods := env.Emu.Periods()
	if len(periods) != 1 {
		t.Fatalf("emulator has %d periods, want 1", len(periods))
	}
	p := periods[0]
	if p.StartMonth != "2022-01" || p.EndMonth != "2022-03" || p.RuleID != quarterly {
		t.Fatalf("created %+v", p)
	}
	testkit.MustSay(t, reply.Card, "OKR period created", "OKR 周期已创建", p.ID, "2022-01", "2022-03",
		quarterly, "Quarterly from January", testkit.Operator)
	if len(feishuemu.ButtonValues(reply.Card)) != 0 {
		t.Error("result card has buttons")
	}
	if reply.UUID == "" || len(reply.UUID) > 50 {
		t.Errorf("reply uuid %q", reply.UUID)
	}
}

func TestNewPeriodGroupNeedsMention(t *testing.T) {
	env := testkit.New(t, testkit.WithConfig(func(c *config.Config) { c.OKR.DefaultPeriodRuleID = monthly }))
	// Not addressed to the bot: acknowledged, not acted on.
	quiet := env.Post(t, feishuemu.UserMessage{ChatType: "group", ChatID: testkit.GroupChat,
		SenderOpenID: testkit.Operator, Text: "/newperiod 2022-02"})
	// Another user mentioned, not the bot.
	other := env.Post(t, feishuemu.UserMessage{ChatType: "group", ChatID: testkit.GroupChat, SenderOpenID: testkit.Operator,
		Text: "@Alice /newperiod 2022-03", Mentions: []feishuemu.Mention{{OpenID: "ou_alice", Name: "Alice"}}})
	loud := env.Post(t, feishuemu.UserMessage{ChatType: "group", ChatID: testkit.GroupChat,
		SenderOpenID: testkit.Operator, Text: "/newperiod 2022-01", MentionBot: true})
	reply := env.ReplyTo(t, loud.MessageID)
	testkit.MustSay(t, reply.Card, "OKR period created", "2022-01")
	for _, d := range []feishuemu.Delivery{quiet, other} {
		for _, r := range env.Emu.Replies() {
			if r.ParentID == d.MessageID {
				t.Errorf("bot answered a group message that did not mention it")
			}
		}
	}
	if n := env.Emu.CallCount(feishuemu.APICreatePeriod); n != 1 {
		t.Errorf("create calls = %d, want 1", n)
	}
}

func TestMonthFormats(t *testing.T) {
	env := testkit.New(t, testkit.WithConfig(func(c *config.Config) { c.OKR.DefaultPeriodRuleID = monthly }))
	formats := map[string]string{
		"2023-01": "2023-01", "2023-2": "2023-02", "2023/03": "2023-03", "202304": "2023-04",
		"2023年5月": "2023-05", "２０２３年６月": "2023-06",
	}
	for typed, want := range formats {
		d := env.Say(t, "/newperiod "+typed)
		reply := env.ReplyTo(t, d.MessageID)
		testkit.MustSay(t, reply.Card, "OKR period created", want)
	}
	got := map[string]bool{}
	for _, p := range env.Emu.Periods() {
		got[p.StartMonth] = true
	}
	for _, want := range formats {
		if !got[want] {
			t.Errorf("no period starting %s; have %v", want, got)
		}
	}
}

func TestUsageErrorsMakeNoCall(t *testing.T) {
	env := testkit.New(t)
	for _, text := range []string{"/newperiod 2022-13", "/newperiod", "/newperiod next-month", "/newperiod 2022-01 1 2", "/frobnicate"} {
		d := env.Say(t, text)
		reply := env.ReplyTo(t, d.MessageID)
		testkit.MustSay(t, reply.Card, "/newperiod")
	}
	if n := env.Emu.CallCount(feishuemu.APICreatePeriod); n != 0 {
		t.Errorf("create calls = %d, want 0", n)
	}
}

func TestErrorCodesBecomeCards(t *testing.T) {
	env := testkit.New(t)
	for i, e := range cards.Entries() {
		env.Emu.Inject(feishuemu.Fault{API: feishuemu.APICreatePeriod, Code: e.Code, Status: e.HTTPStatus})
		d := env.Say(t, fmt.Sprintf("/newperiod %d-%02d %s", 2024+i/12, i%12+1, monthly))
		reply := env.ReplyTo(t, d.MessageID)
		if e.Code == 99991663 || e.Code == 99991664 || e.Code == 99991671 {
			// A token-invalid answer is not shown: the bot drops the token,
			// fetches another, and the repeated call succeeds.
			testkit.MustSay(t, reply.Card, "OKR period created")
			continue
		}
		testkit.MustSay(t, reply.Card, fmt.Sprint(e.Code), e.Meaning.EN, e.Meaning.ZH, e.Advice.EN)
		hasRetry := false
		for _, v := range feishuemu.ButtonValues(reply.Card) {
			hasRetry = hasRetry || v["op"] == "retry"
		}
		// The card's Retry agrees with the one code table.
		if want := feishu.Classify(e.HTTPStatus, e.Code).Retryable(); hasRetry != want {
			t.Errorf("code %d: retry button %v, want %v", e.Code, hasRetry, want)
		}
	}
}

func TestRealRuleErrors(t *testing.T) {
	env := testkit.New(t)
	cases := []struct {
		text string
		code int
		want string
	}{
		// The advice names the rule actually used and the months it takes.
		{"/newperiod 2022-02 " + quarterly, 1001009, "2022-01, 2022-04, 2022-07, 2022-10"},
		{"/newperiod 2022-02 " + yearly, 1001009, "accepts only these start months in 2022: 2022-01."},
	}
	for _, c := range cases {
		d := env.Say(t, c.text)
		testkit.MustSay(t, env.ReplyTo(t, d.MessageID).Card, fmt.Sprint(c.code), "Start date does not fit the period rule", c.want)
	}
	// A rule id the tenant lacks is known at once: the rules to choose
	// from, and no create call.
	creates := env.Emu.CallCount(feishuemu.APICreatePeriod)
	d := env.Say(t, "/newperiod 2022-01 1234567890123456789")
	reply := env.ReplyTo(t, d.MessageID)
	testkit.MustSay(t, reply.Card, "1234567890123456789", "is not one of this tenant's rules", "Choose a period rule for 2022-01")
	if n := env.Emu.CallCount(feishuemu.APICreatePeriod); n != creates {
		t.Errorf("create calls %d → %d for an unknown rule", creates, n)
	}
	if len(feishuemu.ButtonValues(reply.Card)) != 3 {
		t.Errorf("rule picker offers %d rules, want 3", len(feishuemu.ButtonValues(reply.Card)))
	}
	if len(env.Emu.Periods()) != 0 {
		t.Errorf("periods created: %v", env.Emu.Periods())
	}
}

func TestConflictShowsPeriodsButton(t *testing.T) {
	env := testkit.New(t)
	first := env.Say(t, "/newperiod 2022-04 "+quarterly)
	env.ReplyTo(t, first.MessageID)
	second := env.Say(t, "/newperiod 2022-04 "+quarterly)
	reply := env.ReplyTo(t, second.MessageID)
	testkit.MustSay(t, reply.Card, "1001008", "Conflict period existed")

	res := env.Click(t, reply, "periods", testkit.Stranger) // reading is for anyone
	if res.Err != "" || res.Updated {
		t.Fatalf("click: %+v", res)
	}
	// The list comes as a new message under the card, which keeps the
	// conflict readable in the chat.
	list := env.ReplyTo(t, reply.ID)
	testkit.MustSay(t, list.Card, env.Emu.Periods()[0].ID, "2022-04 – 2022-06")
	kept, _ := env.Emu.Message(reply.ID)
	testkit.MustSay(t, kept.Card, "1001008", "Conflict period existed")
	// A non-operator's list has no buttons to change a period.
	if n := len(feishuemu.ButtonValues(list.Card)); n != 0 {
		t.Errorf("the list for a non-operator has %d buttons", n)
	}
}

func TestDuplicatesActOnce(t *testing.T) {
	env := testkit.New(t)
	d := env.Say(t, "/newperiod 2022-01 "+monthly)
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(2)
		go func() { // Feishu's redelivery: same event id
			defer wg.Done()
			if r, err := env.Emu.Redeliver(context.Background(), d.EventID); err != nil || r.Status != 200 {
				t.Errorf("redeliver: %v %+v", err, r)
			}
		}()
		go func() { // at-least-once: same message, new event id
			defer wg.Done()
			if r, err := env.Emu.PostMessage(context.Background(), feishuemu.UserMessage{MessageID: d.MessageID}); err != nil || r.Status != 200 {
				t.Errorf("repost: %v %+v", err, r)
			}
		}()
	}
	wg.Wait()
	env.ReplyTo(t, d.MessageID) // exactly one reply
	if n := env.Emu.CallCount(feishuemu.APICreatePeriod); n != 1 {
		t.Errorf("create calls = %d, want 1", n)
	}
}

func TestConcurrentDuplicatesFirstDelivery(t *testing.T) {
	env := testkit.New(t)
	d := env.Say(t, "/periods")
	env.Settle(t)
	// A message arriving five times at once under different event ids.
	msg := feishuemu.UserMessage{Text: "/newperiod 2022-05 " + monthly, SenderOpenID: testkit.Operator}
	first := env.Post(t, msg)
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = env.Emu.PostMessage(context.Background(), feishuemu.UserMessage{MessageID: first.MessageID})
		}()
	}
	wg.Wait()
	env.ReplyTo(t, first.MessageID)
	env.ReplyTo(t, d.MessageID)
	if n := env.Emu.CallCount(feishuemu.APICreatePeriod); n != 1 {
		t.Errorf("create calls = %d, want 1", n)
	}
}

func TestNonOperatorRefused(t *testing.T) {
	env := testkit.New(t)
	d := env.Post(t, feishuemu.UserMessage{Text: "/newperiod 2022-01 " + monthly, SenderOpenID: testkit.Stranger})
	testkit.MustSay(t, env.ReplyTo(t, d.MessageID).Card, testkit.Stranger, "OKRBOT_OPERATORS")
	if n := env.Emu.CallCount(feishuemu.APICreatePeriod); n != 0 {
		t.Errorf("create calls = %d, want 0", n)
	}
	// Reading is for anyone.
	r := env.Post(t, feishuemu.UserMessage{Text: "/rules", SenderOpenID: testkit.Stranger})
	testkit.MustSay(t, env.ReplyTo(t, r.MessageID).Card, monthly, quarterly, yearly)
}

func TestAppSenderIgnored(t *testing.T) {
	env := testkit.New(t)
	d := env.Post(t, feishuemu.UserMessage{Text: "/newperiod 2022-01 " + monthly, SenderOpenID: testkit.Operator, SenderType: "app"})
	if d.Skipped != "" {
		t.Skipf("emulator did not deliver: %s", d.Skipped)
	}
	if got := env.Replies(t); len(got) != 0 {
		t.Errorf("bot answered an app: %d replies", len(got))
	}
	if n := env.Emu.CallCount(feishuemu.APICreatePeriod); n != 0 {
		t.Errorf("create calls = %d, want 0", n)
	}
}

func TestStaleCommandNotExecuted(t *testing.T) {
	env := testkit.New(t)
	d := env.Post(t, feishuemu.UserMessage{Text: "/newperiod 2022-01 " + monthly, SenderOpenID: testkit.Operator,
		CreateTime: time.Now().Add(-11 * time.Minute)})
	testkit.MustSay(t, env.ReplyTo(t, d.MessageID).Card, "late", "11 minutes", "send it again")
	if n := env.Emu.CallCount(feishuemu.APICreatePeriod); n != 0 {
		t.Errorf("create calls = %d, want 0", n)
	}
	// Redelivered hours later: still handled once, still not executed.
	if _, err := env.Emu.Redeliver(context.Background(), d.EventID); err != nil {
		t.Fatal(err)
	}
	env.ReplyTo(t, d.MessageID)
}

func TestChatsAllowList(t *testing.T) {
	env := testkit.New(t, testkit.WithConfig(func(c *config.Config) { c.Access.Chats = []string{testkit.GroupChat} }))
	d := env.Say(t, "/help") // p2p chat, not on the list
	in := env.Post(t, feishuemu.UserMessage{ChatType: "group", ChatID: testkit.GroupChat, SenderOpenID: testkit.Operator,
		Text: "/help", MentionBot: true})
	env.ReplyTo(t, in.MessageID)
	for _, r := range env.Emu.Replies() {
		if r.ParentID == d.MessageID {
			t.Error("bot answered in a chat not on access.chats")
		}
	}
}

func TestHelpAndPlainText(t *testing.T) {
	env := testkit.New(t)
	for _, text := range []string{"/help", "/帮助", "hello there"} {
		d := env.Say(t, text)
		testkit.MustSay(t, env.ReplyTo(t, d.MessageID).Card, "/newperiod", "/periods", "/rules", "/help", "/新建周期")
	}
}

func TestRulePickerCreatesWithPickedRule(t *testing.T) {
	env := testkit.New(t)
	d := env.Say(t, "/newperiod 2022-07")
	picker := env.ReplyTo(t, d.MessageID)
	buttons := feishuemu.Buttons(picker.Card)
	if len(buttons) != 3 {
		t.Fatalf("picker has %d buttons, want 3 (one per rule)", len(buttons))
	}
	if env.Emu.CallCount(feishuemu.APICreatePeriod) != 0 {
		t.Fatal("picker created something")
	}
	var quarterlyBtn map[string]any
	for _, b := range buttons {
		if b.Value["r"] == quarterly {
			quarterlyBtn = b.Value
		}
	}
	if quarterlyBtn == nil {
		t.Fatalf("no button for the quarterly rule: %+v", buttons)
	}
	// A non-operator's click is refused.
	res, err := env.Emu.Click(context.Background(), feishuemu.Click{MessageID: picker.ID, OperatorOpenID: testkit.Stranger, Value: quarterlyBtn})
	if err != nil || res.Updated || !strings.Contains(string(res.Body), testkit.Stranger) {
		t.Fatalf("stranger click: %v %+v body %s", err, res, res.Body)
	}
	// Two operators click at once, then one clicks again.
	var wg sync.WaitGroup
	for _, who := range []string{testkit.Operator, testkit.Operator2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := env.Emu.Click(context.Background(), feishuemu.Click{MessageID: picker.ID, OperatorOpenID: who, Value: quarterlyBtn}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if _, err := env.Emu.Click(context.Background(), feishuemu.Click{MessageID: picker.ID, OperatorOpenID: testkit.Operator, Value: quarterlyBtn}); err != nil {
		t.Fatal(err)
	}
	env.Settle(t)
	if n := env.Emu.CallCount(feishuemu.APICreatePeriod); n != 1 {
		t.Fatalf("create calls = %d, want 1", n)
	}
	p := env.Emu.Periods()[0]
	if p.RuleID != quarterly || p.StartMonth != "2022-07" || p.EndMonth != "2022-09" {
		t.Fatalf("created %+v", p)
	}
	updated, _ := env.Emu.Message(picker.ID)
	testkit.MustSay(t, updated.Card, "OKR period created", p.ID)
	if len(feishuemu.ButtonValues(updated.Card)) != 0 {
		t.Error("rule buttons still on the card after the create")
	}
}

func TestForgedButtonValuesRefused(t *testing.T) {
	env := testkit.New(t)
	d := env.Say(t, "/newperiod 2022-07")
	picker := env.ReplyTo(t, d.MessageID)
	good := feishuemu.ButtonValues(picker.Card)[0]
	forge := func(edit func(v map[string]any)) map[string]any {
		v := map[string]any{}
		for k, x := range good {
			v[k] = x
		}
		edit(v)
		return v
	}
	forged := []map[string]any{
		forge(func(v map[string]any) { v["m"] = "2022-08" }),             // month changed, signature stale
		forge(func(v map[string]any) { v["r"] = "1234567890123456789" }), // rule changed
		forge(func(v map[string]any) { delete(v, "sig") }),
		forge(func(v map[string]any) { v["sig"] = strings.Repeat("0", 32) }),
		{"op": "pick", "m": "2022-07", "r": monthly, "src": "om_x", "n": "1"},
		{"op": "pick", "m": 202207},
		{},
	}
	for _, v := range forged {
		res, err := env.Emu.Click(context.Background(), feishuemu.Click{MessageID: picker.ID, OperatorOpenID: testkit.Operator, Value: v})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != 200 || res.Updated || res.Toast == nil {
			t.Errorf("forged %v: %+v", v, res)
		}
	}
	if n := env.Emu.CallCount(feishuemu.APICreatePeriod); n != 0 {
		t.Errorf("create calls = %d, want 0", n)
	}
}

func TestRetryAfterTransientFailure(t *testing.T) {
	env := testkit.New(t)
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APICreatePeriod, Code: 1009999, Status: 500})
	d := env.Say(t, "/newperiod 2022-10 "+quarterly)
	failed := env.ReplyTo(t, d.MessageID)
	testkit.MustSay(t, failed.Card, "1009999", "Unknown error")
	if env.Emu.CallCount(feishuemu.APICreatePeriod) != 1 {
		t.Fatalf("create was repeated automatically: %d calls", env.Emu.CallCount(feishuemu.APICreatePeriod))
	}
	res := env.Click(t, failed, "retry", testkit.Operator)
	if !res.Updated {
		t.Fatalf("retry click did not update the card: %+v %s", res, res.Body)
	}
	updated, _ := env.Emu.Message(failed.ID)
	testkit.MustSay(t, updated.Card, "OKR period created", "2022-10", "2022-12")
	if len(feishuemu.ButtonValues(updated.Card)) != 0 {
		t.Error("retry button still on the card after success")
	}
	// The stale button pressed again does nothing more.
	again, _ := env.Emu.Click(context.Background(), feishuemu.Click{MessageID: failed.ID, OperatorOpenID: testkit.Operator,
		Value: feishuemu.ButtonValues(failed.Card)[0]})
	if again.Updated {
		t.Error("second press of a used retry button changed the card")
	}
	if n := env.Emu.CallCount(feishuemu.APICreatePeriod); n != 2 {
		t.Errorf("create calls = %d, want 2 (the failure and one retry)", n)
	}
}

func TestPeriodsAcrossPages(t *testing.T) {
	var seeded []feishuemu.Period
	for i := range 130 {
		m := fmt.Sprintf("%04d-%02d", 2010+i/12, i%12+1)
		seeded = append(seeded, feishuemu.Period{RuleID: monthly, StartMonth: m})
	}
	env := testkit.New(t, testkit.WithEmulator(func(o *feishuemu.Options) { o.Periods = seeded }))
	d := env.Say(t, "/periods")
	reply := env.ReplyTo(t, d.MessageID)
	if n := env.Emu.CallCount(feishuemu.APIListPeriods); n < 3 {
		t.Errorf("list calls = %d, want ≥ 3 pages", n)
	}
	newest := env.Emu.Periods()[129]
	testkit.MustSay(t, reply.Card, newest.EnName, newest.ID, "more")
	if strings.Contains(testkit.Text(reply.Card), env.Emu.Periods()[0].ID) {
		t.Error("the oldest period is shown although newer ones fill the card")
	}
}

func TestCommandsInOneChatAnsweredInOrder(t *testing.T) {
	env := testkit.New(t)
	env.Emu.SetLatency(feishuemu.APICreatePeriod, 300*time.Millisecond)
	slow := env.Say(t, "/newperiod 2022-01 "+monthly)
	fast := env.Say(t, "/help")
	// Another chat is not held up by the slow one.
	other := env.Post(t, feishuemu.UserMessage{ChatType: "group", ChatID: testkit.GroupChat, SenderOpenID: testkit.Operator,
		Text: "/help", MentionBot: true})
	replies := env.Replies(t)
	order := map[string]int{}
	for i, r := range replies {
		order[r.ParentID] = i
	}
	if len(order) != 3 {
		t.Fatalf("%d replies: %+v", len(replies), replies)
	}
	if order[slow.MessageID] > order[fast.MessageID] {
		t.Error("in one chat the second command was answered before the first")
	}
	if order[other.MessageID] > order[slow.MessageID] {
		t.Error("a command in another chat waited for the slow chat")
	}
}

func TestSlowClickAnswersThenUpdatesCard(t *testing.T) {
	for _, tt := range []struct {
		name             string
		updateFails      bool
		updates, patches int
	}{
		{name: "through the callback token", updates: 1},
		{name: "by patching the message when the token is refused", updateFails: true, updates: 1, patches: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := testkit.New(t)
			d := env.Say(t, "/newperiod 2022-07")
			picker := env.ReplyTo(t, d.MessageID)
			// The create takes longer than a callback may: the click is
			// answered "working" in time and the card updated when the
			// create is done.
			env.Emu.SetLatency(feishuemu.APICreatePeriod, 2700*time.Millisecond)
			if tt.updateFails {
				env.Emu.Inject(feishuemu.Fault{API: feishuemu.APICardUpdate, Code: 300030})
			}
			res := env.Click(t, picker, "pick", testkit.Operator)
			if res.Err != "" || res.Status != 200 {
				t.Fatalf("click answer: %+v", res)
			}
			working, _ := env.Emu.Message(picker.ID)
			testkit.MustSay(t, working.Card, "Working on it")
			if len(feishuemu.ButtonValues(working.Card)) != 0 {
				t.Error("the working card still has buttons")
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				m, _ := env.Emu.Message(picker.ID)
				if strings.Contains(testkit.Text(m.Card), "OKR period created") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("card never updated; it says:\n%s", testkit.Text(m.Card))
				}
				time.Sleep(20 * time.Millisecond)
			}
			env.Settle(t)
			if n := env.Emu.CallCount(feishuemu.APICardUpdate); n != tt.updates {
				t.Errorf("card updates = %d, want %d", n, tt.updates)
			}
			if n := env.Emu.CallCount(feishuemu.APIPatchMessage); n != tt.patches {
				t.Errorf("message patches = %d, want %d", n, tt.patches)
			}
		})
	}
}
