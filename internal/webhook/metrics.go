package webhook

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the webhook's: admission latency with buckets fine enough to
// see a 10 ms p99 target, and akv2k8s's injector counters under their names.
type Metrics struct {
	duration    prometheus.Histogram
	inspections prometheus.Counter
	mutations   prometheus.Counter
	failures    prometheus.Counter
}

// NewMetrics registers the webhook's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "latchkey_webhook_admission_duration_seconds",
			Help:    "Time to answer one pod admission review, from request to response.",
			Buckets: []float64{.00025, .0005, .00075, .001, .0015, .002, .0025, .003, .004, .005, .0075, .01, .015, .02, .03, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		inspections: prometheus.NewCounter(prometheus.CounterOpts{Name: "akv2k8s_pod_inspections_total", Help: "Pods inspected, including mutated (akv2k8s name)."}),
		mutations:   prometheus.NewCounter(prometheus.CounterOpts{Name: "akv2k8s_pod_mutations_total", Help: "Pods mutated (akv2k8s name)."}),
		failures:    prometheus.NewCounter(prometheus.CounterOpts{Name: "akv2k8s_pod_mutations_failed_total", Help: "Pod mutations that failed (akv2k8s name)."}),
	}
	reg.MustRegister(m.duration, m.inspections, m.mutations, m.failures)
	return m
}

// instrument times every admission review the handler answers.
func (m *Metrics) instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		m.duration.Observe(time.Since(start).Seconds())
	})
}

// observe counts one Default call by its result. Nil counts nothing.
func (m *Metrics) observe(mutated bool, err error) {
	if m == nil {
		return
	}
	m.inspections.Inc()
	switch {
	case err != nil:
		m.failures.Inc()
	case mutated:
		m.mutations.Inc()
	}
}
