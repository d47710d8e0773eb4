package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func init() {
	// Gin's debug mode prints every route to stdout; the bot logs with slog.
	// The mode is process-wide, so it is set once, here.
	gin.SetMode(gin.ReleaseMode)
}

// Routes is what NewRouter serves.
type Routes struct {
	// Webhook serves EventPath and CardPath; nil (websocket mode) leaves
	// them unrouted: 404.
	Webhook   *Webhook
	EventPath string
	CardPath  string
	// Ready reports why the bot is not ready, or nil.
	Ready func(ctx context.Context) error
	// Metrics is served at /metrics; nil serves it elsewhere
	// (server.metrics_addr) or not at all.
	Metrics prometheus.Gatherer
}

// NewRouter returns the gin engine serving the bot's HTTP surface.
func NewRouter(r Routes) *gin.Engine {
	g := gin.New()
	g.Use(gin.Recovery())
	if r.Webhook != nil {
		g.POST(r.EventPath, r.Webhook.ServeGin)
		if r.CardPath != r.EventPath {
			g.POST(r.CardPath, r.Webhook.ServeGin)
		}
	}
	g.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	g.GET("/readyz", func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := r.Ready(ctx); err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "not ready", "reason": err.Error()})
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	})
	if r.Metrics != nil {
		g.GET("/metrics", gin.WrapH(promhttp.HandlerFor(r.Metrics, promhttp.HandlerOpts{})))
	}
	return g
}
