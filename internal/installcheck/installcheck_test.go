package installcheck_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/latchkey-dev/latchkey/internal/devtools/kubetest"
	"github.com/latchkey-dev/latchkey/internal/installcheck"
	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/runner"
	"github.com/latchkey-dev/latchkey/internal/scheme"
	"github.com/latchkey-dev/latchkey/internal/webhook"
)

// The Services' names the chart's test pod uses, for a release latchkey in
// namespace latchkey-system; the test dials them to local servers.
const (
	webhookHost  = "latchkey-webhook.latchkey-system.svc"
	resolverHost = "latchkey-resolver.latchkey-system.svc"
	metricsHost  = "latchkey-controller-metrics.latchkey-system.svc"
)

// install is what the checks reach: the API server with the chart's CRD,
// the real webhook handler and the real resolver server, each with a
// certificate for its Service's name, and a metrics endpoint.
type install struct {
	opts installcheck.Options
	cs   kubernetes.Interface
	// addrs maps a Service host to the local server answering for it.
	addrs map[string]string
	// otherCA is a CA file that verifies neither server.
	otherCA string
}

func start(t *testing.T) *install {
	t.Helper()
	dir := t.TempDir()
	_, cfg := kubetest.Start(t, kubetest.Options{CRDDirectoryPaths: []string{"../../charts/latchkey/crds"}})
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A ServiceAccount's token, as the test pod holds: discovery is open to
	// any authenticated identity, so it needs no RBAC.
	ctx := t.Context()
	if _, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "checker"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tok, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, "checker", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in := &install{addrs: map[string]string{}, cs: cs}
	in.opts = installcheck.Options{
		APIServer: cfg.Host, TokenFile: write(t, dir, "token", []byte(tok.Status.Token)), APICA: write(t, dir, "api-ca.crt", cfg.CAData),
		Group: "spv.no", Resource: "azurekeyvaultsecrets", Versions: []string{"v1alpha1", "v1", "v2alpha1", "v2beta1"},
		Namespace: "latchkey-system", Timeout: 5 * time.Second,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, _ := net.SplitHostPort(addr)
			if a, ok := in.addrs[host]; ok {
				addr = a
			}
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}

	// The webhook: controller-runtime's admission handler around the real
	// Defaulter, as the webhook binary registers it.
	whCA, whCert := newPKI(t, webhookHost)
	mux := http.NewServeMux()
	mux.Handle(webhook.Path, admission.WithDefaulter[*corev1.Pod](scheme.New(), &webhook.Defaulter{}))
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{whCert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	in.addrs[webhookHost] = srv.Listener.Addr().String()
	in.opts.WebhookURL, in.opts.WebhookCA = "https://"+webhookHost+webhook.Path, write(t, dir, "webhook-ca.crt", whCA)

	// The resolver's own server (health endpoint), from a certificate folder.
	rCA, rCert := newPKI(t, resolverHost)
	certDir := filepath.Join(dir, "resolver-tls")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, certDir, "tls.crt", pemOf("CERTIFICATE", rCert.Certificate[0]))
	keyDER, err := x509.MarshalPKCS8PrivateKey(rCert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	write(t, certDir, "tls.key", pemOf("PRIVATE KEY", keyDER))
	rs, err := resolver.NewServer("127.0.0.1:0", certDir, http.NotFoundHandler(), resolver.DefaultServerTimeouts, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rs.Start(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
	in.addrs[resolverHost] = rs.Addr().String()
	in.opts.ResolverURL, in.opts.ResolverCA = "https://"+resolverHost, write(t, dir, "resolver-ca.crt", rCA)

	metrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(metrics.Close)
	in.opts.HTTPURLs = []string{metrics.URL + "/metrics"}

	// An authenticated metrics endpoint, as the components serve it; the
	// checker may get /metrics, as the chart's test ServiceAccount may.
	allowMetrics(t, cs, "checker")
	authAddr := serveMetrics(t, cfg)
	in.addrs[metricsHost] = authAddr
	in.opts.MetricsURLs = []string{"https://" + metricsHost + ":8080/metrics"}

	otherCA, _ := newPKI(t, "elsewhere")
	in.otherCA = write(t, dir, "other-ca.crt", otherCA)
	return in
}

func TestChecks(t *testing.T) {
	in := start(t)
	// The resolver server answers once its listener serves.
	var last bytes.Buffer
	waitFor(t, &last, func() bool { last.Reset(); return installcheck.Run(t.Context(), in.opts, &last) == nil })

	var out bytes.Buffer
	if err := installcheck.Run(t.Context(), in.opts, &out); err != nil {
		t.Fatalf("%v\n%s", err, &out)
	}
	for _, want := range []string{
		"ok CRD azurekeyvaultsecrets.spv.no served in v1alpha1, v1, v2alpha1, v2beta1",
		"ok webhook answers at https://" + webhookHost + webhook.Path,
		"ok resolver answers at https://" + resolverHost,
		"ok answers at http://",
		"ok metrics authenticated at https://" + metricsHost + ":8080/metrics",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &out)
		}
	}

	cases := []struct {
		name   string
		change func(o *installcheck.Options)
		want   string
	}{
		{"a version not served", func(o *installcheck.Options) { o.Versions = append(o.Versions, "v3") }, "spv.no/v3: HTTP 404"},
		{"another resource", func(o *installcheck.Options) { o.Resource = "azurekeyvaultsecret" }, "spv.no/v1 does not serve azurekeyvaultsecret"},
		// The token is the CRD check's (the metrics check's is below).
		{"no token", func(o *installcheck.Options) { o.TokenFile, o.MetricsURLs = filepath.Join(t.TempDir(), "absent"), nil }, "ServiceAccount token"},
		{"a token the API server refuses", func(o *installcheck.Options) {
			o.TokenFile, o.MetricsURLs = write(t, t.TempDir(), "token", []byte("not-a-token")), nil
		}, "HTTP 401"},
		{"the webhook's certificate under another CA", func(o *installcheck.Options) { o.WebhookCA = in.otherCA }, "FAIL webhook answers"},
		{"the webhook at another path", func(o *installcheck.Options) { o.WebhookURL = "https://" + webhookHost + "/nowhere" }, "FAIL webhook answers"},
		{"the resolver's certificate under another CA", func(o *installcheck.Options) { o.ResolverCA = in.otherCA }, "certificate signed by unknown authority"},
		{"the resolver unreachable", func(o *installcheck.Options) { o.ResolverURL = "https://127.0.0.1:1" }, "FAIL resolver answers at https://127.0.0.1:1"},
		{"a metrics endpoint answering 404", func(o *installcheck.Options) { o.HTTPURLs = []string{o.HTTPURLs[0] + "x"} }, "HTTP 404"},
		{"metrics answering without credentials", func(o *installcheck.Options) {
			open := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			t.Cleanup(open.Close)
			o.MetricsURLs = []string{open.URL + "/metrics"}
		}, "without credentials got HTTP 200, want 401"},
		{"a ServiceAccount not allowed to read metrics", func(o *installcheck.Options) {
			o.TokenFile = write(t, t.TempDir(), "token", []byte(serviceAccountToken(t, in.cs, "not-a-scraper")))
		}, "with the ServiceAccount's token: HTTP 403"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := in.opts
			o.Versions = append([]string(nil), o.Versions...)
			tc.change(&o)
			var out bytes.Buffer
			err := installcheck.Run(t.Context(), o, &out)
			if err == nil {
				t.Fatalf("passed:\n%s", &out)
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, &out)
			}
			if strings.Count(out.String(), "FAIL ") != 1 {
				t.Errorf("want exactly one failed check:\n%s", &out)
			}
		})
	}
}

// TestServiceEnvironment: without DNS the check reaches a Service of its
// namespace at the address of the Service's environment variable, and
// verifies the certificate against the Service's name.
func TestServiceEnvironment(t *testing.T) {
	in := start(t)
	var last bytes.Buffer
	waitFor(t, &last, func() bool { last.Reset(); return installcheck.Run(t.Context(), in.opts, &last) == nil })
	_, whPort, _ := net.SplitHostPort(in.addrs[webhookHost])
	_, rPort, _ := net.SplitHostPort(in.addrs[resolverHost])
	o := in.opts
	o.Group, o.HTTPURLs, o.MetricsURLs, o.DialContext = "", nil, nil, nil
	o.WebhookURL = "https://" + net.JoinHostPort(webhookHost, whPort) + webhook.Path
	o.ResolverURL = "https://" + net.JoinHostPort(resolverHost, rPort)
	vars := map[string]string{"LATCHKEY_WEBHOOK_SERVICE_HOST": "127.0.0.1", "LATCHKEY_RESOLVER_SERVICE_HOST": "127.0.0.1"}
	o.Getenv = func(k string) string { return vars[k] }
	var out bytes.Buffer
	if err := installcheck.Run(t.Context(), o, &out); err != nil {
		t.Fatalf("%v\n%s", err, &out)
	}
	// Another namespace's Service is not dialled through this one's variables.
	o.Namespace = "elsewhere"
	out.Reset()
	if err := installcheck.Run(t.Context(), o, &out); err == nil || strings.Count(out.String(), "FAIL ") != 2 {
		t.Errorf("err %v:\n%s", err, &out)
	}
}

// TestWebhookRefusal: a webhook that answers but refuses (or changes) a
// pod without placeholders fails the check, with its message.
func TestWebhookRefusal(t *testing.T) {
	ca, cert := newPKI(t, webhookHost)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		resp admission.Response
		want string
	}{
		{"refused", admission.Denied("webhook says no"), "a pod without placeholders was refused: webhook says no"},
		{"changed", admission.PatchResponseFromRaw([]byte(`{"metadata":{}}`), []byte(`{"metadata":{"labels":{"x":"y"}}}`)), "a pod without placeholders was changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := tc.resp
			h := &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response { return resp })}
			srv := httptest.NewUnstartedServer(h)
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			srv.StartTLS()
			defer srv.Close()
			o := installcheck.Options{
				WebhookURL: "https://" + webhookHost + webhook.Path, WebhookCA: write(t, dir, "ca.crt", ca), Namespace: "team-a",
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
				},
			}
			var out bytes.Buffer
			if err := installcheck.Run(t.Context(), o, &out); err == nil || !strings.Contains(out.String(), tc.want) {
				t.Errorf("err %v, output lacks %q:\n%s", err, tc.want, &out)
			}
		})
	}
}

// TestMainExitCodes covers the command line: usage errors exit 2, failed checks 1.
func TestMainExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 1, "nothing to check"},
		{[]string{"--crd", "azurekeyvaultsecrets"}, 2, "want resource.group"},
		{[]string{"--crd", "azurekeyvaultsecrets.spv.no"}, 2, "--crd needs --crd-versions"},
		{[]string{"--nope"}, 2, "flag provided but not defined"},
		{[]string{"--webhook-url", "http://x.svc/mutate"}, 2, "--webhook-url needs an https URL and --webhook-ca"},
		{[]string{"--http-urls", "http://127.0.0.1:1/metrics", "extra"}, 2, "unexpected arguments"},
		{[]string{"--metrics-urls", "http://x.svc:8080/metrics"}, 2, "want an https URL"},
		{[]string{"--http-urls", "http://127.0.0.1:1/metrics", "--timeout", "2s"}, 1, "1 of 1 checks failed"},
	} {
		var stdout, stderr bytes.Buffer
		if code := installcheck.Main(t.Context(), tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("check %q: exit %d, stderr %q; want %d and %q", tc.args, code, &stderr, tc.code, tc.want)
		}
	}
}

func waitFor(t *testing.T, last *bytes.Buffer, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out; last:\n%s", last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newPKI returns a CA (PEM) and a certificate it signed for host.
func newPKI(t *testing.T, host string) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host + "-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf("CERTIFICATE", caDER), tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// serviceAccountToken creates a ServiceAccount and returns a token of it.
func serviceAccountToken(t *testing.T, cs kubernetes.Interface, name string) string {
	t.Helper()
	ctx := t.Context()
	if _, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tok, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Status.Token
}

// allowMetrics lets a ServiceAccount of the default namespace get /metrics,
// as the chart's metrics-reader ClusterRole does.
func allowMetrics(t *testing.T, cs kubernetes.Interface, sa string) {
	t.Helper()
	ctx := t.Context()
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

// serveMetrics runs a metrics server as the components do by default
// (authenticated) and returns its address.
func serveMetrics(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	l, err := new(net.ListenConfig).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	opts := runner.DefaultMetricsOptions()
	opts.MetricsAddr = addr
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := metricsserver.NewServer(opts.MetricsServer(), cfg, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return addr
}
