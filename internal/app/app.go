// Package app assembles okrbot from its configuration: the SDK client, the
// token provider, the store, the bot and its receivers. serve, check,
// sandbox and the tests all build the bot here, so they run the same thing.
package app

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	larkcore "github.com/larksuite/oapi-sdk-go/v3/core"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"okrbot/bot"
	"okrbot/handlers"
	"okrbot/internal/config"
	"okrbot/internal/feishu"
	"okrbot/internal/store"
)

// RequestTimeout bounds every Open Platform request.
const RequestTimeout = 10 * time.Second

// wsOrderWindow is the bot's OrderWindow on the long connection.
const wsOrderWindow = 10 * time.Millisecond

// UnreachableAfter is how long the Open Platform may go without answering
// before /readyz says so.
const UnreachableAfter = time.Minute

// ErrNotFinished reports a shutdown that could not finish every
// acknowledged command in time (exit status 1).
var ErrNotFinished = bot.ErrNotFinished

// Store is what the app needs of a store beyond the bot's needs.
type Store interface {
	bot.Store
	Ping(ctx context.Context) error
	Close() error
}

// App is okrbot, assembled.
type App struct {
	Config   config.Config
	Handler  http.Handler
	Bot      *bot.Bot
	Tokens   *feishu.TokenProvider
	Platform *feishu.Client
	Registry *prometheus.Registry
	Log      *slog.Logger

	metrics  *handlers.Metrics
	store    Store
	audit    *auditFile
	ws       *handlers.LongConn // websocket mode only
	cancel   context.CancelFunc
	done     chan struct{} // one value per background goroutine that ended
	running  int           // background goroutines Start began
	stopOnce sync.Once
}

// Options tune New; the zero value is fine.
type Options struct {
	Log            *slog.Logger
	Workers        int
	Now            func() time.Time
	RequestTimeout time.Duration // default RequestTimeout
}

// New builds the bot from cfg. Call Start to begin fetching the token (and,
// in websocket mode, to connect) and Shutdown to stop.
func New(cfg config.Config, o Options) (*App, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := o.RequestTimeout
	if timeout <= 0 {
		timeout = RequestTimeout
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	fm, bm, hm := feishu.NewMetrics(), bot.NewMetrics(), handlers.NewMetrics()
	for _, cs := range [][]prometheus.Collector{fm.Collectors(), bm.Collectors(), hm.Collectors()} {
		reg.MustRegister(cs...)
	}

	client := feishu.NewSDKClient(cfg.Feishu.AppID, cfg.Feishu.AppSecret, cfg.Feishu.BaseURL, timeout, sdkLogger{log})
	tokens := feishu.NewTokenProvider(client, cfg.Feishu.AppID, cfg.Feishu.AppSecret, timeout, fm, now)
	var st Store
	switch cfg.Store.Backend {
	case config.BackendRedis:
		rs, err := store.NewRedis(cfg.Store.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("store.redis_url: %w", err)
		}
		st = rs
		tokens.ShareTokens(rs)
	default:
		st = store.NewMemory(now)
	}
	audit, err := openAudit(cfg.Audit.Path, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	if len(cfg.Access.Operators) == 0 {
		log.Warn("access.operators is empty: nobody can create or change periods (set OKRBOT_OPERATORS)")
	}

	platform := feishu.NewClient(client, tokens, timeout, fm)
	var orderWindow time.Duration
	if cfg.Feishu.Mode == config.ModeWebSocket {
		// The SDK's client runs each frame in its own goroutine: a chat's
		// first command waits this long for earlier ones overtaken on the
		// way, so that the chat's commands run in the order sent.
		orderWindow = wsOrderWindow
	}
	b := bot.New(bot.Settings{
		Operators:     cfg.Access.Operators,
		Chats:         cfg.Access.Chats,
		DefaultRuleID: cfg.OKR.DefaultPeriodRuleID,
		MaxMessageAge: cfg.Bot.MaxMessageAge,
		ButtonKey:     buttonKey(cfg.Feishu.AppSecret),
		Location:      cfg.OKR.Location,
		OrderWindow:   orderWindow,
		Workers:       o.Workers,
	}, bot.Deps{
		Periods: platform, Messenger: platform, Identity: platform, Store: st, Audit: audit,
		Log: log, Metrics: bm, Now: now,
	})
	a := &App{
		Config: cfg, Bot: b, Tokens: tokens, Platform: platform, Registry: reg, Log: log,
		metrics: hm, store: st, audit: audit, done: make(chan struct{}, 3),
	}
	routes := handlers.Routes{Ready: a.Ready, Metrics: reg}
	if cfg.Server.MetricsAddr != "" {
		routes.Metrics = nil // served on its own address (main)
	}
	if cfg.Feishu.Mode == config.ModeWebSocket {
		a.ws = handlers.NewLongConn(handlers.LongConnConfig{
			AppID: cfg.Feishu.AppID, AppSecret: cfg.Feishu.AppSecret, BaseURL: cfg.Feishu.BaseURL,
			Bot: b, Log: log, Metrics: hm,
		})
	} else {
		routes.Webhook = handlers.NewWebhook(
			handlers.NewVerifier(cfg.Feishu.AppID, cfg.Feishu.VerificationToken, cfg.Feishu.EncryptKey),
			b, log, hm, now)
		routes.EventPath, routes.CardPath = cfg.Server.EventPath, cfg.Server.CardPath
	}
	a.Handler = handlers.NewRouter(routes)
	return a, nil
}

// buttonKey derives the key that signs button values from the app secret,
// so every replica of one app signs alike and nothing else needs sharing.
func buttonKey(secret string) []byte {
	sum := sha256.Sum256([]byte("okrbot button values v1\x00" + secret))
	return sum[:]
}

// Start fetches the tenant token and the bot's own open_id in the
// background and keeps the token fresh; in websocket mode it also opens
// the long connection and keeps it open.
func (a *App) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	n := 2
	if a.ws != nil {
		n++
		go func() {
			defer func() { a.done <- struct{}{} }()
			a.ws.Run(ctx)
		}()
	}
	go func() {
		defer func() { a.done <- struct{}{} }()
		a.Tokens.Run(ctx, a.Log)
	}()
	go func() {
		defer func() { a.done <- struct{}{} }()
		a.learnIdentity(ctx)
	}()
	a.running = n
}

// learnIdentity asks for the bot's own open_id until it has it, so that the
// first group message does not wait for it.
func (a *App) learnIdentity(ctx context.Context) {
	for {
		if _, err := a.Platform.BotOpenID(ctx); err == nil || ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

// Ready reports why the bot can't work now, or nil.
func (a *App) Ready(ctx context.Context) error {
	var errs []error
	if !a.Tokens.Valid() {
		errs = append(errs, errors.New("no valid tenant access token"))
	}
	if d := a.Tokens.Unreachable(); d > UnreachableAfter {
		errs = append(errs, fmt.Errorf("the Open Platform has not answered for %s", d.Round(time.Second)))
	}
	if err := a.store.Ping(ctx); err != nil {
		errs = append(errs, fmt.Errorf("store: %w", err))
	}
	if a.ws != nil && !a.ws.Connected() {
		errs = append(errs, errors.New("long connection: not connected"))
	}
	return errors.Join(errs...)
}

// Shutdown stops taking events (webhook: 503; websocket: the connection is
// closed at once), finishes the work already acknowledged, and stops the
// background work; ctx bounds the wait. It returns ErrNotFinished when ctx
// ran out first: every such command was answered that it was not run.
func (a *App) Shutdown(ctx context.Context) error {
	if a.ws != nil {
		a.ws.Close()
	}
	err := a.Bot.Shutdown(ctx)
	a.stopOnce.Do(func() {
		if a.cancel != nil {
			a.cancel()
			for range a.running {
				<-a.done
			}
		}
		err = errors.Join(err, a.store.Close(), a.audit.Close())
	})
	return err
}

// sdkLogger sends the SDK's own log lines to slog.
type sdkLogger struct{ log *slog.Logger }

func (l sdkLogger) Debug(ctx context.Context, args ...any) {
	l.log.DebugContext(ctx, fmt.Sprint(args...))
}
func (l sdkLogger) Info(ctx context.Context, args ...any) {
	l.log.InfoContext(ctx, fmt.Sprint(args...))
}
func (l sdkLogger) Warn(ctx context.Context, args ...any) {
	l.log.WarnContext(ctx, fmt.Sprint(args...))
}
func (l sdkLogger) Error(ctx context.Context, args ...any) {
	l.log.ErrorContext(ctx, fmt.Sprint(args...))
}

var _ larkcore.Logger = sdkLogger{}
