package envexec_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/internal/envexec"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// TestMain lets the test binary double as the program of
// TestResolverClientNeverUsesProxy, which needs a process whose
// environment holds HTTPS_PROXY from its start (net/http reads it once).
func TestMain(m *testing.M) {
	if os.Getenv(proxyHelperEnv) != "" {
		os.Exit(proxyHelper())
	}
	os.Exit(m.Run())
}

// scriptedResolver answers resolve requests from a script, one answer per
// request (the last repeats), and records the requests.
type scriptedResolver struct {
	srv     *httptest.Server
	caFile  string
	mu      sync.Mutex
	script  []func(w http.ResponseWriter, req protocol.Request)
	reqs    []protocol.Request
	tokens  []string
	methods []string
}

func newScriptedResolver(t *testing.T, script ...func(w http.ResponseWriter, req protocol.Request)) *scriptedResolver {
	t.Helper()
	f := &scriptedResolver{script: script}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req protocol.Request
		_ = json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		n := len(f.reqs)
		f.reqs = append(f.reqs, req)
		f.tokens = append(f.tokens, r.Header.Get("Authorization"))
		f.methods = append(f.methods, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		answer := f.script[min(n, len(f.script)-1)]
		f.mu.Unlock()
		answer(w, req)
	}))
	t.Cleanup(f.srv.Close)
	f.caFile = filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(f.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *scriptedResolver) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// values answers 200 with a value derived from each placeholder.
func values(w http.ResponseWriter, req protocol.Request) {
	out := map[string]string{}
	for k, v := range req.Env {
		out[k] = "value-of-" + v
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(protocol.Response{Env: out})
}

// fail answers status with an error body; headers are name, value pairs.
func fail(status int, body protocol.Error, headers ...string) func(http.ResponseWriter, protocol.Request) {
	return func(w http.ResponseWriter, _ protocol.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(protocol.ErrorBody{Error: body})
	}
}

// akvsMissing answers 404 AzureKeyVaultSecretNotFound for the
// AzureKeyVaultSecrets names (each named by the variable of its upper-case
// name), as the resolver does.
func akvsMissing(names ...string) func(http.ResponseWriter, protocol.Request) {
	body := protocol.Error{Code: protocol.CodeAKVSNotFound}
	for _, n := range names {
		body.Failures = append(body.Failures, protocol.Failure{Code: protocol.CodeAKVSNotFound,
			Message: "AzureKeyVaultSecret team/" + n + " does not exist", Variables: []string{strings.ToUpper(n)}, AzureKeyVaultSecrets: []string{n}})
	}
	return fail(http.StatusNotFound, body)
}

// clientFor is a client of f with a token file and sleeps recorded.
func clientFor(t *testing.T, f *scriptedResolver, waits *[]time.Duration, o ...func(*envexec.ResolverClientOptions)) (*envexec.ResolverClient, *bytes.Buffer) {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("the-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	opts := envexec.ResolverClientOptions{
		URL: f.srv.URL + "/", Container: "app", TokenFile: tokenFile, CAFile: f.caFile,
		Retry: envexec.RetryPolicy{Retries: 3, Wait: time.Second},
		Log:   slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Sleep: func(_ context.Context, d time.Duration) error { *waits = append(*waits, d); return nil },
	}
	for _, m := range o {
		m(&opts)
	}
	c, err := envexec.NewResolverClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, &logs
}

var twoBindings = envexec.FindPlaceholders([]string{"A=a@azurekeyvault", "OTHER=x", "B=b@azurekeyvault?tls.key"})

func TestResolverClient(t *testing.T) {
	unavailable := fail(http.StatusServiceUnavailable, protocol.Error{Code: protocol.CodeKeyVaultUnavailable, Message: "Key Vault secret kv/a: unavailable",
		Failures: []protocol.Failure{{Code: protocol.CodeKeyVaultUnavailable, Message: "unavailable", Variables: []string{"A", "B"}}}})
	tests := []struct {
		name    string
		script  []func(http.ResponseWriter, protocol.Request)
		waits   []time.Duration
		errIs   []error
		reason  string
		inError []string
	}{
		{"values", []func(http.ResponseWriter, protocol.Request){values}, nil, nil, "", nil},
		{"503 then 429 with Retry-After, then values", []func(http.ResponseWriter, protocol.Request){
			unavailable,
			fail(http.StatusTooManyRequests, protocol.Error{Code: protocol.CodeRateLimited, Message: "namespace asks too often"}, "Retry-After", "7"),
			values,
		}, []time.Duration{time.Second, 7 * time.Second}, nil, "", nil},
		{"a Retry-After shorter than the backoff", []func(http.ResponseWriter, protocol.Request){
			fail(http.StatusTooManyRequests, protocol.Error{Code: protocol.CodeRateLimited}, "Retry-After", "1"),
			fail(http.StatusTooManyRequests, protocol.Error{Code: protocol.CodeRateLimited}, "Retry-After", "1"),
			values,
		}, []time.Duration{time.Second, 2 * time.Second}, nil, "", nil},
		{"retries used up", []func(http.ResponseWriter, protocol.Request){unavailable},
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
			[]error{envexec.ErrResolverUnavailable, keyvault.ErrUnavailable}, "unavailable", []string{"variables A, B (AzureKeyVaultSecrets a, b)", "503 KeyVaultUnavailable"}},
		{"refused: not retried, each failure named", []func(http.ResponseWriter, protocol.Request){
			fail(http.StatusForbidden, protocol.Error{Code: protocol.CodeVaultNotAllowed, Message: "…", Failures: []protocol.Failure{
				{Code: protocol.CodeVaultNotAllowed, Message: "namespace team may not read kv-x/b (tenancy policy)", Variables: []string{"B"}, AzureKeyVaultSecrets: []string{"b"}},
			}}),
		}, nil, []error{envexec.ErrResolverRefused}, "refused by the resolver", []string{"variable B (AzureKeyVaultSecret b)", "403 VaultNotAllowed", "tenancy policy"}},
		{"Key Vault's class kept", []func(http.ResponseWriter, protocol.Request){
			fail(http.StatusNotFound, protocol.Error{Code: protocol.CodeKeyVaultNotFound, Failures: []protocol.Failure{
				{Code: protocol.CodeKeyVaultNotFound, Message: "Key Vault secret kv/a: not found (404 SecretNotFound)", Variables: []string{"A"}},
			}}),
		}, nil, []error{envexec.ErrResolverRefused, keyvault.ErrNotFound}, "not found", []string{"variable A (AzureKeyVaultSecret a)"}},
		{"an AzureKeyVaultSecret not created yet: waited for", []func(http.ResponseWriter, protocol.Request){
			akvsMissing("a"), akvsMissing("a"), values,
		}, []time.Duration{time.Second, 2 * time.Second}, nil, "", nil},
		{"an AzureKeyVaultSecret never created", []func(http.ResponseWriter, protocol.Request){akvsMissing("a", "b")},
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
			[]error{envexec.ErrAKVSNotFound}, "AzureKeyVaultSecret not found", []string{
				"variable A (AzureKeyVaultSecret a)", "variable B (AzureKeyVaultSecret b)", "404 AzureKeyVaultSecretNotFound", "AzureKeyVaultSecret team/a does not exist",
				"gave up after 3 retries over 7s (ENV_INJECTOR_RETRIES, ENV_INJECTOR_WAIT_BEFORE_RETRY)"}},
		{"an AzureKeyVaultSecret missing and a refusal: not retried", []func(http.ResponseWriter, protocol.Request){
			fail(http.StatusForbidden, protocol.Error{Code: protocol.CodeVaultNotAllowed, Failures: []protocol.Failure{
				{Code: protocol.CodeVaultNotAllowed, Message: "namespace team may not read kv-x/b (tenancy policy)", Variables: []string{"B"}, AzureKeyVaultSecrets: []string{"b"}},
				{Code: protocol.CodeAKVSNotFound, Message: "AzureKeyVaultSecret team/a does not exist", Variables: []string{"A"}, AzureKeyVaultSecrets: []string{"a"}},
			}}),
		}, nil, []error{envexec.ErrResolverRefused}, "refused by the resolver", []string{"403 VaultNotAllowed", "variable A (AzureKeyVaultSecret a)"}},
		{"401", []func(http.ResponseWriter, protocol.Request){fail(http.StatusUnauthorized, protocol.Error{Code: protocol.CodeTokenExpired, Message: "the token has expired"})},
			nil, []error{envexec.ErrResolverRefused}, "refused by the resolver", []string{"variables A, B", "401 TokenExpired: the token has expired"}},
		{"an answer that is not ours", []func(http.ResponseWriter, protocol.Request){func(w http.ResponseWriter, _ protocol.Request) {
			http.Error(w, "upstream connect error", http.StatusBadGateway)
		}}, nil, []error{envexec.ErrResolverRefused}, "refused by the resolver", []string{"502 502: Bad Gateway"}},
		{"a value missing from the answer", []func(http.ResponseWriter, protocol.Request){func(w http.ResponseWriter, _ protocol.Request) {
			_ = json.NewEncoder(w).Encode(protocol.Response{Env: map[string]string{"A": "x"}})
		}}, nil, []error{envexec.ErrResolverRefused}, "refused by the resolver", []string{"variable B (AzureKeyVaultSecret b): refused by the resolver: the answer has no value for it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newScriptedResolver(t, tt.script...)
			var waits []time.Duration
			c, logs := clientFor(t, f, &waits)
			got, err := c.Resolve(context.Background(), twoBindings)
			if !slices.Equal(waits, tt.waits) {
				t.Errorf("waits %v, want %v", waits, tt.waits)
			}
			if tt.errIs == nil {
				if err != nil || !slices.Equal(got, []string{"value-of-a@azurekeyvault", "value-of-b@azurekeyvault?tls.key"}) {
					t.Fatalf("Resolve = %q, %v", got, err)
				}
			} else {
				for _, class := range tt.errIs {
					if !errors.Is(err, class) {
						t.Errorf("Resolve = %v, want it to be %v", err, class)
					}
				}
				if r := envexec.Reason(err); r != tt.reason {
					t.Errorf("Reason = %q, want %q", r, tt.reason)
				}
				for _, s := range tt.inError {
					if err == nil || !strings.Contains(err.Error(), s) {
						t.Errorf("error %v lacks %q", err, s)
					}
				}
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			for i, req := range f.reqs {
				want := map[string]string{"A": "a@azurekeyvault", "B": "b@azurekeyvault?tls.key"}
				if req.Container != "app" || len(req.Env) != 2 || req.Env["A"] != want["A"] || req.Env["B"] != want["B"] ||
					f.tokens[i] != "Bearer the-token" || f.methods[i] != "POST /v1/resolve application/json" {
					t.Errorf("request %d: %s %q %+v", i, f.methods[i], f.tokens[i], req)
				}
			}
			if strings.Contains(logs.String(), "the-token") {
				t.Error("the token is logged")
			}
		})
	}
}

// TestResolverClientRereadsTheToken: every attempt reads the token file,
// which the kubelet renews.
func TestResolverClientRereadsTheToken(t *testing.T) {
	f := newScriptedResolver(t, fail(http.StatusServiceUnavailable, protocol.Error{Code: protocol.CodeAPIUnavailable}), values)
	var tokenFile string
	var waits []time.Duration
	c, _ := clientFor(t, f, &waits, func(o *envexec.ResolverClientOptions) {
		tokenFile = o.TokenFile
		o.Sleep = func(context.Context, time.Duration) error { return os.WriteFile(tokenFile, []byte("renewed"), 0o600) }
	})
	if _, err := c.Resolve(context.Background(), twoBindings); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.tokens, []string{"Bearer the-token", "Bearer renewed"}) {
		t.Errorf("tokens sent: %q", f.tokens)
	}
}

// TestResolverClientUnreachable: a resolver that is down is retried, then
// reported as unavailable, naming the variables.
func TestResolverClientUnreachable(t *testing.T) {
	f := newScriptedResolver(t, values)
	var waits []time.Duration
	c, _ := clientFor(t, f, &waits)
	f.srv.Close()
	_, err := c.Resolve(context.Background(), twoBindings)
	if !errors.Is(err, envexec.ErrResolverUnavailable) || len(waits) != 3 || !strings.Contains(err.Error(), "variables A, B") {
		t.Errorf("Resolve = %v after %v", err, waits)
	}
}

// TestResolverClientBounds: more placeholders than the resolver serves to
// one container, or a request larger than it reads, fail at once, naming
// the bound, without a request.
func TestResolverClientBounds(t *testing.T) {
	f := newScriptedResolver(t, values)
	var waits []time.Duration
	c, _ := clientFor(t, f, &waits)
	var many, long []string
	for i := range protocol.MaxVariables + 1 {
		many = append(many, fmt.Sprintf("V%d=a@azurekeyvault", i))
	}
	for i := range 100 {
		long = append(long, fmt.Sprintf("V%d=a@azurekeyvault?%s", i, strings.Repeat("q", protocol.MaxRequestBytes/100)))
	}
	for name, env := range map[string][]string{"variables": many, "bytes": long} {
		_, err := c.Resolve(context.Background(), envexec.FindPlaceholders(env))
		if !errors.Is(err, envexec.ErrResolverRefused) || !strings.Contains(err.Error(), "more than the resolver serves") || len(waits) != 0 {
			t.Errorf("too many %s: %v after %v", name, err, waits)
		}
	}
	if n := f.requests(); n != 0 {
		t.Errorf("%d requests, want 0", n)
	}
}

// TestResolverClientWrongCA: a certificate the bundle does not verify is
// final: no retries, and the error names the bundle.
func TestResolverClientWrongCA(t *testing.T) {
	f := newScriptedResolver(t, values)
	otherCA := filepath.Join(t.TempDir(), "other-ca.crt")
	if err := os.WriteFile(otherCA, selfSignedCA(t), 0o600); err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	c, _ := clientFor(t, f, &waits, func(o *envexec.ResolverClientOptions) { o.CAFile = otherCA })
	_, err := c.Resolve(context.Background(), twoBindings)
	if !errors.Is(err, envexec.ErrResolverRefused) || len(waits) != 0 || f.requests() != 0 ||
		!strings.Contains(err.Error(), "not trusted by the CA bundle "+otherCA) {
		t.Errorf("Resolve = %v after %v", err, waits)
	}
}

// selfSignedCA is a CA certificate, PEM, of no server.
func selfSignedCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestNewResolverClient(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not-pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := envexec.ResolverClientOptions{URL: "https://resolver.latchkey-system.svc", Container: "app", TokenFile: "/t", CAFile: notPEM}
	tests := []struct {
		name   string
		mutate func(*envexec.ResolverClientOptions)
		want   string
	}{
		{"plain http", func(o *envexec.ResolverClientOptions) { o.URL = "http://resolver" }, "LATCHKEY_RESOLVER_URL \"http://resolver\" is not an https URL"},
		{"no container", func(o *envexec.ResolverClientOptions) { o.Container = "" }, "LATCHKEY_CONTAINER is not set"},
		{"no token", func(o *envexec.ResolverClientOptions) { o.TokenFile = "" }, "LATCHKEY_RESOLVER_TOKEN is not set"},
		{"no CA", func(o *envexec.ResolverClientOptions) { o.CAFile = "" }, "LATCHKEY_RESOLVER_CA is not set"},
		{"CA file missing", func(o *envexec.ResolverClientOptions) { o.CAFile = filepath.Join(dir, "nope") }, "no such file"},
		{"CA file without a certificate", func(*envexec.ResolverClientOptions) {}, "holds no PEM certificate"},
	}
	for _, tt := range tests {
		o := ok
		tt.mutate(&o)
		if _, err := envexec.NewResolverClient(o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestRunSelectsResolverMode: LATCHKEY_RESOLVER_URL selects resolver mode;
// a broken resolver configuration fails naming the variables, before any
// request.
func TestRunSelectsResolverMode(t *testing.T) {
	f := newScriptedResolver(t, values)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("tok"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + progDir(t), "DB=db@azurekeyvault", "LATCHKEY_RESOLVER_URL=" + f.srv.URL, "LATCHKEY_CONTAINER=app",
		"LATCHKEY_RESOLVER_TOKEN=" + tokenFile, "LATCHKEY_RESOLVER_CA=" + f.caFile}
	var c execCall
	err := envexec.Run(context.Background(), envexec.Options{Argv: []string{"prog"}, Environ: env, Exec: capture(&c)})
	if !errors.Is(err, errExecuted) || !slices.Contains(c.env, "DB=value-of-db@azurekeyvault") {
		t.Fatalf("Run = %v, env %q", err, c.env)
	}
	for _, kv := range c.env {
		if strings.HasPrefix(kv, "LATCHKEY_") {
			t.Errorf("%s reached the program", kv)
		}
	}
	broken := slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "LATCHKEY_RESOLVER_CA=") })
	err = envexec.Run(context.Background(), envexec.Options{Argv: []string{"prog"}, Environ: broken, Exec: capture(&execCall{})})
	if envexec.ExitCode(err) != envexec.ExitFailure || !strings.Contains(err.Error(), "variable DB (AzureKeyVaultSecret db): resolver mode: LATCHKEY_RESOLVER_CA is not set") {
		t.Errorf("Run = %v", err)
	}
	if f.requests() != 1 {
		t.Errorf("%d requests, want 1", f.requests())
	}
}

// The proxy test's helper process.
const (
	proxyHelperEnv = "ENVEXEC_TEST_PROXY_HELPER"
	// proxyHelperHost is the resolver's name in the helper: not a loopback
	// name or address, which net/http would never proxy anyway.
	proxyHelperHost = "resolver.example.com"
)

// TestResolverClientNeverUsesProxy: with HTTPS_PROXY set to a proxy that
// fails every request, the client still reaches the resolver, and the
// proxy sees nothing. The control run, a client that honours HTTPS_PROXY
// in the same process environment, goes to the proxy and fails: the test
// would notice a client that did.
func TestResolverClientNeverUsesProxy(t *testing.T) {
	f := newScriptedResolver(t, values)
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		proxied.Add(1)
		http.Error(w, "no", http.StatusForbidden)
	}))
	t.Cleanup(proxy.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("tok"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(f.srv.Listener.Addr().String())
	run := func(control bool) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), proxyHelperEnv+"=1", "HTTPS_PROXY="+proxy.URL, "https_proxy="+proxy.URL, "NO_PROXY=", "no_proxy=",
			"HELPER_URL=https://"+proxyHelperHost+":"+port, "HELPER_ADDR="+f.srv.Listener.Addr().String(),
			"HELPER_CA="+f.caFile, "HELPER_TOKEN="+tokenFile, fmt.Sprintf("HELPER_CONTROL=%v", control))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(false)
	if err != nil || strings.TrimSpace(out) != "value-of-db@azurekeyvault" || proxied.Load() != 0 {
		t.Fatalf("through HTTPS_PROXY? helper: %v, %q; the proxy saw %d requests", err, out, proxied.Load())
	}
	if out, err := run(true); err == nil || proxied.Load() == 0 {
		t.Fatalf("control: a client honouring HTTPS_PROXY reached the resolver (%q) or not the proxy (%d)", out, proxied.Load())
	}
}

// proxyHelper resolves one placeholder through the resolver named
// proxyHelperHost, which it dials at HELPER_ADDR, and prints the value. In
// control mode the client's transport honours HTTPS_PROXY.
func proxyHelper() int {
	addr := os.Getenv("HELPER_ADDR")
	dial := func(ctx context.Context, network, a string) (net.Conn, error) {
		if strings.HasPrefix(a, proxyHelperHost+":") {
			a = addr
		}
		var d net.Dialer
		return d.DialContext(ctx, network, a)
	}
	o := envexec.ResolverClientOptions{URL: os.Getenv("HELPER_URL"), Container: "app", TokenFile: os.Getenv("HELPER_TOKEN"),
		CAFile: os.Getenv("HELPER_CA"), DialContext: dial}
	c, err := envexec.NewResolverClient(o)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	b := envexec.FindPlaceholders([]string{"DB=db@azurekeyvault"})
	if os.Getenv("HELPER_CONTROL") == "true" {
		// The same request with http.ProxyFromEnvironment.
		tr := &http.Transport{Proxy: http.ProxyFromEnvironment, DialContext: dial}
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, o.URL+protocol.ResolvePath, strings.NewReader("{}"))
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		fmt.Println(resp.Status)
		return 0
	}
	v, err := c.Resolve(context.Background(), b)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println(v[0])
	return 0
}
