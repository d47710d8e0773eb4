package cards

import (
	"fmt"
	"strings"
	"testing"
	"unicode"

	"okrbot/internal/okr"
)

// lifecycleCards builds every card of lifecycle.go with s in every
// untrusted position; allCards adds them to the cards every input is fed to.
func lifecycleCards(s string) map[string]Card {
	v := Value{"op": "x", "p": "7301234567890123456"} // values are bot-made
	rule := okr.Rule{ID: s, Type: s, Length: 3, FirstMonth: 1}
	p := okr.Period{ID: s, ZhName: s, EnName: s, Status: okr.StatusNormal}
	change := StatusChange{Period: p, Start: s, End: s, To: okr.StatusInvalid, RequestedBy: s}
	items := []SpanItem{
		{Start: s, End: s, Outcome: SpanCreated, PeriodID: s},
		{Start: s, Outcome: SpanExists},
		{Start: s, End: s, Outcome: SpanFailed, Failure: Failure{Code: 4242, HTTPStatus: 400, Msg: s, LogID: s, Detail: s, Class: okr.ClassTransient}},
		{Start: "2023-10", End: s, Outcome: SpanFailed, Failure: Failure{Cause: CauseNetwork, Msg: s, Detail: s}},
		{Start: s, End: s, Outcome: SpanOutcome(9), Failure: Failure{Code: 1001009, Msg: s, LogID: s}},
	}
	return map[string]Card{
		"SpanSummary": SpanSummary(Span{First: s, Last: s, Rule: rule, Items: items, RequestedBy: s, Retry: v,
			Note: Text{"已重试失败的周期", "retried the failed periods"}}),
		"SpanSummaryNoItems": SpanSummary(Span{First: s, Last: s, Rule: rule, RequestedBy: s}),
		"SpanEmpty":          SpanEmpty(s, s, rule),
		"ConfirmStatus":      ConfirmStatus(change, v, v),
		"ConfirmRestore": ConfirmStatus(StatusChange{Period: okr.Period{ID: s, Status: okr.StatusHidden}, Start: s,
			To: okr.StatusNormal, RequestedBy: s}, v, nil),
		"ChoosePeriod": ChoosePeriod(s, okr.StatusHidden, []PeriodChoice{{p, s, s, v}, {okr.Period{ID: s}, s, "", nil},
			{okr.Period{}, "", "", Value{}}, {okr.Period{ID: s, EnName: s, Status: 7}, "", s, v}}),
		"ChoosePeriodNone":  ChoosePeriod(s, okr.StatusNormal, nil),
		"StatusChanged":     StatusChanged(change, s),
		"StatusUnchanged":   StatusUnchanged(change),
		"StatusCancelled":   StatusCancelled(change, s),
		"NoSuchPeriod":      NoSuchPeriod(s),
		"PeriodActions":     PeriodActions(p, s, s, map[okr.Status]Value{okr.StatusInvalid: v, okr.StatusHidden: v, okr.StatusNormal: v}),
		"PeriodActionsNone": PeriodActions(p, s, s, nil),
		"NotRun":            NotRun(s),
	}
}

// TestLifecycleEscapes feeds a mention, a link and a bidi override to every
// lifecycle card: each shows the text escaped, never live, and without the
// override.
func TestLifecycleEscapes(t *testing.T) {
	const hostile = "<at id=all></at>[x](http://e)\u202eevil\u2066\u200b"
	const escaped = "&#60;at id=all&#62;&#60;/at&#62;&#91;x&#93;&#40;http&#58;//e&#41;evil"
	for name, c := range lifecycleCards(hostile) {
		t.Run(name, func(t *testing.T) {
			validate(t, c, true)
			zh, en := allTexts(t, c)
			if !shows(en, escaped) || !shows(zh, escaped) {
				t.Errorf("the typed text is not shown escaped: %q", en)
			}
			walk(decode(t, c), "ROOT", func(path string, obj map[string]any) {
				if _, ok := obj["i18n_content"]; !ok {
					return
				}
				bad := []string{"\u202e", "\u2066", "\u200b"}
				if tag := obj["tag"]; tag == "markdown" || tag == "lark_md" { // plain text (and the summary) is not parsed
					bad = append(bad, "<at id=all", "](", "[x]")
				}
				for _, text := range texts(obj) {
					for _, b := range bad {
						if strings.Contains(text, b) {
							t.Errorf("%s carries %q: %q", path, b, text)
						}
					}
				}
			})
		})
	}
}

// checkBilingual asserts the card's title is really in two languages: Han
// characters in zh_cn, none in en_us.
func checkBilingual(t *testing.T, c Card) {
	t.Helper()
	hdr, _ := decode(t, c)["header"].(map[string]any)
	title, _ := hdr["title"].(map[string]any)
	in, _ := title["i18n_content"].(map[string]any)
	zh, en := str(in["zh_cn"]), str(in["en_us"])
	if !hasHan(zh) || hasHan(en) {
		t.Errorf("title is not bilingual: zh %q, en %q", zh, en)
	}
}

func hasHan(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) }) >= 0
}

// checkShows asserts every want is in the English texts and every wantZH in
// the Chinese ones, and no deny in either.
func checkShows(t *testing.T, c Card, want, wantZH, deny []string) {
	t.Helper()
	zh, en := allTexts(t, c)
	for _, w := range want {
		if !shows(en, w) {
			t.Errorf("English card lacks %q:\n%s", w, strings.Join(en, "\n"))
		}
	}
	for _, w := range wantZH {
		if !shows(zh, w) {
			t.Errorf("Chinese card lacks %q:\n%s", w, strings.Join(zh, "\n"))
		}
	}
	for _, w := range deny {
		if shows(en, w) || shows(zh, w) {
			t.Errorf("card shows %q", w)
		}
	}
}

// checkButtons asserts the card has exactly the buttons of want (element_id
// → value; a nil value means no such button), each carrying its value.
func checkButtons(t *testing.T, c Card, want map[string]Value) {
	t.Helper()
	bs := buttons(t, c)
	n := 0
	for id, v := range want {
		b, ok := bs[id]
		if ok != (v != nil) {
			t.Errorf("button %s present = %v, want %v", id, ok, v != nil)
			continue
		}
		if !ok {
			continue
		}
		n++
		if got, w := fmt.Sprint(buttonValue(b)), fmt.Sprint(toAny(v)); got != w {
			t.Errorf("button %s value = %s, want %s", id, got, w)
		}
	}
	if len(bs) != n {
		t.Errorf("buttons = %v, want only %v", keys(bs), want)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// buttonLabel returns a button's English and Chinese label.
func buttonLabel(b map[string]any) (en, zh string) {
	txt, _ := b["text"].(map[string]any)
	in, _ := txt["i18n_content"].(map[string]any)
	return str(in["en_us"]), str(in["zh_cn"])
}

const (
	operator = "ou_4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d"
	logID    = "20240612153012A1B2C3D4E5F60718293A"
)

var (
	monthly   = okr.Rule{ID: "7290000000000000001", Type: "month", Length: 1, FirstMonth: 1}
	quarterly = okr.Rule{ID: "7290000000000000002", Type: "month", Length: 3, FirstMonth: 1}
)

// monthlyItems are n periods of a monthly rule from 2021-01, all with
// outcome o; a failure gets f.
func monthlyItems(n int, o SpanOutcome, f Failure) []SpanItem {
	items := make([]SpanItem, n)
	for i := range items {
		m := okr.Month{Year: 2021, Month: 1}.AddMonths(i).String()
		items[i] = SpanItem{Start: m, End: m, Outcome: o}
		switch o {
		case SpanCreated:
			items[i].PeriodID = fmt.Sprint(7302000000000000000 + i)
		case SpanFailed:
			items[i].Failure = f
		}
	}
	return items
}

func TestSpanSummary(t *testing.T) {
	retry := Value{"op": "span_retry", "first": "2023-01", "last": "2023-12"}
	year := monthlyItems(12, SpanCreated, Failure{})
	for i := range year {
		year[i].Start = fmt.Sprintf("2023-%02d", i+1)
		year[i].End = year[i].Start
	}
	q := func(start, end string, o SpanOutcome, id string, f Failure) SpanItem {
		return SpanItem{Start: start, End: end, Outcome: o, PeriodID: id, Failure: f}
	}
	transient := Failure{Code: 1009999, HTTPStatus: 500, Msg: "internal <b>", LogID: logID, Class: okr.ClassTransient}
	tests := []struct {
		name           string
		s              Span
		template       string
		title, titleZH string
		want, wantZH   []string
		deny           []string
	}{
		{"12 months, all created", Span{First: "2023-01", Last: "2023-12", Rule: monthly, Items: year, RequestedBy: operator},
			"green", "12 OKR periods created", "已创建 12 个 OKR 周期",
			[]string{"Created: **12** · Already existed: **0** · Failed: **0**", "Monthly", "Rule ID `7290000000000000001`",
				"<at id=" + operator + "></at>", "**2023-01** · ✅ Created · period ID `7302000000000000000`",
				"**2023-12** · ✅ Created · period ID `7302000000000000011`"},
			[]string{"已创建：**12** · 已存在：**0** · 失败：**0**", "月度", "**2023-06** · ✅ 已创建 · 周期 ID `7302000000000000005`"},
			[]string{"Failed**", "more not shown", "What to do"}},
		{"one created", Span{First: "2023-01", Last: "2023-03", Rule: quarterly, Items: year[:1]},
			"green", "1 OKR period created", "已创建 1 个 OKR 周期", []string{"Quarterly from January", "Requested by**\n—"}, nil, nil},
		{"all existed", Span{First: "2023", Last: "2023", Rule: quarterly, Items: []SpanItem{
			q("2023-01", "2023-03", SpanExists, "", Failure{}), q("2023-04", "2023-06", SpanExists, "", Failure{})}},
			"green", "The OKR periods already exist", "OKR 周期均已存在",
			[]string{"Created: **0** · Already existed: **2** · Failed: **0**", "**2023-01 – 2023-03** · ➖ Already existed, nothing to do"},
			[]string{"**2023-04 – 2023-06** · ➖ 已存在，无需创建"}, nil},
		{"one transient failure", Span{First: "2023-01", Last: "2023-12", Rule: quarterly, RequestedBy: operator, Retry: retry,
			Items: []SpanItem{
				q("2023-01", "2023-03", SpanExists, "", Failure{}),
				q("2023-04", "2023-06", SpanCreated, "7302000000000000004", Failure{}),
				q("2023-07", "2023-09", SpanFailed, "", transient),
				q("2023-10", "2023-12", SpanCreated, "7302000000000000010", Failure{}),
			}},
			"orange", "Some OKR periods could not be created", "部分 OKR 周期未能创建",
			[]string{"Created: **2** · Already existed: **1** · Failed: **1**", "**2023-01 – 2023-03** · ➖ Already existed",
				"**2023-04 – 2023-06** · ✅ Created · period ID `7302000000000000004`",
				"**2023-07 – 2023-09** · ❌ **Failed** · code 1009999 Unknown error", "**Unknown error:** Internal error at Feishu",
				"2023-07 – 2023-09: Log ID: " + logID, "2023-01 to 2023-12 · Quarterly from January"},
			[]string{"**2023-07 – 2023-09** · ❌ **失败** · 错误码 1009999 未知错误", "**未知错误**：飞书内部错误", "日志 ID（Log ID）：" + logID},
			[]string{"internal"}}, // a catalogued code does not show Feishu's msg
		{"all failed for good", Span{First: "2023-02", Last: "2023-03", Rule: quarterly, Items: []SpanItem{
			q("2023-02", "2023-04", SpanFailed, "", Failure{Code: 1001009, HTTPStatus: 400, Class: okr.ClassPermanent}),
			q("2023-03", "2023-05", SpanFailed, "", Failure{Code: 1001009, HTTPStatus: 400, Class: okr.ClassPermanent})}},
			"red", "The OKR periods could not be created", "OKR 周期创建失败",
			[]string{"Failed: **2**", "code 1001009 Start date does not fit the period rule", "The start month does not match the rule"},
			[]string{"起始日期和周期规则不匹配"}, []string{"Log ID"}},
		{"unknown code shows Feishu's msg, escaped", Span{First: "2023-01", Last: "2023-01", Rule: monthly, Items: []SpanItem{
			q("2023-01", "2023-01", SpanFailed, "", Failure{Code: 4242, HTTPStatus: 400, Msg: "nope <at id=all></at> [x](http://e)"})}},
			"red", "The OKR periods could not be created", "OKR 周期创建失败",
			[]string{"code 4242 Feishu returned an error", "Feishu says: nope &#60;at id=all&#62;&#60;/at&#62; &#91;x&#93;&#40;http&#58;//e&#41;",
				"2023-01 · Monthly"},
			[]string{"飞书返回：nope &#60;at"}, []string{"<at id=all"}},
		{"network failure may be retried", Span{First: "2023-01", Last: "2023-01", Rule: monthly, Retry: Value{}, Items: []SpanItem{
			q("2023-01", "2023-01", SpanFailed, "", Failure{Cause: CauseNetwork, Detail: "dial tcp: refused"})}},
			"orange", "The OKR periods could not be created", "OKR 周期创建失败",
			[]string{"❌ **Failed** · Network error", "detail: dial tcp&#58; refused"}, []string{"网络错误"}, nil},
		{"HTTP status without a code", Span{First: "2023-01", Last: "2023-01", Rule: monthly, Items: []SpanItem{
			q("2023-01", "2023-01", SpanFailed, "", Failure{HTTPStatus: 502, Class: okr.ClassTransient})}},
			"orange", "The OKR periods could not be created", "OKR 周期创建失败", []string{"HTTP 502 Unexpected error"}, nil, nil},
		{"note", Span{First: "2023-01", Last: "2023-03", Rule: quarterly, Items: year[:1], Note: Text{"已重试 1 个失败的周期", "retried 1 failed period"}},
			"green", "1 OKR period created", "已创建 1 个 OKR 周期", []string{"retried 1 failed period"}, []string{"已重试 1 个失败的周期"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := SpanSummary(tt.s)
			validate(t, c, false)
			checkBilingual(t, c)
			if got := headerTemplate(t, c); got != tt.template {
				t.Errorf("template = %q, want %q", got, tt.template)
			}
			hdr := decode(t, c)["header"].(map[string]any)["title"].(map[string]any)
			if in := hdr["i18n_content"].(map[string]any); in["en_us"] != tt.title || in["zh_cn"] != tt.titleZH {
				t.Errorf("title = %v, want %q / %q", in, tt.title, tt.titleZH)
			}
			checkShows(t, c, tt.want, tt.wantZH, tt.deny)
			checkButtons(t, c, map[string]Value{"btn_retry": tt.s.Retry})
			if tt.s.Retry != nil {
				en, zh := buttonLabel(buttons(t, c)["btn_retry"])
				if en != "Retry the failed periods" || zh != "重试失败的周期" {
					t.Errorf("retry label = %q / %q", en, zh)
				}
			}
		})
	}
}

// TestSpanSummaryWorstCase: the longest span (36 months of a monthly rule),
// every period failed with a long msg, log id and detail, stays under
// MaxBytes and still lists every period; hostile values in every position
// keep it valid and under the limit too.
func TestSpanSummaryWorstCase(t *testing.T) {
	long := strings.Repeat("<at id=all></at>[x](http://e)\u202e", 400)
	for _, code := range []int{4242, 1009999, 0} {
		t.Run(fmt.Sprint("code ", code), func(t *testing.T) {
			f := Failure{Code: code, HTTPStatus: 500, Msg: long, LogID: long, Detail: long, Class: okr.ClassTransient, Cause: CauseTimeout}
			items := monthlyItems(36, SpanFailed, f)
			c := SpanSummary(Span{First: "2021-01", Last: "2023-12", Rule: monthly, Items: items, RequestedBy: long,
				Retry: Value{"op": "span_retry", "first": "2021-01", "last": "2023-12", "sig": strings.Repeat("f", 64)},
				Note:  Text{"已重试 36 个失败的周期", "retried the 36 failed periods"}})
			validate(t, c, true)
			raw, err := c.Encode()
			if err != nil || len(raw) > MaxBytes {
				t.Fatalf("Encode: %d bytes, %v", len(raw), err)
			}
			t.Logf("36 failed periods: %d bytes", len(raw))
			_, en := allTexts(t, c)
			for _, it := range items {
				if !shows(en, "**"+it.Start+"** · ❌ **Failed**") {
					t.Errorf("period %s is not listed", it.Start)
				}
			}
			if !shows(en, "Failed: **36**") {
				t.Error("counts missing")
			}
			checkButtons(t, c, map[string]Value{"btn_retry": {"op": "span_retry", "first": "2021-01", "last": "2023-12", "sig": strings.Repeat("f", 64)}})
		})
	}
	t.Run("36 created", func(t *testing.T) {
		c := SpanSummary(Span{First: "2021-01", Last: "2023-12", Rule: monthly, Items: monthlyItems(36, SpanCreated, Failure{}), RequestedBy: operator})
		validate(t, c, false)
		_, en := allTexts(t, c)
		for i := range 36 {
			if !shows(en, fmt.Sprintf("period ID `%d`", 7302000000000000000+i)) {
				t.Errorf("period %d is not listed", i)
			}
		}
		if shows(en, "more not shown") {
			t.Error("a 36-month span was cut")
		}
	})
	for _, in := range inputs {
		t.Run("hostile "+in.name, func(t *testing.T) {
			f := Failure{Code: 4242, Msg: in.s, LogID: in.s, Detail: in.s}
			items := make([]SpanItem, 36)
			for i := range items {
				items[i] = SpanItem{Start: in.s, End: in.s, Outcome: SpanOutcome(i % 3), PeriodID: in.s, Failure: f}
			}
			c := SpanSummary(Span{First: in.s, Last: in.s, Rule: okr.Rule{ID: in.s, Length: 1}, Items: items, RequestedBy: in.s,
				Retry: Value{"op": "retry"}})
			validate(t, c, in.hostile)
		})
	}
}

func TestSpanEmpty(t *testing.T) {
	tests := []struct {
		first, last  string
		rule         okr.Rule
		want, wantZH []string
	}{
		{"2023-02", "2023-03", quarterly, []string{"**Quarterly from January** (rule id `7290000000000000002`)",
			"no period starts in **2023-02** to **2023-03**", "start in January, April, July and October", "/rules"},
			[]string{"季度（1 月起）", "**2023-02** 至 **2023-03**", "1 月、4 月、7 月、10 月"}},
		{"2023-02", "2023-02", okr.Rule{ID: "r", Length: 12, FirstMonth: 7}, []string{"no period starts in **2023-02**,", "start in July."},
			[]string{"7 月"}},
		{"<at id=all></at>", "", okr.Rule{ID: "[x](http://e)", Length: 0}, []string{"&#60;at id=all&#62;&#60;/at&#62;", "&#91;x&#93;", "**—**"}, nil},
	}
	for _, tt := range tests {
		c := SpanEmpty(tt.first, tt.last, tt.rule)
		validate(t, c, true)
		checkBilingual(t, c)
		if got := headerTemplate(t, c); got != "orange" {
			t.Errorf("template = %q", got)
		}
		checkShows(t, c, append(tt.want, "No period to create in that span", "no period was created"), tt.wantZH, nil)
		checkButtons(t, c, nil)
	}
	// No items is the same answer.
	c := SpanSummary(Span{First: "2023-02", Last: "2023-03", Rule: quarterly})
	checkShows(t, c, []string{"No period to create in that span"}, nil, nil)
}

var (
	q1 = okr.Period{ID: "7301234567890123456", ZhName: "2022 年 1 月 - 3 月", EnName: "Jan - Mar 2022", Status: okr.StatusDefault}
	h2 = okr.Period{ID: "7301234567890123460", ZhName: "2022 下半年", EnName: "H2 2022", Status: okr.StatusHidden}
)

func TestConfirmStatus(t *testing.T) {
	confirm := Value{"op": "status_confirm", "p": q1.ID}
	cancel := Value{"op": "status_cancel", "p": q1.ID}
	tests := []struct {
		name         string
		c            StatusChange
		confirm      Value
		cancel       Value
		typ          string
		want, wantZH []string
	}{
		{"close", StatusChange{Period: q1, Start: "2022-01", End: "2022-03", To: okr.StatusInvalid, RequestedBy: operator}, confirm, cancel, "danger",
			[]string{"Confirm status change: mark invalid", "**Change:** mark invalid (Normal → Invalid)", "Jan - Mar 2022",
				"`7301234567890123456`", "2022-01 – 2022-03", "**Current status**\nNormal", "whole tenant", "<at id=" + operator + "></at>"},
			[]string{"确认将该周期标记失效？", "**变更**：标记失效（正常 → 已失效）", "2022 年 1 月 - 3 月", "**当前状态**\n正常", "整个租户"}},
		{"hide", StatusChange{Period: q1, Start: "2022-01", End: "2022-03", To: okr.StatusHidden}, confirm, cancel, "danger",
			[]string{"Confirm status change: hide", "hide (Normal → Hidden)"}, []string{"确认将该周期隐藏？", "隐藏（正常 → 已隐藏）"}},
		{"restore", StatusChange{Period: h2, Start: "2022-07", End: "2022-12", To: okr.StatusNormal}, confirm, cancel, "primary",
			[]string{"Confirm status change: restore to normal", "restore to normal (Hidden → Normal)", "H2 2022", "**Current status**\nHidden"},
			[]string{"确认将该周期恢复为正常？", "恢复为正常（已隐藏 → 正常）"}},
		{"no cancel", StatusChange{Period: q1, To: okr.StatusInvalid}, confirm, nil, "danger", []string{"**Months**\n—"}, nil},
		{"no buttons", StatusChange{Period: q1, To: okr.StatusInvalid}, nil, nil, "", nil, nil},
		{"only cancel", StatusChange{Period: q1, To: okr.StatusHidden}, nil, Value{}, "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ConfirmStatus(tt.c, tt.confirm, tt.cancel)
			validate(t, c, false)
			checkBilingual(t, c)
			if got := headerTemplate(t, c); got != "orange" {
				t.Errorf("template = %q", got)
			}
			checkShows(t, c, tt.want, tt.wantZH, nil)
			checkButtons(t, c, map[string]Value{"btn_confirm": tt.confirm, "btn_cancel": tt.cancel})
			bs := buttons(t, c)
			if b, ok := bs["btn_confirm"]; ok {
				if b["type"] != tt.typ {
					t.Errorf("confirm type = %v, want %s", b["type"], tt.typ)
				}
				if en, zh := buttonLabel(b); en != "Confirm" || zh != "确认" {
					t.Errorf("confirm label = %q / %q", en, zh)
				}
			}
			if b, ok := bs["btn_cancel"]; ok {
				if en, zh := buttonLabel(b); en != "Cancel" || zh != "取消" {
					t.Errorf("cancel label = %q / %q", en, zh)
				}
			}
		})
	}
}

func TestStatusOutcomes(t *testing.T) {
	closeQ1 := StatusChange{Period: q1, Start: "2022-01", End: "2022-03", To: okr.StatusInvalid, RequestedBy: operator}
	const other = "ou_99aa88bb77cc"
	tests := []struct {
		name           string
		c              Card
		template       string
		want, wantZH   []string
		deny           []string
		titleBilingual bool
	}{
		{"changed", StatusChanged(closeQ1, other), "green",
			[]string{"Period status changed: Invalid", "**Status now**\nInvalid", "mark invalid (Normal → Invalid)", "`7301234567890123456`",
				"2022-01 – 2022-03", "Jan - Mar 2022", "**Requested by:** <at id=" + operator + "></at>", "**Confirmed by:** <at id=" + other + "></at>"},
			[]string{"周期状态已变更：已失效", "**当前状态**\n已失效", "**确认人**：<at id=" + other + "></at>"}, nil, true},
		{"changed, nobody named", StatusChanged(StatusChange{Period: h2, To: okr.StatusNormal}, ""), "green",
			[]string{"Period status changed: Normal", "restore to normal (Hidden → Normal)"}, nil, []string{"Requested by", "Confirmed by"}, true},
		{"changed, odd confirmer", StatusChanged(closeQ1, "<at id=all></at>"), "green",
			[]string{"**Confirmed by:** &#60;at id=all&#62;&#60;/at&#62;"}, nil, []string{"<at id=all"}, true},
		{"unchanged", StatusUnchanged(StatusChange{Period: h2, Start: "2022-07", End: "2022-12", To: okr.StatusHidden}), "blue",
			[]string{"Period status already as asked", "already **Hidden**", "nothing was sent to Feishu", "H2 2022", "`7301234567890123460`", "2022-07 – 2022-12"},
			[]string{"周期状态无需变更", "已经是 **已隐藏**", "没有向飞书发送任何请求"}, nil, true},
		{"unchanged, 0 is normal", StatusUnchanged(StatusChange{Period: q1, To: okr.StatusNormal}), "blue",
			[]string{"already **Normal**", "**Current status**\nNormal"}, nil, nil, true},
		{"cancelled", StatusCancelled(closeQ1, other), "blue",
			[]string{"Cancelled: nothing was changed", "Cancelled “mark invalid”", "still **Normal**", "`7301234567890123456`",
				"**Cancelled by:** <at id=" + other + "></at>"},
			[]string{"已取消，未做任何变更", "已取消“标记失效”", "仍为 **正常**", "**取消人**"}, []string{"Invalid"}, true},
		{"no such period", NoSuchPeriod("2023-13 <at id=all></at>"), "orange",
			[]string{"No such period", "**You typed:** 2023-13 &#60;at id=all&#62;", "nothing was changed", "/periods"},
			[]string{"找不到该周期", "没有周期的 ID 与此相同"}, []string{"<at id=all"}, true},
		{"no such period, empty", NoSuchPeriod(""), "orange", []string{"(empty)"}, []string{"（空）"}, nil, true},
		{"not run", NotRun("/closeperiod 2023-04 [x](http://e)"), "orange",
			[]string{"Command not run", "**Command:** /closeperiod 2023-04 &#91;x&#93;&#40;http&#58;//e&#41;", "shutting down", "not run", "send it again"},
			[]string{"命令未执行", "正在关闭", "重新发送"}, []string{"](", "[x]"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			validate(t, tt.c, true)
			checkBilingual(t, tt.c)
			if got := headerTemplate(t, tt.c); got != tt.template {
				t.Errorf("template = %q, want %q", got, tt.template)
			}
			checkShows(t, tt.c, tt.want, tt.wantZH, tt.deny)
			checkButtons(t, tt.c, nil)
		})
	}
}

func TestChoosePeriod(t *testing.T) {
	pick := func(id string) Value { return Value{"op": "status_pick", "p": id} }
	choices := []PeriodChoice{
		{q1, "2023-04", "2023-06", pick(q1.ID)},
		{h2, "2023-04", "2023-04", pick(h2.ID)},
		{okr.Period{ID: "7301234567890123499", Status: okr.StatusInvalid}, "2023-04", "2023-09", nil},
		{okr.Period{ID: "7301234567890123500"}, "2023-04", "", Value{}},
	}
	for _, to := range []okr.Status{okr.StatusInvalid, okr.StatusHidden, okr.StatusNormal} {
		t.Run(StatusName(to).EN, func(t *testing.T) {
			c := ChoosePeriod("2023-04", to, choices)
			validate(t, c, false)
			checkBilingual(t, c)
			verb := statusVerb(to)
			checkShows(t, c, []string{"Several periods start in 2023-04", "More than one period starts in **2023-04**",
				"Which one do you want to " + verb.EN + "?", "Period ID `7301234567890123456` · 2023-04 – 2023-06 · Normal",
				"Period ID `7301234567890123460` · 2023-04 · Hidden", "**(no name)**\nPeriod ID `7301234567890123499` · 2023-04 – 2023-09 · Invalid"},
				[]string{"2023-04 开始的周期有多个", "执行“" + verb.ZH + "”", "周期 ID `7301234567890123456` · 2023-04 – 2023-06 · 正常"}, nil)
			checkButtons(t, c, map[string]Value{"period_1": choices[0].Value, "period_2": choices[1].Value,
				"period_3": nil, "period_4": Value{}})
			bs := buttons(t, c)
			for id, want := range map[string][2]string{"period_1": {q1.EnName, q1.ZhName}, "period_2": {h2.EnName, h2.ZhName},
				"period_4": {"7301234567890123500", "7301234567890123500"}} {
				if en, zh := buttonLabel(bs[id]); en != want[0] || zh != want[1] {
					t.Errorf("%s label = %q / %q, want %q", id, en, zh, want)
				}
			}
		})
	}
	// A hostile month and names are escaped, in markdown and in labels.
	c := ChoosePeriod("<at id=all></at>", okr.StatusHidden, []PeriodChoice{
		{okr.Period{ID: "[x](http://e)", EnName: "\u202e<at id=all></at>"}, "", "", pick("x")}})
	validate(t, c, true)
	checkShows(t, c, []string{"**&#60;at id=all&#62;&#60;/at&#62;**", "Period ID &#91;x&#93;&#40;http&#58;//e&#41;"}, nil, []string{"\u202e"})
	if en, _ := buttonLabel(buttons(t, c)["period_1"]); en != "<at id=all></at>" {
		t.Errorf("plain-text label = %q", en) // plain_text is not parsed: shown as typed, minus the override
	}
	// No choice at all is "no such period".
	checkShows(t, ChoosePeriod("2023-04", okr.StatusHidden, nil), []string{"No such period", "2023-04"}, nil, nil)
}

func TestPeriodActions(t *testing.T) {
	ask := func(to string) Value { return Value{"op": "status_ask", "p": q1.ID, "to": to} }
	all := map[okr.Status]Value{okr.StatusInvalid: ask("2"), okr.StatusHidden: ask("3"), okr.StatusNormal: ask("1")}
	labels := map[string][2]string{"btn_close": {"Close (mark invalid)", "关闭（标记失效）"}, "btn_hide": {"Hide", "隐藏"},
		"btn_restore": {"Restore to normal", "恢复为正常"}}
	tests := []struct {
		name   string
		p      okr.Period
		values map[okr.Status]Value
	}{
		{"all", q1, all},
		{"close and hide", q1, map[okr.Status]Value{okr.StatusInvalid: ask("2"), okr.StatusHidden: ask("3")}},
		{"restore only", h2, map[okr.Status]Value{okr.StatusNormal: ask("1"), okr.StatusHidden: nil}},
		{"empty value", h2, map[okr.Status]Value{okr.StatusInvalid: {}}},
		{"none", q1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := PeriodActions(tt.p, "2022-01", "2022-03", tt.values)
			validate(t, c, false)
			checkBilingual(t, c)
			if got := headerTemplate(t, c); got != "blue" {
				t.Errorf("template = %q", got)
			}
			want := []string{"Manage period", tt.p.EnName, "`" + tt.p.ID + "`", "2022-01 – 2022-03", "**Current status**\n" + StatusName(tt.p.Status).EN}
			checkButtons(t, c, map[string]Value{"btn_close": tt.values[okr.StatusInvalid], "btn_hide": tt.values[okr.StatusHidden],
				"btn_restore": tt.values[okr.StatusNormal]})
			if len(buttons(t, c)) == 0 {
				want = append(want, "No status change is offered")
			} else {
				want = append(want, "whole tenant", "asked to confirm")
			}
			checkShows(t, c, want, []string{"管理周期", tt.p.ZhName, "**当前状态**\n" + StatusName(tt.p.Status).ZH}, nil)
			for id, b := range buttons(t, c) {
				if en, zh := buttonLabel(b); en != labels[id][0] || zh != labels[id][1] {
					t.Errorf("%s label = %q / %q", id, en, zh)
				}
			}
		})
	}
}

func TestStatusWords(t *testing.T) {
	tests := []struct {
		s            okr.Status
		name, nameZH string
		verb, verbZH string
	}{
		{okr.StatusDefault, "Normal", "正常", "restore to normal", "恢复为正常"},
		{okr.StatusNormal, "Normal", "正常", "restore to normal", "恢复为正常"},
		{okr.StatusInvalid, "Invalid", "已失效", "mark invalid", "标记失效"},
		{okr.StatusHidden, "Hidden", "已隐藏", "hide", "隐藏"},
		{9, "Status 9", "状态 9", "set to status 9", "设为状态 9"},
	}
	for _, tt := range tests {
		if got := StatusName(tt.s); got != (Text{tt.nameZH, tt.name}) {
			t.Errorf("StatusName(%d) = %+v", tt.s, got)
		}
		if got := statusVerb(tt.s); got != (Text{tt.verbZH, tt.verb}) {
			t.Errorf("statusVerb(%d) = %+v", tt.s, got)
		}
	}
}

func TestShowIDAndMonths(t *testing.T) {
	for in, want := range map[string]string{
		"7301234567890123456":   "`7301234567890123456`",
		" p-1_a ":               "`p-1_a`",
		"":                      "—",
		"a`b":                   "a&#96;b",
		"<at id=all></at>":      "&#60;at id=all&#62;&#60;/at&#62;",
		"周期":                    "周期",
		strings.Repeat("9", 65): strings.Repeat("9", 63) + "…",
	} {
		if got := showID(in); got != want {
			t.Errorf("showID(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tt := range []struct{ start, end, want string }{
		{"2022-01", "2022-03", "2022-01 – 2022-03"},
		{"2022-01", "2022-01", "2022-01"},
		{"2022-01", "", "2022-01"},
		{"", "2022-03", "— – 2022-03"},
		{"", "", "—"},
		{"<x>", "*", "&#60;x&#62; – &#42;"},
	} {
		if got := months(tt.start, tt.end); got != tt.want {
			t.Errorf("months(%q, %q) = %q, want %q", tt.start, tt.end, got, tt.want)
		}
	}
}
