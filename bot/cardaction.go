package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/larksuite/oapi-sdk-go/v3/event/dispatcher/callback"

	"okrbot/cards"
)

// CardAnswer is the bot's answer to a card callback: a toast, and a card
// that replaces the clicked one in place.
type CardAnswer = callback.CardActionTriggerResponse

// clickBudget leaves room within Feishu's 3 s for the network; work that
// takes longer is answered "working" and delivered by a delayed update.
const clickBudget = 2500 * time.Millisecond

// lateUpdateDelay lets the callback answer land first: Feishu undoes a
// delayed update that arrives before it.
const lateUpdateDelay = 300 * time.Millisecond

// click is one button press.
type click struct {
	Operator  string
	MessageID string // the card's message
	ChatID    string
	Token     string // the delayed-update token
	EventID   string
}

// HandleCardAction answers a verified card.action.trigger callback. It runs
// the same checks as a typed command, and more: the button value must carry
// the bot's signature and name one of the tenant's rules.
func (b *Bot) HandleCardAction(ctx context.Context, h EventHeader, raw json.RawMessage) (*CardAnswer, error) {
	var ev callback.CardActionTriggerRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadEvent, err)
	}
	if ev.Action == nil || ev.Operator == nil || ev.Context == nil {
		return nil, fmt.Errorf("%w: action, operator or context missing", ErrBadEvent)
	}
	c := click{Operator: ev.Operator.OpenID, MessageID: ev.Context.OpenMessageID, ChatID: ev.Context.OpenChatID,
		Token: ev.Token, EventID: h.EventID}
	ctx, cancel := context.WithTimeout(ctx, clickBudget)
	defer cancel()

	bv, err := b.buttons.open(ev.Action.Value)
	if err != nil {
		b.logClick(c, "", "rejected", err)
		_ = b.audit.Audit(ctx, AuditRecord{Time: b.now().UTC(), Operator: c.Operator, ChatID: c.ChatID,
			Command: "button", Via: "button", Outcome: "rejected", EventID: c.EventID})
		return toastOnly("error", "这个按钮的内容无法识别，未执行任何操作。", "This button's value was not accepted; nothing was done."), nil
	}
	if len(b.set.Chats) > 0 && !slices.Contains(b.set.Chats, c.ChatID) {
		b.logClick(c, bv.Op, "ignored_chat", nil)
		return toastOnly("error", "机器人不在这个群里工作。", "The bot does not work in this chat."), nil
	}
	switch bv.Op {
	case opPeriods:
		card, r := b.listPeriods(ctx)
		b.logClick(c, bv.Op, r.outcome, r.err)
		if r.err != nil {
			return toastOnly("error", "暂时查不到周期列表，请稍后再按。", "Couldn't list the periods just now; press again later."), nil
		}
		return answer(card, "info", "周期列表", "Periods"), nil
	default:
		return b.clickCreate(ctx, c, bv), nil
	}
}

// clickCreate runs a Retry or rule-picker click: at most one create per
// button, however many clicks and operators.
func (b *Bot) clickCreate(ctx context.Context, c click, bv buttonValue) *CardAnswer {
	month, _ := ParseMonth(bv.Month)
	req := createRequest{Operator: c.Operator, ChatID: c.ChatID, Month: month, RuleID: bv.Rule,
		Source: bv.Source, Attempt: bv.Attempt, Via: "button", EventID: c.EventID, TimedOut: bv.TimedOut}
	if !b.isOperator(c.Operator) {
		b.auditCreate(ctx, req, "refused", nil, Created{})
		b.logClick(c, bv.Op, "refused", nil)
		return toastOnly("error",
			fmt.Sprintf("只有 OKR 管理员可以创建周期。你的 open_id：%s", c.Operator),
			fmt.Sprintf("Only OKR operators may create periods. Your open_id: %s", c.Operator))
	}
	if _, ok, err := b.rules.lookup(ctx, bv.Rule); err != nil || !ok {
		outcome := "rejected"
		if err != nil {
			outcome = "failed"
		}
		b.auditCreate(ctx, req, outcome, err, Created{})
		b.logClick(c, bv.Op, outcome, err)
		if err != nil {
			return toastOnly("error", "暂时无法核对周期规则，请稍后再按。", "Couldn't check the period rule just now; press again later.")
		}
		return toastOnly("error", "这个周期规则已不存在，未创建。", "That period rule no longer exists; nothing was created.")
	}
	won, err := b.store.Claim(ctx, fmt.Sprintf("click:%s:%d", bv.Source, bv.Attempt), DedupTTL)
	if err != nil {
		b.logClick(c, bv.Op, "error", err)
		return toastOnly("error", "暂时无法处理，请稍后再按。", "Couldn't take the click just now; press again later.")
	}
	if !won {
		b.metrics.dedupHit()
		b.logClick(c, bv.Op, "duplicate", nil)
		return toastOnly("info", "这个操作已经在处理或已完成。", "This is already being handled or done.")
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
		card, r := b.create(wctx, req)
		b.logClick(c, bv.Op, r.outcome, r.err)
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
		_ = b.store.Release(ctx, fmt.Sprintf("click:%s:%d", bv.Source, bv.Attempt))
		return toastOnly("error", "机器人正在重启，请稍后再按。", "The bot is restarting; press again in a moment.")
	}

	timer := time.NewTimer(time.Until(deadlineOf(ctx)))
	defer timer.Stop()
	select {
	case o := <-done:
		return createdAnswer(o.card, o.r)
	case <-timer.C:
	}
	mu.Lock()
	defer mu.Unlock()
	select {
	case o := <-done:
		return createdAnswer(o.card, o.r)
	default:
	}
	late = true
	working := cards.Notice(cards.LevelInfo,
		cards.Text{ZH: "正在处理…", EN: "Working on it…"},
		cards.Text{ZH: fmt.Sprintf("正在创建周期 %s，完成后这张卡片会更新。", bv.Month),
			EN: fmt.Sprintf("Creating period %s; this card updates when it is done.", bv.Month)})
	return answer(working, "info", "正在处理…", "Working on it…")
}

func deadlineOf(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(clickBudget)
}

// deliverLate puts the outcome of slow click work on the card: through the
// callback's update token, or by patching the message if that fails.
func (b *Bot) deliverLate(ctx context.Context, c click, card cards.Card) {
	select {
	case <-time.After(lateUpdateDelay):
	case <-ctx.Done():
	}
	err := b.msgr.UpdateCard(ctx, c.Token, card)
	if err == nil {
		return
	}
	if perr := b.msgr.PatchCard(ctx, c.MessageID, card); perr != nil {
		b.metrics.replyFailed()
		b.log.Error("card update failed", "event_id", c.EventID, "message_id", c.MessageID,
			"update_err", err.Error(), "patch_err", perr.Error())
	}
}

func (b *Bot) logClick(c click, op, outcome string, err error) {
	attrs := []any{"event_id", c.EventID, "message_id", c.MessageID, "chat_id", c.ChatID,
		"operator", c.Operator, "command", "button:" + op, "outcome", outcome}
	if err != nil {
		attrs = append(attrs, "err", err.Error())
	}
	b.log.Info("click handled", attrs...)
	b.metrics.command("button:"+op, outcome)
}

func createdAnswer(card cards.Card, r result) *CardAnswer {
	if r.outcome == "created" {
		return answer(card, "success", "周期已创建", "Period created")
	}
	return answer(card, "error", "创建失败", "Creation failed")
}

func toastOnly(kind, zh, en string) *CardAnswer {
	return &CardAnswer{Toast: &callback.Toast{Type: kind, Content: en, I18nContent: map[string]string{"zh_cn": zh, "en_us": en}}}
}

func answer(card cards.Card, kind, zh, en string) *CardAnswer {
	a := toastOnly(kind, zh, en)
	a.Card = &callback.Card{Type: "raw", Data: card}
	return a
}
