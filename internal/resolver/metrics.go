package resolver

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the resolver's own metrics plus akv2k8s 1.8.4's auth-service
// counters under their names and help, so existing dashboards keep working.
// The resolver replaces the auth service: both answer each injected
// container at start, so a request to one is a request to the other.
// akv2k8s_auth_validations_total and _failed_total, which akv2k8s's site
// still lists, were removed from akv2k8s before 1.8.4 and are not revived.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	reviews  *prometheus.CounterVec
	// verifications counts tokens verified by how; keyFetches the reads of
	// the issuer's keys by result.
	verifications, keyFetches *prometheus.CounterVec
	// podLookups counts the pod cache's answers; apiReads the reads the
	// checks make of the API server (pods, namespaces,
	// AzureKeyVaultSecrets the caches do not hold yet).
	podLookups, apiReads *prometheus.CounterVec
	inFlight             prometheus.Gauge

	legacyRequests, legacyRequestsFailed prometheus.Counter
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
			Help: "Token reviews, made only while the service-account issuer's keys cannot be read, by result: cached, joined (waited for one in flight), limited (refused: too many at once), authenticated, rejected, error (the last three are requests to the API server).",
		}, []string{"result"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_resolver_token_verifications_total",
			Help: "Tokens whose signature verified, by how: local (against the service-account issuer's keys) or tokenreview (the fallback while the keys cannot be read).",
		}, []string{"how"}),
		keyFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_resolver_issuer_key_reads_total",
			Help: "Reads of the service-account issuer's discovery document and keys from the API server, by result: fetched or failed.",
		}, []string{"result"}),
		podLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_resolver_pod_lookups_total",
			Help: "Lookups of a request's pod by result: cached (held by the watch-fed cache), watched (arrived by the watch while the request waited), read (a GET to the API server), joined (shared a GET in flight), deleted (refused: the watch saw it deleted).",
		}, []string{"result"}),
		apiReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_resolver_api_reads_total",
			Help: "Reads of the API server made while answering requests (not the watches), by resource: pods, namespaces, azurekeyvaultsecrets. Zero per request in steady state.",
		}, []string{"resource"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "latchkey_resolver_requests_in_flight",
			Help: "Authenticated requests being handled.",
		}),
		// akv2k8s's help texts, verbatim (the first counted every request
		// all the same, as this one does).
		legacyRequests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "akv2k8s_auth_requests_total", Help: "The total number of successful auth requests",
		}),
		legacyRequestsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "akv2k8s_auth_requests_failed_total", Help: "The total number failed auth requests",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.reviews, m.verifications, m.keyFetches, m.podLookups, m.apiReads, m.inFlight, m.legacyRequests, m.legacyRequestsFailed} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe counts one answered request: result "served" or a Denial's
// class. A nil *Metrics counts nothing.
func (m *Metrics) observe(result, code string, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(result, code).Inc()
	m.latency.WithLabelValues(result).Observe(d.Seconds())
	m.legacyRequests.Inc()
	if result != "served" {
		m.legacyRequestsFailed.Inc()
	}
}

// observeReview counts one token review lookup.
func (m *Metrics) observeReview(result string) {
	if m != nil {
		m.reviews.WithLabelValues(result).Inc()
	}
}

// observeVerification counts one verified token.
func (m *Metrics) observeVerification(how string) {
	if m != nil {
		m.verifications.WithLabelValues(how).Inc()
	}
}

// observePodLookup counts one lookup of a request's pod.
func (m *Metrics) observePodLookup(result string) {
	if m != nil {
		m.podLookups.WithLabelValues(result).Inc()
	}
}

// observeAPIRead counts one read of the API server made for a request.
func (m *Metrics) observeAPIRead(resource string) {
	if m != nil {
		m.apiReads.WithLabelValues(resource).Inc()
	}
}

// observeKeyFetch counts one read of the issuer's keys.
func (m *Metrics) observeKeyFetch(result string) {
	if m != nil {
		m.keyFetches.WithLabelValues(result).Inc()
	}
}
