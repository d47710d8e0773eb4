package cards

import (
	"fmt"

	"okrbot/internal/okr"
)

// This file holds the cards of the period lifecycle beyond one create:
// spans (/newperiod 2023), status changes (/closeperiod, /hideperiod,
// /restoreperiod) and the answer to a command cut short by shutdown.

// SpanOutcome is what became of one period of a span.
type SpanOutcome int

// The outcomes of one period of a span.
const (
	SpanCreated SpanOutcome = iota // created now: PeriodID set
	SpanExists                     // already there (1001008): nothing to do
	SpanFailed                     // Feishu refused or did not answer: Failure set
)

// SpanItem is one period of a span's summary.
type SpanItem struct {
	Start, End string // months "YYYY-MM"
	Outcome    SpanOutcome
	PeriodID   string  // SpanCreated
	Failure    Failure // SpanFailed: Code, HTTPStatus, Msg, LogID, Class, Cause, Detail (Action, buttons unused)
}

// Span is what the summary card of /newperiod over a year or span shows.
type Span struct {
	First, Last string // the span as asked, "YYYY-MM"
	Rule        okr.Rule
	Items       []SpanItem // one per start month of the rule in the span, in order
	RequestedBy string     // open_id
	Retry       Value      // "Retry failed" button; nil = none
	Note        Text       // optional line, e.g. "retried the 2 failed periods"
}

// SpanSummary lists each period of a span with its outcome: created (id,
// months), already existed, or failed (code and meaning). Header green when
// nothing failed, orange when some failed and a retry may help, red
// otherwise. It stays under MaxBytes for the longest span (36 months of a
// monthly rule).
func SpanSummary(s Span) Card {
	if len(s.Items) == 0 {
		return SpanEmpty(s.First, s.Last, s.Rule)
	}
	var created, exists, failed int
	retry := false
	for _, it := range s.Items {
		switch it.Outcome {
		case SpanCreated:
			created++
		case SpanExists:
			exists++
		default:
			failed++
			retry = retry || mayRetry(it.Failure)
		}
	}
	template, title := green, tf("已创建 %d 个 OKR 周期", "%d OKR periods created", created)
	switch {
	case failed > 0 && retry:
		template = orange
	case failed > 0:
		template = red
	}
	switch {
	case failed == len(s.Items):
		title = Text{"OKR 周期创建失败", "The OKR periods could not be created"}
	case failed > 0:
		title = Text{"部分 OKR 周期未能创建", "Some OKR periods could not be created"}
	case created == 0:
		title = Text{"OKR 周期均已存在", "The OKR periods already exist"}
	case created == 1:
		title = Text{"已创建 1 个 OKR 周期", "1 OKR period created"}
	}

	// One markdown line per period: a table of column sets would take 7
	// components a row, and 36 rows would pass Feishu's 200.
	list := []Text{bold(Text{"各周期结果", "Each period"})}
	budget, shown := spanListBudget, 0
	for _, it := range s.Items {
		line := spanLine(it)
		if budget -= textSize(line); budget < 0 {
			break
		}
		list = append(list, line)
		shown++
	}

	els := []any{
		md(tf("已创建：**%d** · 已存在：**%d** · 失败：**%d**", "Created: **%d** · Already existed: **%d** · Failed: **%d**",
			created, exists, failed)),
	}
	els = append(els, grid(
		field{Text{"周期规则", "Period rule"}, tf("%s\n规则 ID %s", "%s\nRule ID %s", RuleName(s.Rule), same(showID(s.Rule.ID)))},
		field{Text{"发起人", "Requested by"}, same(orDash(mention(s.RequestedBy)))},
	)...)
	els = append(els, hr(), md(lines(list...)), moreLine(len(s.Items)-shown, Text{}))
	if failed > 0 {
		els = append(els, spanFailures(s.Items)...)
	}
	if !s.Note.IsZero() {
		els = append(els, note(s.Note))
	}
	els = append(els, buttonRow(button("btn_retry", btnPrimary, Text{"重试失败的周期", "Retry the failed periods"}, s.Retry)))
	return newCard(template, title, spanSubtitle(s.First, s.Last, s.Rule), els...)
}

// SpanEmpty says that no period of rule starts in first..last, so nothing
// was created.
func SpanEmpty(first, last string, rule okr.Rule) Card {
	var starts []Text
	for m := 1; m <= 12; m++ {
		if rule.Fits(okr.Month{Year: 2000, Month: m}) {
			starts = append(starts, monthName(m))
		}
	}
	els := []any{
		md(tf("按周期规则 **%s**（规则 ID %s），%s 没有可以开始的周期，因此**没有创建任何周期**。",
			"Under the period rule **%s** (rule id %s), no period starts in %s, so **no period was created**.",
			RuleName(rule), same(showID(rule.ID)), spanText(first, last))),
	}
	if len(starts) > 0 && len(starts) < 12 {
		els = append(els, md(tf("该规则的周期起始月份：%s。", "This rule's periods start in %s.", joinTexts(starts))))
	}
	els = append(els, note(Text{"请换一个范围或周期规则（发送 /周期规则 查看规则）。",
		"Choose another span or period rule (send /rules to see the rules)."}))
	return newCard(orange, Text{"范围内没有可创建的周期", "No period to create in that span"},
		spanSubtitle(first, last, rule), els...)
}

// StatusChange is a status change of one period, as the confirmation and
// outcome cards show it.
type StatusChange struct {
	Period      okr.Period // name, id and current status
	Start, End  string     // the period's months "YYYY-MM" in the tenant's zone
	To          okr.Status // StatusNormal, StatusInvalid or StatusHidden
	RequestedBy string     // open_id
}

// ConfirmStatus asks to confirm a tenant-wide status change: the period's
// name, id, months and current status, what it will become, and the
// buttons Confirm / 确认 (danger style for invalid and hidden) and
// Cancel / 取消.
func ConfirmStatus(c StatusChange, confirm, cancel Value) Card {
	typ := "danger"
	if c.To.Normalized() == okr.StatusNormal {
		typ = btnPrimary
	}
	els := periodFacts(c.Period, c.Start, c.End, field{Text{"当前状态", "Current status"}, StatusName(c.Period.Status)})
	els = append(els,
		md(changeLine(c)),
		md(Text{"此变更对**整个租户**生效，所有人看到的该周期状态都会改变。确认后机器人才会执行。",
			"This applies to the **whole tenant**: everyone will see the period's new status. The bot makes the change only after you confirm."}),
		optMD(requestedBy(c.RequestedBy)),
		buttonRow(
			button("btn_confirm", typ, Text{"确认", "Confirm"}, confirm),
			button("btn_cancel", btnDefault, Text{"取消", "Cancel"}, cancel),
		),
	)
	return newCard(orange, tf("确认将该周期%s？", "Confirm status change: %s", statusVerb(c.To)), plainName(c.Period), els...)
}

// PeriodChoice is one period offered by ChoosePeriod.
type PeriodChoice struct {
	Period     okr.Period
	Start, End string // months in the tenant's zone
	Value      Value  // the button's value; nil = shown without a button
}

// ChoosePeriod answers a status command naming a month in which several
// periods start: one button per period, each showing its name and id;
// pressing one leads to the confirmation.
func ChoosePeriod(month string, to okr.Status, choices []PeriodChoice) Card {
	if len(choices) == 0 {
		return NoSuchPeriod(month)
	}
	rows := make([]any, len(choices))
	for i, c := range choices {
		p := c.Period
		facts := tf("周期 ID %s · %s · %s", "Period ID %s · %s · %s",
			same(showID(p.ID)), same(months(c.Start, c.End)), StatusName(p.Status))
		label := plainName(p)
		if label.IsZero() {
			label = same(plain(p.ID, limitShort))
		}
		if label.IsZero() {
			label = Text{"（无名称）", "(no name)"}
		}
		if b := button(fmt.Sprintf("period_%d", i+1), btnDefault, label, c.Value); b != nil {
			rows[i] = columnSet(column(0, b), column(1, md(facts)))
		} else {
			rows[i] = md(lines(bold(periodName(p)), facts))
		}
	}
	rows, dropped := fit(rows)
	els := []any{md(tf("从 **%s** 开始的周期不止一个。要对哪个周期执行“%s”？点击周期后，还需要再确认一次。",
		"More than one period starts in **%s**. Which one do you want to %s? After you pick one, you will be asked to confirm.",
		orDash(esc(month, limitShort)), statusVerb(to)))}
	els = append(els, rows...)
	els = append(els, moreLine(dropped, Text{"未列出的周期可在命令中直接写明周期 ID（发送 /周期列表 查看）。",
		"To change a period not listed, name its id in the command (send /periods to see them)."}))
	return newCard(blue, tf("%s 开始的周期有多个", "Several periods start in %s", orDash(plain(month, limitShort))), Text{}, els...)
}

// StatusChanged is the outcome of a confirmed change: the period now has
// status c.To. by is who confirmed.
func StatusChanged(c StatusChange, by string) Card {
	els := periodFacts(c.Period, c.Start, c.End, field{Text{"当前状态", "Status now"}, StatusName(c.To)})
	asked := requestedBy(c.RequestedBy)
	if c.RequestedBy == by {
		asked = Text{} // one person asked and confirmed: name them once
	}
	els = append(els, md(changeLine(c)), optMD(lines(asked, confirmedBy(by))))
	return newCard(green, tf("周期状态已变更：%s", "Period status changed: %s", StatusName(c.To)), plainName(c.Period), els...)
}

// StatusUnchanged says the period already has the status asked for, so
// nothing was sent to Feishu.
func StatusUnchanged(c StatusChange) Card {
	els := periodFacts(c.Period, c.Start, c.End, field{Text{"当前状态", "Current status"}, StatusName(c.Period.Status)})
	els = append(els, md(tf("该周期的状态已经是 **%s**，无需变更：没有向飞书发送任何请求。",
		"The period's status is already **%s**, so nothing needed changing and nothing was sent to Feishu.", StatusName(c.To))))
	return newCard(blue, Text{"周期状态无需变更", "Period status already as asked"}, plainName(c.Period), els...)
}

// StatusCancelled is the confirmation card after Cancel: nothing changed.
func StatusCancelled(c StatusChange, by string) Card {
	els := periodFacts(c.Period, c.Start, c.End, field{Text{"当前状态", "Current status"}, StatusName(c.Period.Status)})
	els = append(els,
		md(tf("已取消“%s”：周期状态**没有改变**，仍为 **%s**。", "Cancelled “%s”: the period's status was **not changed**; it is still **%s**.",
			statusVerb(c.To), StatusName(c.Period.Status))),
		optNote(cancelledBy(by)),
	)
	return newCard(blue, Text{"已取消，未做任何变更", "Cancelled: nothing was changed"}, plainName(c.Period), els...)
}

// NoSuchPeriod says that no period has the id, or starts in the month, the
// user typed (arg, escaped), so nothing was changed.
func NoSuchPeriod(arg string) Card {
	return newCard(orange, Text{"找不到该周期", "No such period"}, Text{},
		md(lines(
			tf("**你输入的**：%s", "**You typed:** %s", orEmpty(esc(arg, limitLine))),
			Text{"没有周期的 ID 与此相同，也没有周期从该月份开始，因此**未做任何变更**。",
				"No period has that id or starts in that month, so **nothing was changed**."},
		)),
		note(Text{"发送 /周期列表 查看周期及其 ID 和月份。", "Send /periods to see the periods with their ids and months."}),
	)
}

// PeriodActions offers what can be done to one period from the /periods
// list: one button per status it can move to (Close, Hide, Restore), each
// leading to the confirmation. values maps each target status to its
// button's value; a status missing from it gets no button.
func PeriodActions(p okr.Period, start, end string, values map[okr.Status]Value) Card {
	var bs []*buttonEl
	for _, a := range periodActions {
		bs = append(bs, button(a.id, btnDefault, a.label, values[a.to]))
	}
	els := periodFacts(p, start, end, field{Text{"当前状态", "Current status"}, StatusName(p.Status)})
	if row := buttonRow(bs...); row != nil {
		els = append(els, md(Text{"要变更这个周期的状态吗？变更对整个租户生效，点击后还需要再确认一次。",
			"Change this period's status? The change applies to the whole tenant; you will be asked to confirm."}), row)
	} else {
		els = append(els, note(Text{"这里没有可以对该周期执行的状态变更。", "No status change is offered for this period here."}))
	}
	return newCard(blue, Text{"管理周期", "Manage period"}, plainName(p), els...)
}

// NotRun answers a command that was acknowledged but not run because the
// bot was shutting down: send it again.
func NotRun(command string) Card {
	return newCard(orange, Text{"命令未执行", "Command not run"}, Text{},
		md(tf("**命令**：%s", "**Command:** %s", orEmpty(esc(command, limitLine)))),
		md(Text{"机器人收到这条命令时正在关闭（例如重启或升级），因此这条命令**没有执行**。",
			"The bot was shutting down (for a restart or an upgrade, say) when this command arrived, so it was **not run**."}),
		md(Text{"请稍后**重新发送**这条命令。", "Please **send it again** in a moment."}),
	)
}

// spanListBudget bounds the bytes of a span's list of periods, and
// spanDetailBudget those of its failure details and advice, so that the
// summary stays under MaxBytes whatever Feishu answered.
const (
	spanListBudget   = 16 * 1024
	spanDetailBudget = 6 * 1024
	maxSpanAdvice    = 3
)

// textSize is what t adds to an encoded card at most: a markdown element
// with content (English) and both i18n entries, as encoded.
func textSize(t Text) int {
	b, err := marshal(md(t))
	if err != nil {
		return MaxBytes
	}
	return len(b)
}

// mayRetry reports whether pressing Retry may help f, as Error colours it.
func mayRetry(f Failure) bool {
	return f.Class.Retryable() || f.Code == 0 && f.Cause != CauseNone
}

// spanText is "2023-01 至 2023-12" / "2023-01 to 2023-12" in markdown.
func spanText(first, last string) Text {
	f, l := orDash(esc(first, limitShort)), orDash(esc(last, limitShort))
	if f == l {
		return same("**" + f + "**")
	}
	return tf("**%s** 至 **%s**", "**%s** to **%s**", f, l)
}

// spanSubtitle is the span and the rule in words, as plain text.
func spanSubtitle(first, last string, rule okr.Rule) Text {
	f, l := orDash(plain(first, limitShort)), orDash(plain(last, limitShort))
	if f == l {
		return tf("%s · %s", "%s · %s", f, RuleName(rule))
	}
	return tf("%s 至 %s · %s", "%s to %s · %s", f, l, RuleName(rule))
}

// spanLine is one period of a span summary: months, outcome in words and
// the period id or the failure's code and meaning.
func spanLine(it SpanItem) Text {
	m := same(months(it.Start, it.End))
	switch it.Outcome {
	case SpanCreated:
		return tf("**%s** · ✅ 已创建 · 周期 ID %s", "**%s** · ✅ Created · period ID %s", m, same(showID(it.PeriodID)))
	case SpanExists:
		return tf("**%s** · ➖ 已存在，无需创建", "**%s** · ➖ Already existed, nothing to do", m)
	}
	return tf("**%s** · ❌ **失败** · %s", "**%s** · ❌ **Failed** · %s", m, failureText(it.Failure))
}

// failureEntry is the catalogue entry that explains f, as Error picks it.
func failureEntry(f Failure) (e Entry, known bool) {
	if f.Code == 0 {
		return CauseEntry(f.Cause), false
	}
	if e, ok := Lookup(f.Code); ok {
		return e, true
	}
	return Entry{Code: f.Code, HTTPStatus: f.HTTPStatus,
		Meaning: Text{"飞书返回了错误", "Feishu returned an error"},
		Advice: Text{"如飞书返回的信息不足以说明问题，请联系飞书技术支持并提供日志 ID。",
			"If Feishu's message does not explain it, contact Feishu support and give them the log id."}}, false
}

// failureText is a failure's code (or HTTP status) and meaning in brief.
func failureText(f Failure) Text {
	e, _ := failureEntry(f)
	switch {
	case f.Code != 0:
		return tf("错误码 %d %s", "code %d %s", f.Code, e.Meaning)
	case f.HTTPStatus != 0:
		return tf("HTTP %d %s", "HTTP %d %s", f.HTTPStatus, e.Meaning)
	}
	return e.Meaning
}

// spanFailures are the details of a span's failures: advice once per kind
// of failure, then what Feishu said and the log id of each, within
// spanDetailBudget.
func spanFailures(items []SpanItem) []any {
	budget := spanDetailBudget
	var advice, details []Text
	seen := map[Text]bool{}
	left := 0
	for _, it := range items {
		if it.Outcome == SpanCreated || it.Outcome == SpanExists {
			continue
		}
		f := it.Failure
		e, known := failureEntry(f)
		if a := tf("**%s**：%s", "**%s:** %s", e.Meaning, e.Advice); !seen[a] && len(advice) < maxSpanAdvice {
			if n := textSize(a); n <= budget {
				seen[a] = true
				advice = append(advice, a)
				budget -= n
			}
		}
		var parts []Text
		if m := esc(f.Msg, limitLine); m != "" && !known {
			parts = append(parts, tf("飞书返回：%s", "Feishu says: %s", m))
		}
		if d := esc(f.Detail, limitLine); d != "" {
			parts = append(parts, tf("详情：%s", "detail: %s", d))
		}
		if l := esc(f.LogID, limitName); l != "" {
			parts = append(parts, tf("日志 ID（Log ID）：%s", "Log ID: %s", l))
		}
		if len(parts) == 0 {
			continue
		}
		d := tf("%s：%s", "%s: %s", same(months(it.Start, it.End)), joinWith(parts, " · ", " · "))
		if n := textSize(d); left == 0 && n <= budget {
			details = append(details, d)
			budget -= n
		} else {
			left++
		}
	}
	els := []any{md(lines(append([]Text{bold(Text{"建议", "What to do"})}, advice...)...))}
	if len(details) > 0 {
		els = append(els, note(lines(details...)))
	}
	return append(els, moreLine(left, Text{"其余失败的详情见机器人的日志。", "The bot's logs have the details of the rest."}))
}

// joinWith joins texts with a separator per language.
func joinWith(ts []Text, zh, en string) Text {
	var out Text
	for i, t := range ts {
		t = t.filled()
		if i > 0 {
			out.ZH += zh
			out.EN += en
		}
		out.ZH += t.ZH
		out.EN += t.EN
	}
	return out
}

// joinTexts lists texts: "1 月、4 月" / "January, April and July".
func joinTexts(ts []Text) Text {
	if len(ts) < 2 {
		return joinWith(ts, "、", ", ")
	}
	head := joinWith(ts[:len(ts)-1], "、", ", ")
	last := ts[len(ts)-1].filled()
	return Text{head.ZH + "、" + last.ZH, head.EN + " and " + last.EN}
}

// statusVerb says what a change to status s does, as a verb phrase.
func statusVerb(s okr.Status) Text {
	switch s.Normalized() {
	case okr.StatusInvalid:
		return Text{"标记失效", "mark invalid"}
	case okr.StatusHidden:
		return Text{"隐藏", "hide"}
	case okr.StatusNormal:
		return Text{"恢复为正常", "restore to normal"}
	}
	return tf("设为状态 %d", "set to status %d", int(s))
}

// periodActions are the buttons of PeriodActions, in order.
var periodActions = [...]struct {
	id    string
	to    okr.Status
	label Text
}{
	{"btn_close", okr.StatusInvalid, Text{"关闭（标记失效）", "Close (mark invalid)"}},
	{"btn_hide", okr.StatusHidden, Text{"隐藏", "Hide"}},
	{"btn_restore", okr.StatusNormal, Text{"恢复为正常", "Restore to normal"}},
}

// plainName is a period's name for a header subtitle or a button label
// (plain text); zero when it has none.
func plainName(p okr.Period) Text {
	return Text{plain(p.ZhName, limitName), plain(p.EnName, limitName)}.filled()
}

// periodFacts shows one period: name, id, months and a status field.
func periodFacts(p okr.Period, start, end string, status field) []any {
	return grid(
		field{Text{"名称", "Name"}, periodName(p)},
		field{Text{"周期 ID", "Period ID"}, same(showID(p.ID))},
		field{Text{"月份", "Months"}, same(months(start, end))},
		status,
	)
}

// changeLine says what a status change does: "mark invalid (Normal →
// Invalid)".
func changeLine(c StatusChange) Text {
	return tf("**变更**：%s（%s → %s）", "**Change:** %s (%s → %s)",
		statusVerb(c.To), StatusName(c.Period.Status), StatusName(c.To))
}

// requestedBy, confirmedBy and cancelledBy name who asked, confirmed or
// cancelled; zero when unknown.
func requestedBy(openID string) Text { return byLine(Text{"发起人", "Requested by"}, openID) }
func confirmedBy(openID string) Text { return byLine(Text{"确认人", "Confirmed by"}, openID) }
func cancelledBy(openID string) Text { return byLine(Text{"取消人", "Cancelled by"}, openID) }
func byLine(label Text, openID string) Text {
	if openID == "" {
		return Text{}
	}
	return tf("**%s**：%s", "**%s:** %s", label, same(mention(openID)))
}
