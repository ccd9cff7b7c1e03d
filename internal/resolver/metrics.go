package resolver

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the resolver's own metrics plus akv2k8s's auth-service
// counters under their old names, so existing dashboards keep working.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	reviews  *prometheus.CounterVec

	legacyRequests, legacyRequestsFailed       prometheus.Counter
	legacyValidations, legacyValidationsFailed prometheus.Counter
}

// NewMetrics registers the resolver's metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_resolver_requests_total",
			Help: "Resolve requests by result (served, unauthenticated, denied, bad_request, rate_limited, unavailable, failed) and code.",
		}, []string{"result", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "latchkey_resolver_request_duration_seconds",
			Help:    "Time to answer a resolve request, by result.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"result"}),
		reviews: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_resolver_token_reviews_total",
			Help: "Token reviews by result: cached, joined (waited for one in flight), authenticated, rejected, error (the last three are requests to the API server).",
		}, []string{"result"}),
		legacyRequests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "akv2k8s_auth_requests_total", Help: "Total number of auth requests (akv2k8s name, kept for compatibility).",
		}),
		legacyRequestsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "akv2k8s_auth_requests_failed_total", Help: "Total number of failed auth requests (akv2k8s name, kept for compatibility).",
		}),
		legacyValidations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "akv2k8s_auth_validations_total", Help: "Total number of pod validations (akv2k8s name, kept for compatibility).",
		}),
		legacyValidationsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "akv2k8s_auth_validations_failed_total", Help: "Total number of failed pod validations (akv2k8s name, kept for compatibility).",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.reviews, m.legacyRequests, m.legacyRequestsFailed, m.legacyValidations, m.legacyValidationsFailed} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe counts one answered request. validated says whether the token
// and pod checks ran (validationFailed: and refused it). A nil *Metrics
// counts nothing.
func (m *Metrics) observe(result, code string, d time.Duration, validated, validationFailed bool) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(result, code).Inc()
	m.latency.WithLabelValues(result).Observe(d.Seconds())
	m.legacyRequests.Inc()
	if result != "served" {
		m.legacyRequestsFailed.Inc()
	}
	if validated {
		m.legacyValidations.Inc()
		if validationFailed {
			m.legacyValidationsFailed.Inc()
		}
	}
}

// observeReview counts one token review lookup.
func (m *Metrics) observeReview(result string) {
	if m != nil {
		m.reviews.WithLabelValues(result).Inc()
	}
}
