package handlers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"okrbot/bot"
)

// MaxBody is the largest request body accepted.
const MaxBody = 1 << 20

// Bot is what the receivers hand decoded events to.
type Bot interface {
	HandleMessage(ctx context.Context, msg bot.Message) error
	HandleClick(ctx context.Context, c bot.Click) (bot.Answer, error)
}

// refusedLogsPerSecond bounds the WARN lines written for refused requests.
const refusedLogsPerSecond = 10

// Webhook serves Feishu's event and card-callback requests: verify,
// decode, hand to the bot, answer. Both paths accept both kinds, since
// Feishu lets an app point them at one URL.
type Webhook struct {
	verifier *Verifier
	bot      Bot
	log      *slog.Logger
	metrics  *Metrics
	limiter  *logLimiter
}

// NewWebhook returns a Webhook; m may be nil, now is the clock of its log
// limiter (nil: time.Now).
func NewWebhook(v *Verifier, b Bot, log *slog.Logger, m *Metrics, now func() time.Time) *Webhook {
	if now == nil {
		now = time.Now
	}
	return &Webhook{verifier: v, bot: b, log: log, metrics: m, limiter: &logLimiter{perSecond: refusedLogsPerSecond, now: now}}
}

// ServeGin handles one request.
func (w *Webhook) ServeGin(c *gin.Context) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			w.fail(c, "", http.StatusRequestEntityTooLarge, "body over 1 MiB", err)
			return
		}
		w.fail(c, "", http.StatusBadRequest, "cannot read body", err)
		return
	}
	env, err := w.verifier.Open(c.Request.Header, body)
	switch {
	case errors.Is(err, ErrUnauthorized):
		w.fail(c, "", http.StatusUnauthorized, "unauthorized", err)
		return
	case err != nil:
		w.fail(c, "", http.StatusBadRequest, "malformed request", err)
		return
	}
	if env.IsChallenge() {
		w.metrics.event("url_verification", "ok")
		c.JSON(http.StatusOK, gin.H{"challenge": env.Challenge})
		return
	}
	typ := env.Header.EventType
	switch typ {
	case EventCardAction:
		w.click(c, env)
		return
	case EventMessageReceive:
	default:
		// Verified, but not an event the bot acts on.
		w.metrics.event(typ, "ignored")
		c.Data(http.StatusOK, "application/json; charset=utf-8", okBody)
		return
	}
	msg, err := DecodeMessage(env.Header.EventID, env.Event)
	if err == nil {
		err = w.bot.HandleMessage(c.Request.Context(), msg)
	}
	switch {
	case errors.Is(err, bot.ErrBusy), errors.Is(err, bot.ErrClosed):
		c.Header("Retry-After", "15")
		w.fail(c, typ, http.StatusServiceUnavailable, "busy; deliver again later", err)
	case errors.Is(err, ErrBadEvent):
		w.fail(c, typ, http.StatusBadRequest, "malformed event", err)
	case err != nil:
		w.fail(c, typ, http.StatusInternalServerError, "internal error", err)
	default:
		w.metrics.event(typ, "accepted")
		c.Data(http.StatusOK, "application/json; charset=utf-8", okBody)
	}
}

// okBody is the acknowledgement of every event taken: the same bytes each
// time, so the ack path writes them without encoding anything.
var okBody = []byte(`{"msg":"ok"}`)

func (w *Webhook) click(c *gin.Context, env Envelope) {
	typ := env.Header.EventType
	cl, err := DecodeClick(env.Header.EventID, env.Event)
	if err != nil {
		w.fail(c, typ, http.StatusBadRequest, "malformed event", err)
		return
	}
	ans, err := w.bot.HandleClick(c.Request.Context(), cl)
	switch {
	case errors.Is(err, bot.ErrClosed), errors.Is(err, bot.ErrBusy):
		w.fail(c, typ, http.StatusServiceUnavailable, "busy", err)
		return
	case err != nil:
		w.fail(c, typ, http.StatusInternalServerError, "internal error", err)
		return
	}
	w.metrics.event(typ, "answered")
	c.JSON(http.StatusOK, AnswerToSDK(ans))
}

// fail answers an error without saying more than the status needs: details
// go to the log, a few lines a second at most.
func (w *Webhook) fail(c *gin.Context, eventType string, status int, msg string, err error) {
	if eventType == "" {
		eventType = "unknown"
	}
	w.metrics.event(eventType, http.StatusText(status))
	if ok, suppressed := w.limiter.allow(); ok {
		attrs := []any{"status", status, "path", c.FullPath(), "err", err.Error()}
		if suppressed > 0 {
			attrs = append(attrs, "suppressed_before", suppressed)
		}
		w.log.Warn("webhook request refused", attrs...)
	} else {
		w.metrics.logDropped()
	}
	c.AbortWithStatusJSON(status, gin.H{"msg": msg})
}
