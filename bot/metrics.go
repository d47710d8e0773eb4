package bot

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the bot's Prometheus instruments. A nil *Metrics records
// nothing, so tests and tools may leave it out.
type Metrics struct {
	events      *prometheus.CounterVec
	dedupHits   prometheus.Counter
	queueDepth  prometheus.Gauge
	commands    *prometheus.CounterVec
	apiRequests *prometheus.CounterVec
	apiLatency  *prometheus.HistogramVec
	tokenFetchs *prometheus.CounterVec
	retries     *prometheus.CounterVec
	replyFails  prometheus.Counter
	created     prometheus.Counter
}

// NewMetrics creates the instruments and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "okrbot_events_total", Help: "Webhook requests by event type and result.",
		}, []string{"type", "result"}),
		dedupHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "okrbot_dedup_hits_total", Help: "Events dropped as already handled (same event_id or message_id).",
		}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "okrbot_queue_depth", Help: "Acknowledged events waiting or running.",
		}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "okrbot_commands_total", Help: "Commands by name and outcome.",
		}, []string{"command", "outcome"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "okrbot_feishu_requests_total", Help: "Open Platform requests by API and Feishu code (-1: no answer).",
		}, []string{"api", "code"}),
		apiLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "okrbot_feishu_request_seconds", Help: "Open Platform request latency.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"api"}),
		tokenFetchs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "okrbot_token_fetches_total", Help: "Tenant token fetches by result.",
		}, []string{"result"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "okrbot_feishu_retries_total", Help: "Open Platform calls repeated, by API and reason.",
		}, []string{"api", "reason"}),
		replyFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "okrbot_reply_failures_total", Help: "Replies that could not be delivered after retries.",
		}),
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "okrbot_periods_created_total", Help: "OKR periods created.",
		}),
	}
	reg.MustRegister(m.events, m.dedupHits, m.queueDepth, m.commands, m.apiRequests, m.apiLatency,
		m.tokenFetchs, m.retries, m.replyFails, m.created)
	return m
}

// Event counts one webhook request.
func (m *Metrics) Event(eventType, result string) {
	if m != nil {
		m.events.WithLabelValues(eventType, result).Inc()
	}
}

func (m *Metrics) dedupHit() {
	if m != nil {
		m.dedupHits.Inc()
	}
}

func (m *Metrics) setQueueDepth(n int) {
	if m != nil {
		m.queueDepth.Set(float64(n))
	}
}

func (m *Metrics) command(name, outcome string) {
	if m != nil {
		m.commands.WithLabelValues(name, outcome).Inc()
	}
}

func (m *Metrics) observeAPI(api string, code int, d time.Duration) {
	if m != nil {
		m.apiRequests.WithLabelValues(api, strconv.Itoa(code)).Inc()
		m.apiLatency.WithLabelValues(api).Observe(d.Seconds())
	}
}

func (m *Metrics) tokenFetch(result string) {
	if m != nil {
		m.tokenFetchs.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) retry(api, reason string) {
	if m != nil {
		m.retries.WithLabelValues(api, reason).Inc()
	}
}

func (m *Metrics) replyFailed() {
	if m != nil {
		m.replyFails.Inc()
	}
}

func (m *Metrics) periodCreated() {
	if m != nil {
		m.created.Inc()
	}
}
