package feishu

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Open Platform client's Prometheus instruments. A nil
// *Metrics records nothing, so tests and tools may leave it out.
type Metrics struct {
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	tokenFetchs *prometheus.CounterVec
	retries     *prometheus.CounterVec
}

// NewMetrics creates the instruments; Collectors hands them to a registry.
func NewMetrics() *Metrics {
	return &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "okrbot_feishu_requests_total", Help: "Open Platform requests by API and Feishu code (-1: no answer).",
		}, []string{"api", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "okrbot_feishu_request_seconds", Help: "Open Platform request latency.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"api"}),
		tokenFetchs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "okrbot_token_fetches_total", Help: "Tenant token fetches by result.",
		}, []string{"result"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "okrbot_feishu_retries_total", Help: "Open Platform calls repeated, by API and reason.",
		}, []string{"api", "reason"}),
	}
}

// Collectors returns the instruments for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.latency, m.tokenFetchs, m.retries}
}

func (m *Metrics) observe(api string, code int, d time.Duration) {
	if m != nil {
		m.requests.WithLabelValues(api, strconv.Itoa(code)).Inc()
		m.latency.WithLabelValues(api).Observe(d.Seconds())
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
