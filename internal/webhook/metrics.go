package webhook

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the webhook's: admission latency with buckets fine enough to
// see a 10 ms p99 target, and akv2k8s 1.8.4's injector counters under their
// names, help and meaning (docs/reference.md#metrics).
type Metrics struct {
	duration            prometheus.Histogram
	inspections         prometheus.Counter
	mutations           prometheus.Counter
	failures            prometheus.Counter
	imageLookups        prometheus.Counter
	imageLookupFailures prometheus.Counter
}

// NewMetrics registers the webhook's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &Metrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "latchkey_webhook_admission_duration_seconds",
			Help:    "Time to answer one pod admission review, from request to response.",
			Buckets: []float64{.00025, .0005, .00075, .001, .0015, .002, .0025, .003, .004, .005, .0075, .01, .015, .02, .03, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		// akv2k8s's help texts, verbatim: they are part of what dashboards
		// built on these names show.
		inspections:         counter("akv2k8s_pod_inspections_total", "The total number of pods inspected, including mutated"),
		mutations:           counter("akv2k8s_pod_mutations_total", "The total number of pods mutated"),
		failures:            counter("akv2k8s_pod_mutations_failed_total", "The total number of attempted pod mutations that failed"),
		imageLookups:        counter("akv2k8s_container_inspections_total", "The total number of inspected container images"),
		imageLookupFailures: counter("akv2k8s_container_inspections_failed_total", "The total number of failed container images inspections"),
	}
	reg.MustRegister(m.duration, m.inspections, m.mutations, m.failures, m.imageLookups, m.imageLookupFailures)
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

// observeImageLookup counts one lookup of a container's image config in its
// registry (akv2k8s's container inspection), whether the cache answered it
// or not. Nil counts nothing.
func (m *Metrics) observeImageLookup(err error) {
	if m == nil {
		return
	}
	m.imageLookups.Inc()
	if err != nil {
		m.imageLookupFailures.Inc()
	}
}
