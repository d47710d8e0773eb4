// Package app assembles okrbot from its configuration: the SDK client, the
// token provider, the store, the bot and its HTTP surface. serve, check,
// sandbox and the tests all build the bot here, so they run the same thing.
package app

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	larkcore "github.com/larksuite/oapi-sdk-go/v3/core"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"okrbot/bot"
	"okrbot/handlers"
	"okrbot/internal/config"
)

// RequestTimeout bounds every Open Platform request.
const RequestTimeout = 10 * time.Second

// UnreachableAfter is how long the Open Platform may go without answering
// before /readyz says so.
const UnreachableAfter = time.Minute

// App is okrbot, assembled.
type App struct {
	Config   config.Config
	Handler  http.Handler
	Bot      *bot.Bot
	Tokens   *bot.TokenProvider
	Platform *bot.OpenPlatform
	Registry *prometheus.Registry
	Log      *slog.Logger

	store  bot.Store
	audit  *bot.AuditLog
	cancel context.CancelFunc
	done   chan struct{}
}

// Options tune New; the zero value is fine.
type Options struct {
	Log            *slog.Logger
	Workers        int
	Now            func() time.Time
	RequestTimeout time.Duration // default RequestTimeout
}

// New builds the bot from cfg. Call Start to begin fetching the token and
// Shutdown to stop.
func New(cfg config.Config, o Options) (*App, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := o.RequestTimeout
	if timeout <= 0 {
		timeout = RequestTimeout
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := bot.NewMetrics(reg)

	client := bot.NewClient(cfg.Feishu.AppID, cfg.Feishu.AppSecret, cfg.Feishu.BaseURL, timeout, sdkLogger{log})
	tokens := bot.NewTokenProvider(client, cfg.Feishu.AppID, cfg.Feishu.AppSecret, timeout, metrics)
	var store bot.Store
	switch cfg.Store.Backend {
	case config.BackendRedis:
		rs, err := bot.NewRedisStore(cfg.Store.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("store.redis_url: %w", err)
		}
		store = rs
		tokens.ShareTokens(rs)
	default:
		store = bot.NewMemoryStore()
	}
	audit, err := bot.OpenAuditLog(cfg.Audit.Path, log)
	if err != nil {
		store.Close()
		return nil, err
	}
	if len(cfg.Access.Operators) == 0 {
		log.Warn("access.operators is empty: nobody can create periods (set OKRBOT_OPERATORS)")
	}

	platform := bot.NewOpenPlatform(client, tokens, timeout, metrics)
	b := bot.New(bot.Settings{
		Operators:     cfg.Access.Operators,
		Chats:         cfg.Access.Chats,
		DefaultRuleID: cfg.OKR.DefaultPeriodRuleID,
		MaxMessageAge: cfg.Bot.MaxMessageAge,
		ButtonKey:     buttonKey(cfg.Feishu.AppSecret),
		Workers:       o.Workers,
	}, bot.Deps{
		OKR: platform, Messenger: platform, Identity: platform, Store: store, Audit: audit,
		Log: log, Metrics: metrics, Now: o.Now,
	})
	a := &App{
		Config: cfg, Bot: b, Tokens: tokens, Platform: platform, Registry: reg, Log: log,
		store: store, audit: audit, done: make(chan struct{}),
	}
	a.Handler = handlers.NewRouter(handlers.Routes{
		EventPath: cfg.Server.EventPath,
		CardPath:  cfg.Server.CardPath,
		Webhook: &handlers.Webhook{
			Verifier: handlers.Verifier{AppID: cfg.Feishu.AppID, VerificationToken: cfg.Feishu.VerificationToken, EncryptKey: cfg.Feishu.EncryptKey},
			Bot:      b, Log: log, Metrics: metrics,
		},
		Ready:   a.Ready,
		Metrics: reg,
	})
	return a, nil
}

// buttonKey derives the key that signs button values from the app secret,
// so every replica of one app signs alike and nothing else needs sharing.
func buttonKey(secret string) []byte {
	sum := sha256.Sum256([]byte("okrbot button values v1\x00" + secret))
	return sum[:]
}

// Start fetches the tenant token in the background and keeps it fresh.
func (a *App) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go func() {
		defer close(a.done)
		a.Tokens.Run(ctx, a.Log)
	}()
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
	return errors.Join(errs...)
}

// Shutdown stops taking events (they get 503), finishes the work already
// acknowledged, and stops the background token refresh; ctx bounds the wait.
func (a *App) Shutdown(ctx context.Context) error {
	err := a.Bot.Shutdown(ctx)
	if a.cancel != nil {
		a.cancel()
		<-a.done
	}
	return errors.Join(err, a.store.Close(), a.audit.Close())
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
