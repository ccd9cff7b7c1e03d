// Package installcheck is what the chart's `helm test` runs, as
// `latchkey-env check`: it asks each part of an install to answer the way
// its clients reach it, and says which did not.
//
//   - the CRD: the API server serves the AzureKeyVaultSecret resource in
//     every version the chart's CRD serves (discovery, with the pod's
//     ServiceAccount token, which any authenticated identity may read);
//   - the webhook: its Service answers an AdmissionReview over TLS with a
//     certificate for the Service's name that the webhook's CA verifies
//     (the CA the chart or cert-manager gives the API server);
//   - the resolver: its Service answers /healthz over TLS verified by the
//     CA bundle injected pods trust;
//   - metrics endpoints served with authentication (the default,
//     --metrics-auth): each refuses a scrape without credentials and
//     answers one with the pod's ServiceAccount token, which the chart
//     allows get on /metrics;
//   - plain-HTTP endpoints (metrics with --metrics-auth=false) answer 200.
//
// The binary it lives in is the in-container one: its image is built for
// every install and holds no shell, so the check needs neither a shell nor
// an image of its own. It uses only the standard library.
package installcheck

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// In-cluster defaults: the ServiceAccount mount every pod with a token has.
const (
	saDir            = "/var/run/secrets/kubernetes.io/serviceaccount"
	DefaultTokenFile = saDir + "/token"
	DefaultAPICA     = saDir + "/ca.crt"
	namespaceFile    = saDir + "/namespace"
	// DefaultTimeout bounds each check.
	DefaultTimeout = 10 * time.Second
	// maxBody bounds what is read of an answer.
	maxBody = 1 << 20
)

// Options say what to check; an empty URL skips that check.
type Options struct {
	// APIServer is the API server's base URL; empty: in-cluster
	// (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT).
	APIServer string
	// TokenFile and APICA authenticate to and verify the API server.
	TokenFile, APICA string
	// Group and Resource name the CRD's resource; Versions are those that
	// must be served. Empty Group skips the check.
	Group, Resource string
	Versions        []string
	// WebhookURL is the webhook's admission URL
	// (https://<service>.<namespace>.svc/<path>), WebhookCA the file of
	// the CA that verifies it.
	WebhookURL, WebhookCA string
	// Namespace is this pod's namespace, where the Services are, and that
	// of the pod the AdmissionReview asks about; empty: read from the
	// ServiceAccount mount.
	Namespace string
	// ResolverURL is the resolver's base URL, ResolverCA the file of its CA
	// bundle.
	ResolverURL, ResolverCA string
	// MetricsURLs are authenticated metrics endpoints (https): each must
	// answer 401 without credentials and 200 with the token of TokenFile.
	MetricsURLs []string
	// HTTPURLs must answer 200 over plain HTTP.
	HTTPURLs []string
	// Timeout bounds each check (default DefaultTimeout).
	Timeout time.Duration
	// Getenv reads the environment (os.Getenv when nil).
	Getenv func(string) string
	// DialContext opens connections; nil dials a Service of the pod's
	// namespace at the address Kubernetes gives its pods in the Service's
	// environment variables (<NAME>_SERVICE_HOST), as the API server
	// reaches a webhook's Service without DNS, and any other name as
	// resolved. Tests send service names to test servers with it.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// serviceDialer dials <service>.<namespace>.svc[.<domain>] names of
// namespace at the ClusterIP of the Service's environment variable when
// the pod has one (Kubernetes sets them for the Services of a pod's
// namespace that exist when it starts), else as resolved.
func serviceDialer(namespace string, getenv func(string) string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, port, err := net.SplitHostPort(addr); err == nil {
			labels := strings.Split(host, ".")
			if len(labels) >= 3 && labels[1] == namespace && labels[2] == "svc" {
				if ip := getenv(strings.ToUpper(strings.ReplaceAll(labels[0], "-", "_")) + "_SERVICE_HOST"); ip != "" {
					addr = net.JoinHostPort(ip, port)
				}
			}
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
}

// check is one named probe.
type check struct {
	name string
	run  func(ctx context.Context) error
}

// Run runs every configured check, writing one line per check to out
// ("ok <name>" or "FAIL <name>: <why>"), and returns an error naming
// those that failed. It fails when nothing is configured.
func Run(ctx context.Context, o Options, out io.Writer) error {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Namespace == "" {
		if b, err := os.ReadFile(namespaceFile); err == nil {
			o.Namespace = strings.TrimSpace(string(b))
		}
	}
	if o.DialContext == nil {
		o.DialContext = serviceDialer(o.Namespace, o.Getenv)
	}
	var checks []check
	if o.Group != "" {
		checks = append(checks, check{fmt.Sprintf("CRD %s.%s served in %s", o.Resource, o.Group, strings.Join(o.Versions, ", ")), o.checkCRD})
	}
	if o.WebhookURL != "" {
		checks = append(checks, check{"webhook answers at " + o.WebhookURL, o.checkWebhook})
	}
	if o.ResolverURL != "" {
		checks = append(checks, check{"resolver answers at " + o.ResolverURL, o.checkResolver})
	}
	for _, u := range o.MetricsURLs {
		checks = append(checks, check{"metrics authenticated at " + u, func(ctx context.Context) error { return o.checkMetrics(ctx, u) }})
	}
	for _, u := range o.HTTPURLs {
		checks = append(checks, check{"answers at " + u, func(ctx context.Context) error { return o.checkHTTP(ctx, u) }})
	}
	if len(checks) == 0 {
		return errors.New("nothing to check")
	}
	var failed []string
	for _, c := range checks {
		cctx, cancel := context.WithTimeout(ctx, o.Timeout)
		err := c.run(cctx)
		cancel()
		if err != nil {
			failed = append(failed, c.name)
			fmt.Fprintf(out, "FAIL %s: %v\n", c.name, err)
			continue
		}
		fmt.Fprintf(out, "ok %s\n", c.name)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d checks failed: %s", len(failed), len(checks), strings.Join(failed, "; "))
	}
	return nil
}

// client is an HTTPS client trusting only the CAs of caFile (or, with no
// file, plain HTTP only), never going through a proxy: every endpoint is
// a Service of the cluster.
func (o Options) client(caFile string) (*http.Client, error) {
	tr := &http.Transport{Proxy: nil, DialContext: o.DialContext, ForceAttemptHTTP2: true}
	if caFile != "" {
		pem, err := os.ReadFile(caFile) //nolint:gosec // the operator's file
		if err != nil {
			return nil, fmt.Errorf("CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}

// do sends req and returns the body of a 200 answer.
func do(c *http.Client, req *http.Request) ([]byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body[:min(len(body), 200)])))
	}
	return body, nil
}

// checkCRD asks the API server's discovery for the resource in each version.
func (o Options) checkCRD(ctx context.Context) error {
	base := o.APIServer
	if base == "" {
		host, port := o.Getenv("KUBERNETES_SERVICE_HOST"), o.Getenv("KUBERNETES_SERVICE_PORT")
		if host == "" || port == "" {
			return errors.New("not in a cluster (KUBERNETES_SERVICE_HOST unset) and no --api-server")
		}
		base = "https://" + net.JoinHostPort(host, port)
	}
	base = strings.TrimSuffix(base, "/")
	token, err := os.ReadFile(o.TokenFile)
	if err != nil {
		return fmt.Errorf("ServiceAccount token: %w", err)
	}
	c, err := o.client(o.APICA)
	if err != nil {
		return err
	}
	if len(o.Versions) == 0 {
		return errors.New("no version to check")
	}
	var errs []error
	for _, v := range o.Versions {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/apis/"+o.Group+"/"+v, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		req.Header.Set("Accept", "application/json")
		body, err := do(c, req)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s/%s: %w", o.Group, v, err))
			continue
		}
		var list struct {
			Resources []struct {
				Name string `json:"name"`
			} `json:"resources"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			errs = append(errs, fmt.Errorf("%s/%s: discovery answer: %w", o.Group, v, err))
			continue
		}
		found := false
		for _, r := range list.Resources {
			found = found || r.Name == o.Resource
		}
		if !found {
			errs = append(errs, fmt.Errorf("%s/%s does not serve %s", o.Group, v, o.Resource))
		}
	}
	return errors.Join(errs...)
}

// checkWebhook sends the webhook what the API server would for a pod
// without placeholders, and expects it admitted unchanged.
func (o Options) checkWebhook(ctx context.Context) error {
	ns := o.Namespace
	if ns == "" {
		return errors.New("no namespace: not in a pod, and no --namespace")
	}
	uid := make([]byte, 16)
	_, _ = rand.Read(uid)
	review := admissionReview(hex.EncodeToString(uid), ns)
	body, err := json.Marshal(review)
	if err != nil {
		return err
	}
	c, err := o.client(o.WebhookCA)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	out, err := do(c, req)
	if err != nil {
		return err
	}
	var answer struct {
		Response *struct {
			UID     string `json:"uid"`
			Allowed bool   `json:"allowed"`
			Patch   []byte `json:"patch"`
			Result  *struct {
				Message string `json:"message"`
			} `json:"status"`
		} `json:"response"`
	}
	if err := json.Unmarshal(out, &answer); err != nil {
		return fmt.Errorf("not an AdmissionReview: %w", err)
	}
	r := answer.Response
	switch {
	case r == nil:
		return errors.New("the AdmissionReview holds no response")
	case r.UID != review.Request.UID:
		return fmt.Errorf("the response is for request %q, not %q", r.UID, review.Request.UID)
	case !r.Allowed:
		msg := ""
		if r.Result != nil {
			msg = ": " + r.Result.Message
		}
		return fmt.Errorf("a pod without placeholders was refused%s", msg)
	case len(r.Patch) > 0 && string(r.Patch) != "[]":
		return fmt.Errorf("a pod without placeholders was changed: %s", r.Patch)
	}
	return nil
}

// checkResolver asks the resolver's health endpoint.
func (o Options) checkResolver(ctx context.Context) error {
	c, err := o.client(o.ResolverCA)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(o.ResolverURL, "/")+"/healthz", nil)
	if err != nil {
		return err
	}
	_, err = do(c, req)
	return err
}

// checkHTTP expects 200 from a plain-HTTP URL.
func (o Options) checkHTTP(ctx context.Context, u string) error {
	c, err := o.client("")
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	_, err = do(c, req)
	return err
}

// checkMetrics expects an authenticated metrics endpoint: 401 without
// credentials, 200 with the ServiceAccount token. Each server makes its
// own certificate for its metrics (no CA to verify it against), so the
// certificate is not verified; the token sent is the check pod's own,
// which may read /metrics and nothing else.
func (o Options) checkMetrics(ctx context.Context, u string) error {
	tr := &http.Transport{Proxy: nil, DialContext: o.DialContext,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}} //nolint:gosec // see above
	c := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	anonymous, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(anonymous)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("a scrape without credentials got HTTP %d, want 401: the endpoint is not authenticated", resp.StatusCode)
	}
	token, err := os.ReadFile(o.TokenFile)
	if err != nil {
		return fmt.Errorf("ServiceAccount token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	if _, err := do(c, req); err != nil {
		return fmt.Errorf("with the ServiceAccount's token: %w", err)
	}
	return nil
}

// review is the part of admission.k8s.io/v1 AdmissionReview the check
// sends: a CREATE of a pod with one container, no environment, a command.
type review struct {
	APIVersion string        `json:"apiVersion"`
	Kind       string        `json:"kind"`
	Request    reviewRequest `json:"request"`
}

type gvk struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind,omitempty"`
	// Resource is set for a GroupVersionResource.
	Resource string `json:"resource,omitempty"`
}

type reviewRequest struct {
	UID       string          `json:"uid"`
	Kind      gvk             `json:"kind"`
	Resource  gvk             `json:"resource"`
	Name      string          `json:"name"`
	Namespace string          `json:"namespace"`
	Operation string          `json:"operation"`
	UserInfo  map[string]any  `json:"userInfo"`
	Object    json.RawMessage `json:"object"`
	DryRun    bool            `json:"dryRun"`
}

func admissionReview(uid, namespace string) review {
	pod := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"latchkey-check","namespace":%q},`+
		`"spec":{"containers":[{"name":"check","image":"latchkey-check","command":["/check"]}]}}`, namespace)
	return review{
		APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview",
		Request: reviewRequest{
			UID:      uid,
			Kind:     gvk{Version: "v1", Kind: "Pod"},
			Resource: gvk{Version: "v1", Resource: "pods"},
			Name:     "latchkey-check", Namespace: namespace, Operation: "CREATE",
			UserInfo: map[string]any{"username": "latchkey-check"},
			Object:   json.RawMessage(pod), DryRun: true,
		},
	}
}

// Main is `latchkey-env check [flags]`: it parses args, runs the checks,
// and returns the exit code (0 all answered, 1 a check failed, 2 usage).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := Parse(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "latchkey-env check: %v\n", err)
		}
		return 2
	}
	if err := Run(ctx, o, stdout); err != nil {
		fmt.Fprintf(stderr, "latchkey-env check: %v\n", err)
		return 1
	}
	return 0
}

// Parse reads the command line of `latchkey-env check` into Options;
// flag errors and help go to stderr.
func Parse(args []string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet("latchkey-env check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	var crd, versions, httpURLs, metricsURLs string
	fs.StringVar(&o.APIServer, "api-server", "", "API server base URL (default: in-cluster)")
	fs.StringVar(&o.TokenFile, "token-file", DefaultTokenFile, "bearer token for the API server")
	fs.StringVar(&o.APICA, "api-ca", DefaultAPICA, "CA file of the API server")
	fs.StringVar(&crd, "crd", "", "resource.group that must be served, e.g. azurekeyvaultsecrets.spv.no")
	fs.StringVar(&versions, "crd-versions", "", "comma-separated versions the resource must be served in")
	fs.StringVar(&o.WebhookURL, "webhook-url", "", "the webhook's admission URL (https)")
	fs.StringVar(&o.WebhookCA, "webhook-ca", "", "CA file that verifies the webhook")
	fs.StringVar(&o.Namespace, "namespace", "", "namespace of the Services and of the pod the webhook is asked about (default: this pod's)")
	fs.StringVar(&o.ResolverURL, "resolver-url", "", "the resolver's base URL (https)")
	fs.StringVar(&o.ResolverCA, "resolver-ca", "", "CA bundle file that verifies the resolver")
	fs.StringVar(&metricsURLs, "metrics-urls", "", "comma-separated authenticated metrics URLs (https): 401 without credentials, 200 with the ServiceAccount token")
	fs.StringVar(&httpURLs, "http-urls", "", "comma-separated plain-HTTP URLs that must answer 200")
	fs.DurationVar(&o.Timeout, "timeout", DefaultTimeout, "time limit of each check")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if crd != "" {
		resource, group, ok := strings.Cut(crd, ".")
		if !ok || resource == "" || group == "" {
			return o, fmt.Errorf("--crd %q: want resource.group", crd)
		}
		o.Resource, o.Group = resource, group
		if o.Versions = splitList(versions); len(o.Versions) == 0 {
			return o, errors.New("--crd needs --crd-versions")
		}
	}
	o.HTTPURLs = splitList(httpURLs)
	o.MetricsURLs = splitList(metricsURLs)
	for _, u := range o.MetricsURLs {
		if !strings.HasPrefix(u, "https://") {
			return o, fmt.Errorf("--metrics-urls %q: want an https URL (authenticated metrics are served over TLS)", u)
		}
	}
	for _, u := range []struct{ name, url, ca string }{{"webhook", o.WebhookURL, o.WebhookCA}, {"resolver", o.ResolverURL, o.ResolverCA}} {
		if u.url != "" && (!strings.HasPrefix(u.url, "https://") || u.ca == "") {
			return o, fmt.Errorf("--%s-url needs an https URL and --%s-ca", u.name, u.name)
		}
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
