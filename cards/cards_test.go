package cards

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"okrbot/internal/okr"
)

// testCommands is a command table like the bot's, for the help, usage and
// unknown-command cards.
var testCommands = []CommandHelp{
	{Usage: "/newperiod <month | year | month..month> [period_rule_id]", Aliases: []string{"/新建周期"},
		Title: Text{"新建周期", "Create periods"},
		Summary: Text{"创建从该月开始的 OKR 周期；写年份或“起..止”月份则创建其间规则允许的每个周期。仅限操作员。",
			"Creates the OKR period starting that month; a year or a span (first..last) creates every period of the rule in it. Operators only."},
		Examples: []string{"/newperiod 2022-01", "/新建周期 2023年", "/newperiod 2023-01..2023-06"}, Months: true},
	{Usage: "/closeperiod <period_id | month>", Aliases: []string{"/关闭周期"},
		Title: Text{"关闭周期", "Close a period"},
		Summary: Text{"把周期标记为失效（全租户生效），确认后执行。仅限操作员。",
			"Marks the period invalid for the whole tenant, after you confirm. Operators only."},
		Examples: []string{"/closeperiod 2023-04", "/关闭周期 7301234567890123456"}, Months: true},
	{Usage: "/periods", Aliases: []string{"/周期列表"}, Title: Text{"周期列表", "List periods"},
		Summary:  Text{"列出本租户的 OKR 周期：名称、ID、月份、状态。", "Lists the tenant's OKR periods: name, id, months and status."},
		Examples: []string{"/periods"}},
	{Usage: "/rules", Aliases: []string{"/周期规则"}, Title: Text{"周期规则", "List period rules"},
		Summary:  Text{"列出周期规则：ID、类型、长度、首月。", "Lists the period rules: id, type, length and first month."},
		Examples: []string{"/rules"}},
	{Usage: "/help", Aliases: []string{"/帮助"}, Title: Text{"帮助", "Help"},
		Summary: Text{"显示这张卡片。", "Shows this card."}, Examples: []string{"/help"}},
}

// inputs are the values fed to every builder wherever it takes an untrusted
// string; hostile ones must not inject anything.
var inputs = []struct {
	name    string
	s       string
	hostile bool
}{
	{"normal", "2022-01", false},
	{"empty", "", false},
	{"open_id", "ou_4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d", false},
	{"at_all", "<at id=all></at>", true},
	{"at_ids", "<at ids=ou_1,ou_2></at>", true},
	{"link", "[x](http://evil)", true},
	{"font", "<font color=red>red</font>", true},
	{"emoji", ":DONE:", true},
	{"bold", "**", true},
	{"anchor", "<a href='http://evil'>x</a>", true},
	{"link_tag", `<link url="http://evil">x</link>`, true},
	{"person", "<person id=ou_1></person>", true},
	{"entity", "&#60;at id=all&#62;&#60;/at&#62;", true},
	{"lines", "x\n# heading\n> quote\n- list\n|a|b|", true},
	{"controls", "a\x00b\x1fc\u2028d\xff", true},
	{"bidi", "\u202eni.live//:ptth\u202c \u2066x\u2069\u200b\u200d\u200e\ufeff<at id=all></at>", true},
	{"huge_lt", strings.Repeat("<", 100*1024), true},
	{"huge_quote", strings.Repeat(`"`, 100*1024), true}, // each one is two bytes in JSON
	{"huge_cjk", strings.Repeat("界", 40*1024), true},
	{"huge_mix", strings.Repeat("<at id=all></at>[x](http://evil):DONE:", 3000), true},
}

// allCards builds every card of the package with s in every untrusted
// position.
func allCards(s string) map[string]Card {
	v := Value{"op": "x", "month": "2022-01"} // values are bot-made
	rule := okr.Rule{ID: s, Type: s, Length: 3, FirstMonth: 1}
	fails := map[string]Failure{
		"known":   {Action: Text{"创建周期 2022-01", "Create period 2022-01"}, Code: 1001008, HTTPStatus: 400, Msg: s, LogID: s, Retry: v, ShowPeriods: v},
		"unknown": {Action: Text{"创建周期", "Create period"}, Code: 4242, HTTPStatus: 400, Msg: s, LogID: s, Detail: s, Retry: v},
		"network": {Cause: CauseNetwork, Detail: s, Msg: s, Retry: v},
		"timeout": {Cause: CauseTimeout, Detail: s},
		"none":    {Msg: s, LogID: s},
	}
	cs := map[string]Card{
		"PeriodCreated": PeriodCreated(Created{PeriodID: s, StartMonth: s, EndMonth: s, Rule: rule, RequestedBy: s,
			Note: Text{"超时后确认", "confirmed after a timeout"}}),
		"Usage":          Usage(Text{"月份不对。", "Bad month."}, s, testCommands[0]),
		"UsageZero":      Usage(Text{}, s, CommandHelp{Usage: "/periods", Title: Text{"周期列表", "List periods"}}),
		"Unknown":        UnknownCommand(s, "/newperiod", testCommands),
		"UnknownNoGuess": UnknownCommand(s, "", testCommands),
		"Refusal":        Refusal(s, s),
		"Late":           Late(s, 3*time.Hour),
		"HelpDefault":    Help(testCommands, true),
		"HelpNone":       Help(testCommands, false),
		"RulePicker": RulePicker(s, []RuleChoice{{rule, v}, {okr.Rule{ID: "2", Length: 1}, v}, {okr.Rule{ID: s, Length: 12, FirstMonth: 7}, nil},
			{okr.Rule{ID: s, Length: 2, FirstMonth: 3}, Value{}}}),
		"RulePickerEmpty": RulePicker(s, nil),
		"PeriodList": PeriodList([]PeriodRow{
			{okr.Period{ID: s, ZhName: s, EnName: s}, s, s, v},
			{okr.Period{ID: "1", EnName: s, Status: okr.StatusInvalid}, "2022-01", s, nil},
			{okr.Period{ID: s, ZhName: s, Status: okr.StatusHidden}, s, "", Value{}},
			{okr.Period{ID: s, Status: 9}, "", "", v}}, 5),
		"PeriodListEmpty": PeriodList(nil, 0),
		"PeriodListMore":  PeriodList(nil, 7),
		"RuleList":        RuleList([]okr.Rule{rule, {ID: s, Type: "year", Length: 12, FirstMonth: 1}, {ID: s, Type: "month", Length: 1}}),
		"RuleListEmpty":   RuleList(nil),
		"NoticeInfo":      Notice(LevelInfo, Text{"按钮已过期", "This button has expired"}, Text{"请重新发送命令。", "Send the command again."}),
		"NoticeZero":      Notice(LevelSuccess, Text{}, Text{}),
	}
	for name, f := range fails {
		cs["Error_"+name] = Error(f)
	}
	for name, c := range lifecycleCards(s) {
		cs[name] = c
	}
	return cs
}

func TestEveryCardIsValid(t *testing.T) {
	for _, in := range inputs {
		for name, c := range allCards(in.s) {
			t.Run(in.name+"/"+name, func(t *testing.T) {
				validate(t, c, in.hostile)
			})
		}
	}
}

func TestLongListsAreCut(t *testing.T) {
	long := strings.Repeat("<", 2000)
	var items []PeriodRow
	var rules []okr.Rule
	var choices []RuleChoice
	var periods []PeriodChoice
	for i := range 300 {
		items = append(items, PeriodRow{Period: okr.Period{ID: fmt.Sprint(i), ZhName: long, EnName: long}, Start: long, End: long,
			Manage: Value{"op": "manage", "p": fmt.Sprint(i), "sig": strings.Repeat("f", 64)}})
		rules = append(rules, okr.Rule{ID: long, Type: long, Length: 3, FirstMonth: 1})
		choices = append(choices, RuleChoice{okr.Rule{ID: long, Length: 1}, Value{"rule": fmt.Sprint(i)}})
		periods = append(periods, PeriodChoice{okr.Period{ID: long, ZhName: long, EnName: long}, long, long, Value{"p": fmt.Sprint(i)}})
	}
	for name, c := range map[string]Card{
		"PeriodList":   PeriodList(items, 10),
		"RuleList":     RuleList(rules),
		"RulePicker":   RulePicker("2022-01", choices),
		"ChoosePeriod": ChoosePeriod("2022-01", okr.StatusHidden, periods),
	} {
		t.Run(name, func(t *testing.T) {
			validate(t, c, true)
			_, en := allTexts(t, c)
			if !shows(en, "more not shown") {
				t.Errorf("cut list does not say how many were left out")
			}
		})
	}
	short := make([]PeriodRow, 25)
	for i := range short {
		short[i] = PeriodRow{Period: okr.Period{ID: fmt.Sprint(i), EnName: "Jan 2022"}, Manage: Value{"p": fmt.Sprint(i)}}
	}
	_, en := allTexts(t, PeriodList(short, 10))
	if !shows(en, fmt.Sprintf("and %d more not shown", 10+25-maxRows)) {
		t.Errorf("PeriodList does not add its own cut to more: %q", en)
	}
}

func TestEncode(t *testing.T) {
	if _, err := (Card{}).Encode(); err == nil {
		t.Error("zero Card encoded without error")
	}
	big := Notice(LevelInfo, Text{"x", "x"}, Text{strings.Repeat("x", MaxBytes), "y"})
	if _, err := big.Encode(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Encode of a 30 KB body: err = %v, want ErrTooLarge", err)
	}
	// MarshalJSON embeds the card as an object in a callback answer.
	c := Notice(LevelSuccess, Text{"周期已创建", "Period created"}, Text{})
	b, err := json.Marshal(map[string]any{"card": map[string]any{"type": "raw", "data": c}})
	if err != nil {
		t.Fatal(err)
	}
	var answer struct {
		Card struct {
			Data map[string]any `json:"data"`
		} `json:"card"`
	}
	if err := json.Unmarshal(b, &answer); err != nil || answer.Card.Data["schema"] != "2.0" {
		t.Errorf("embedded card = %s (%v)", b, err)
	}
}

// specCodes is the Create Period API table of docs/contract.md §5.
var specCodes = []struct {
	http, code int
	meaning    string
}{
	{500, 1009999, "Unknown error"},
	{400, 1001001, "Invalid parameters"},
	{403, 1001002, "No permission"},
	{400, 1001003, "User not found"},
	{400, 1001004, "OKR data not found"},
	{403, 1000403, "OpenAPI unavailable in the Standard edition"},
	{400, 1001008, "Conflict period existed"},
	{400, 1001009, "Start date does not fit the period rule"},
}

func TestSpecCodes(t *testing.T) {
	const logID = "20240612153012A1B2C3D4E5F60718293A"
	for _, sc := range specCodes {
		t.Run(fmt.Sprint(sc.code), func(t *testing.T) {
			e, ok := Lookup(sc.code)
			if !ok {
				t.Fatal("not in the catalogue")
			}
			if e.Code != sc.code || e.HTTPStatus != sc.http || e.Meaning.EN != sc.meaning {
				t.Errorf("entry = %+v, want HTTP %d meaning %q", e, sc.http, sc.meaning)
			}
			c := Error(Failure{Action: Text{"创建周期 2022-01", "Create period 2022-01"},
				Code: sc.code, HTTPStatus: sc.http, Msg: "feishu says so", LogID: logID})
			validate(t, c, false)
			zh, en := allTexts(t, c)
			for _, want := range []string{sc.meaning, e.Advice.EN, fmt.Sprint(sc.code), fmt.Sprint("HTTP ", sc.http), logID} {
				if !shows(en, want) {
					t.Errorf("English card lacks %q", want)
				}
			}
			for _, want := range []string{e.Meaning.ZH, e.Advice.ZH, fmt.Sprint(sc.code), logID} {
				if !shows(zh, want) {
					t.Errorf("Chinese card lacks %q", want)
				}
			}
			if shows(en, "feishu says so") {
				t.Error("a catalogued code shows Feishu's msg")
			}
			raw, _ := c.Encode()
			if !strings.Contains(raw, sc.meaning) {
				t.Errorf("encoded card lacks %q", sc.meaning)
			}
		})
	}
}

func TestCatalogue(t *testing.T) {
	entries := Entries()
	seen := map[int]bool{}
	for _, e := range entries {
		if seen[e.Code] {
			t.Errorf("code %d twice", e.Code)
		}
		seen[e.Code] = true
		if e.Code == 0 || e.HTTPStatus == 0 || e.Meaning.ZH == "" || e.Meaning.EN == "" || e.Advice.ZH == "" || e.Advice.EN == "" {
			t.Errorf("incomplete entry %+v", e)
		}
		if got, ok := Lookup(e.Code); !ok || got != e {
			t.Errorf("Lookup(%d) = %+v, %v", e.Code, got, ok)
		}
	}
	for i, sc := range specCodes {
		if entries[i].Code != sc.code {
			t.Errorf("Entries()[%d] = %d, want the spec order (%d)", i, entries[i].Code, sc.code)
		}
	}
	// The platform codes a call may meet are explained too (whether a
	// retry helps is the code table's, not the catalogue's: see
	// TestErrorCard).
	for _, code := range []int{99991663, 99991671, 99991664, 99991661, 99991672, 99991400, 10014, 10015, 1009998, 230002,
		230011, 230020, 230031} {
		if _, ok := Lookup(code); !ok {
			t.Errorf("code %d missing", code)
		}
	}
	for _, code := range []int{99991672, 1001002} {
		e, _ := Lookup(code)
		if !strings.Contains(e.Advice.EN, "okr:okr") || !strings.Contains(e.Advice.ZH, "okr:okr") {
			t.Errorf("code %d advice does not name the okr:okr scope: %+v", code, e.Advice)
		}
	}
	for _, code := range []int{10014, 10015} {
		if e, _ := Lookup(code); !strings.Contains(e.Advice.EN, "FEISHU_APP_SECRET") {
			t.Errorf("code %d advice does not name the credentials: %q", code, e.Advice.EN)
		}
	}
	if _, ok := Lookup(0); ok {
		t.Error("Lookup(0) found an entry")
	}
	entries[0].Meaning.EN = "changed"
	if e, _ := Lookup(entries[0].Code); e.Meaning.EN == "changed" {
		t.Error("Entries hands out the catalogue itself")
	}
	for _, c := range []Cause{CauseNone, CauseNetwork, CauseTimeout} {
		e := CauseEntry(c)
		if e.Code != 0 || e.Meaning.EN == "" || e.Meaning.ZH == "" || e.Advice.EN == "" || e.Advice.ZH == "" {
			t.Errorf("CauseEntry(%d) = %+v", c, e)
		}
	}
}

func TestErrorCard(t *testing.T) {
	tests := []struct {
		name     string
		f        Failure
		template string
		want     []string // in the English texts
		notWant  []string
	}{
		{"unknown code", Failure{Code: 4242, HTTPStatus: 418, Msg: "teapot <at id=all></at>", LogID: "L1"}, "red",
			[]string{"4242", "HTTP 418", "teapot &#60;at id=all&#62;&#60;/at&#62;", "Log ID: L1", "Feishu returned an error"}, []string{"<at"}},
		{"transient", Failure{Code: 1009999, HTTPStatus: 500, Class: okr.ClassTransient}, "orange", []string{"Unknown error", "1009999"}, []string{"Log ID"}},
		{"rate limited", Failure{Code: 99991400, HTTPStatus: 429, Class: okr.ClassRateLimited}, "orange", []string{"Rate limited", "HTTP 429"}, nil},
		{"token refused", Failure{Code: 99991663, Class: okr.ClassTokenInvalid}, "orange", []string{"Tenant access token invalid"}, nil},
		{"unknown code transient", Failure{Code: 4242, Class: okr.ClassTransient, Msg: "busy"}, "orange", []string{"Feishu returned an error", "busy"}, nil},
		{"class decides, not the code", Failure{Code: 1009999, HTTPStatus: 500, Class: okr.ClassPermanent}, "red", []string{"Unknown error"}, nil},
		{"permanent", Failure{Code: 1001009, HTTPStatus: 400}, "red", []string{"Start date does not fit the period rule"}, nil},
		{"conflict", Failure{Code: 1001008, HTTPStatus: 400, Class: okr.ClassConflict}, "red", []string{"Conflict period existed"}, nil},
		{"not found", Failure{Code: 1001004, HTTPStatus: 400, Class: okr.ClassNotFound}, "red", []string{"OKR data not found"}, nil},
		{"final", Failure{Code: 230031, HTTPStatus: 400, Class: okr.ClassFinal}, "red", []string{"can no longer be updated"}, nil},
		{"network", Failure{Cause: CauseNetwork, Detail: "dial tcp: connection refused"}, "orange",
			[]string{"Network error", "dial tcp&#58; connection refused", "Request failed"}, []string{"Error code"}},
		{"timeout", Failure{Action: Text{"创建周期 2022-01", "Create period 2022-01"}, Cause: CauseTimeout}, "orange",
			[]string{"Timeout", "/periods", "Create period 2022-01 failed"}, nil},
		{"no code no cause", Failure{Msg: "boom"}, "red", []string{"Unexpected error", "boom"}, nil},
		{"stack-like msg is clipped", Failure{Code: 4242, Msg: strings.Repeat("goroutine 1 [running]: ", 5000)}, "red",
			[]string{"goroutine 1 &#91;running&#93;", "…"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Error(tt.f)
			validate(t, c, true)
			if got := headerTemplate(t, c); got != tt.template {
				t.Errorf("template = %q, want %q", got, tt.template)
			}
			_, en := allTexts(t, c)
			for _, w := range tt.want {
				if !shows(en, w) {
					t.Errorf("card lacks %q: %q", w, en)
				}
			}
			for _, w := range tt.notWant {
				if shows(en, w) {
					t.Errorf("card shows %q: %q", w, en)
				}
			}
		})
	}
}

func TestErrorButtons(t *testing.T) {
	retry := Value{"op": "retry", "month": "2022-01"}
	periods := Value{"op": "periods"}
	for _, tt := range []struct {
		retry, periods Value
	}{{nil, nil}, {retry, nil}, {nil, periods}, {retry, periods}, {Value{}, nil}} {
		c := Error(Failure{Code: 1001008, Retry: tt.retry, ShowPeriods: tt.periods})
		validate(t, c, false)
		bs := buttons(t, c)
		for id, want := range map[string]Value{"btn_retry": tt.retry, "btn_periods": tt.periods} {
			b, ok := bs[id]
			if ok != (want != nil) {
				t.Errorf("retry=%v periods=%v: button %s present = %v", tt.retry, tt.periods, id, ok)
				continue
			}
			if ok && fmt.Sprint(buttonValue(b)) != fmt.Sprint(map[string]any(toAny(want))) {
				t.Errorf("button %s value = %v, want %v", id, buttonValue(b), want)
			}
		}
		if len(bs) != btoi(tt.retry != nil)+btoi(tt.periods != nil) {
			t.Errorf("buttons = %v", bs)
		}
	}
}

func toAny(v Value) map[string]any {
	m := map[string]any{}
	for k, s := range v {
		m[k] = s
	}
	return m
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestRuleName(t *testing.T) {
	tests := []struct {
		r      okr.Rule
		en, zh string
	}{
		{okr.Rule{Length: 1, FirstMonth: 1}, "Monthly", "月度"},
		{okr.Rule{Length: 1, FirstMonth: 5}, "Monthly", "月度"},
		{okr.Rule{Length: 3, FirstMonth: 1}, "Quarterly from January", "季度（1 月起）"},
		{okr.Rule{Length: 3, FirstMonth: 2}, "Quarterly from February", "季度（2 月起）"},
		{okr.Rule{Length: 6, FirstMonth: 7}, "Half-yearly from July", "半年（7 月起）"},
		{okr.Rule{Type: "year", Length: 12, FirstMonth: 1}, "Yearly from January", "年度（1 月起）"},
		{okr.Rule{Length: 12, FirstMonth: 12}, "Yearly from December", "年度（12 月起）"},
		{okr.Rule{Length: 2, FirstMonth: 3}, "Every 2 months from March", "每 2 个月（3 月起）"},
		{okr.Rule{Length: 4, FirstMonth: 13}, "Every 4 months from month 13", "每 4 个月（13 月起）"},
		{okr.Rule{Length: 0}, "Custom period (0 months)", "自定义周期（0 个月）"},
	}
	for _, tt := range tests {
		if got := RuleName(tt.r); got.EN != tt.en || got.ZH != tt.zh {
			t.Errorf("RuleName(%+v) = %+v, want %q / %q", tt.r, got, tt.en, tt.zh)
		}
	}
}

func TestPeriodCreated(t *testing.T) {
	base := Created{PeriodID: "7301234567890123456", StartMonth: "2022-01", EndMonth: "2022-03",
		Rule: okr.Rule{ID: "7290000000000000002", Type: "month", Length: 3, FirstMonth: 1}}
	tests := []struct {
		by         string
		note       Text
		want, deny []string
	}{
		{"ou_4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d", Text{}, []string{"<at id=ou_4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d></at>"}, nil},
		{"ou_x></at><at id=all", Text{}, []string{"ou&#95;x&#62;&#60;/at&#62;&#60;at id=all"}, []string{"<at"}},
		{"all", Text{"超时后确认", "confirmed after a timeout"}, []string{"confirmed after a timeout"}, []string{"<at"}},
		{"", Text{}, []string{"—"}, []string{"<at"}},
	}
	for _, tt := range tests {
		c := base
		c.RequestedBy, c.Note = tt.by, tt.note
		card := PeriodCreated(c)
		validate(t, card, false)
		if got := headerTemplate(t, card); got != "green" {
			t.Errorf("template = %q", got)
		}
		zh, en := allTexts(t, card)
		for _, w := range append([]string{"OKR period created", "7301234567890123456", "2022-01", "2022-03",
			"7290000000000000002", "Quarterly from January", "Requested by"}, tt.want...) {
			if !shows(en, w) {
				t.Errorf("by %q: card lacks %q", tt.by, w)
			}
		}
		for _, w := range []string{"OKR 周期已创建", "季度（1 月起）"} {
			if !shows(zh, w) {
				t.Errorf("Chinese card lacks %q", w)
			}
		}
		for _, w := range tt.deny {
			if shows(en, w) || shows(zh, w) {
				t.Errorf("by %q: card shows %q", tt.by, w)
			}
		}
	}
}

func TestPeriodList(t *testing.T) {
	manage := func(id string) Value { return Value{"op": "manage", "p": id} }
	c := PeriodList([]PeriodRow{
		{okr.Period{ID: "p0", ZhName: "2022 年 1 月 - 3 月", EnName: "Jan - Mar 2022", Status: 0}, "2022-01", "2022-03", manage("p0")},
		{okr.Period{ID: "p1", ZhName: "二月", Status: 1}, "2022-02", "2022-02", nil},
		{okr.Period{ID: "p2", EnName: "Feb 2022", Status: 2}, "2022-02", "", manage("p2")},
		{okr.Period{ID: "p3", ZhName: "隐藏", EnName: "Hidden one", Status: 3}, "", "2022-12", Value{}},
		{okr.Period{ID: "p4", Status: 7}, "", "", nil},
	}, 4)
	validate(t, c, false)
	zh, en := allTexts(t, c)
	for _, w := range []string{"Jan - Mar 2022", "Normal", "Invalid", "Hidden", "Status 7", "(no name)", "二月", "Feb 2022",
		"`p0`", "`p4`", "2022-01 – 2022-03", "— – 2022-12", "and 4 more not shown", "Change status", "Months"} {
		if !shows(en, w) {
			t.Errorf("English list lacks %q", w)
		}
	}
	for _, w := range []string{"2022 年 1 月 - 3 月", "正常", "已失效", "已隐藏", "状态 7", "二月", "Feb 2022", "另有 4 项", "变更状态", "月份"} {
		if !shows(zh, w) {
			t.Errorf("Chinese list lacks %q", w)
		}
	}
	if shows(en, "2022-02 – 2022-02") {
		t.Error("a one-month period shows its month twice")
	}
	// One "Change status" button per row with a Manage value, carrying it.
	bs := buttons(t, c)
	want := map[string]string{"manage_1": "p0", "manage_3": "p2", "manage_4": ""}
	if len(bs) != len(want) {
		t.Errorf("buttons = %v, want %v", bs, want)
	}
	for id, p := range want {
		b, ok := bs[id]
		if !ok {
			t.Errorf("no button %s", id)
			continue
		}
		if got := str(buttonValue(b)["p"]); got != p {
			t.Errorf("button %s carries p=%q, want %q", id, got, p)
		}
		if b["size"] != "small" || str(b["text"].(map[string]any)["content"]) != "Change status" {
			t.Errorf("button %s = %v", id, b)
		}
	}
	if bs := buttons(t, PeriodList([]PeriodRow{{Period: okr.Period{ID: "p0"}}}, 0)); len(bs) != 0 {
		t.Errorf("rows without Manage have buttons: %v", bs)
	}
	if _, en := allTexts(t, PeriodList(nil, 0)); !shows(en, "No periods yet") {
		t.Errorf("empty list: %q", en)
	}
	if _, en := allTexts(t, PeriodList([]PeriodRow{{Period: okr.Period{ID: "p0", ZhName: "a", EnName: "b"}}}, 0)); shows(en, "more not shown") {
		t.Errorf("complete list says more: %q", en)
	}
}

func TestRuleList(t *testing.T) {
	c := RuleList([]okr.Rule{{ID: "7290000000000000001", Type: "month", Length: 1, FirstMonth: 1},
		{ID: "7290000000000000003", Type: "year", Length: 12, FirstMonth: 1}, {ID: "r9", Type: "odd", Length: 2, FirstMonth: 3}})
	validate(t, c, false)
	_, en := allTexts(t, c)
	for _, w := range []string{"7290000000000000001", "Monthly", "Yearly from January", "type year", "12 months",
		"first month January", "Every 2 months from March", "type odd"} {
		if !shows(en, w) {
			t.Errorf("rule list lacks %q", w)
		}
	}
	if _, en := allTexts(t, RuleList(nil)); !shows(en, "No period rules yet") {
		t.Errorf("empty: %q", en)
	}
}

func TestRulePicker(t *testing.T) {
	choices := []RuleChoice{
		{okr.Rule{ID: "r1", Length: 1, FirstMonth: 1}, Value{"op": "pick", "rule": "r1"}},
		{okr.Rule{ID: "r3", Length: 3, FirstMonth: 1}, Value{"op": "pick", "rule": "r3"}},
		{okr.Rule{ID: "r12", Length: 12, FirstMonth: 1}, nil},
	}
	c := RulePicker("2022-01", choices)
	validate(t, c, false)
	hdr := decode(t, c)["header"].(map[string]any)["title"].(map[string]any)
	if got := str(hdr["content"]); got != "Choose a period rule for 2022-01" {
		t.Errorf("title = %q", got)
	}
	bs := buttons(t, c)
	if len(bs) != 2 {
		t.Fatalf("buttons = %d, want 2 (one per rule with a value)", len(bs))
	}
	labels := map[string]string{}
	for _, b := range bs {
		labels[str(b["text"].(map[string]any)["content"])] = str(buttonValue(b)["rule"])
	}
	if labels["Monthly"] != "r1" || labels["Quarterly from January"] != "r3" {
		t.Errorf("buttons label → rule = %v", labels)
	}
	if _, en := allTexts(t, c); !shows(en, "Yearly from January") || !shows(en, "r12") {
		t.Errorf("rule without a value is not shown: %q", en)
	}
	if _, en := allTexts(t, RulePicker("2022-01", nil)); !shows(en, "no period rules") {
		t.Errorf("empty picker: %q", en)
	}
}

func TestMessageCards(t *testing.T) {
	tests := []struct {
		name     string
		c        Card
		template string
		want     []string
	}{
		{"usage", Usage(Text{"月份 13 不存在。", "Month 13 does not exist."}, "/newperiod 2022-13 <at id=all></at>", testCommands[0]), "orange",
			[]string{"Can't read that command", "Month 13 does not exist.", "/newperiod 2022-13 &#60;at id=all&#62;",
				"`/newperiod <month | year | month..month> [period_rule_id]`", "`/新建周期`", "`/newperiod 2023-01..2023-06`",
				"2022-01", "2022-1", "2022/01", "202201", "2022年1月", "Example", "/help"}},
		{"usage no months", Usage(Text{"多余的参数。", "Extra arguments."}, "/periods x", testCommands[2]), "orange",
			[]string{"Extra arguments.", "`/periods`", "`/周期列表`"}},
		{"usage empty", Usage(Text{}, "", testCommands[4]), "orange", []string{"(empty)", "not in the expected form", "`/help`"}},
		{"unknown", UnknownCommand("/newperiods 2022-01 <at id=all></at>", "/newperiod", testCommands), "orange",
			[]string{"Unknown command", "/newperiods 2022-01 &#60;at id=all&#62;", "Did you mean `/newperiod`?",
				"`/closeperiod <period_id | month>` · Close a period", "`/rules` · List period rules", "`/help` · Help"}},
		{"unknown no guess", UnknownCommand("", "", testCommands), "orange", []string{"(empty)", "`/periods` · List periods"}},
		{"refusal", Refusal("ou_4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d", "/newperiod 2022-01"), "red",
			[]string{"`ou_4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d`", "/newperiod 2022-01", "access.operators", "OKRBOT_OPERATORS"}},
		{"refusal odd id", Refusal("ou_<x>", "/newperiod"), "red", []string{"ou&#95;&#60;x&#62;"}},
		{"late", Late("/newperiod 2022-01", 3*time.Hour+4*time.Minute+10*time.Second), "orange",
			[]string{"/newperiod 2022-01", "3 hours 4 minutes", "not executed", "send it again"}},
		{"help default", Help(testCommands, true), "blue", []string{"/newperiod <month | year | month..month> [period_rule_id]",
			"/closeperiod <period_id | month>", "/periods", "/rules", "/help", "/新建周期", "/关闭周期", "/周期列表", "/周期规则", "/帮助",
			"Create periods", "Marks the period invalid", "A default period rule is configured", "/newperiod 2022-01", "2022年1月"}},
		{"help none", Help(testCommands, false), "blue", []string{"No default period rule is configured"}},
		{"help empty table", Help(nil, false), "blue", []string{"Month formats"}},
		{"info", Notice(LevelInfo, Text{"处理中…", "Working on it…"}, Text{}), "blue", []string{"Working on it…"}},
		{"warning", Notice(LevelWarning, Text{"按钮已过期", "This button has expired"}, Text{"请重新发送命令。", "Send the command again."}), "orange",
			[]string{"This button has expired", "Send the command again."}},
		{"error", Notice(LevelError, Text{}, Text{"x", "x"}), "red", []string{"Error"}},
		{"success", Notice(LevelSuccess, Text{}, Text{}), "green", []string{"Done"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			validate(t, tt.c, false)
			if got := headerTemplate(t, tt.c); got != tt.template {
				t.Errorf("template = %q, want %q", got, tt.template)
			}
			_, en := allTexts(t, tt.c)
			for _, w := range tt.want {
				if !shows(en, w) {
					t.Errorf("card lacks %q: %q", w, en)
				}
			}
		})
	}
}

func TestHumanAge(t *testing.T) {
	tests := []struct {
		d      time.Duration
		en, zh string
	}{
		{-time.Second, "0 seconds", "0 秒"},
		{1400 * time.Millisecond, "1 second", "1 秒"},
		{59*time.Second + 600*time.Millisecond, "1 minute", "1 分钟"},
		{11*time.Minute + 29*time.Second, "11 minutes", "11 分钟"},
		{59*time.Minute + 40*time.Second, "1 hour", "1 小时"},
		{2*time.Hour + 5*time.Minute, "2 hours 5 minutes", "2 小时 5 分钟"},
		{6 * time.Hour, "6 hours", "6 小时"},
		{50 * time.Hour, "2 days 2 hours", "2 天 2 小时"},
		{72*time.Hour + 10*time.Minute, "3 days", "3 天"},
	}
	for _, tt := range tests {
		if got := humanAge(tt.d); got.EN != tt.en || got.ZH != tt.zh {
			t.Errorf("humanAge(%v) = %+v, want %q / %q", tt.d, got, tt.en, tt.zh)
		}
	}
}
