// Package bot holds okrbot's use cases: reading chat commands, deciding who
// may run them, creating, listing and changing OKR periods, answering with
// cards, and keeping each chat's commands in order. It knows no transport,
// SDK or store: receivers (package handlers) hand it decoded Message and
// Click values, and it reaches the Open Platform and its memory through the
// small interfaces declared here.
package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"okrbot/cards"
	"okrbot/internal/okr"
)

// Periods is the Open Platform's OKR period API as the bot uses it.
type Periods interface {
	CreatePeriod(ctx context.Context, ruleID string, month okr.Month) (okr.Created, error)
	ListRules(ctx context.Context) ([]okr.Rule, error)
	ListPeriods(ctx context.Context, limit int) ([]okr.Period, bool, error)
	PatchPeriod(ctx context.Context, periodID string, status okr.Status) (logID string, err error)
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

// Store remembers which events, messages and clicks were already taken.
// Claim takes every key or none, atomically: of concurrent claims sharing a
// key exactly one wins.
type Store interface {
	Claim(ctx context.Context, ttl time.Duration, keys ...string) (bool, error)
	Release(ctx context.Context, keys ...string) error
}

// DedupTTL covers Feishu's redelivery schedule (15 s, 5 min, 1 h, 6 h) with
// room to spare.
const DedupTTL = 8 * time.Hour

// Errors HandleMessage returns for an event it did not take. The receiver
// answers them so that Feishu delivers the event again later (503, or a
// non-200 ACK on the long connection).
var (
	ErrBusy   = errors.New("bot: busy")
	ErrClosed = errors.New("bot: shutting down")
)

// Settings are the bot's policy knobs.
type Settings struct {
	Operators     []string       // open_ids allowed to change data
	Chats         []string       // chat_ids the bot answers in; empty = any
	DefaultRuleID string         // rule used when a command names none
	MaxMessageAge time.Duration  // older commands are not executed
	ButtonKey     []byte         // signs button values; derive it from the app secret
	Location      *time.Location // the tenant's time zone; default UTC
	Workers       int            // default 16
	QueueSize     int            // default 1024
	ChatQueue     int            // commands one chat may have waiting; default 32
	// OrderWindow lets a chat's first command wait this long for earlier
	// ones handed over out of order (long connection); 0 for the webhook.
	OrderWindow time.Duration
	JobTimeout  time.Duration // default 2m
}

// Deps are the bot's collaborators.
type Deps struct {
	Periods   Periods
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
	set      Settings
	okr      Periods
	msgr     Messenger
	id       Identity
	store    Store
	audit    Auditor
	log      *slog.Logger
	metrics  *Metrics
	now      func() time.Time
	queue    *Queue
	rules    *ruleCache
	buttons  buttonSigner
	commands commandTable

	base    context.Context // parent of background work; cancelled when Shutdown gives up
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
	if s.ChatQueue <= 0 {
		s.ChatQueue = 32
	}
	if s.JobTimeout <= 0 {
		s.JobTimeout = 2 * time.Minute
	}
	if s.MaxMessageAge <= 0 {
		s.MaxMessageAge = 10 * time.Minute
	}
	if s.Location == nil {
		s.Location = time.UTC
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Audit == nil {
		d.Audit = logAuditor{d.Log}
	}
	base, cancel := context.WithCancel(context.Background())
	b := &Bot{
		set: s, okr: d.Periods, msgr: d.Messenger, id: d.Identity, store: d.Store, audit: d.Audit,
		log: d.Log, metrics: d.Metrics, now: d.Now,
		rules:    newRuleCache(d.Periods, d.Now),
		buttons:  buttonSigner{key: s.ButtonKey, now: d.Now},
		commands: newCommandTable(),
		base:     base, cancel: cancel,
	}
	b.queue = NewQueue(s.Workers, s.QueueSize, s.ChatQueue, s.OrderWindow, d.Metrics.setQueueDepth)
	return b
}

// identityWait bounds the look-up of the bot's own open_id before an event
// is answered: events are acknowledged within 0.5 s (docs/contract.md §3),
// and without it the answer is a 503.
const identityWait = 400 * time.Millisecond

// HandleMessage takes a message event. It returns quickly: work is queued.
// ErrBusy or ErrClosed mean the message was not taken and leaves no trace,
// so that its redelivery is acted on. Every other message, ignored or
// already seen ones included, returns nil.
func (b *Bot) HandleMessage(ctx context.Context, msg Message) error {
	if keep, err := b.addressed(ctx, msg); err != nil || !keep {
		return err
	}
	// Room first: once the duplicate check has claimed the message, taking
	// it must not fail, or a concurrent duplicate acknowledged meanwhile
	// would leave the message with nobody to run it.
	slot, err := b.queue.Reserve(msg.ChatID)
	if err != nil {
		return err
	}
	fresh, err := b.store.Claim(ctx, DedupTTL, "event:"+msg.EventID, "message:"+msg.MessageID)
	if err != nil || !fresh {
		slot.Cancel()
		if err != nil {
			return fmt.Errorf("%w: dedup store: %w", ErrBusy, err)
		}
		b.metrics.dedupHit()
		b.log.Info("message handled", "event_id", msg.EventID, "message_id", msg.MessageID, "chat_id", msg.ChatID,
			"outcome", "duplicate")
		return nil
	}
	slot.Submit(msg.ChatID, job{
		run:     func() { b.runMessage(msg) },
		abandon: func() { b.abandonMessage(msg) },
		order:   msg.CreateTime.UnixMilli(),
	})
	return nil
}

// addressed reports whether msg is for the bot at all, before anything is
// remembered of it: a message from an app, from a chat the bot does not
// serve, or a group message that does not mention the bot is dropped
// here. Not knowing its own open_id, the bot cannot tell; it then answers
// ErrBusy so that Feishu delivers the message again (docs/contract.md §7).
func (b *Bot) addressed(ctx context.Context, msg Message) (bool, error) {
	if msg.SenderType != "user" {
		return false, nil
	}
	if len(b.set.Chats) > 0 && !slices.Contains(b.set.Chats, msg.ChatID) {
		return false, nil
	}
	if msg.ChatType == "p2p" {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, identityWait)
	defer cancel()
	self, err := b.id.BotOpenID(ctx)
	if err != nil {
		b.log.Warn("message not taken: the bot's own open_id is unknown", "event_id", msg.EventID, "err", err)
		return false, fmt.Errorf("%w: bot identity: %w", ErrBusy, err)
	}
	return msg.mentions(self), nil
}

// Shutdown stops taking events and waits for the work already taken, until
// ctx ends. Work still waiting then is not run: each such message is
// answered with a card asking to send it again, work still running is cut
// short, and Shutdown reports ErrNotFinished.
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
	if err != nil {
		// Nothing waiting may start now; cut short what still runs, then
		// answer what never ran. Both reply on contexts of their own
		// (abandonWait).
		b.queue.Stop()
		b.cancel()
		b.queue.Abandon()
		<-done
		return fmt.Errorf("%w: %w", ErrNotFinished, err)
	}
	b.cancel()
	return nil
}

// ErrNotFinished reports a shutdown whose timeout ran out before every
// acknowledged command had run.
var ErrNotFinished = errors.New("bot: shutdown timeout ran out")

// abandonWait bounds the reply that tells a user their command was not run,
// sent after the shutdown timeout ran out.
const abandonWait = 5 * time.Second

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

// Pending reports the messages taken and not yet finished.
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
	b.logMessage(ctx, msg, r, start)
}

// abandonMessage answers a message that was acknowledged but never run
// because the shutdown timeout ran out.
func (b *Bot) abandonMessage(msg Message) {
	ctx, cancel := context.WithTimeout(context.Background(), abandonWait)
	defer cancel()
	r := b.reply(ctx, msg, result{outcome: "not_run"}, cards.NotRun(msg.commandText()))
	b.logMessage(ctx, msg, r, b.now())
}

func (b *Bot) logMessage(ctx context.Context, msg Message, r result, start time.Time) {
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

// processMessage reads the command a message carries and runs it.
func (b *Bot) processMessage(ctx context.Context, msg Message) result {
	if msg.MessageType != "text" {
		return b.reply(ctx, msg, result{outcome: "not_text"}, b.helpCard())
	}
	text := msg.commandText()
	cmd, err := b.commands.parse(text)
	late := b.now().Sub(msg.CreateTime) > b.set.MaxMessageAge
	var usage *UsageError
	switch {
	case errors.Is(err, ErrNotCommand):
		if late {
			return result{outcome: "ignored_late"}
		}
		return b.reply(ctx, msg, result{outcome: "not_command"}, b.helpCard())
	case late:
		age := b.now().Sub(msg.CreateTime)
		return b.reply(ctx, msg, result{command: string(cmd.Name), outcome: "late"}, cards.Late(text, age))
	case errors.As(err, &usage):
		return b.reply(ctx, msg, result{command: string(cmd.Name), outcome: "usage"}, b.usageCard(usage, text))
	case err != nil:
		return result{outcome: "error", err: err}
	}
	spec := b.commands.byName(cmd.Name)
	req := request{msg: msg, cmd: cmd, text: text}
	if spec.changesData && !b.isOperator(msg.SenderOpenID) {
		b.auditRefused(ctx, req)
		return b.reply(ctx, msg, result{command: string(cmd.Name), outcome: "refused"},
			cards.Refusal(msg.SenderOpenID, spec.usage.Usage))
	}
	card, r := spec.run(b, ctx, req)
	r.command = string(cmd.Name)
	return b.reply(ctx, msg, r, card)
}

// request is one typed command on its way through the use cases.
type request struct {
	msg  Message
	cmd  Command
	text string // the command as typed, mentions removed
}

// isOperator reports whether openID may change data.
func (b *Bot) isOperator(openID string) bool {
	return openID != "" && slices.Contains(b.set.Operators, openID)
}

// reply answers msg with card. The reply's uuid is derived from the message,
// so a repeated reply is shown once. A reply cut short by shutdown gets a
// few seconds of its own: every acknowledged message gets its answer.
func (b *Bot) reply(ctx context.Context, msg Message, r result, card cards.Card) result {
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), abandonWait)
		defer cancel()
	}
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

func (b *Bot) helpCard() cards.Card { return cards.Help(b.commands.help(), b.set.DefaultRuleID != "") }

func (b *Bot) usageCard(u *UsageError, typed string) cards.Card {
	if u.Command == "" {
		return cards.UnknownCommand(typed, u.Suggestion, b.commands.help())
	}
	return cards.Usage(u.Problem, typed, b.commands.byName(u.Command).usage)
}

func failed(err error) result {
	r := result{outcome: "failed", err: err}
	var e *okr.Error
	if errors.As(err, &e) {
		r.logID = e.LogID
	}
	return r
}
