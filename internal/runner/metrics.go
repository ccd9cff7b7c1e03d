package runner

import (
	"crypto/tls"
	"flag"

	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// MetricsOptions say how a server serves its Prometheus metrics. The
// controller, the webhook and the resolver embed them, so the flags, the
// defaults and the wiring are the same for all three.
type MetricsOptions struct {
	// MetricsAddr is the metrics endpoint's address; "0" disables it.
	MetricsAddr string
	// MetricsAuth serves /metrics over HTTPS, with a certificate the
	// process makes for itself, and only to callers whose bearer token the
	// API server authenticates (TokenReview) and who may get the
	// non-resource URL /metrics (SubjectAccessReview): controller-runtime's
	// metrics filter. Metrics say which namespaces, vaults and objects
	// exist and how they fail: not for whoever reaches the port. Off, they
	// are plain HTTP to anyone, for clusters whose scrapers send no
	// credentials.
	MetricsAuth bool
}

// DefaultMetricsOptions are the flag defaults: authenticated, on :8080.
func DefaultMetricsOptions() MetricsOptions {
	return MetricsOptions{MetricsAddr: ":8080", MetricsAuth: true}
}

// BindFlags registers --metrics-bind-address and --metrics-auth on fs.
func (o *MetricsOptions) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr, "address of the metrics endpoint (0 disables)")
	fs.BoolVar(&o.MetricsAuth, "metrics-auth", o.MetricsAuth,
		"serve metrics over HTTPS, only to callers the API server authenticates and authorises for get on /metrics (needs tokenreviews and subjectaccessreviews create); false: plain HTTP to anyone")
}

// MetricsServer is the manager's metrics server.
func (o MetricsOptions) MetricsServer() metricsserver.Options {
	m := metricsserver.Options{BindAddress: o.MetricsAddr}
	if o.MetricsAuth {
		m.SecureServing = true
		m.FilterProvider = filters.WithAuthenticationAndAuthorization
		// HTTP/1.1 only: a scrape needs no more, and HTTP/2's stream resets
		// (CVE-2023-44487) would let an unauthenticated caller cost work
		// before the filter answers.
		m.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	}
	return m
}
