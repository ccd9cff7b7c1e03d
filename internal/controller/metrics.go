package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
)

// Metrics are the controller's own metrics plus akv2k8s's two counters under
// their old names, so existing dashboards and alerts keep working.
type Metrics struct {
	syncs       *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
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
		// Status is written only when something changes, so it cannot say
		// how fresh an output is; this can: time() minus it is the
		// staleness, and an alert on it catches a resource that has failed
		// for too long while its last good Secret stays.
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "latchkey_akvs_last_success_timestamp_seconds",
			Help: "When each AzureKeyVaultSecret was last found Ready: its outputs matched Key Vault as read within the refresh interval (Unix time).",
		}, []string{"namespace", "name"}),
		legacySyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "akv2k8s_syncs_total", Help: "Total number of syncs (akv2k8s name, kept for compatibility).",
		}),
		legacyFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "akv2k8s_syncs_failed_total", Help: "Total number of sync failures (akv2k8s name, kept for compatibility).",
		}),
	}
	reg.MustRegister(m.syncs, m.lastSuccess, m.legacySyncs, m.legacyFails)
	return m
}

// observeSync counts one reconcile of the AzureKeyVaultSecret key, ending
// at now. A nil *Metrics counts nothing (tests).
func (m *Metrics) observeSync(key types.NamespacedName, o outcome, now time.Time) {
	if m == nil {
		return
	}
	result := "success"
	if o.ready {
		m.lastSuccess.WithLabelValues(key.Namespace, key.Name).Set(float64(now.UnixNano()) / 1e9)
	} else {
		result = "failure"
		m.legacyFails.Inc()
	}
	m.legacySyncs.Inc()
	m.syncs.WithLabelValues(result, o.reason).Inc()
}

// forget drops the series of a deleted AzureKeyVaultSecret.
func (m *Metrics) forget(key types.NamespacedName) {
	if m != nil {
		m.lastSuccess.DeleteLabelValues(key.Namespace, key.Name)
	}
}
