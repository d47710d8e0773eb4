package cards

import "okrbot/internal/okr"

// Failure is what an error card shows.
type Failure struct {
	Action      Text      // what was attempted, e.g. Text{"创建周期 2022-01", "Create period 2022-01"} (bot-made)
	Code        int       // Feishu code; 0 when none
	HTTPStatus  int       // 0 when none
	Msg         string    // Feishu msg (shown, escaped, for codes not in the catalogue)
	LogID       string    // Feishu log id, shown when present (escaped)
	Class       okr.Class // from internal/feishu's code table: colours the card
	Cause       Cause     // when Code == 0
	Detail      string    // optional detail a person can act on (escaped, short)
	Hint        Text      // optional bot-made line, e.g. which start months the rule accepts
	Retry       Value     // "Retry" button value; nil = none
	ShowPeriods Value     // "Show periods" button value; nil = none
}

// Error is the card for a failed call: what was attempted, the code, its
// meaning and advice from the catalogue (or, for an unknown code, Feishu's
// msg), the log id, and the Retry / Show periods buttons whose values are
// set. The header is orange when a retry may help (f.Class), red otherwise.
func Error(f Failure) Card {
	e, known := Lookup(f.Code)
	switch {
	case f.Code == 0:
		e = CauseEntry(f.Cause)
	case !known:
		e = Entry{Code: f.Code, HTTPStatus: f.HTTPStatus,
			Meaning: Text{"飞书返回了错误", "Feishu returned an error"},
			Advice: Text{"如飞书返回的信息不足以说明问题，请联系飞书技术支持并提供日志 ID。",
				"If Feishu's message does not explain it, contact Feishu support and give them the log id."}}
	}
	var code Text
	switch {
	case f.Code != 0 && f.HTTPStatus != 0:
		code = tf("错误码 %d · HTTP %d", "Error code %d · HTTP %d", f.Code, f.HTTPStatus)
	case f.Code != 0:
		code = tf("错误码 %d", "Error code %d", f.Code)
	case f.HTTPStatus != 0:
		code = tf("HTTP %d", "HTTP %d", f.HTTPStatus)
	}
	head := lines(tf("**%s**", "**%s**", e.Meaning), code)

	var msg, detail, logID Text
	if m := esc(f.Msg, limitMsg); !known && m != "" {
		msg = tf("**飞书返回**：%s", "**Feishu says:** %s", m)
	}
	if d := esc(f.Detail, limitLine); d != "" {
		detail = tf("**详情**：%s", "**Detail:** %s", d)
	}
	if l := esc(f.LogID, limitName); l != "" {
		logID = tf("日志 ID（Log ID）：%s", "Log ID: %s", l)
	}

	template := red
	if f.Class.Retryable() || f.Code == 0 && f.Cause != CauseNone {
		template = orange
	}
	title := Text{"操作失败", "Request failed"}
	if !f.Action.IsZero() {
		title = tf("失败：%s", "%s failed", f.Action)
	}
	return newCard(template, title, Text{},
		md(head),
		optMD(msg),
		optMD(detail),
		optMD(f.Hint),
		md(tf("**建议**：%s", "**What to do:** %s", e.Advice)),
		optNote(logID),
		buttonRow(
			button("btn_retry", btnPrimary, Text{"重试", "Retry"}, f.Retry),
			button("btn_periods", btnDefault, Text{"查看周期列表", "Show periods"}, f.ShowPeriods),
		),
	)
}

// optMD and optNote give nil (no element) for zero text.
func optMD(t Text) any {
	if t.IsZero() {
		return nil
	}
	return md(t)
}

func optNote(t Text) any {
	if t.IsZero() {
		return nil
	}
	return note(t)
}
