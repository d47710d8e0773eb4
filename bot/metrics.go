package bot

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the use cases' Prometheus instruments. A nil *Metrics records
// nothing, so tests and tools may leave it out.
type Metrics struct {
	dedupHits  prometheus.Counter
	queueDepth prometheus.Gauge
	commands   *prometheus.CounterVec
	replyFails prometheus.Counter
	created    prometheus.Counter
	changed    prometheus.Counter
}

// NewMetrics creates the instruments; Collectors hands them to a registry.
func NewMetrics() *Metrics {
	return &Metrics{
		dedupHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "okrbot_dedup_hits_total", Help: "Events dropped as already handled (same event_id or message_id).",
		}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "okrbot_queue_depth", Help: "Acknowledged events waiting or running.",
		}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "okrbot_commands_total", Help: "Commands and clicks by name and outcome.",
		}, []string{"command", "outcome"}),
		replyFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "okrbot_reply_failures_total", Help: "Replies and card updates that could not be delivered after retries.",
		}),
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "okrbot_periods_created_total", Help: "OKR periods created.",
		}),
		changed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "okrbot_period_status_changes_total", Help: "OKR period status changes made.",
		}),
	}
}

// Collectors returns the instruments for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.dedupHits, m.queueDepth, m.commands, m.replyFails, m.created, m.changed}
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

func (m *Metrics) statusChanged() {
	if m != nil {
		m.changed.Inc()
	}
}
