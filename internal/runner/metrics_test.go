package runner_test

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/devtools/kubetest"
	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/runner"
	"github.com/latchkey-dev/latchkey/internal/webhook"
)

// scrapeMetric is in the registry the metrics endpoint serves, so a 200
// shows the metrics themselves, not just any answer.
var scrapeMetric = prometheus.NewCounter(prometheus.CounterOpts{Name: "latchkey_runner_test_scrapes", Help: "test"})

func init() { crmetrics.Registry.MustRegister(scrapeMetric) }

// TestMetricsAuth serves metrics as the controller, the webhook and the
// resolver do (runner.MetricsOptions), against a real API server: by
// default over HTTPS, refusing a scrape without a token (401), with a token
// of a ServiceAccount not allowed get on /metrics (403), and over plain
// HTTP; answering a ServiceAccount bound to a ClusterRole that allows it.
// With --metrics-auth=false the endpoint is plain HTTP for anyone.
func TestMetricsAuth(t *testing.T) {
	_, cfg := kubetest.Start(t, kubetest.Options{})
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	scraper, nobody := serviceAccountToken(ctx, t, cs, "scraper"), serviceAccountToken(ctx, t, cs, "nobody")
	allowScrape(ctx, t, cs, "scraper")

	var opts runner.MetricsOptions
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	opts = runner.DefaultMetricsOptions()
	opts.BindFlags(fs)
	addr := freeAddr(t)
	if err := fs.Parse([]string{"--metrics-bind-address=" + addr}); err != nil {
		t.Fatal(err)
	}
	if !opts.MetricsAuth {
		t.Fatal("metrics are not authenticated by default")
	}
	serve(ctx, t, cfg, opts)
	for _, tc := range []struct {
		name, scheme, token string
		// status is the answer wanted; 0: the connection fails.
		status int
	}{
		{"no token", "https", "", http.StatusUnauthorized},
		// The API server's review of it fails (status.error), which
		// controller-runtime's filter answers 500: refused all the same.
		{"a token the API server does not know", "https", "not-a-token", http.StatusInternalServerError},
		{"a ServiceAccount without get on /metrics", "https", nobody, http.StatusForbidden},
		// Go's TLS server answers 400 and closes; the client may see either.
		{"plain HTTP", "http", scraper, 0},
		{"a ServiceAccount allowed get on /metrics", "https", scraper, http.StatusOK},
	} {
		status, body, err := scrape(ctx, t, tc.scheme+"://"+addr+"/metrics", tc.token)
		switch {
		case tc.status == 0 && (err != nil || status == http.StatusBadRequest):
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case status != tc.status:
			t.Errorf("%s: HTTP %d, want %d", tc.name, status, tc.status)
		}
		if got := strings.Contains(body, "latchkey_runner_test_scrapes"); got != (tc.status == http.StatusOK) {
			t.Errorf("%s: the answer holds the metrics: %v", tc.name, got)
		}
	}

	plain := runner.DefaultMetricsOptions()
	fs = flag.NewFlagSet("test", flag.ContinueOnError)
	plain.BindFlags(fs)
	addr = freeAddr(t)
	if err := fs.Parse([]string{"--metrics-bind-address=" + addr, "--metrics-auth=false"}); err != nil {
		t.Fatal(err)
	}
	serve(ctx, t, cfg, plain)
	if status, body, err := scrape(ctx, t, "http://"+addr+"/metrics", ""); err != nil || status != http.StatusOK || !strings.Contains(body, "latchkey_runner_test_scrapes") {
		t.Errorf("--metrics-auth=false: HTTP %d (%v) without a token, want 200 with the metrics", status, err)
	}
}

// serve runs the metrics server of opts until the test ends, once it answers.
func serve(ctx context.Context, t *testing.T, cfg *rest.Config, opts runner.MetricsOptions) {
	t.Helper()
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := metricsserver.NewServer(opts.MetricsServer(), cfg, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", opts.MetricsAddr)
		if err == nil {
			_ = c.Close()
		}
		return err == nil, nil
	}); err != nil {
		t.Fatalf("metrics server not listening: %v", err)
	}
}

// scrape GETs url, with token as bearer when set, trusting any certificate
// (the server's is self-made), and returns the status and body.
func scrape(ctx context.Context, t *testing.T, url, token string) (int, string, error) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy: nil, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the server's certificate is self-made
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// serviceAccountToken creates a ServiceAccount and returns a token of it.
func serviceAccountToken(ctx context.Context, t *testing.T, cs kubernetes.Interface, name string) string {
	t.Helper()
	if _, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// allowScrape binds the ServiceAccount to a ClusterRole allowing get on
// /metrics, as the chart's metrics-reader ClusterRole does.
func allowScrape(ctx context.Context, t *testing.T, cs kubernetes.Interface, sa string) {
	t.Helper()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: "default"}}}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := new(net.ListenConfig).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return fmt.Sprint(l.Addr())
}

// TestEveryServerAuthenticatesMetrics: the controller, the webhook and the
// resolver serve their metrics through MetricsOptions, authenticated unless
// --metrics-auth=false says otherwise.
func TestEveryServerAuthenticatesMetrics(t *testing.T) {
	c, w, r := controller.DefaultConfig(), webhook.DefaultConfig(), resolver.DefaultConfig()
	for _, s := range []struct {
		name string
		bind func(*flag.FlagSet)
		opts *runner.MetricsOptions
	}{
		{"controller", c.BindFlags, &c.Manager.MetricsOptions},
		{"webhook", w.BindFlags, &w.MetricsOptions},
		{"resolver", r.BindFlags, &r.MetricsOptions},
	} {
		if !s.opts.MetricsAuth || !s.opts.MetricsServer().SecureServing || s.opts.MetricsServer().FilterProvider == nil {
			t.Errorf("%s: metrics are not authenticated by default", s.name)
		}
		fs := flag.NewFlagSet(s.name, flag.ContinueOnError)
		s.bind(fs)
		if err := fs.Parse([]string{"--metrics-auth=false", "--metrics-bind-address=:9090"}); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if m := s.opts.MetricsServer(); m.SecureServing || m.FilterProvider != nil || m.BindAddress != ":9090" {
			t.Errorf("%s: --metrics-auth=false --metrics-bind-address=:9090 gave %+v", s.name, m)
		}
	}
}
