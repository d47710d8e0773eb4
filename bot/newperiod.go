package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"okrbot/cards"
)

// createRequest is one attempt to create a period, typed or clicked.
type createRequest struct {
	Operator string
	ChatID   string
	Month    Month
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

// newPeriod runs a typed /newperiod.
func (b *Bot) newPeriod(ctx context.Context, msg Message, cmd Command) (cards.Card, result) {
	req := createRequest{
		Operator: msg.SenderOpenID, ChatID: msg.ChatID, Month: cmd.Month, RuleID: cmd.Rule,
		Source: msg.MessageID, Via: "message", EventID: msg.EventID,
	}
	if req.RuleID == "" {
		req.RuleID = b.set.DefaultRuleID
	}
	if !b.isOperator(msg.SenderOpenID) {
		b.auditCreate(ctx, req, "refused", nil, Created{})
		return cards.Refusal(msg.SenderOpenID, "/newperiod"), result{outcome: "refused"}
	}
	if req.RuleID == "" {
		return b.rulePicker(ctx, req)
	}
	return b.create(ctx, req)
}

// rulePicker answers a /newperiod that names no rule when no default is
// configured: one button per tenant rule.
func (b *Bot) rulePicker(ctx context.Context, req createRequest) (cards.Card, result) {
	rules, err := b.rules.get(ctx, false)
	if err != nil {
		return failureCard(cards.Text{ZH: "查询周期规则", EN: "List period rules"}, err, nil, nil), failed(err)
	}
	choices := make([]cards.RuleChoice, 0, len(rules))
	for _, r := range rules {
		choices = append(choices, cards.RuleChoice{Rule: r.view(), Value: b.buttons.value(buttonValue{
			Op: opPick, Month: req.Month.String(), Rule: r.ID, Source: req.Source, Attempt: 1,
		})})
	}
	return cards.RulePicker(req.Month.String(), choices), result{outcome: "pick_rule"}
}

// create calls the Open Platform once and turns the outcome into a card.
func (b *Bot) create(ctx context.Context, req createRequest) (cards.Card, result) {
	rule := b.rules.find(ctx, req.RuleID)
	created, err := b.okr.CreatePeriod(ctx, req.RuleID, req.Month)
	var apiErr *APIError
	if err != nil && req.TimedOut && errors.As(err, &apiErr) && apiErr.Code == codeConflict {
		// The attempt that timed out may have created the period after all:
		// if the period of that month and rule exists now, that was it.
		if p, ok := b.findCreated(ctx, req.Month, rule); ok {
			found := Created{PeriodID: p.ID, StartMonth: req.Month.String(),
				EndMonth: req.Month.AddMonths(max(rule.Length, 1) - 1).String(), LogID: apiErr.LogID}
			return b.createdCard(ctx, req, rule, found, cards.Text{
				ZH: "上一次尝试超时，但周期其实已经创建成功。",
				EN: "The earlier attempt timed out, but it had created the period.",
			})
		}
	}
	if err != nil {
		b.auditCreate(ctx, req, "failed", err, Created{})
		var retry, show cards.Value
		if o := Classify(err); o == OutcomeTransient || o == OutcomeRateLimited || o == OutcomeTokenInvalid {
			retry = b.buttons.value(buttonValue{
				Op: opRetry, Month: req.Month.String(), Rule: req.RuleID, Source: req.Source,
				Attempt: req.Attempt + 1, TimedOut: req.TimedOut || unknownOutcome(err),
			})
		}
		if errors.As(err, &apiErr) && apiErr.Code == codeConflict {
			show = b.buttons.value(buttonValue{Op: opPeriods, Source: req.Source})
		}
		return failureCard(req.action(), err, retry, show), failed(err)
	}
	return b.createdCard(ctx, req, rule, created, cards.Text{})
}

func (b *Bot) createdCard(ctx context.Context, req createRequest, rule Rule, c Created, note cards.Text) (cards.Card, result) {
	b.metrics.periodCreated()
	b.auditCreate(ctx, req, "created", nil, c)
	b.log.Info("period created", "period_id", c.PeriodID, "start_month", c.StartMonth, "end_month", c.EndMonth,
		"rule", req.RuleID, "operator", req.Operator, "chat_id", req.ChatID, "event_id", req.EventID, "log_id", c.LogID)
	card := cards.PeriodCreated(cards.Created{
		PeriodID: c.PeriodID, StartMonth: c.StartMonth, EndMonth: c.EndMonth,
		Rule: rule.view(), RequestedBy: req.Operator, Note: note,
	})
	return card, result{outcome: "created", logID: c.LogID}
}

// unknownOutcome reports a create whose answer never came: it may have run.
func unknownOutcome(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.HTTPStatus >= 500
}

// findCreated looks for the period of rule starting in month.
func (b *Bot) findCreated(ctx context.Context, month Month, rule Rule) (Period, bool) {
	periods, _, err := b.okr.ListPeriods(ctx, 1000)
	if err != nil {
		return Period{}, false
	}
	end := month.AddMonths(max(rule.Length, 1) - 1)
	for _, p := range periods {
		if monthNear(p.Start, month) && monthNear(p.End, end) {
			return p, true
		}
	}
	return Period{}, false
}

// monthNear reports whether t falls in month m in some time zone: Feishu
// reports period bounds in the tenant's zone, which the bot does not know.
func monthNear(t time.Time, m Month) bool {
	for _, off := range []int{-14, 0, 14} {
		u := t.UTC().Add(time.Duration(off) * time.Hour)
		if u.Year() == m.Year && int(u.Month()) == m.Month {
			return true
		}
	}
	return false
}

func (b *Bot) auditCreate(ctx context.Context, req createRequest, outcome string, err error, c Created) {
	rec := AuditRecord{
		Time: b.now().UTC(), Operator: req.Operator, ChatID: req.ChatID, Command: "/newperiod",
		Args: []string{req.Month.String(), req.RuleID}, Via: req.Via, Outcome: outcome,
		PeriodID: c.PeriodID, LogID: c.LogID, EventID: req.EventID,
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		rec.Code, rec.LogID = apiErr.Code, apiErr.LogID
	}
	if aerr := b.audit.Audit(ctx, rec); aerr != nil {
		b.log.Error("audit record not written", "err", aerr, "event_id", req.EventID)
	}
}

// failureCard explains err in words a person can act on.
func failureCard(action cards.Text, err error, retry, show cards.Value) cards.Card {
	f := cards.Failure{Action: action, Retry: retry, ShowPeriods: show}
	var apiErr *APIError
	var te *TransportError
	switch {
	case errors.As(err, &apiErr):
		f.Code, f.HTTPStatus, f.Msg, f.LogID = apiErr.Code, apiErr.HTTPStatus, apiErr.Msg, apiErr.LogID
	case errors.As(err, &te):
		f.Cause = cards.CauseNetwork
		if errors.Is(te, ErrTimeout) {
			f.Cause = cards.CauseTimeout
		}
		f.Detail = te.API
	case errors.Is(err, context.DeadlineExceeded):
		f.Cause = cards.CauseTimeout
	default:
		f.Cause = cards.CauseNetwork
	}
	return cards.Error(f)
}

// ruleCache keeps the tenant's rules for a few minutes: the result card
// names the rule in words and button values are checked against them.
type ruleCache struct {
	okr OKR
	ttl time.Duration

	mu      sync.Mutex
	rules   []Rule
	fetched time.Time
}

func newRuleCache(okr OKR) *ruleCache { return &ruleCache{okr: okr, ttl: 5 * time.Minute} }

func (c *ruleCache) get(ctx context.Context, fresh bool) ([]Rule, error) {
	c.mu.Lock()
	if !fresh && c.rules != nil && time.Since(c.fetched) < c.ttl {
		r := c.rules
		c.mu.Unlock()
		return r, nil
	}
	c.mu.Unlock()
	rules, err := c.okr.ListRules(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.rules, c.fetched = rules, time.Now()
	c.mu.Unlock()
	return rules, nil
}

// lookup finds rule id among the tenant's rules, asking again once if a
// cached list lacks it (the rule may be new).
func (c *ruleCache) lookup(ctx context.Context, id string) (Rule, bool, error) {
	for _, fresh := range []bool{false, true} {
		rules, err := c.get(ctx, fresh)
		if err != nil {
			return Rule{}, false, err
		}
		if i := slices.IndexFunc(rules, func(r Rule) bool { return r.ID == id }); i >= 0 {
			return rules[i], true, nil
		}
	}
	return Rule{}, false, nil
}

// find returns the rule for the cards, or a rule that knows only its id
// when the list can't be had: the create goes ahead regardless.
func (c *ruleCache) find(ctx context.Context, id string) Rule {
	if r, ok, err := c.lookup(ctx, id); err == nil && ok {
		return r
	}
	return Rule{ID: id}
}

// atoiOr parses s, or returns def.
func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}
