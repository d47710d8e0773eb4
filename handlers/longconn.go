package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	larkcore "github.com/larksuite/oapi-sdk-go/v3/core"
	larkevent "github.com/larksuite/oapi-sdk-go/v3/event"
	"github.com/larksuite/oapi-sdk-go/v3/event/dispatcher"
	"github.com/larksuite/oapi-sdk-go/v3/event/dispatcher/callback"
	larkim "github.com/larksuite/oapi-sdk-go/v3/service/im/v1"
	larkws "github.com/larksuite/oapi-sdk-go/v3/ws"

	"okrbot/bot"
)

// LongConnConfig configures a LongConn.
type LongConnConfig struct {
	AppID, AppSecret string
	BaseURL          string // feishu.base_url: the endpoint is asked there
	Bot              Bot
	Log              *slog.Logger
	Metrics          *Metrics
	// Options are extra options for the SDK's client (tests pass a dialer
	// or an HTTP client).
	Options []larkws.ClientOption
	// RetryAfter is how long Run waits before it starts over when the SDK's
	// client has stopped for good (bad credentials, too many connections);
	// default a minute.
	RetryAfter time.Duration
}

// LongConn is the long-connection receiver (feishu.mode = "websocket";
// README, "Webhook or long connection"): the SDK's own client dials Feishu, and each
// event or card callback it receives is decoded into the bot's Message or
// Click like a webhook's. The SDK answers each data frame with an ACK
// carrying the handler's result: 200 when the bot took the event, 500 when
// it could not (busy, store down), so that Feishu sends it again.
type LongConn struct {
	cfg       LongConnConfig
	opts      []larkws.ClientOption
	connected atomic.Bool
	everUp    atomic.Bool
	stop      chan struct{} // closed by Close

	mu      sync.Mutex
	closed  bool
	client  *larkws.Client // of the current run
	stopRun context.CancelFunc
}

// errForeignApp refuses an event whose header names another app.
var errForeignApp = errors.New("event for another app")

// NewLongConn returns a LongConn; Run connects it.
func NewLongConn(cfg LongConnConfig) *LongConn {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Minute
	}
	l := &LongConn{cfg: cfg, stop: make(chan struct{})}
	d := dispatcher.NewEventDispatcher("", "").
		OnP2MessageReceiveV1(l.onMessage).
		OnP2CardActionTrigger(l.onClick)
	opts := []larkws.ClientOption{
		larkws.WithEventHandler(d),
		larkws.WithDomain(cfg.BaseURL),
		larkws.WithLogger(wsLogger{cfg.Log}),
		larkws.WithLogLevel(larkcore.LogLevelWarn),
		// The SDK calls a first connection reached after failed attempts
		// "reconnected" too; up counts only connections after the first.
		larkws.WithOnReady(l.up),
		larkws.WithOnReconnected(l.up),
		larkws.WithOnReconnecting(func() {
			l.connected.Store(false)
			cfg.Metrics.setConnected(false)
			cfg.Log.Warn("long connection lost; reconnecting")
		}),
		larkws.WithOnDisconnected(func() {
			l.connected.Store(false)
			cfg.Metrics.setConnected(false)
			cfg.Log.Warn("long connection closed")
		}),
		larkws.WithOnError(func(err error) { cfg.Log.Warn("long connection error", "err", err.Error()) }),
	}
	l.opts = append(opts, cfg.Options...)
	return l
}

func (l *LongConn) up() {
	l.connected.Store(true)
	l.cfg.Metrics.setConnected(true)
	if l.everUp.Swap(true) {
		l.cfg.Metrics.reconnected()
		l.cfg.Log.Info("long connection open again")
		return
	}
	l.cfg.Log.Info("long connection open")
}

// Connected reports whether the connection is up now.
func (l *LongConn) Connected() bool { return l.connected.Load() }

// Run connects and keeps the connection, reconnecting with the platform's
// backoff, until ctx ends or Close is called. A client error the SDK will
// not retry (bad credentials, a refused handshake, too many connections)
// stops its client for good; Run logs it and starts over with a new client
// after LongConnConfig.RetryAfter (a minute): a bot without a connection
// is of no use, and /readyz says so meanwhile.
func (l *LongConn) Run(ctx context.Context) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return
		}
		rctx, cancel := context.WithCancel(ctx)
		// The SDK's client cannot be started again once it has stopped
		// after being connected: each run gets a client of its own.
		client := larkws.NewClient(l.cfg.AppID, l.cfg.AppSecret, l.opts...)
		l.client, l.stopRun = client, cancel
		l.mu.Unlock()
		err := client.Start(rctx)
		cancel()
		l.connected.Store(false)
		l.cfg.Metrics.setConnected(false)
		if ctx.Err() != nil || l.isClosed() {
			return
		}
		l.cfg.Log.Error("long connection stopped; trying again later", "err", fmt.Sprint(err), "retry_in", l.cfg.RetryAfter.String())
		t := time.NewTimer(l.cfg.RetryAfter)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-l.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (l *LongConn) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Close closes the connection at once and opens no new one (SIGTERM:
// events then stay with Feishu, which delivers them to another replica or
// again later). It does not wait for Run to return.
func (l *LongConn) Close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.stop)
	}
	client, stop := l.client, l.stopRun
	l.mu.Unlock()
	if client != nil {
		client.Close()
	}
	if stop != nil {
		stop()
	}
	l.connected.Store(false)
	l.cfg.Metrics.setConnected(false)
}

// header checks the envelope header of a long-connection event.
func (l *LongConn) header(base *larkevent.EventV2Base) (string, error) {
	if base == nil || base.Header == nil {
		return "", fmt.Errorf("%w: header missing", ErrBadEvent)
	}
	if base.Header.AppID != l.cfg.AppID {
		return "", errForeignApp
	}
	return base.Header.EventID, nil
}

func (l *LongConn) onMessage(ctx context.Context, ev *larkim.P2MessageReceiveV1) error {
	id, err := l.header(ev.EventV2Base)
	if err == nil {
		var msg bot.Message
		if msg, err = MessageFromSDK(id, ev.Event); err == nil {
			err = l.cfg.Bot.HandleMessage(ctx, msg)
		}
	}
	return l.outcome(EventMessageReceive, id, err)
}

// outcome counts and logs a data frame's outcome and says what to ACK: a
// message the bot could not take is answered with an error (code 500), so
// that Feishu delivers it again; anything it will never take is ACKed.
func (l *LongConn) outcome(typ, eventID string, err error) error {
	switch {
	case err == nil:
		l.cfg.Metrics.frame(typ, "accepted")
		return nil
	case errors.Is(err, bot.ErrBusy), errors.Is(err, bot.ErrClosed):
		l.cfg.Metrics.frame(typ, "busy")
		l.cfg.Log.Warn("event not taken; Feishu will deliver it again", "event_id", eventID, "err", err.Error())
		return err
	}
	l.cfg.Metrics.frame(typ, "refused")
	l.cfg.Log.Warn("event refused", "event_id", eventID, "err", err.Error())
	return nil
}

func (l *LongConn) onClick(ctx context.Context, ev *callback.CardActionTriggerEvent) (*callback.CardActionTriggerResponse, error) {
	id, err := l.header(ev.EventV2Base)
	var c bot.Click
	if err == nil {
		c, err = ClickFromSDK(id, ev.Event)
	}
	if err != nil {
		return nil, l.outcome(EventCardAction, id, err)
	}
	ans, err := l.cfg.Bot.HandleClick(ctx, c)
	if err != nil {
		return nil, l.outcome(EventCardAction, id, err)
	}
	l.cfg.Metrics.frame(EventCardAction, "answered")
	return AnswerToSDK(ans), nil
}

// wsLogger sends the SDK client's log lines to slog.
type wsLogger struct{ log *slog.Logger }

func (w wsLogger) Debug(ctx context.Context, args ...any) {
	w.log.DebugContext(ctx, fmt.Sprint(args...))
}
func (w wsLogger) Info(ctx context.Context, args ...any) { w.log.InfoContext(ctx, fmt.Sprint(args...)) }
func (w wsLogger) Warn(ctx context.Context, args ...any) { w.log.WarnContext(ctx, fmt.Sprint(args...)) }
func (w wsLogger) Error(ctx context.Context, args ...any) {
	w.log.ErrorContext(ctx, fmt.Sprint(args...))
}
