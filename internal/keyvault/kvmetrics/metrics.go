// Package kvmetrics exports the keyvault package's measurements to
// Prometheus. It is separate so that binaries without a metrics endpoint
// (the in-container binary) link no Prometheus code.
package kvmetrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey-dev/latchkey/internal/keyvault"
)

// Metrics implements keyvault.Metrics with Prometheus collectors. Vault
// labels are vault names, so their number is the number of vaults used.
type Metrics struct {
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	rejected     *prometheus.CounterVec
	pauses       *prometheus.CounterVec
	pauseSeconds *prometheus.CounterVec
	cacheLookups *prometheus.CounterVec
}

var _ keyvault.Metrics = (*Metrics)(nil)

// New creates the collectors and registers them with reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	const ns, sub = "latchkey", "keyvault"
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "Data-plane requests sent to Key Vault, by vault, object kind and result.",
		}, []string{"vault", "kind", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "request_duration_seconds",
			Help:    "Duration of Key Vault data-plane requests, SDK retries included.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"vault", "kind"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "throttle_rejected_total",
			Help: "Reads refused without a request because the vault was paused after Key Vault throttled it.",
		}, []string{"vault"}),
		pauses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "throttle_pauses_total",
			Help: "Times Key Vault answered 429 and the vault's requests were paused.",
		}, []string{"vault"}),
		pauseSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "throttle_pause_seconds_total",
			Help: "Pause durations set after Key Vault throttling (Retry-After), summed.",
		}, []string{"vault"}),
		cacheLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "cache_lookups_total",
			Help: "Shared cache lookups by outcome: hit, negative_hit, miss (started a read) or joined (waited for a read in flight).",
		}, []string{"outcome"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.rejected, m.pauses, m.pauseSeconds, m.cacheLookups} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// RequestDone implements keyvault.Metrics.
func (m *Metrics) RequestDone(vault string, kind keyvault.Kind, result keyvault.Result, d time.Duration) {
	m.requests.WithLabelValues(vault, string(kind), string(result)).Inc()
	m.latency.WithLabelValues(vault, string(kind)).Observe(d.Seconds())
}

// RequestRejected implements keyvault.Metrics.
func (m *Metrics) RequestRejected(vault string) { m.rejected.WithLabelValues(vault).Inc() }

// VaultPaused implements keyvault.Metrics.
func (m *Metrics) VaultPaused(vault string, d time.Duration) {
	m.pauses.WithLabelValues(vault).Inc()
	m.pauseSeconds.WithLabelValues(vault).Add(d.Seconds())
}

// CacheLookup implements keyvault.Metrics.
func (m *Metrics) CacheLookup(outcome keyvault.CacheOutcome) {
	m.cacheLookups.WithLabelValues(string(outcome)).Inc()
}
