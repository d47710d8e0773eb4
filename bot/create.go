package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"okrbot/cards"
	"okrbot/internal/okr"
)

// createRequest is one attempt to create a period, typed or clicked.
type createRequest struct {
	Operator string
	ChatID   string
	Month    okr.Month
	RuleID   string
	Source   string // the message that started it all: button values and locks key on it
	Attempt  int    // 0 for the typed command, then 1, 2, … per retry click
	Via      string // "message" or "button"
	EventID  string
	TimedOut bool // the previous attempt got no answer, so it may have run
}

func (r createRequest) action() cards.Text {
	return cards.Text{
		ZH: fmt.Sprintf("创建周期 %s", r.Month),
		EN: fmt.Sprintf("Create period %s", r.Month),
	}
}

// runNewPeriod runs a typed /newperiod: one month or a span.
func (b *Bot) runNewPeriod(ctx context.Context, req request) (cards.Card, result) {
	cmd, msg := req.cmd, req.msg
	cr := createRequest{
		Operator: msg.SenderOpenID, ChatID: msg.ChatID, Month: cmd.Month, RuleID: cmd.Rule,
		Source: msg.MessageID, Via: "message", EventID: msg.EventID,
	}
	if cr.RuleID == "" {
		cr.RuleID = b.set.DefaultRuleID
	}
	if cr.RuleID == "" {
		return b.rulePicker(ctx, cmd, msg, cards.Text{})
	}
	rule, ok, err := b.rules.lookup(ctx, cr.RuleID)
	switch {
	case err != nil && !cmd.IsSpan():
		// The rule can't be checked now; Feishu checks it on create.
		rule = okr.Rule{ID: cr.RuleID}
	case err != nil:
		return failureCard(cards.Text{ZH: "查询周期规则", EN: "List period rules"}, err, nil, nil), failed(err)
	case !ok:
		// Known at once, no call to make: offer the rules that exist.
		return b.rulePicker(ctx, cmd, msg, cards.Text{
			ZH: fmt.Sprintf("周期规则 %s 不是本租户的规则，请从下面选择。", cr.RuleID),
			EN: fmt.Sprintf("Period rule %s is not one of this tenant's rules; choose one below.", cr.RuleID),
		})
	}
	if cmd.IsSpan() {
		return b.createSpan(ctx, spanRequest{
			Operator: msg.SenderOpenID, ChatID: msg.ChatID, First: cmd.Month, Last: cmd.Last, Rule: rule,
			Source: msg.MessageID, Via: "message", EventID: msg.EventID,
		})
	}
	return b.create(ctx, cr, rule)
}

// rulePicker answers a /newperiod that names no rule when no default is
// configured (or names one the tenant lacks): one button per tenant rule.
func (b *Bot) rulePicker(ctx context.Context, cmd Command, msg Message, note cards.Text) (cards.Card, result) {
	rules, err := b.rules.get(ctx, false)
	if err != nil {
		return failureCard(cards.Text{ZH: "查询周期规则", EN: "List period rules"}, err, nil, nil), failed(err)
	}
	choices := make([]cards.RuleChoice, 0, len(rules))
	for _, r := range rules {
		v := buttonValue{Op: opPick, Chat: msg.ChatID, Month: cmd.Month.String(), Rule: r.ID, Source: msg.MessageID, Attempt: 1}
		if cmd.IsSpan() {
			// A span picks its rule and runs like a retry of every month.
			v.Op, v.Last = opSpan, cmd.Last.String()
			v.Failed = spanMask(len(r.Starts(cmd.Month, cmd.Last)))
			if v.Failed == 0 {
				v = buttonValue{}
			}
		}
		var value cards.Value
		if v.Op != "" {
			value = b.buttons.value(v)
		}
		choices = append(choices, cards.RuleChoice{Rule: r, Value: value})
	}
	label := cmd.Month.String()
	if cmd.IsSpan() {
		label += " – " + cmd.Last.String()
	}
	card := cards.RulePicker(label, choices)
	if !note.IsZero() {
		card = cards.WithNote(card, note)
	}
	return card, result{outcome: "pick_rule"}
}

// create calls the Open Platform once and turns the outcome into a card.
func (b *Bot) create(ctx context.Context, req createRequest, rule okr.Rule) (cards.Card, result) {
	created, err := b.okr.CreatePeriod(ctx, req.RuleID, req.Month)
	if err != nil && req.TimedOut && okr.ClassOf(err) == okr.ClassConflict {
		// The attempt that timed out may have created the period after all.
		// Only a period of exactly this rule's months counts, and even then
		// the bot cannot know who made it: it says so, and audits "exists".
		if p, ok := b.findPeriod(ctx, req.Month, rule); ok {
			var e *okr.Error
			errors.As(err, &e)
			found := okr.Created{PeriodID: p.ID, StartMonth: req.Month.String(), EndMonth: rule.End(req.Month).String(), LogID: e.LogID}
			return b.createdCard(ctx, req, rule, found, AuditExists, cards.Text{
				ZH: "上一次尝试超时；该周期现已存在，多半就是那次创建的。",
				EN: "The earlier attempt timed out; the period exists now, most likely made by that attempt.",
			})
		}
	}
	if err != nil {
		outcome := auditOutcome(err)
		if okr.ClassOf(err) == okr.ClassConflict {
			outcome = AuditExists
		}
		b.auditCreate(ctx, req, outcome, err, okr.Created{})
		var retry, show cards.Value
		if okr.ClassOf(err).Retryable() {
			var e *okr.Error
			retry = b.buttons.value(buttonValue{
				Op: opRetry, Chat: req.ChatID, Month: req.Month.String(), Rule: req.RuleID, Source: req.Source,
				Attempt: req.Attempt + 1, TimedOut: req.TimedOut || errors.As(err, &e) && e.MayHaveRun(),
			})
		}
		if okr.ClassOf(err) == okr.ClassConflict {
			show = b.buttons.value(buttonValue{Op: opPeriods, Chat: req.ChatID, Source: req.Source})
		}
		f := failure(req.action(), err, retry, show)
		if okr.CodeOf(err) == codeStartMismatch && rule.Length > 0 {
			f.Hint = fitHint(rule, req.Month)
		}
		return cards.Error(f), failed(err)
	}
	return b.createdCard(ctx, req, rule, created, AuditCreated, cards.Text{})
}

// codeStartMismatch is Feishu's "start month does not fit the rule".
const codeStartMismatch = 1001009

// fitHint names the rule used and the start months it accepts in that
// year.
func fitHint(rule okr.Rule, m okr.Month) cards.Text {
	starts := rule.Starts(okr.Month{Year: m.Year, Month: 1}, okr.Month{Year: m.Year, Month: 12})
	s := ""
	for i, st := range starts {
		if i > 0 {
			s += ", "
		}
		s += st.String()
	}
	name := cards.RuleName(rule)
	return cards.Text{
		ZH: fmt.Sprintf("所用规则 %s（%s）在 %d 年只接受这些起始月份：%s。", rule.ID, name.ZH, m.Year, s),
		EN: fmt.Sprintf("The rule used, %s (%s), accepts only these start months in %d: %s.", rule.ID, name.EN, m.Year, s),
	}
}

func (b *Bot) createdCard(ctx context.Context, req createRequest, rule okr.Rule, c okr.Created, outcome string, note cards.Text) (cards.Card, result) {
	if outcome == AuditCreated {
		b.metrics.periodCreated()
	}
	b.auditCreate(ctx, req, outcome, nil, c)
	b.log.Info("period created", "period_id", c.PeriodID, "start_month", c.StartMonth, "end_month", c.EndMonth,
		"rule", req.RuleID, "operator", req.Operator, "chat_id", req.ChatID, "event_id", req.EventID, "log_id", c.LogID,
		"outcome", outcome)
	card := cards.PeriodCreated(cards.Created{
		PeriodID: c.PeriodID, StartMonth: c.StartMonth, EndMonth: c.EndMonth,
		Rule: rule, RequestedBy: req.Operator, Note: note,
	})
	return card, result{outcome: outcome, logID: c.LogID}
}

// findPeriod looks for the one period of rule starting in month: its first
// and last month, read in the tenant's zone, must be exactly the rule's.
func (b *Bot) findPeriod(ctx context.Context, month okr.Month, rule okr.Rule) (okr.Period, bool) {
	if rule.Length <= 0 {
		return okr.Period{}, false
	}
	periods, _, err := b.okr.ListPeriods(ctx, periodListLimit)
	if err != nil {
		return okr.Period{}, false
	}
	var found []okr.Period
	for _, p := range periods {
		if s, e := p.Months(b.set.Location); s == month && e == rule.End(month) {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		return okr.Period{}, false
	}
	return found[0], true
}

func (b *Bot) auditCreate(ctx context.Context, req createRequest, outcome string, err error, c okr.Created) {
	b.write(ctx, AuditRecord{
		Operator: req.Operator, ChatID: req.ChatID, Command: string(CmdNewPeriod),
		Args: []string{req.Month.String(), req.RuleID}, Via: req.Via, Outcome: outcome,
		PeriodID: c.PeriodID, LogID: c.LogID, EventID: req.EventID,
	}, err)
}

// failure describes err for an error card: the code and its class from
// the Open Platform client's one table, or the cause when none came.
func failure(action cards.Text, err error, retry, show cards.Value) cards.Failure {
	f := cards.Failure{Action: action, Retry: retry, ShowPeriods: show, Class: okr.ClassOf(err)}
	var e *okr.Error
	switch {
	case errors.As(err, &e) && e.Answered():
		f.Code, f.HTTPStatus, f.Msg, f.LogID = e.Code, e.HTTPStatus, e.Msg, e.LogID
	case errors.Is(err, context.Canceled):
		f.Cause = cards.CauseStopped
	case errors.Is(err, okr.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		f.Cause = cards.CauseTimeout
	default:
		f.Cause = cards.CauseNetwork
	}
	return f
}

// failureCard explains err in words a person can act on.
func failureCard(action cards.Text, err error, retry, show cards.Value) cards.Card {
	return cards.Error(failure(action, err, retry, show))
}

// spanRequest is one run over a span: the typed command, or a Retry of
// the periods that failed.
type spanRequest struct {
	Operator    string
	ChatID      string
	First, Last okr.Month
	Rule        okr.Rule
	Source      string
	Attempt     int    // 0 typed, then 1, 2, … per retry click
	Failed      uint64 // the start months to create (bit i: the i-th); 0 = all
	Created     uint64 // start months an earlier attempt created
	Via         string
	EventID     string
}

// spanMask has a bit for each of n start months.
func spanMask(n int) uint64 {
	if n <= 0 {
		return 0
	}
	return 1<<uint(min(n, 64)) - 1
}

// rateLimitWait bounds how long a span waits out one 429 and all of them.
const (
	rateLimitWait  = 10 * time.Second
	rateLimitTotal = 90 * time.Second
)

// createSpan creates, one after another, every period of the rule that
// starts in the span, and answers with one summary card. A 429 is waited
// out, never reported as a failure; each period is audited on its own.
func (b *Bot) createSpan(ctx context.Context, req spanRequest) (cards.Card, result) {
	starts := req.Rule.Starts(req.First, req.Last)
	if len(starts) == 0 {
		return cards.SpanEmpty(req.First.String(), req.Last.String(), req.Rule), result{outcome: "empty_span"}
	}
	todo := req.Failed
	if todo == 0 {
		todo = spanMask(len(starts))
	}
	// A retry leaves out what an earlier run made or found; a span run
	// from the rule picker (also a click, Attempt 1) does every month.
	retry := req.Attempt > 0 && (req.Created != 0 || todo != spanMask(len(starts)))
	var earlier map[okr.Month]okr.Period
	if retry {
		earlier = b.periodsByStart(ctx, req.Rule)
	}
	items := make([]cards.SpanItem, len(starts))
	var failedMask, createdMask uint64
	waited := time.Duration(0)
	r := result{outcome: "span_done"}
	for i, m := range starts {
		bit := uint64(1) << uint(i)
		item := cards.SpanItem{Start: m.String(), End: req.Rule.End(m).String()}
		if todo&bit == 0 {
			item.Outcome = cards.SpanExists
			if p, ok := earlier[m]; ok {
				item.PeriodID = p.ID
			}
			if req.Created&bit != 0 {
				item.Outcome = cards.SpanCreated
				createdMask |= bit
			}
			items[i] = item
			continue
		}
		if err := ctx.Err(); err != nil {
			// Cut short (shutdown, or the job's time ran out) before this
			// month was tried: nothing was sent, so nothing is audited; the
			// Retry button covers it.
			item.Outcome, item.Failure = cards.SpanFailed, failure(cards.Text{}, err, nil, nil)
			failedMask |= bit
			items[i] = item
			continue
		}
		cr := createRequest{Operator: req.Operator, ChatID: req.ChatID, Month: m, RuleID: req.Rule.ID,
			Source: req.Source, Attempt: req.Attempt, Via: req.Via, EventID: req.EventID}
		var created okr.Created
		var err error
		for {
			created, err = b.okr.CreatePeriod(ctx, req.Rule.ID, m)
			var e *okr.Error
			if !errors.As(err, &e) || e.Class != okr.ClassRateLimited || waited >= rateLimitTotal {
				break
			}
			// Rate limited: the call did not run. Wait as told and go on.
			d := min(max(e.RetryAfter, time.Second), rateLimitWait)
			waited += d
			b.log.Info("span rate limited; waiting", "event_id", req.EventID, "month", m.String(), "wait", d.String())
			if !sleepCtx(ctx, d) {
				break
			}
		}
		switch {
		case err == nil:
			item.Outcome, item.PeriodID = cards.SpanCreated, created.PeriodID
			createdMask |= bit
			b.metrics.periodCreated()
			b.auditCreate(ctx, cr, AuditCreated, nil, created)
		case okr.ClassOf(err) == okr.ClassConflict:
			item.Outcome = cards.SpanExists
			b.auditCreate(ctx, cr, AuditExists, err, okr.Created{})
		default:
			item.Outcome = cards.SpanFailed
			item.Failure = failure(cards.Text{}, err, nil, nil)
			failedMask |= bit
			b.auditCreate(ctx, cr, auditOutcome(err), err, okr.Created{})
			r.err = errors.Join(r.err, err)
		}
		items[i] = item
	}
	s := cards.Span{First: req.First.String(), Last: req.Last.String(), Rule: req.Rule, Items: items, RequestedBy: req.Operator}
	if failedMask != 0 {
		r.outcome = "span_partial"
		s.Retry = b.buttons.value(buttonValue{Op: opSpan, Chat: req.ChatID, Source: req.Source, Month: req.First.String(),
			Last: req.Last.String(), Rule: req.Rule.ID, Attempt: req.Attempt + 1, Failed: failedMask, Created: createdMask})
	}
	if retry {
		n := bitsSet(todo)
		s.Note = cards.Text{ZH: fmt.Sprintf("已重试上次失败的 %d 个周期。", n), EN: fmt.Sprintf("Retried the %d periods that failed.", n)}
		if n == 1 {
			s.Note.EN = "Retried the period that failed."
		}
	}
	return cards.SpanSummary(s), r
}

// periodsByStart maps each start month to the period of rule's length that
// starts then, for showing what earlier attempts made.
func (b *Bot) periodsByStart(ctx context.Context, rule okr.Rule) map[okr.Month]okr.Period {
	periods, _, err := b.okr.ListPeriods(ctx, periodListLimit)
	if err != nil {
		return nil
	}
	out := map[okr.Month]okr.Period{}
	for _, p := range periods {
		if s, e := p.Months(b.set.Location); e == rule.End(s) {
			out[s] = p
		}
	}
	return out
}

func bitsSet(x uint64) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// hasPeriod reports whether id is among periods.
func hasPeriod(periods []okr.Period, id string) (okr.Period, bool) {
	i := slices.IndexFunc(periods, func(p okr.Period) bool { return p.ID == id })
	if i < 0 {
		return okr.Period{}, false
	}
	return periods[i], true
}
