// Package bot holds okrbot's use cases: reading chat commands, deciding who
// may run them, creating and listing OKR periods, and answering with cards.
// It knows nothing of HTTP servers; handlers hand it verified events.
package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"okrbot/cards"
)

// OKR is the Open Platform's OKR period API as the bot uses it.
type OKR interface {
	CreatePeriod(ctx context.Context, ruleID string, month Month) (Created, error)
	ListRules(ctx context.Context) ([]Rule, error)
	ListPeriods(ctx context.Context, limit int) ([]Period, bool, error)
}

// Messenger sends and updates the bot's cards.
type Messenger interface {
	Reply(ctx context.Context, messageID, uuid string, card cards.Card) (string, error)
	PatchCard(ctx context.Context, messageID string, card cards.Card) error
	UpdateCard(ctx context.Context, updateToken string, card cards.Card) error
}

// Identity tells the bot its own open_id.
type Identity interface {
	BotOpenID(ctx context.Context) (string, error)
}

// Settings are the bot's policy knobs.
type Settings struct {
	Operators     []string      // open_ids allowed to change data
	Chats         []string      // chat_ids the bot answers in; empty = any
	DefaultRuleID string        // rule used when a command names none
	MaxMessageAge time.Duration // older commands are not executed
	ButtonKey     []byte        // signs button values; derive it from the app secret
	Workers       int           // default 16
	QueueSize     int           // default 1024
	JobTimeout    time.Duration // default 2m
}

// Deps are the bot's collaborators.
type Deps struct {
	OKR       OKR
	Messenger Messenger
	Identity  Identity
	Store     Store
	Audit     Auditor
	Log       *slog.Logger
	Metrics   *Metrics
	Now       func() time.Time
}

// Bot is the chat bot.
type Bot struct {
	set     Settings
	okr     OKR
	msgr    Messenger
	id      Identity
	store   Store
	audit   Auditor
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
	queue   *Queue
	rules   *ruleCache
	buttons buttonSigner

	base    context.Context // parent of background work; cancelled when Shutdown ends
	cancel  context.CancelFunc
	bgMu    sync.Mutex
	closing bool
	bg      sync.WaitGroup // click work still running after its callback was answered
}

// New returns a Bot with its worker pool started.
func New(s Settings, d Deps) *Bot {
	if s.Workers <= 0 {
		s.Workers = 16
	}
	if s.QueueSize <= 0 {
		s.QueueSize = 1024
	}
	if s.JobTimeout <= 0 {
		s.JobTimeout = 2 * time.Minute
	}
	if s.MaxMessageAge <= 0 {
		s.MaxMessageAge = 10 * time.Minute
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Audit == nil {
		d.Audit = &AuditLog{log: d.Log}
	}
	base, cancel := context.WithCancel(context.Background())
	b := &Bot{
		set: s, okr: d.OKR, msgr: d.Messenger, id: d.Identity, store: d.Store, audit: d.Audit,
		log: d.Log, metrics: d.Metrics, now: d.Now,
		rules:   newRuleCache(d.OKR),
		buttons: buttonSigner{key: s.ButtonKey},
		base:    base, cancel: cancel,
	}
	b.queue = NewQueue(s.Workers, s.QueueSize, d.Metrics.setQueueDepth)
	return b
}

// HandleEvent takes a verified event. It returns quickly: work is queued.
// ErrBusy or ErrClosed mean the event was not taken and should be answered
// 503 so that Feishu delivers it again; ErrBadEvent means it can't be read.
// Every other event, ignored or already seen ones included, returns nil.
func (b *Bot) HandleEvent(ctx context.Context, h EventHeader, event json.RawMessage) error {
	if h.EventType != EventMessageReceive {
		return nil
	}
	msg, err := parseMessageEvent(h.EventID, event)
	if err != nil {
		return err
	}
	// Room first: once a duplicate check has claimed the message, taking it
	// must not fail, or a concurrent duplicate acknowledged meanwhile would
	// leave the message with nobody to run it.
	slot, err := b.queue.Reserve()
	if err != nil {
		return err
	}
	fresh, err := b.claimEvent(ctx, msg)
	if err != nil || !fresh {
		slot.Cancel()
		if err == nil {
			b.log.Info("message handled", "event_id", msg.EventID, "message_id", msg.MessageID, "chat_id", msg.ChatID,
				"outcome", "duplicate")
		}
		return err
	}
	slot.Submit(msg.ChatID, func() { b.runMessage(msg) })
	return nil
}

// claimEvent records the event id and the message id; it reports false when
// either was already taken.
func (b *Bot) claimEvent(ctx context.Context, msg Message) (bool, error) {
	evKey, msgKey := "event:"+msg.EventID, "message:"+msg.MessageID
	ok, err := b.store.Claim(ctx, evKey, DedupTTL)
	if err != nil {
		return false, fmt.Errorf("%w: dedup store: %w", ErrBusy, err)
	}
	if !ok {
		b.metrics.dedupHit()
		return false, nil
	}
	ok, err = b.store.Claim(ctx, msgKey, DedupTTL)
	if err != nil {
		_ = b.store.Release(ctx, evKey)
		return false, fmt.Errorf("%w: dedup store: %w", ErrBusy, err)
	}
	if !ok {
		b.metrics.dedupHit()
	}
	return ok, nil
}

// Shutdown stops taking events and waits for the work already taken, until
// ctx ends.
func (b *Bot) Shutdown(ctx context.Context) error {
	b.bgMu.Lock()
	b.closing = true
	b.bgMu.Unlock()
	err := b.queue.Close(ctx)
	done := make(chan struct{})
	go func() { b.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, ctx.Err())
	}
	b.cancel()
	return err
}

// goBackground runs f as background work that Shutdown waits for. It
// returns ErrClosed once Shutdown has begun.
func (b *Bot) goBackground(f func()) error {
	b.bgMu.Lock()
	defer b.bgMu.Unlock()
	if b.closing {
		return ErrClosed
	}
	b.bg.Add(1)
	go func() {
		defer b.bg.Done()
		f()
	}()
	return nil
}

// Pending reports the events taken and not yet finished.
func (b *Bot) Pending() int { return b.queue.Len() }

// result is what handling one message came to, for the log line.
type result struct {
	command string
	outcome string
	logID   string
	err     error
}

func (b *Bot) runMessage(msg Message) {
	start := b.now()
	ctx, cancel := context.WithTimeout(b.base, b.set.JobTimeout)
	defer cancel()
	var r result
	func() {
		defer func() {
			if p := recover(); p != nil {
				r = result{outcome: "panic", err: fmt.Errorf("panic: %v\n%s", p, debug.Stack())}
			}
		}()
		r = b.processMessage(ctx, msg)
	}()
	if r.command != "" {
		b.metrics.command(r.command, r.outcome)
	}
	level := slog.LevelInfo
	attrs := []any{"event_id", msg.EventID, "message_id", msg.MessageID, "chat_id", msg.ChatID,
		"command", r.command, "outcome", r.outcome, "duration_ms", b.now().Sub(start).Milliseconds()}
	if r.logID != "" {
		attrs = append(attrs, "log_id", r.logID)
	}
	if r.err != nil {
		level = slog.LevelError
		attrs = append(attrs, "err", r.err.Error())
	}
	b.log.Log(ctx, level, "message handled", attrs...)
}

// processMessage applies the bot's policy to one message and runs the
// command it carries.
func (b *Bot) processMessage(ctx context.Context, msg Message) result {
	if msg.SenderType != "user" {
		return result{outcome: "ignored_sender"}
	}
	if len(b.set.Chats) > 0 && !slices.Contains(b.set.Chats, msg.ChatID) {
		return result{outcome: "ignored_chat"}
	}
	if msg.ChatType != "p2p" {
		self, err := b.id.BotOpenID(ctx)
		if err != nil {
			return result{outcome: "error", err: fmt.Errorf("bot identity: %w", err)}
		}
		if !msg.mentions(self) {
			return result{outcome: "ignored_not_mentioned"}
		}
	}
	if msg.MessageType != "text" {
		return b.reply(ctx, msg, result{outcome: "not_text"}, cards.Help(b.set.DefaultRuleID != ""))
	}
	text := msg.commandText()
	cmd, err := ParseCommand(text)
	late := b.now().Sub(msg.CreateTime) > b.set.MaxMessageAge
	var usage *UsageError
	switch {
	case errors.Is(err, ErrNotCommand):
		if late {
			return result{outcome: "ignored_late"}
		}
		return b.reply(ctx, msg, result{outcome: "not_command"}, cards.Help(b.set.DefaultRuleID != ""))
	case late:
		age := b.now().Sub(msg.CreateTime)
		return b.reply(ctx, msg, result{command: string(cmd.Name), outcome: "late"}, cards.Late(text, age))
	case errors.As(err, &usage):
		return b.reply(ctx, msg, result{command: string(cmd.Name), outcome: "usage"}, cards.Usage(usage.Problem, text))
	case err != nil:
		return result{outcome: "error", err: err}
	}
	switch cmd.Name {
	case CmdHelp:
		return b.reply(ctx, msg, result{command: string(cmd.Name), outcome: "ok"}, cards.Help(b.set.DefaultRuleID != ""))
	case CmdRules:
		card, r := b.listRules(ctx)
		r.command = string(cmd.Name)
		return b.reply(ctx, msg, r, card)
	case CmdPeriods:
		card, r := b.listPeriods(ctx)
		r.command = string(cmd.Name)
		return b.reply(ctx, msg, r, card)
	case CmdNewPeriod:
		card, r := b.newPeriod(ctx, msg, cmd)
		r.command = string(cmd.Name)
		return b.reply(ctx, msg, r, card)
	}
	return result{outcome: "error", err: fmt.Errorf("command %q has no handler", cmd.Name)}
}

// isOperator reports whether openID may change data.
func (b *Bot) isOperator(openID string) bool {
	return openID != "" && slices.Contains(b.set.Operators, openID)
}

// reply answers msg with card. The reply's uuid is derived from the message,
// so a repeated reply is shown once.
func (b *Bot) reply(ctx context.Context, msg Message, r result, card cards.Card) result {
	if _, err := b.msgr.Reply(ctx, msg.MessageID, replyUUID(msg.MessageID), card); err != nil {
		b.metrics.replyFailed()
		r.err = errors.Join(r.err, fmt.Errorf("reply failed: %w", err))
	}
	return r
}

// replyUUID derives the reply's idempotency key (at most 50 characters)
// from the triggering message.
func replyUUID(messageID string) string {
	sum := sha256.Sum256([]byte("okrbot-reply:" + messageID))
	return "okrbot-" + hex.EncodeToString(sum[:16])
}

func (b *Bot) listRules(ctx context.Context) (cards.Card, result) {
	rules, err := b.rules.get(ctx, true)
	if err != nil {
		return failureCard(cards.Text{ZH: "查询周期规则", EN: "List period rules"}, err, nil, nil), failed(err)
	}
	views := make([]cards.Rule, len(rules))
	for i, r := range rules {
		views[i] = r.view()
	}
	return cards.RuleList(views), result{outcome: "ok"}
}

// periodListLimit caps how many periods /periods reads: enough to find the
// newest in any real tenant, polite to huge ones.
const periodListLimit = 500

func (b *Bot) listPeriods(ctx context.Context) (cards.Card, result) {
	periods, more, err := b.okr.ListPeriods(ctx, periodListLimit)
	if err != nil {
		return failureCard(cards.Text{ZH: "查询周期列表", EN: "List periods"}, err, nil, nil), failed(err)
	}
	slices.SortStableFunc(periods, func(a, b Period) int { return b.Start.Compare(a.Start) })
	items := make([]cards.PeriodItem, len(periods))
	for i, p := range periods {
		items[i] = cards.PeriodItem{ID: p.ID, ZhName: p.ZhName, EnName: p.EnName, Status: p.Status}
	}
	// The card shows the newest rows and counts the rest; a tenant with more
	// than the limit is marked in the log.
	r := result{outcome: "ok"}
	if more {
		r.outcome = "ok_truncated"
	}
	return cards.PeriodList(items, 0), r
}

func failed(err error) result {
	r := result{outcome: "failed", err: err}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		r.logID = apiErr.LogID
	}
	return r
}
