package bot

import (
	"context"
	"slices"

	"okrbot/cards"
	"okrbot/internal/okr"
)

// periodListLimit caps how many periods the bot reads: enough to find the
// newest in any real tenant, polite to huge ones.
const periodListLimit = 500

// periodRows caps the rows of the /periods card; the rest are counted.
const periodRows = 20

func (b *Bot) runListRules(ctx context.Context, _ request) (cards.Card, result) {
	rules, err := b.rules.get(ctx, true)
	if err != nil {
		return failureCard(cards.Text{ZH: "查询周期规则", EN: "List period rules"}, err, nil, nil), failed(err)
	}
	return cards.RuleList(rules), result{outcome: "ok"}
}

func (b *Bot) runListPeriods(ctx context.Context, req request) (cards.Card, result) {
	return b.listPeriods(ctx, req.msg.ChatID, req.msg.MessageID, b.isOperator(req.msg.SenderOpenID))
}

// listPeriods reads every page of periods and shows the newest; for an
// operator each row gets a button leading to its status changes.
func (b *Bot) listPeriods(ctx context.Context, chatID, source string, operator bool) (cards.Card, result) {
	periods, more, err := b.okr.ListPeriods(ctx, periodListLimit)
	if err != nil {
		return failureCard(cards.Text{ZH: "查询周期列表", EN: "List periods"}, err, nil, nil), failed(err)
	}
	slices.SortStableFunc(periods, func(a, b okr.Period) int { return b.Start.Compare(a.Start) })
	shown := periods[:min(len(periods), periodRows)]
	rows := make([]cards.PeriodRow, len(shown))
	for i, p := range shown {
		rows[i] = b.periodRow(p)
		if operator {
			rows[i].Manage = b.buttons.value(buttonValue{Op: opManage, Chat: chatID, Source: source, Period: p.ID})
		}
	}
	r := result{outcome: "ok"}
	hidden := len(periods) - len(shown)
	if more {
		// The tenant has more than the bot reads; the log says so.
		r.outcome = "ok_truncated"
	}
	return cards.PeriodList(rows, hidden), r
}

// periodRow shows p with its months in the tenant's zone.
func (b *Bot) periodRow(p okr.Period) cards.PeriodRow {
	row := cards.PeriodRow{Period: p}
	if !p.Start.IsZero() {
		s, e := p.Months(b.set.Location)
		row.Start, row.End = s.String(), e.String()
	}
	return row
}
