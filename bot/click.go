package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"okrbot/cards"
	"okrbot/internal/okr"
)

// clickBudget leaves room within Feishu's 3 s for the network; work that
// takes longer is answered "working" and delivered by a delayed update.
const clickBudget = 2500 * time.Millisecond

// lateUpdateDelay lets the callback answer land first: Feishu undoes a
// delayed update that arrives before it.
const lateUpdateDelay = 300 * time.Millisecond

// HandleClick answers a button press. It runs the same checks as a typed
// command, and more: the value must carry the bot's signature, be made for
// this chat within the last 14 days, and name things that exist. The error
// is ErrClosed while shutting down; every other outcome is an Answer.
func (b *Bot) HandleClick(ctx context.Context, c Click) (Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, clickBudget)
	defer cancel()
	bv, err := b.buttons.open(c.Value, c.ChatID)
	if err != nil {
		b.logClick(c, "", AuditRejected, err)
		b.write(ctx, AuditRecord{Operator: c.Operator, ChatID: c.ChatID, Command: "button", Args: []string{},
			Via: "button", Outcome: AuditRejected, EventID: c.EventID}, nil)
		if errors.Is(err, errExpiredValue) {
			return toast("error", "这个按钮已过期（超过 14 天），请重新发送命令。",
				"This button has expired (older than 14 days); send the command again."), nil
		}
		return toast("error", "这个按钮的内容无法识别，未执行任何操作。", "This button's value was not accepted; nothing was done."), nil
	}
	if len(b.set.Chats) > 0 && !slices.Contains(b.set.Chats, c.ChatID) {
		b.logClick(c, bv.Op, "ignored_chat", nil)
		return toast("error", "机器人不在这个群里工作。", "The bot does not work in this chat."), nil
	}
	switch bv.Op {
	case opPeriods:
		return b.clickPeriods(ctx, c, bv), nil
	case opManage:
		return b.clickManage(ctx, c, bv), nil
	}
	// Everything else changes data, or leads to a change: operators only.
	if !b.isOperator(c.Operator) {
		b.auditClickRefused(ctx, c, bv)
		b.logClick(c, bv.Op, AuditRefused, nil)
		return toast("error",
			fmt.Sprintf("只有 OKR 操作员可以执行此操作。你的 open_id：%s", c.Operator),
			fmt.Sprintf("Only OKR operators may do this. Your open_id: %s", c.Operator)), nil
	}
	switch bv.Op {
	case opChoose, opStatus:
		return b.clickAskConfirm(ctx, c, bv), nil
	case opConfirm, opCancel:
		return b.clickStatus(ctx, c, bv), nil
	case opSpan:
		return b.clickSpan(ctx, c, bv), nil
	}
	return b.clickCreate(ctx, c, bv), nil
}

func (b *Bot) auditClickRefused(ctx context.Context, c Click, bv buttonValue) {
	cmd, args := string(CmdNewPeriod), []string{bv.Month, bv.Rule}
	switch bv.Op {
	case opChoose, opStatus, opConfirm, opCancel:
		cmd, args = string(statusCommand(bv.Status)), []string{bv.Period}
	case opSpan:
		args = []string{bv.Month + ".." + bv.Last, bv.Rule}
	}
	b.write(ctx, AuditRecord{Operator: c.Operator, ChatID: c.ChatID, Command: cmd, Args: args, Via: "button",
		Outcome: AuditRefused, PeriodID: bv.Period, EventID: c.EventID}, nil)
}

// clickPeriods lists the periods in a new message under the clicked card,
// so that the card (a conflict, say) stays readable in the chat.
func (b *Bot) clickPeriods(ctx context.Context, c Click, bv buttonValue) Answer {
	card, r := b.listPeriods(ctx, c.ChatID, bv.Source, b.isOperator(c.Operator))
	b.logClick(c, bv.Op, r.outcome, r.err)
	if r.err != nil {
		return toast("error", "暂时查不到周期列表，请稍后再按。", "Couldn't list the periods just now; press again later.")
	}
	if _, err := b.msgr.Reply(ctx, c.MessageID, clickUUID(c.EventID), card); err != nil {
		b.metrics.replyFailed()
		return toast("error", "暂时无法发送周期列表，请稍后再按。", "Couldn't send the list just now; press again later.")
	}
	return toast("info", "周期列表已发送在下方。", "The periods are listed below.")
}

// clickManage offers the status changes of one period from the list, in a
// new message, so that the list stays.
func (b *Bot) clickManage(ctx context.Context, c Click, bv buttonValue) Answer {
	if !b.isOperator(c.Operator) {
		b.logClick(c, bv.Op, AuditRefused, nil)
		return toast("error",
			fmt.Sprintf("只有 OKR 操作员可以变更周期状态。你的 open_id：%s", c.Operator),
			fmt.Sprintf("Only OKR operators may change a period's status. Your open_id: %s", c.Operator))
	}
	p, refusal, ok := b.clickedPeriod(ctx, c, bv)
	if !ok {
		return refusal
	}
	values := map[okr.Status]cards.Value{}
	for _, to := range []okr.Status{okr.StatusInvalid, okr.StatusHidden, okr.StatusNormal} {
		if p.Status.Normalized() != to {
			values[to] = b.buttons.value(buttonValue{Op: opStatus, Chat: c.ChatID, Source: bv.Source, Period: p.ID, Status: to})
		}
	}
	row := b.periodRow(p)
	if _, err := b.msgr.Reply(ctx, c.MessageID, clickUUID(c.EventID), cards.PeriodActions(p, row.Start, row.End, values)); err != nil {
		b.metrics.replyFailed()
		b.logClick(c, bv.Op, "failed", err)
		return toast("error", "暂时无法发送，请稍后再按。", "Couldn't send it just now; press again later.")
	}
	b.logClick(c, bv.Op, "ok", nil)
	return toast("info", "可执行的操作已发送在下方。", "What you can do with it is below.")
}

// clickedPeriod looks up the period a button names; when it can't be had
// it returns the answer that says why.
func (b *Bot) clickedPeriod(ctx context.Context, c Click, bv buttonValue) (okr.Period, Answer, bool) {
	p, ok, err := b.findByID(ctx, bv.Period)
	switch {
	case err != nil:
		b.logClick(c, bv.Op, "failed", err)
		return p, toast("error", "暂时查不到这个周期，请稍后再按。", "Couldn't look the period up just now; press again later."), false
	case !ok:
		b.logClick(c, bv.Op, "no_such_period", nil)
		return p, withCard(cards.NoSuchPeriod(bv.Period), "error", "周期不存在", "No such period"), false
	}
	return p, Answer{}, true
}

// clickAskConfirm turns a chosen period (or status) into the confirmation.
func (b *Bot) clickAskConfirm(ctx context.Context, c Click, bv buttonValue) Answer {
	p, refusal, ok := b.clickedPeriod(ctx, c, bv)
	if !ok {
		return refusal
	}
	t := statusTarget{Operator: c.Operator, ChatID: c.ChatID, Source: bv.Source, EventID: c.EventID, To: bv.Status}
	card, r := b.confirmCard(t, p)
	b.logClick(c, bv.Op, r.outcome, nil)
	return withCard(card, "info", "请确认", "Please confirm")
}

// clickStatus runs Confirm or Cancel: whichever is pressed first wins, and
// Confirm sends the PATCH at most once however often it is pressed.
func (b *Bot) clickStatus(ctx context.Context, c Click, bv buttonValue) Answer {
	lock := fmt.Sprintf("click:status:%s:%s:%d", bv.Source, bv.Period, bv.Status)
	if bv.Op == opCancel {
		won, err := b.store.Claim(ctx, clickLockTTL, lock)
		switch {
		case err != nil:
			b.logClick(c, bv.Op, "error", err)
			return toast("error", "暂时无法处理，请稍后再按。", "Couldn't take the click just now; press again later.")
		case !won:
			b.metrics.dedupHit()
			b.logClick(c, bv.Op, "duplicate", nil)
			return toast("info", "这个操作已经在处理或已完成。", "This is already being handled or done.")
		}
		p, _, _ := b.findByID(ctx, bv.Period)
		if p.ID == "" {
			p.ID = bv.Period
		}
		change := b.statusChange(p, statusTarget{Operator: c.Operator, To: bv.Status})
		b.logClick(c, bv.Op, "cancelled", nil)
		return withCard(cards.StatusCancelled(change, c.Operator), "info", "已取消，未做任何更改", "Cancelled; nothing changed")
	}
	working := cards.Notice(cards.LevelInfo, cards.Text{ZH: "正在处理…", EN: "Working on it…"},
		cards.Text{ZH: fmt.Sprintf("正在变更周期 %s 的状态，完成后这张卡片会更新。", bv.Period),
			EN: fmt.Sprintf("Changing the status of period %s; this card updates when it is done.", bv.Period)})
	return b.runLocked(ctx, c, bv.Op, lock, working, func(ctx context.Context) (cards.Card, result) {
		return b.changeStatus(ctx, c, bv)
	}, func(r result) Answer {
		if r.outcome == "changed" || r.outcome == "unchanged" {
			return toast("success", "周期状态已更新", "Period status updated")
		}
		return toast("error", "状态变更失败", "Status change failed")
	})
}

// clickCreate runs a Retry or rule-picker click: at most one create per
// button, however many clicks and operators.
func (b *Bot) clickCreate(ctx context.Context, c Click, bv buttonValue) Answer {
	month, _ := ParseMonth(bv.Month)
	req := createRequest{Operator: c.Operator, ChatID: c.ChatID, Month: month, RuleID: bv.Rule,
		Source: bv.Source, Attempt: bv.Attempt, Via: "button", EventID: c.EventID, TimedOut: bv.TimedOut}
	rule, ok, err := b.rules.lookup(ctx, bv.Rule)
	if err != nil || !ok {
		outcome := AuditRejected
		if err != nil {
			outcome = AuditFailed
		}
		b.auditCreate(ctx, req, outcome, err, okr.Created{})
		b.logClick(c, bv.Op, outcome, err)
		if err != nil {
			return toast("error", "暂时无法核对周期规则，请稍后再按。", "Couldn't check the period rule just now; press again later.")
		}
		return toast("error", "这个周期规则已不存在，未创建。", "That period rule no longer exists; nothing was created.")
	}
	working := cards.Notice(cards.LevelInfo, cards.Text{ZH: "正在处理…", EN: "Working on it…"},
		cards.Text{ZH: fmt.Sprintf("正在创建周期 %s，完成后这张卡片会更新。", bv.Month),
			EN: fmt.Sprintf("Creating period %s; this card updates when it is done.", bv.Month)})
	lock := fmt.Sprintf("click:%s:%d", bv.Source, bv.Attempt)
	return b.runLocked(ctx, c, bv.Op, lock, working, func(ctx context.Context) (cards.Card, result) {
		return b.create(ctx, req, rule)
	}, func(r result) Answer {
		if r.outcome == AuditCreated || r.outcome == AuditExists {
			return toast("success", "周期已创建", "Period created")
		}
		return toast("error", "创建失败", "Creation failed")
	})
}

// clickSpan retries the failed periods of a span (or runs a span whose
// rule was just picked).
func (b *Bot) clickSpan(ctx context.Context, c Click, bv buttonValue) Answer {
	first, _ := ParseMonth(bv.Month)
	last, _ := ParseMonth(bv.Last)
	rule, ok, err := b.rules.lookup(ctx, bv.Rule)
	if err != nil || !ok {
		b.logClick(c, bv.Op, AuditRejected, err)
		if err != nil {
			return toast("error", "暂时无法核对周期规则，请稍后再按。", "Couldn't check the period rule just now; press again later.")
		}
		return toast("error", "这个周期规则已不存在，未创建。", "That period rule no longer exists; nothing was created.")
	}
	req := spanRequest{Operator: c.Operator, ChatID: c.ChatID, First: first, Last: last, Rule: rule, Source: bv.Source,
		Attempt: bv.Attempt, Failed: bv.Failed, Created: bv.Created, Via: "button", EventID: c.EventID}
	working := cards.Notice(cards.LevelInfo, cards.Text{ZH: "正在处理…", EN: "Working on it…"},
		cards.Text{ZH: fmt.Sprintf("正在创建 %s – %s 的周期，完成后这张卡片会更新。", bv.Month, bv.Last),
			EN: fmt.Sprintf("Creating the periods of %s – %s; this card updates when it is done.", bv.Month, bv.Last)})
	lock := fmt.Sprintf("click:%s:%d", bv.Source, bv.Attempt)
	return b.runLocked(ctx, c, bv.Op, lock, working, func(ctx context.Context) (cards.Card, result) {
		return b.createSpan(ctx, req)
	}, func(r result) Answer {
		if r.outcome == "span_done" {
			return toast("success", "周期已创建", "Periods created")
		}
		return toast("warning", "部分周期未能创建", "Some periods could not be created")
	})
}

// runLocked runs work at most once per lock key. It answers with work's
// card when that is ready within the click budget; otherwise with the
// working card, and delivers the outcome later by a delayed update.
func (b *Bot) runLocked(ctx context.Context, c Click, op, lock string, working cards.Card,
	work func(context.Context) (cards.Card, result), toastFor func(result) Answer) Answer {
	won, err := b.store.Claim(ctx, clickLockTTL, lock)
	if err != nil {
		b.logClick(c, op, "error", err)
		return toast("error", "暂时无法处理，请稍后再按。", "Couldn't take the click just now; press again later.")
	}
	if !won {
		b.metrics.dedupHit()
		b.logClick(c, op, "duplicate", nil)
		return toast("info", "这个操作已经在处理或已完成。", "This is already being handled or done.")
	}
	type outcome struct {
		card cards.Card
		r    result
	}
	var (
		mu   sync.Mutex
		late bool
		done = make(chan outcome, 1)
	)
	err = b.goBackground(func() {
		wctx, cancel := context.WithTimeout(b.base, b.set.JobTimeout)
		defer cancel()
		card, r := work(wctx)
		b.logClick(c, op, r.outcome, r.err)
		mu.Lock()
		if !late {
			done <- outcome{card, r}
			mu.Unlock()
			return
		}
		mu.Unlock()
		b.deliverLate(wctx, c, card)
	})
	if err != nil {
		if rerr := b.store.Release(context.WithoutCancel(ctx), lock); rerr != nil {
			b.log.Warn("click lock not released", "event_id", c.EventID, "err", rerr)
		}
		return toast("error", "机器人正在重启，请稍后再按。", "The bot is restarting; press again in a moment.")
	}
	finish := func(o outcome) Answer {
		a := toastFor(o.r)
		a.Card = &o.card
		return a
	}
	timer := time.NewTimer(b.budgetLeft(ctx))
	defer timer.Stop()
	select {
	case o := <-done:
		return finish(o)
	case <-timer.C:
	}
	mu.Lock()
	defer mu.Unlock()
	select {
	case o := <-done:
		return finish(o)
	default:
	}
	late = true
	return withCard(working, "info", "正在处理…", "Working on it…")
}

// budgetLeft is the time left of the click budget on the bot's clock.
func (b *Bot) budgetLeft(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return clickBudget
}

// deliverLate puts the outcome of slow click work on the card: through the
// callback's update token, or by patching the message if that fails. A
// card Feishu refuses for good (withdrawn, past its edit window) is left.
func (b *Bot) deliverLate(ctx context.Context, c Click, card cards.Card) {
	sleepCtx(ctx, lateUpdateDelay)
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), abandonWait)
		defer cancel()
	}
	err := b.msgr.UpdateCard(ctx, c.Token, card)
	if err == nil {
		return
	}
	if okr.ClassOf(err) != okr.ClassFinal {
		if err = b.msgr.PatchCard(ctx, c.MessageID, card); err == nil {
			return
		}
	}
	b.metrics.replyFailed()
	b.log.Error("card update failed", "event_id", c.EventID, "message_id", c.MessageID, "err", err.Error())
}

func (b *Bot) logClick(c Click, op, outcome string, err error) {
	attrs := []any{"event_id", c.EventID, "message_id", c.MessageID, "chat_id", c.ChatID,
		"operator", c.Operator, "command", "button:" + op, "outcome", outcome}
	if err != nil {
		attrs = append(attrs, "err", err.Error())
	}
	b.log.Info("click handled", attrs...)
	b.metrics.command("button:"+op, outcome)
}

// clickUUID derives the idempotency key of a message a click sends.
func clickUUID(eventID string) string {
	sum := sha256.Sum256([]byte("okrbot-click:" + eventID))
	return "okrbot-" + hex.EncodeToString(sum[:16])
}
