package handlers

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the receivers' Prometheus instruments. A nil *Metrics
// records nothing.
type Metrics struct {
	events      *prometheus.CounterVec
	accepted    prometheus.Counter // events{type=im.message.receive_v1,result=accepted}: the hot path's, resolved once
	connected   prometheus.Gauge
	reconnects  prometheus.Counter
	frames      *prometheus.CounterVec
	logsDropped prometheus.Counter
}

// NewMetrics creates the instruments; Collectors hands them to a registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "okrbot_events_total", Help: "Events and callbacks received, by type and result.",
		}, []string{"type", "result"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "okrbot_ws_connected", Help: "1 while the long connection is up (websocket mode).",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "okrbot_ws_reconnects_total", Help: "Long connections opened again after the first (websocket mode).",
		}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "okrbot_ws_frames_total", Help: "Long-connection data messages by type and outcome (websocket mode).",
		}, []string{"type", "outcome"}),
		logsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "okrbot_refused_logs_suppressed_total", Help: "Refused-request log lines not written because of the log rate limit.",
		}),
	}
	m.accepted = m.events.WithLabelValues(EventMessageReceive, "accepted")
	return m
}

// Collectors returns the instruments for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.events, m.connected, m.reconnects, m.frames, m.logsDropped}
}

func (m *Metrics) event(typ, result string) {
	switch {
	case m == nil:
	case typ == EventMessageReceive && result == "accepted":
		m.accepted.Inc()
	default:
		m.events.WithLabelValues(typ, result).Inc()
	}
}

func (m *Metrics) setConnected(up bool) {
	if m != nil {
		v := 0.0
		if up {
			v = 1
		}
		m.connected.Set(v)
	}
}

func (m *Metrics) reconnected() {
	if m != nil {
		m.reconnects.Inc()
	}
}

func (m *Metrics) frame(typ, outcome string) {
	if m != nil {
		m.frames.WithLabelValues(typ, outcome).Inc()
	}
}

func (m *Metrics) logDropped() {
	if m != nil {
		m.logsDropped.Inc()
	}
}
