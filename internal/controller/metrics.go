package controller

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the controller's own metrics plus akv2k8s's two counters under
// their old names, so existing dashboards and alerts keep working.
type Metrics struct {
	syncs       *prometheus.CounterVec
	legacySyncs prometheus.Counter
	legacyFails prometheus.Counter
}

// NewMetrics registers the controller's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_syncs_total",
			Help: "AzureKeyVaultSecret reconciles, by result (success, failure) and Ready reason.",
		}, []string{"result", "reason"}),
		legacySyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "akv2k8s_syncs_total", Help: "Total number of syncs (akv2k8s name, kept for compatibility).",
		}),
		legacyFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "akv2k8s_syncs_failed_total", Help: "Total number of sync failures (akv2k8s name, kept for compatibility).",
		}),
	}
	reg.MustRegister(m.syncs, m.legacySyncs, m.legacyFails)
	return m
}

// observeSync counts one reconcile. A nil *Metrics counts nothing (tests).
func (m *Metrics) observeSync(o outcome) {
	if m == nil {
		return
	}
	result := "success"
	if !o.ready {
		result = "failure"
		m.legacyFails.Inc()
	}
	m.legacySyncs.Inc()
	m.syncs.WithLabelValues(result, o.reason).Inc()
}
