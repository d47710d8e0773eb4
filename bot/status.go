package bot

import (
	"context"
	"fmt"

	"okrbot/cards"
	"okrbot/internal/okr"
)

// statusCommand names the command that moves a period to status s.
func statusCommand(s okr.Status) CommandName {
	switch s {
	case okr.StatusInvalid:
		return CmdClosePeriod
	case okr.StatusHidden:
		return CmdHidePeriod
	}
	return CmdRestorePeriod
}

// statusTarget is who asks for which change where, for the cards and the
// buttons of a status change.
type statusTarget struct {
	Operator string
	ChatID   string
	Source   string
	EventID  string
	To       okr.Status
}

// askStatusChange answers a typed status command: the change applies to the
// whole tenant, so it first asks to confirm (docs/contract.md §4).
func (b *Bot) askStatusChange(ctx context.Context, req request, to okr.Status) (cards.Card, result) {
	t := statusTarget{Operator: req.msg.SenderOpenID, ChatID: req.msg.ChatID, Source: req.msg.MessageID,
		EventID: req.msg.EventID, To: to}
	periods, _, err := b.okr.ListPeriods(ctx, periodListLimit)
	if err != nil {
		return failureCard(cards.Text{ZH: "查询周期列表", EN: "List periods"}, err, nil, nil), failed(err)
	}
	var matches []okr.Period
	arg := req.cmd.Period
	if arg != "" {
		if p, ok := hasPeriod(periods, arg); ok {
			matches = append(matches, p)
		}
	} else {
		arg = req.cmd.Month.String()
		for _, p := range periods {
			if s, _ := p.Months(b.set.Location); s == req.cmd.Month {
				matches = append(matches, p)
			}
		}
	}
	switch len(matches) {
	case 0:
		return cards.NoSuchPeriod(arg), result{outcome: "no_such_period"}
	case 1:
		return b.confirmCard(t, matches[0])
	}
	choices := make([]cards.PeriodChoice, len(matches))
	for i, p := range matches {
		row := b.periodRow(p)
		choices[i] = cards.PeriodChoice{Period: p, Start: row.Start, End: row.End,
			Value: b.buttons.value(buttonValue{Op: opChoose, Chat: t.ChatID, Source: t.Source, Period: p.ID, Status: to})}
	}
	return cards.ChoosePeriod(arg, to, choices), result{outcome: "choose_period"}
}

// confirmCard asks to confirm moving p to t.To, or says it is there
// already (no PATCH for that).
func (b *Bot) confirmCard(t statusTarget, p okr.Period) (cards.Card, result) {
	c := b.statusChange(p, t)
	if p.Status.Normalized() == t.To {
		return cards.StatusUnchanged(c), result{outcome: "unchanged"}
	}
	v := buttonValue{Op: opConfirm, Chat: t.ChatID, Source: t.Source, Period: p.ID, Status: t.To}
	confirm := b.buttons.value(v)
	v.Op = opCancel
	return cards.ConfirmStatus(c, confirm, b.buttons.value(v)), result{outcome: "confirm_asked"}
}

func (b *Bot) statusChange(p okr.Period, t statusTarget) cards.StatusChange {
	row := b.periodRow(p)
	return cards.StatusChange{Period: p, Start: row.Start, End: row.End, To: t.To, RequestedBy: t.Operator}
}

// findByID reads the periods and finds id among them.
func (b *Bot) findByID(ctx context.Context, id string) (okr.Period, bool, error) {
	periods, _, err := b.okr.ListPeriods(ctx, periodListLimit)
	if err != nil {
		return okr.Period{}, false, err
	}
	p, ok := hasPeriod(periods, id)
	return p, ok, nil
}

// changeStatus runs a confirmed change: it reads the period again (its
// status may have changed since the card was shown), sends the PATCH once,
// audits it, and returns the card that replaces the confirmation.
func (b *Bot) changeStatus(ctx context.Context, c Click, bv buttonValue) (cards.Card, result) {
	cmd := statusCommand(bv.Status)
	rec := AuditRecord{Operator: c.Operator, ChatID: c.ChatID, Command: string(cmd), Args: []string{bv.Period},
		Via: "button", PeriodID: bv.Period, NewStatus: statusWord(bv.Status), EventID: c.EventID}
	action := cards.Text{ZH: fmt.Sprintf("变更周期 %s 的状态", bv.Period), EN: fmt.Sprintf("Change the status of period %s", bv.Period)}
	p, ok, err := b.findByID(ctx, bv.Period)
	switch {
	case err != nil:
		rec.Outcome = AuditFailed
		b.write(ctx, rec, err)
		return failureCard(action, err, nil, nil), failed(err)
	case !ok:
		rec.Outcome = AuditFailed
		b.write(ctx, rec, nil)
		return cards.NoSuchPeriod(bv.Period), result{outcome: "no_such_period"}
	}
	rec.OldStatus = statusWord(p.Status)
	t := statusTarget{Operator: c.Operator, ChatID: c.ChatID, Source: bv.Source, EventID: c.EventID, To: bv.Status}
	change := b.statusChange(p, t)
	if p.Status.Normalized() == bv.Status {
		rec.Outcome = AuditUnchanged
		b.write(ctx, rec, nil)
		return cards.StatusUnchanged(change), result{outcome: "unchanged"}
	}
	logID, err := b.okr.PatchPeriod(ctx, p.ID, bv.Status)
	if err != nil {
		rec.Outcome = auditOutcome(err)
		b.write(ctx, rec, err)
		return failureCard(action, err, nil, nil), failed(err)
	}
	rec.Outcome, rec.LogID = AuditChanged, logID
	b.write(ctx, rec, nil)
	b.metrics.statusChanged()
	b.log.Info("period status changed", "period_id", p.ID, "old_status", rec.OldStatus, "new_status", rec.NewStatus,
		"operator", c.Operator, "chat_id", c.ChatID, "event_id", c.EventID)
	return cards.StatusChanged(change, c.Operator), result{outcome: "changed"}
}
