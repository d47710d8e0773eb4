package handlers

import (
	"context"
	"encoding/json"
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

// Bot is what the webhook hands verified events to.
type Bot interface {
	HandleEvent(ctx context.Context, h bot.EventHeader, event json.RawMessage) error
	HandleCardAction(ctx context.Context, h bot.EventHeader, event json.RawMessage) (*bot.CardAnswer, error)
}

// Webhook serves Feishu's event and card-callback requests: parse, verify,
// hand to the bot, answer. Both paths accept both kinds, since Feishu lets
// an app point them at one URL.
type Webhook struct {
	Verifier Verifier
	Bot      Bot
	Log      *slog.Logger
	Metrics  *bot.Metrics
}

// ServeGin implements the handler for gin.
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
	env, err := w.Verifier.Open(c.Request.Header, body)
	switch {
	case errors.Is(err, ErrUnauthorized):
		w.fail(c, "", http.StatusUnauthorized, "unauthorized", err)
		return
	case err != nil:
		w.fail(c, "", http.StatusBadRequest, "malformed request", err)
		return
	}
	if env.IsChallenge() {
		w.Metrics.Event("url_verification", "ok")
		c.JSON(http.StatusOK, gin.H{"challenge": env.Challenge})
		return
	}
	typ := env.Header.EventType
	if typ == bot.EventCardAction {
		w.cardAction(c, env)
		return
	}
	err = w.Bot.HandleEvent(c.Request.Context(), env.Header, env.Event)
	switch {
	case errors.Is(err, bot.ErrBusy), errors.Is(err, bot.ErrClosed):
		c.Header("Retry-After", "15")
		w.fail(c, typ, http.StatusServiceUnavailable, "busy; deliver again later", err)
	case errors.Is(err, bot.ErrBadEvent):
		w.fail(c, typ, http.StatusBadRequest, "malformed event", err)
	case err != nil:
		w.fail(c, typ, http.StatusInternalServerError, "internal error", err)
	default:
		w.Metrics.Event(typ, "accepted")
		c.JSON(http.StatusOK, gin.H{"msg": "ok"})
	}
}

func (w *Webhook) cardAction(c *gin.Context, env Envelope) {
	start := time.Now()
	ans, err := w.Bot.HandleCardAction(c.Request.Context(), env.Header, env.Event)
	switch {
	case errors.Is(err, bot.ErrBadEvent):
		w.fail(c, env.Header.EventType, http.StatusBadRequest, "malformed event", err)
		return
	case errors.Is(err, bot.ErrClosed), errors.Is(err, bot.ErrBusy):
		w.fail(c, env.Header.EventType, http.StatusServiceUnavailable, "busy", err)
		return
	case err != nil:
		w.fail(c, env.Header.EventType, http.StatusInternalServerError, "internal error", err)
		return
	}
	w.Metrics.Event(env.Header.EventType, "answered")
	w.Log.Debug("card callback answered", "event_id", env.Header.EventID, "duration_ms", time.Since(start).Milliseconds())
	c.JSON(http.StatusOK, ans)
}

// fail answers an error without saying more than the status needs: details
// go to the log.
func (w *Webhook) fail(c *gin.Context, eventType string, status int, msg string, err error) {
	if eventType == "" {
		eventType = "unknown"
	}
	w.Metrics.Event(eventType, strconvStatus(status))
	w.Log.Warn("webhook request refused", "status", status, "path", c.FullPath(), "err", err.Error())
	c.AbortWithStatusJSON(status, gin.H{"msg": msg})
}

func strconvStatus(status int) string {
	return http.StatusText(status)
}
