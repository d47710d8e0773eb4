package bot_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"okrbot/cards"
	"okrbot/internal/config"
	"okrbot/internal/feishuemu"
	"okrbot/internal/testkit"
)

// The period lifecycle end to end through the emulator: spans
// (/newperiod 2023), status changes (/closeperiod, /hideperiod,
// /restoreperiod) with their confirmation, and the audit trail of both.

// lcCard checks a card the bot delivered: Card JSON 2.0 within Feishu's
// size limit, every text in both languages, and the Chinese strings zh
// among them.
func lcCard(t *testing.T, m feishuemu.Message, zh ...string) {
	t.Helper()
	if m.MsgType != "interactive" || m.Card == nil {
		t.Fatalf("message %s is not a card: %+v", m.ID, m)
	}
	if s, _ := m.Card["schema"].(string); s != "2.0" {
		t.Errorf("card schema %q, want 2.0", s)
	}
	if len(m.Content) == 0 || len(m.Content) > cards.MaxBytes {
		t.Errorf("card content is %d bytes; the limit is %d", len(m.Content), cards.MaxBytes)
	}
	if cerr := feishuemu.ValidateCard(m.Card); cerr != nil {
		t.Errorf("card rejected: %v", cerr)
	}
	lcBilingual(t, m.Card, "card")
	testkit.MustSay(t, m.Card, zh...)
}

// lcBilingual fails for a text of the card that lacks zh_cn or en_us.
func lcBilingual(t *testing.T, v any, path string) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		if c, ok := x["content"].(string); ok && strings.TrimSpace(c) != "" {
			i18n, _ := x["i18n_content"].(map[string]any)
			zh, _ := i18n["zh_cn"].(string)
			en, _ := i18n["en_us"].(string)
			if zh == "" || en == "" {
				t.Errorf("%s: text %q lacks zh_cn or en_us", path, c)
			}
		}
		for k, y := range x {
			if k != "i18n_content" {
				lcBilingual(t, y, path+"."+k)
			}
		}
	case []any:
		for i, y := range x {
			lcBilingual(t, y, fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

// lcEnglish is the card's English text in document order, one text a line.
func lcEnglish(card map[string]any) string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if i18n, ok := x["i18n_content"].(map[string]any); ok {
				if en, ok := i18n["en_us"].(string); ok {
					out = append(out, en)
				}
			} else if c, ok := x["content"].(string); ok {
				out = append(out, c)
			}
			// Document order: header before body, as Feishu shows them.
			for _, k := range []string{"header", "title", "subtitle", "body", "elements", "columns", "text"} {
				if y, ok := x[k]; ok {
					walk(y)
				}
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	walk(card)
	return strings.Join(out, "\n")
}

// lcValues are the values of the card's buttons whose op is op.
func lcValues(card map[string]any, op string) []map[string]any {
	var out []map[string]any
	for _, v := range feishuemu.ButtonValues(card) {
		if v["op"] == op {
			out = append(out, v)
		}
	}
	return out
}

// lcPress presses a button value on message id as who.
func lcPress(t *testing.T, env *testkit.Env, id string, v map[string]any, who string) feishuemu.ClickResult {
	t.Helper()
	res, err := env.Emu.Click(context.Background(), feishuemu.Click{MessageID: id, OperatorOpenID: who, Value: v})
	if err != nil {
		t.Fatalf("click: %v", err)
	}
	if res.Err != "" {
		t.Fatalf("click answer unusable: %s %s", res.Err, res.Detail)
	}
	return res
}

// lcWaitCard waits until message id's card says want (a click answered
// "working" delivers its outcome by a later update) and returns it.
func lcWaitCard(t *testing.T, env *testkit.Env, id, want string) feishuemu.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	v := env.Emu.Version()
	for {
		m, ok := env.Emu.Message(id)
		if !ok {
			t.Fatalf("no message %s", id)
		}
		if strings.Contains(testkit.Text(m.Card), want) {
			return m
		}
		if ctx.Err() != nil {
			t.Fatalf("card %s never said %q; it says:\n%s", id, want, testkit.Text(m.Card))
		}
		v = env.Emu.Wait(ctx, v)
	}
}

// lcStarts are the start months of the emulator's periods, sorted.
func lcStarts(env *testkit.Env) []string {
	var out []string
	for _, p := range env.Emu.Periods() {
		out = append(out, p.StartMonth)
	}
	slices.Sort(out)
	return out
}

func lcCalls(t *testing.T, env *testkit.Env, api string, want int) {
	t.Helper()
	if n := env.Emu.CallCount(api); n != want {
		t.Errorf("%s calls = %d, want %d", api, n, want)
	}
}

// lcPass is a fault that lets one call through untouched, to place the
// next fault further down a span.
var lcPass = feishuemu.Fault{API: feishuemu.APICreatePeriod, Delay: time.Millisecond}

func TestLifecycleSpanRules(t *testing.T) {
	cases := []struct {
		name, text string
		starts     []string
		ends       []string
		title      string
		zh         string
	}{
		{"quarterly year", "/newperiod 2023 " + quarterly,
			[]string{"2023-01", "2023-04", "2023-07", "2023-10"}, []string{"2023-03", "2023-06", "2023-09", "2023-12"},
			"4 OKR periods created", "已创建 4 个 OKR 周期"},
		{"monthly span", "/newperiod 2023-01..2023-12 " + monthly,
			[]string{"2023-01", "2023-02", "2023-03", "2023-04", "2023-05", "2023-06", "2023-07", "2023-08", "2023-09", "2023-10", "2023-11", "2023-12"},
			[]string{"2023-01", "2023-02", "2023-03", "2023-04", "2023-05", "2023-06", "2023-07", "2023-08", "2023-09", "2023-10", "2023-11", "2023-12"},
			"12 OKR periods created", "已创建 12 个 OKR 周期"},
		{"yearly in Chinese with a tilde", "/新建周期 2023年1月~2023年12月 " + yearly,
			[]string{"2023-01"}, []string{"2023-12"}, "1 OKR period created", "已创建 1 个 OKR 周期"},
		{"yearly year", "/newperiod 2023年 " + yearly,
			[]string{"2023-01"}, []string{"2023-12"}, "1 OKR period created", "已创建 1 个 OKR 周期"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := testkit.New(t)
			d := env.Say(t, c.text)
			reply := env.ReplyTo(t, d.MessageID)
			lcCard(t, reply, c.zh, "各周期结果")
			if got := lcStarts(env); !slices.Equal(got, c.starts) {
				t.Fatalf("periods start %v, want %v", got, c.starts)
			}
			lcCalls(t, env, feishuemu.APICreatePeriod, len(c.starts))
			testkit.MustSay(t, reply.Card, c.title, fmt.Sprintf("Created: **%d** · Already existed: **0** · Failed: **0**", len(c.starts)))
			for i, p := range env.Emu.Periods() {
				if p.EndMonth != c.ends[i] {
					t.Errorf("period %s ends %s, want %s", p.StartMonth, p.EndMonth, c.ends[i])
				}
				testkit.MustSay(t, reply.Card, p.ID, p.StartMonth)
			}
			if n := len(feishuemu.ButtonValues(reply.Card)); n != 0 {
				t.Errorf("a span with nothing failed has %d buttons", n)
			}
		})
	}
}

// TestLifecycleSpanTwelveMonthsTiming measures a 12-month span against the
// emulator and shows its card; the 36-month span, the longest there is,
// stays under Feishu's 30 KB too.
func TestLifecycleSpanTwelveMonthsTiming(t *testing.T) {
	env := testkit.New(t)
	env.Say(t, "/rules") // warm the token, bot info and rule caches
	env.Settle(t)
	start := time.Now()
	d := env.Say(t, "/newperiod 2023-01..2023-12 "+monthly)
	reply := env.ReplyTo(t, d.MessageID)
	took := time.Since(start)
	lcCard(t, reply, "已创建 12 个 OKR 周期")
	testkit.MustSay(t, reply.Card, "12 OKR periods created")
	if len(reply.Content) >= cards.MaxBytes {
		t.Errorf("12-month span card is %d bytes, limit %d", len(reply.Content), cards.MaxBytes)
	}
	var first, last time.Time
	for _, c := range env.Emu.Calls() {
		if c.API == feishuemu.APICreatePeriod {
			if first.IsZero() {
				first = c.Time
			}
			last = c.Time
		}
	}
	t.Logf("12-month span: %v from the message to the reply (%v from the first create to the last); card %d bytes",
		took.Round(time.Millisecond), last.Sub(first).Round(time.Millisecond), len(reply.Content))
	t.Logf("summary card (English):\n%s", lcEnglish(reply.Card))

	d = env.Say(t, "/newperiod 2024-01..2026-12 "+monthly)
	long := env.ReplyTo(t, d.MessageID)
	lcCard(t, long, "已创建 36 个 OKR 周期")
	testkit.MustSay(t, long.Card, "36 OKR periods created")
	t.Logf("36-month span card: %d bytes", len(long.Content))
	lcCalls(t, env, feishuemu.APICreatePeriod, 48)
}

func BenchmarkSpanTwelveMonths(b *testing.B) {
	env := testkit.New(b)
	env.Say(b, "/rules")
	env.Settle(b)
	year := 2000
	for b.Loop() {
		year++
		d := env.Say(b, fmt.Sprintf("/newperiod %d-01..%d-12 %s", year, year, monthly))
		env.Settle(b)
		_ = d
	}
	if n := env.Emu.CallCount(feishuemu.APICreatePeriod); n != 12*(year-2000) {
		b.Fatalf("create calls = %d, want %d", n, 12*(year-2000))
	}
}

func TestLifecycleSpanWithExistingPeriod(t *testing.T) {
	env := testkit.New(t)
	existing := env.Emu.AddPeriod(feishuemu.Period{RuleID: quarterly, StartMonth: "2023-04"})
	d := env.Say(t, "/newperiod 2023 "+quarterly)
	reply := env.ReplyTo(t, d.MessageID)
	lcCard(t, reply, "已存在，无需创建", "已创建 3 个 OKR 周期")
	testkit.MustSay(t, reply.Card, "3 OKR periods created", "Created: **3** · Already existed: **1** · Failed: **0**",
		"**2023-04 – 2023-06** · ➖ Already existed, nothing to do")
	lcCalls(t, env, feishuemu.APICreatePeriod, 4)
	if got := lcStarts(env); !slices.Equal(got, []string{"2023-01", "2023-04", "2023-07", "2023-10"}) {
		t.Fatalf("periods %v", got)
	}
	if n := len(env.Emu.Periods()); n != 4 || env.Emu.Periods()[0].ID != existing.ID {
		t.Errorf("periods %+v", env.Emu.Periods())
	}
	if n := len(feishuemu.ButtonValues(reply.Card)); n != 0 {
		t.Errorf("an existing period is no failure, yet the card has %d buttons", n)
	}
	// Every period already there: nothing created, and the card says so.
	d = env.Say(t, "/newperiod 2023-01..2023-12 "+quarterly)
	again := env.ReplyTo(t, d.MessageID)
	lcCard(t, again, "OKR 周期均已存在")
	testkit.MustSay(t, again.Card, "The OKR periods already exist", "Created: **0** · Already existed: **4**")
	if len(env.Emu.Periods()) != 4 {
		t.Errorf("periods %d, want 4", len(env.Emu.Periods()))
	}
}

func TestLifecycleSpanRetryCreatesOnlyTheFailed(t *testing.T) {
	env := testkit.New(t)
	env.Emu.Inject(lcPass)
	env.Emu.Inject(lcPass)
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APICreatePeriod, Code: 1009999, Status: 500})
	d := env.Say(t, "/newperiod 2023 "+quarterly)
	partial := env.ReplyTo(t, d.MessageID)
	lcCard(t, partial, "部分 OKR 周期未能创建", "失败")
	testkit.MustSay(t, partial.Card, "Some OKR periods could not be created", "Created: **3** · Already existed: **0** · Failed: **1**",
		"**2023-07 – 2023-09** · ❌ **Failed** · code 1009999 Unknown error", "Retry the failed periods")
	lcCalls(t, env, feishuemu.APICreatePeriod, 4)
	if got := lcStarts(env); !slices.Equal(got, []string{"2023-01", "2023-04", "2023-10"}) {
		t.Fatalf("periods %v", got)
	}
	retry := lcValues(partial.Card, "span")
	if len(retry) != 1 {
		t.Fatalf("want one Retry button, have %v", feishuemu.ButtonValues(partial.Card))
	}
	// A stranger may not retry.
	res := lcPress(t, env, partial.ID, retry[0], testkit.Stranger)
	if res.Updated || !strings.Contains(string(res.Body), testkit.Stranger) {
		t.Errorf("stranger's retry: %+v %s", res, res.Body)
	}
	lcCalls(t, env, feishuemu.APICreatePeriod, 4)

	// Two operators press Retry at once: one create, of the failed period.
	var wg sync.WaitGroup
	for _, who := range []string{testkit.Operator, testkit.Operator2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := env.Emu.Click(context.Background(), feishuemu.Click{MessageID: partial.ID, OperatorOpenID: who, Value: retry[0]}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	done := lcWaitCard(t, env, partial.ID, "4 OKR periods created")
	lcPress(t, env, partial.ID, retry[0], testkit.Operator) // and once more, later
	env.Settle(t)
	lcCalls(t, env, feishuemu.APICreatePeriod, 5)
	if got := lcStarts(env); !slices.Equal(got, []string{"2023-01", "2023-04", "2023-07", "2023-10"}) {
		t.Fatalf("periods %v", got)
	}
	// The updated card shows every period of the span, not only the retried one.
	lcCard(t, done, "已创建 4 个 OKR 周期")
	testkit.MustSay(t, done.Card, "Created: **4** · Already existed: **0** · Failed: **0**", "Retried the period that failed.")
	for _, p := range env.Emu.Periods() {
		testkit.MustSay(t, done.Card, p.ID, p.StartMonth+" – "+p.EndMonth)
	}
	if n := len(feishuemu.ButtonValues(done.Card)); n != 0 {
		t.Errorf("the card still has %d buttons after the retry succeeded", n)
	}
	if final, _ := env.Emu.Message(partial.ID); testkit.Text(final.Card) != testkit.Text(done.Card) {
		t.Error("the third press changed the card")
	}
}

func TestLifecycleSpanWaitsOutRateLimit(t *testing.T) {
	env := testkit.New(t)
	env.Emu.Inject(lcPass)
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APICreatePeriod, Status: 429, Code: 99991400, RateLimitReset: 1})
	d := env.Say(t, "/newperiod 2023 "+quarterly)
	reply := env.ReplyTo(t, d.MessageID)
	lcCard(t, reply, "已创建 4 个 OKR 周期")
	testkit.MustSay(t, reply.Card, "4 OKR periods created", "Failed: **0**")
	if s := testkit.Text(reply.Card); strings.Contains(s, "99991400") || strings.Contains(s, "Failed ·") {
		t.Errorf("a rate limit was reported as a failure:\n%s", s)
	}
	if got := lcStarts(env); !slices.Equal(got, []string{"2023-01", "2023-04", "2023-07", "2023-10"}) {
		t.Fatalf("periods %v", got)
	}
	var creates []feishuemu.Call
	for _, c := range env.Emu.Calls() {
		if c.API == feishuemu.APICreatePeriod {
			creates = append(creates, c)
		}
	}
	if len(creates) != 5 || creates[1].Code != 99991400 {
		t.Fatalf("create calls %+v, want the second rate limited and repeated", creates)
	}
	if gap := creates[2].Time.Sub(creates[1].Time); gap < time.Second {
		t.Errorf("repeated %v after a 429 whose reset said 1 s", gap)
	}
}

func TestLifecycleSpanRefusedWithoutCall(t *testing.T) {
	env := testkit.New(t)
	for _, c := range []struct{ text, zh, en string }{
		{"/newperiod 2023-01..2026-01 " + monthly, "时间跨度为 37 个月，最多 36 个月。", "The span covers 37 months; at most 36."},
		{"/newperiod 2023-12..2023-01 " + monthly, "起始月份 2023-12 晚于结束月份 2023-01。", "The first month 2023-12 is after the last month 2023-01."},
		{"/新建周期 2023年6月~2023年1月", "起始月份 2023-06 晚于结束月份 2023-01。", "The first month 2023-06 is after the last month 2023-01."},
	} {
		d := env.Say(t, c.text)
		reply := env.ReplyTo(t, d.MessageID)
		lcCard(t, reply, c.zh)
		testkit.MustSay(t, reply.Card, c.en, "/newperiod <month | year | month..month> [period_rule_id]")
	}
	lcCalls(t, env, feishuemu.APICreatePeriod, 0)
	if len(env.Emu.Periods()) != 0 {
		t.Errorf("periods created: %v", env.Emu.Periods())
	}
}

func TestLifecycleSpanWithNoStartMonthOfTheRule(t *testing.T) {
	const december = "7290000000000000012"
	env := testkit.New(t, testkit.WithEmulator(func(o *feishuemu.Options) {
		o.Rules = append(feishuemu.DefaultRules(), feishuemu.Rule{ID: december, Type: "year", Length: 12, FirstMonth: 12})
	}))
	d := env.Say(t, "/newperiod 2023-01..2023-06 "+december)
	reply := env.ReplyTo(t, d.MessageID)
	lcCard(t, reply, "没有可以开始的周期")
	testkit.MustSay(t, reply.Card, "No period to create in that span", "no period starts in", "no period was created", "December")
	lcCalls(t, env, feishuemu.APICreatePeriod, 0)
	// The same rule over a span holding a December creates that one.
	d = env.Say(t, "/newperiod 2023 "+december)
	one := env.ReplyTo(t, d.MessageID)
	lcCard(t, one, "已创建 1 个 OKR 周期")
	if p := env.Emu.Periods(); len(p) != 1 || p[0].StartMonth != "2023-12" || p[0].EndMonth != "2024-11" {
		t.Errorf("periods %+v", p)
	}
}

func TestLifecycleSpanRulePickerRunsTheSpan(t *testing.T) {
	env := testkit.New(t)
	d := env.Say(t, "/newperiod 2023")
	picker := env.ReplyTo(t, d.MessageID)
	lcCard(t, picker, "2023-01 – 2023-12")
	lcCalls(t, env, feishuemu.APICreatePeriod, 0)
	var pick map[string]any
	for _, v := range lcValues(picker.Card, "span") {
		if v["r"] == quarterly {
			pick = v
		}
	}
	if n := len(lcValues(picker.Card, "span")); n != 3 || pick == nil {
		t.Fatalf("rule picker of a span: %v", feishuemu.ButtonValues(picker.Card))
	}
	lcPress(t, env, picker.ID, pick, testkit.Operator)
	lcPress(t, env, picker.ID, pick, testkit.Operator2) // a second pick does nothing more
	done := lcWaitCard(t, env, picker.ID, "4 OKR periods created")
	if strings.Contains(testkit.Text(done.Card), "Retried") {
		t.Errorf("a span run from the rule picker says it retried something:\n%s", lcEnglish(done.Card))
	}
	env.Settle(t)
	lcCard(t, done, "已创建 4 个 OKR 周期")
	lcCalls(t, env, feishuemu.APICreatePeriod, 4)
	if got := lcStarts(env); !slices.Equal(got, []string{"2023-01", "2023-04", "2023-07", "2023-10"}) {
		t.Fatalf("periods %v", got)
	}
	for _, p := range env.Emu.Periods() {
		if p.RuleID != quarterly {
			t.Errorf("period %s made with rule %s", p.ID, p.RuleID)
		}
	}
	if n := len(feishuemu.ButtonValues(done.Card)); n != 0 {
		t.Errorf("%d buttons left after the span ran", n)
	}
}

// lcQ2 creates the quarterly period starting 2023-04 through the bot and
// returns it.
func lcQ2(t *testing.T, env *testkit.Env) feishuemu.Period {
	t.Helper()
	d := env.Say(t, "/newperiod 2023-04 "+quarterly)
	testkit.MustSay(t, env.ReplyTo(t, d.MessageID).Card, "OKR period created")
	p := env.Emu.Periods()
	if len(p) != 1 || p[0].StartMonth != "2023-04" {
		t.Fatalf("periods %+v", p)
	}
	return p[0]
}

func lcStatus(t *testing.T, env *testkit.Env, id string) int {
	t.Helper()
	for _, p := range env.Emu.Periods() {
		if p.ID == id {
			return p.Status
		}
	}
	t.Fatalf("no period %s", id)
	return -1
}

func TestLifecycleStatusChangeConfirmed(t *testing.T) {
	cases := []struct {
		name   string
		text   func(p feishuemu.Period) string
		before int // status set before the command
		want   int
		title  string // the outcome card's title
		zh     string
	}{
		{"close by month", func(feishuemu.Period) string { return "/closeperiod 2023-04" }, 0, 2,
			"Period status changed: Invalid", "周期状态已变更：已失效"},
		{"close by month typed in Chinese", func(feishuemu.Period) string { return "/关闭周期 2023年4月" }, 1, 2,
			"Period status changed: Invalid", "周期状态已变更：已失效"},
		{"hide by id", func(p feishuemu.Period) string { return "/hideperiod " + p.ID }, 0, 3,
			"Period status changed: Hidden", "周期状态已变更：已隐藏"},
		{"restore by id", func(p feishuemu.Period) string { return "/恢复周期 " + p.ID }, 2, 1,
			"Period status changed: Normal", "周期状态已变更：正常"},
		{"restore by month", func(feishuemu.Period) string { return "/restoreperiod 202304" }, 3, 1,
			"Period status changed: Normal", "周期状态已变更：正常"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := testkit.New(t)
			// Asia/Shanghai: the period starts 2023-04-01 00:00 +08:00,
			// which is still March in UTC.
			p := env.Emu.AddPeriod(feishuemu.Period{RuleID: quarterly, StartMonth: "2023-04", Status: c.before})
			env.Emu.AddPeriod(feishuemu.Period{RuleID: quarterly, StartMonth: "2023-01"})
			d := env.Say(t, c.text(p))
			ask := env.ReplyTo(t, d.MessageID)
			lcCard(t, ask, "确认", "取消", "整个租户")
			testkit.MustSay(t, ask.Card, p.EnName, p.ZhName, p.ID, "2023-04 – 2023-06", "whole tenant")
			if strings.Contains(testkit.Text(ask.Card), "2023-01 – 2023-03") {
				t.Error("the confirmation names the period of the month before (read in UTC?)")
			}
			var labels []string
			for _, b := range feishuemu.Buttons(ask.Card) {
				labels = append(labels, b.TextEn+"/"+b.TextZh)
			}
			if !slices.Equal(labels, []string{"Confirm/确认", "Cancel/取消"}) {
				t.Errorf("buttons %v, want Confirm/确认 and Cancel/取消", labels)
			}
			lcCalls(t, env, feishuemu.APIPatchPeriod, 0)

			res := env.Click(t, ask, "confirm", testkit.Operator)
			done := lcWaitCard(t, env, ask.ID, c.title)
			if !res.Updated {
				t.Logf("the confirmation was answered 'working' and updated later")
			}
			lcCard(t, done, c.zh)
			testkit.MustSay(t, done.Card, p.ID)
			if n := len(feishuemu.ButtonValues(done.Card)); n != 0 {
				t.Errorf("the outcome card has %d buttons", n)
			}
			if done.ID != ask.ID {
				t.Error("the outcome is not on the confirmation card")
			}
			lcCalls(t, env, feishuemu.APIPatchPeriod, 1)
			if got := lcStatus(t, env, p.ID); got != c.want {
				t.Errorf("status %d, want %d", got, c.want)
			}
			// Confirm pressed again on the old card: no second PATCH.
			again := env.Click(t, ask, "confirm", testkit.Operator)
			env.Settle(t)
			if again.Updated {
				t.Error("a second Confirm changed the card")
			}
			lcCalls(t, env, feishuemu.APIPatchPeriod, 1)
		})
	}
}

func TestLifecycleStatusCancel(t *testing.T) {
	env := testkit.New(t)
	p := lcQ2(t, env)
	d := env.Say(t, "/closeperiod 2023-04")
	ask := env.ReplyTo(t, d.MessageID)
	res := env.Click(t, ask, "cancel", testkit.Operator)
	if !res.Updated {
		t.Fatalf("cancel: %+v %s", res, res.Body)
	}
	cancelled, _ := env.Emu.Message(ask.ID)
	lcCard(t, cancelled, "已取消，未做任何变更")
	testkit.MustSay(t, cancelled.Card, "Cancelled: nothing was changed", "not changed", p.ID)
	if n := len(feishuemu.ButtonValues(cancelled.Card)); n != 0 {
		t.Errorf("the cancelled card has %d buttons", n)
	}
	// Confirm of the same card, pressed later: nothing happens.
	later := env.Click(t, ask, "confirm", testkit.Operator)
	env.Settle(t)
	if later.Updated {
		t.Error("Confirm after Cancel changed the card")
	}
	lcCalls(t, env, feishuemu.APIPatchPeriod, 0)
	if got := lcStatus(t, env, p.ID); got != 0 {
		t.Errorf("status %d after Cancel", got)
	}
	if m, _ := env.Emu.Message(ask.ID); !strings.Contains(testkit.Text(m.Card), "Cancelled") {
		t.Errorf("card no longer says cancelled:\n%s", testkit.Text(m.Card))
	}
}

func TestLifecycleStatusDoubleConfirm(t *testing.T) {
	env := testkit.New(t)
	p := lcQ2(t, env)
	d := env.Say(t, "/hideperiod 2023-04")
	ask := env.ReplyTo(t, d.MessageID)
	confirm := lcValues(ask.Card, "confirm")[0]
	var wg sync.WaitGroup
	for _, who := range []string{testkit.Operator, testkit.Operator2, testkit.Operator} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := env.Emu.Click(context.Background(), feishuemu.Click{MessageID: ask.ID, OperatorOpenID: who, Value: confirm}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	lcWaitCard(t, env, ask.ID, "Period status changed: Hidden")
	env.Settle(t)
	lcCalls(t, env, feishuemu.APIPatchPeriod, 1)
	if got := lcStatus(t, env, p.ID); got != 3 {
		t.Errorf("status %d, want 3", got)
	}
}

func TestLifecycleStatusNonOperator(t *testing.T) {
	env := testkit.New(t)
	p := lcQ2(t, env)
	lists := env.Emu.CallCount(feishuemu.APIListPeriods)
	d := env.Post(t, feishuemu.UserMessage{Text: "/closeperiod 2023-04", SenderOpenID: testkit.Stranger})
	refusal := env.ReplyTo(t, d.MessageID)
	lcCard(t, refusal, "你无权执行此命令")
	testkit.MustSay(t, refusal.Card, testkit.Stranger, "OKRBOT_OPERATORS", "/closeperiod")
	lcCalls(t, env, feishuemu.APIListPeriods, lists)

	// An operator's confirmation, pressed by a stranger.
	d = env.Say(t, "/closeperiod 2023-04")
	ask := env.ReplyTo(t, d.MessageID)
	res := env.Click(t, ask, "confirm", testkit.Stranger)
	if res.Updated || res.Toast == nil || !strings.Contains(string(res.Body), testkit.Stranger) {
		t.Errorf("stranger's Confirm: %+v %s", res, res.Body)
	}
	env.Settle(t)
	lcCalls(t, env, feishuemu.APIPatchPeriod, 0)
	if got := lcStatus(t, env, p.ID); got != 0 {
		t.Errorf("status %d", got)
	}
	// The card still works for an operator.
	env.Click(t, ask, "confirm", testkit.Operator)
	lcWaitCard(t, env, ask.ID, "Period status changed: Invalid")
	lcCalls(t, env, feishuemu.APIPatchPeriod, 1)
}

func TestLifecycleStatusNoSuchPeriod(t *testing.T) {
	env := testkit.New(t)
	lcQ2(t, env)
	for _, c := range []struct{ text, arg string }{
		{"/closeperiod 7399999999999999999", "7399999999999999999"},
		{"/hideperiod 2030-01", "2030-01"},
		{"/restoreperiod 2023-05", "2023-05"}, // inside the period, not its start
	} {
		d := env.Say(t, c.text)
		reply := env.ReplyTo(t, d.MessageID)
		lcCard(t, reply, "找不到该周期")
		testkit.MustSay(t, reply.Card, "No such period", c.arg, "nothing was changed")
		if n := len(feishuemu.ButtonValues(reply.Card)); n != 0 {
			t.Errorf("%s: %d buttons", c.text, n)
		}
	}
	lcCalls(t, env, feishuemu.APIPatchPeriod, 0)
}

func TestLifecycleStatusAlreadySo(t *testing.T) {
	env := testkit.New(t)
	p := lcQ2(t, env) // status 0: normal
	d := env.Say(t, "/restoreperiod 2023-04")
	reply := env.ReplyTo(t, d.MessageID)
	lcCard(t, reply, "周期状态无需变更")
	testkit.MustSay(t, reply.Card, "Period status already as asked", "nothing was sent to Feishu", p.ID)
	if n := len(feishuemu.ButtonValues(reply.Card)); n != 0 {
		t.Errorf("%d buttons", n)
	}
	lcCalls(t, env, feishuemu.APIPatchPeriod, 0)
}

func TestLifecycleStatusPatchRefused(t *testing.T) {
	env := testkit.New(t)
	p := lcQ2(t, env)
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APIPatchPeriod, Code: 1001002, Status: 403})
	d := env.Say(t, "/closeperiod "+p.ID)
	ask := env.ReplyTo(t, d.MessageID)
	env.Click(t, ask, "confirm", testkit.Operator)
	failed := lcWaitCard(t, env, ask.ID, "1001002")
	lcCard(t, failed, "无权限")
	testkit.MustSay(t, failed.Card, "No permission", "okr:okr")
	lcCalls(t, env, feishuemu.APIPatchPeriod, 1)
	if got := lcStatus(t, env, p.ID); got != 0 {
		t.Errorf("status %d after a refused PATCH", got)
	}
}

func TestLifecycleStatusSeveralPeriodsInOneMonth(t *testing.T) {
	env := testkit.New(t)
	a := env.Emu.AddPeriod(feishuemu.Period{RuleID: quarterly, StartMonth: "2023-04"})
	b := env.Emu.AddPeriod(feishuemu.Period{RuleID: monthly, StartMonth: "2023-04"})
	env.Emu.AddPeriod(feishuemu.Period{RuleID: monthly, StartMonth: "2023-05"})
	d := env.Say(t, "/closeperiod 2023-04")
	choose := env.ReplyTo(t, d.MessageID)
	lcCard(t, choose, "开始的周期有多个")
	testkit.MustSay(t, choose.Card, "Several periods start in 2023-04", a.ID, b.ID)
	buttons := feishuemu.Buttons(choose.Card)
	if len(buttons) != 2 {
		t.Fatalf("want one button per period, have %+v", buttons)
	}
	for i, want := range []feishuemu.Period{a, b} {
		if buttons[i].Value["op"] != "choose" || buttons[i].Value["p"] != want.ID || buttons[i].TextEn != want.EnName || buttons[i].TextZh != want.ZhName {
			t.Errorf("button %d: %+v, want %s %q", i, buttons[i], want.ID, want.EnName)
		}
	}
	lcCalls(t, env, feishuemu.APIPatchPeriod, 0)
	res := lcPress(t, env, choose.ID, buttons[1].Value, testkit.Operator)
	ask := lcWaitCard(t, env, choose.ID, "Confirm status change")
	if !res.Updated {
		t.Logf("the pick was answered 'working'")
	}
	lcCard(t, ask, "确认")
	testkit.MustSay(t, ask.Card, b.ID, b.EnName)
	lcCalls(t, env, feishuemu.APIPatchPeriod, 0)
	env.Click(t, ask, "confirm", testkit.Operator)
	lcWaitCard(t, env, choose.ID, "Period status changed: Invalid")
	lcCalls(t, env, feishuemu.APIPatchPeriod, 1)
	if lcStatus(t, env, b.ID) != 2 || lcStatus(t, env, a.ID) != 0 {
		t.Errorf("periods %+v", env.Emu.Periods())
	}
}

func TestLifecyclePeriodsListLeadsToConfirmation(t *testing.T) {
	env := testkit.New(t)
	p := lcQ2(t, env)
	env.Emu.AddPeriod(feishuemu.Period{RuleID: quarterly, StartMonth: "2023-07", Status: 3})
	d := env.Say(t, "/periods")
	list := env.ReplyTo(t, d.MessageID)
	lcCard(t, list, "变更状态")
	manage := feishuemu.Buttons(list.Card)
	if len(manage) != 2 {
		t.Fatalf("an operator's list: want a button per row, have %+v", manage)
	}
	for _, btn := range manage {
		if btn.Value["op"] != "manage" || btn.TextEn != "Change status" {
			t.Errorf("row button %+v", btn)
		}
	}
	// A stranger pressing a row's button is refused.
	var row map[string]any
	for _, btn := range manage {
		if btn.Value["p"] == p.ID {
			row = btn.Value
		}
	}
	if row == nil {
		t.Fatalf("no row button for %s", p.ID)
	}
	res := lcPress(t, env, list.ID, row, testkit.Stranger)
	if res.Updated || !strings.Contains(string(res.Body), testkit.Stranger) {
		t.Errorf("stranger: %+v %s", res, res.Body)
	}
	lcPress(t, env, list.ID, row, testkit.Operator)
	actions := env.ReplyTo(t, list.ID)
	lcCard(t, actions, "管理周期")
	testkit.MustSay(t, actions.Card, "Manage period", p.ID, "2023-04 – 2023-06")
	var offered []string
	for _, btn := range feishuemu.Buttons(actions.Card) {
		offered = append(offered, fmt.Sprint(btn.Value["op"], ":", btn.Value["s"], ":", btn.TextEn))
	}
	// A normal period can be closed or hidden; restoring it is not offered.
	if !slices.Equal(offered, []string{"status:2:Close (mark invalid)", "status:3:Hide"}) {
		t.Errorf("actions %v", offered)
	}
	// The list itself stays as it was.
	if kept, _ := env.Emu.Message(list.ID); testkit.Text(kept.Card) != testkit.Text(list.Card) {
		t.Error("the list card changed")
	}
	lcPress(t, env, actions.ID, lcValues(actions.Card, "status")[0], testkit.Operator)
	ask := lcWaitCard(t, env, actions.ID, "Confirm status change")
	lcCard(t, ask, "确认", "取消")
	testkit.MustSay(t, ask.Card, p.ID, "mark invalid")
	lcCalls(t, env, feishuemu.APIPatchPeriod, 0)
	env.Click(t, ask, "confirm", testkit.Operator)
	lcWaitCard(t, env, actions.ID, "Period status changed: Invalid")
	lcCalls(t, env, feishuemu.APIPatchPeriod, 1)
	if got := lcStatus(t, env, p.ID); got != 2 {
		t.Errorf("status %d, want 2", got)
	}
}

func TestLifecycleAudit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	env := testkit.New(t, testkit.WithConfig(func(c *config.Config) { c.Audit.Path = path }))
	env.Emu.AddPeriod(feishuemu.Period{RuleID: quarterly, StartMonth: "2023-04"})
	env.Emu.Inject(lcPass)
	env.Emu.Inject(lcPass)
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APICreatePeriod, Code: 1009999, Status: 500})
	d := env.Say(t, "/newperiod 2023 "+quarterly)
	span := env.ReplyTo(t, d.MessageID)
	env.Click(t, span, "span", testkit.Operator)
	lcWaitCard(t, env, span.ID, "3 OKR periods created")
	env.Settle(t)
	byStart := map[string]string{}
	for _, p := range env.Emu.Periods() {
		byStart[p.StartMonth] = p.ID
	}

	d = env.Say(t, "/closeperiod 2023-01")
	ask := env.ReplyTo(t, d.MessageID)
	env.Click(t, ask, "confirm", testkit.Operator)
	lcWaitCard(t, env, ask.ID, "Period status changed")
	refused := env.Post(t, feishuemu.UserMessage{Text: "/hideperiod 2023-01", SenderOpenID: testkit.Stranger})
	env.ReplyTo(t, refused.MessageID)
	d = env.Say(t, "/restoreperiod 2023-01")
	restore := env.ReplyTo(t, d.MessageID)
	env.Click(t, restore, "confirm", testkit.Stranger)
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APIPatchPeriod, Code: 1001002, Status: 403})
	env.Click(t, restore, "confirm", testkit.Operator)
	lcWaitCard(t, env, restore.ID, "1001002")
	env.Say(t, "/periods") // reading is not audited
	env.Settle(t)

	type want struct {
		command, outcome, via, arg, period string
		code                               int
		old, new                           string
	}
	wants := []want{
		{"newperiod", "created", "message", "2023-01", byStart["2023-01"], 0, "", ""},
		{"newperiod", "exists", "message", "2023-04", "", 1001008, "", ""},
		{"newperiod", "failed", "message", "2023-07", "", 1009999, "", ""},
		{"newperiod", "created", "message", "2023-10", byStart["2023-10"], 0, "", ""},
		{"newperiod", "created", "button", "2023-07", byStart["2023-07"], 0, "", ""},
		{"closeperiod", "changed", "button", byStart["2023-01"], byStart["2023-01"], 0, "normal", "invalid"},
		{"hideperiod", "refused", "message", "2023-01", "", 0, "", ""},
		{"restoreperiod", "refused", "button", byStart["2023-01"], byStart["2023-01"], 0, "", ""},
		{"restoreperiod", "failed", "button", byStart["2023-01"], byStart["2023-01"], 1001002, "invalid", "normal"},
	}
	recs := readAudit(t, path)
	if len(recs) != len(wants) {
		for _, r := range recs {
			t.Logf("%+v", r)
		}
		t.Fatalf("%d audit records, want %d", len(recs), len(wants))
	}
	for i, w := range wants {
		r := recs[i]
		who := testkit.Operator
		if w.outcome == "refused" {
			who = testkit.Stranger
		}
		if strings.TrimPrefix(r.Command, "/") != w.command || r.Outcome != w.outcome || r.Via != w.via ||
			len(r.Args) == 0 || r.Args[0] != w.arg || r.PeriodID != w.period || r.Code != w.code ||
			r.OldStatus != w.old || r.NewStatus != w.new && w.new != "" || r.Operator != who ||
			r.ChatID == "" || r.Time.IsZero() || r.EventID == "" {
			t.Errorf("record %d = %+v\nwant %+v", i, r, w)
		}
		if w.command == "newperiod" && (len(r.Args) != 2 || r.Args[1] != quarterly) {
			t.Errorf("record %d args %v, want [month rule]", i, r.Args)
		}
		if (w.outcome == "created" || w.outcome == "changed" || w.code != 0) && r.LogID == "" {
			t.Errorf("record %d lacks Feishu's log id: %+v", i, r)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range append([]string{testkit.AppSecret, testkit.VerificationToken, testkit.EncryptKey}, env.Emu.Tokens()...) {
		if secret != "" && strings.Contains(string(raw), secret) {
			t.Errorf("a secret is in the audit file: %q", secret)
		}
	}
}
