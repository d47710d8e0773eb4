package bot_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"okrbot/bot"
	"okrbot/internal/config"
	"okrbot/internal/feishuemu"
	"okrbot/internal/testkit"
)

// The second round of hardening (README, "Nothing lost, nothing forged"): each test names the
// failure it guards against.

// SIGTERM under load: every acknowledged command gets a reply before the
// bot stops (its outcome, or "not run"), and the audit matches what was
// created; a create cut short is audited "unknown".
func TestShutdownUnderLoadAnswersEveryCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	env := testkit.New(t, testkit.WithConfig(func(c *config.Config) { c.Audit.Path = path }))
	env.Emu.SetLatency(feishuemu.APICreatePeriod, 3*time.Second)
	const n = 64
	ds := make([]feishuemu.Delivery, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ds[i] = env.Post(t, feishuemu.UserMessage{
				Text:         fmt.Sprintf("/newperiod %d-%02d %s", 2030+i/12, i%12+1, monthly),
				SenderOpenID: testkit.Operator, ChatID: fmt.Sprintf("oc_load%02d", i%20), ChatType: "p2p",
			})
		}()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err := env.App.Shutdown(ctx)
	if !errors.Is(err, bot.ErrNotFinished) {
		t.Fatalf("Shutdown = %v, want ErrNotFinished (64 commands of 3 s on 16 workers do not fit in 5 s)", err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("Shutdown took %s", took)
	}
	replies := map[string][]feishuemu.Message{}
	for _, m := range env.Emu.Replies() {
		replies[m.ParentID] = append(replies[m.ParentID], m)
	}
	notRun := 0
	for _, d := range ds {
		rs := replies[d.MessageID]
		if len(rs) != 1 {
			t.Fatalf("message %s has %d replies, want 1", d.MessageID, len(rs))
		}
		if strings.Contains(testkit.Text(rs[0].Card), "Command not run") {
			notRun++
		}
	}
	if notRun == 0 || notRun == n {
		t.Errorf("%d of %d answered \"not run\"; want some run and some not", notRun, n)
	}
	created, unknown := 0, 0
	for _, r := range readAudit(t, path) {
		switch r.Outcome {
		case bot.AuditCreated:
			created++
		case bot.AuditUnknown:
			unknown++
		}
	}
	if p := len(env.Emu.Periods()); p != created {
		t.Errorf("%d periods exist but %d audit lines say created", p, created)
	}
	if unknown == 0 {
		t.Error("no create was audited unknown, though creates were cut short")
	}
}

// One chat cannot crowd out the others: past 32 waiting commands its
// events get 503, while another chat's are taken and answered.
func TestOneChatCannotStarveOthers(t *testing.T) {
	env := testkit.New(t)
	env.Emu.SetLatency(feishuemu.APIListPeriods, 300*time.Millisecond)
	refused := 0
	for range 40 {
		d, err := env.Emu.PostMessage(context.Background(), feishuemu.UserMessage{
			Text: "/periods", SenderOpenID: testkit.Stranger, ChatID: "oc_flood", ChatType: "p2p"})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status == http.StatusServiceUnavailable {
			refused++
		}
	}
	if refused < 40-33 {
		t.Errorf("%d of 40 flood messages refused, want at least 7 (32 may wait, 1 run)", refused)
	}
	d := env.Say(t, "/newperiod 2022-01 "+monthly)
	testkit.MustSay(t, env.ReplyTo(t, d.MessageID).Card, "OKR period created")
}

// A button value is bound to its chat: pressed from another chat, it is
// refused, audited "rejected", and nothing is created.
func TestButtonReplayedInAnotherChatRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	env := testkit.New(t, testkit.WithConfig(func(c *config.Config) { c.Audit.Path = path }))
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APICreatePeriod, Code: 1009999, Status: 500})
	a := env.Say(t, "/newperiod 2022-01 "+monthly)
	cardA := env.ReplyTo(t, a.MessageID)
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APICreatePeriod, Code: 1009999, Status: 500})
	b := env.Post(t, feishuemu.UserMessage{Text: "/newperiod 2022-02 " + monthly, SenderOpenID: testkit.Operator,
		ChatID: "oc_other_chat", ChatType: "p2p"})
	cardB := env.ReplyTo(t, b.MessageID)

	var retryA map[string]any
	for _, v := range feishuemu.ButtonValues(cardA.Card) {
		if v["op"] == "retry" {
			retryA = v
		}
	}
	creates := env.Emu.CallCount(feishuemu.APICreatePeriod)
	res, err := env.Emu.Click(context.Background(), feishuemu.Click{MessageID: cardB.ID, OperatorOpenID: testkit.Operator, Value: retryA})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fmt.Sprint(res.Toast), "not accepted") || res.Updated {
		t.Errorf("replayed value answered %+v", res)
	}
	if n := env.Emu.CallCount(feishuemu.APICreatePeriod); n != creates {
		t.Errorf("create calls %d → %d after a replayed button", creates, n)
	}
	recs := readAudit(t, path)
	if last := recs[len(recs)-1]; last.Outcome != bot.AuditRejected || last.ChatID != "oc_other_chat" {
		t.Errorf("last audit record %+v, want rejected in oc_other_chat", last)
	}
}

// Not knowing its own open_id, the bot cannot tell whether a group message
// is for it: it answers 503 so that Feishu delivers it again, and the
// redelivery is acted on.
func TestGroupMessageRedeliveredWhenIdentityUnknown(t *testing.T) {
	env := testkit.New(t, testkit.WithoutTokenRefresh())
	for range 3 {
		env.Emu.Inject(feishuemu.Fault{API: feishuemu.APIBotInfo, Status: 500})
	}
	d, err := env.Emu.PostMessage(context.Background(), feishuemu.UserMessage{
		Text: "/newperiod 2022-01 " + monthly, SenderOpenID: testkit.Operator, ChatID: testkit.GroupChat,
		ChatType: "group", MentionBot: true})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != http.StatusServiceUnavailable {
		t.Fatalf("with bot info failing the event got %d, want 503", d.Status)
	}
	env.Emu.ClearFaults()
	// Feishu delivers again later (15 s, 5 min, …); by then the bot's
	// look-up, still retrying in the background, has found its open_id.
	deadline := time.Now().Add(10 * time.Second)
	for {
		again, err := env.Emu.Redeliver(context.Background(), d.EventID)
		if err != nil {
			t.Fatal(err)
		}
		if again.Status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redeliveries still answered %d", again.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	testkit.MustSay(t, env.ReplyTo(t, d.MessageID).Card, "OKR period created")
}

// A cold burst makes one request for each thing the bot looks up: the
// token, its own open_id and the period rules.
func TestColdBurstLooksUpOnce(t *testing.T) {
	env := testkit.New(t, testkit.WithoutTokenRefresh())
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env.Post(t, feishuemu.UserMessage{Text: fmt.Sprintf("/newperiod 2031-%02d", i%12+1), SenderOpenID: testkit.Operator,
				ChatID: fmt.Sprintf("oc_burst%03d", i), ChatType: "group", MentionBot: true})
		}()
	}
	wg.Wait()
	env.Settle(t)
	for api, want := range map[string]int{feishuemu.APIToken: 1, feishuemu.APIBotInfo: 1, feishuemu.APIListRules: 1} {
		if n := env.Emu.CallCount(api); n != want {
			t.Errorf("%s requests = %d, want %d", api, n, want)
		}
	}
	if n := env.Emu.CallCount(feishuemu.APIReply); n != 100 {
		t.Errorf("replies = %d, want 100", n)
	}
}

// A flood of refused requests writes a few log lines a second, while the
// metrics count every one.
func TestRefusedRequestLogsAreRateLimited(t *testing.T) {
	env := testkit.New(t)
	s := env.Sender()
	for range 300 {
		r, err := s.PostRaw(context.Background(), env.EventURL(), []byte(`{"encrypt":"AAAA"}`), http.Header{})
		if err != nil || r.Status != http.StatusUnauthorized {
			t.Fatalf("forged body: %d %v", r.Status, err)
		}
	}
	lines := strings.Count(env.Logs.String(), "webhook request refused")
	if lines == 0 || lines > 50 {
		t.Errorf("%d refusal log lines for 300 refused requests, want a few", lines)
	}
	resp, err := http.Get(env.Bot.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		body.WriteString(sc.Text() + "\n")
	}
	if !strings.Contains(body.String(), `okrbot_events_total{result="Unauthorized",type="unknown"} 300`) {
		t.Errorf("metrics do not count the 300 refusals:\n%s", grep(body.String(), "okrbot_events_total"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A card Feishu refuses for good (past its 14-day edit window) is not
// retried, through either update API.
func TestFinalCardRefusalNotRetried(t *testing.T) {
	env := testkit.New(t)
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APICreatePeriod, Code: 1009999, Status: 500})
	d := env.Say(t, "/newperiod 2022-01 "+monthly)
	card := env.ReplyTo(t, d.MessageID)
	// The retried create outlasts the click budget, so the outcome comes
	// by a delayed update, which Feishu refuses for good.
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APICreatePeriod, Delay: 3 * time.Second})
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APICardUpdate, Code: 230031, Status: 400})
	env.Click(t, card, "retry", testkit.Operator)
	env.Settle(t)
	deadline := time.Now().Add(10 * time.Second)
	for env.Emu.CallCount(feishuemu.APICardUpdate) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	env.Settle(t)
	if n := env.Emu.CallCount(feishuemu.APICardUpdate); n != 1 {
		t.Errorf("card updates = %d, want 1", n)
	}
	if n := env.Emu.CallCount(feishuemu.APIPatchMessage); n != 0 {
		t.Errorf("message patches = %d, want 0 after a final refusal", n)
	}
}

// After a create that timed out, Retry meets 1001008. Only a period of
// exactly the rule's months counts as the one the bot made; a period
// someone else made over other months is reported as a conflict, and the
// audit says "exists", never "created".
func TestRetryAfterTimeoutDoesNotClaimOthersPeriod(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	env := testkit.New(t, testkit.WithRequestTimeout(300*time.Millisecond),
		testkit.WithConfig(func(c *config.Config) { c.Audit.Path = path }))
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APICreatePeriod, Delay: time.Second})
	d := env.Say(t, "/newperiod 2022-04 "+quarterly)
	reply := env.ReplyTo(t, d.MessageID)
	testkit.MustSay(t, reply.Card, "Timeout")
	// Meanwhile someone makes a one-month period in April.
	env.Emu.AddPeriod(feishuemu.Period{StartMonth: "2022-04", EndMonth: "2022-04"})
	res := env.Click(t, reply, "retry", testkit.Operator)
	if !res.Updated {
		t.Fatalf("retry: %+v", res)
	}
	updated, _ := env.Emu.Message(reply.ID)
	testkit.MustSay(t, updated.Card, "1001008", "Conflict period existed")
	for _, r := range readAudit(t, path) {
		if r.Outcome == bot.AuditCreated {
			t.Errorf("audit claims a creation: %+v", r)
		}
	}
	recs := readAudit(t, path)
	if last := recs[len(recs)-1]; last.Outcome != bot.AuditExists || last.Code != 1001008 {
		t.Errorf("last audit record %+v, want exists with code 1001008", last)
	}
}

// /readyz says the store does not answer without naming where it lives.
func TestReadyzHidesTheRedisAddress(t *testing.T) {
	r := testkit.StartRedis(t)
	env := testkit.New(t, testkit.WithConfig(func(c *config.Config) {
		c.Store.Backend = config.BackendRedis
		c.Store.RedisURL = r.URL()
	}))
	r.Stop()
	resp, err := http.Get(env.Bot.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Reason string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body.Reason, "store") {
		t.Fatalf("readyz with Redis down: %d %q", resp.StatusCode, body.Reason)
	}
	if strings.Contains(body.Reason, r.Addr()) || strings.Contains(body.Reason, "127.0.0.1") {
		t.Errorf("readyz names Redis's address: %q", body.Reason)
	}
}
