package resolver_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/prometheus/client_golang/prometheus"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
	"github.com/latchkey-dev/latchkey/internal/devtools/kubetest"
	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
	"github.com/latchkey-dev/latchkey/internal/injectmark"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/logging"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
	"github.com/latchkey-dev/latchkey/internal/scheme"
	"github.com/latchkey-dev/latchkey/internal/webhook"
)

// The identities, vaults and values of the suite. Every value is
// distinctive, so a leak into logs or answers is found by substring.
const (
	tenantID     = "33333333-3333-4333-8333-333333333333"
	clientID     = "cccccccc-0000-4000-8000-000000000001"
	clientSecret = "resolver-sp-secret-Qw8Er4"
	audience     = "latchkey-resolver-test"
	caConfigMap  = "latchkey-resolver-ca"

	vault      = "kv-resolver" // the objects most tests read
	denyVault  = "kv-deny"     // only denial tests name it: it must never be read
	loadVault  = "kv-load"     // one object, read by the load test only
	downVault  = "kv-down"     // Key Vault down, then back
	benchVault = "kv-bench"    // the rollout benchmark's
	crossVault = "kv-cross"    // read by an allowed namespace, then asked for by a restricted one
	slowVault  = "kv-slow"     // answers in minutes (TestClientGoneAway)
	burstVault = "kv-burst"    // read by TestRolloutBeyondTheBurst only
	filesVault = "kv-files"    // the files refresh benchmark's two objects

	// tenancyNamespace may read vault only (the suite's tenancy policy).
	tenancyNamespace = "latchkey-tenancy-test"

	dbPassword  = "db-password-Rz4Tq8"
	basicPass   = "basic-pass-Ux2Wn6"
	apiKey      = "api-key-Mn3Vb7"
	yamlAPIKey  = "yaml-api-key-\"Qz8\" <x>" // quoted in the document; JSON and %q escape it
	padded      = "padded-Lk9Hj1"
	fruit       = "forbidden-fruit-Pp5Oo0"
	shared      = "shared-value-Yy7Tt3"
	flaky       = "flaky-value-Ii2Gg4"
	benchValue  = "bench-value-Ff6Dd8"
	crossValue  = "cross-value-Ee3Ss1"
	slowValue   = "slow-value-Qq4Zz9"
	burstValue  = "burst-value-Jj8Kk2"
	filesValueA = "files-a-value-Rr5Ww1"
	filesValueB = "files-b-value-Nn6Cc3"
)

var suite struct {
	cfg    *rest.Config
	client client.Client
	cs     *kubernetes.Clientset
	emu    *akvemu.Server
	pki    *testPKI
	policy string
	// markKeys is the file of the install's admission mark keys; marks
	// sign as the webhook does.
	markKeys string
	marks    *injectmark.Keys
	// values are every value in Key Vault (those above, the documents,
	// each certificate's private key) and the identity's secret: what
	// must never show in a log, an answer to a denied request or an error.
	values *leakcheck.Set
	// seeded are the objects' values by "vault/name".
	seeded map[string]string
	// res is the resolver most tests share; tests that move its clock or
	// need other settings start their own.
	res *testResolver
}

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	env, cfg, err := kubetest.New(kubetest.Options{CRDDirectoryPaths: []string{"../../config/crd"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	suite.cfg = cfg
	if suite.client, err = client.New(cfg, client.Options{Scheme: scheme.New()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	suite.cs = kubernetes.NewForConfigOrDie(cfg)
	emu, err := akvemu.New(akvemu.Options{Seed: seed()})
	if err == nil {
		err = emu.Start(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "emulator:", err)
		return 1
	}
	defer func() { _ = emu.Close() }()
	suite.emu = emu
	if suite.values, suite.seeded, err = seededValues(seed()); err != nil {
		fmt.Fprintln(os.Stderr, "reading the seeded objects:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "resolver-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if suite.pki, err = newPKI(dir); err != nil {
		fmt.Fprintln(os.Stderr, "pki:", err)
		return 1
	}
	suite.markKeys = filepath.Join(dir, "injection-mark-keys")
	if err := os.WriteFile(suite.markKeys, []byte(rand.Text()+rand.Text()+"\n"), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if suite.marks, err = injectmark.Load(suite.markKeys); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	suite.policy = filepath.Join(dir, "tenancy.yaml")
	if err := os.WriteFile(suite.policy, []byte("namespaces:\n  "+tenancyNamespace+":\n    - vault: "+vault+"\n"), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The resolver authenticates to Key Vault as akv2k8s's `environment` mode would.
	for k, v := range map[string]string{"AZURE_TENANT_ID": tenantID, "AZURE_CLIENT_ID": clientID, "AZURE_CLIENT_SECRET": clientSecret} {
		_ = os.Setenv(k, v)
	}
	res, err := startResolver(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "resolver:", err)
		return 1
	}
	defer res.stop()
	suite.res = res
	code := m.Run()
	if path := os.Getenv("LATCHKEY_TEST_LOG"); path != "" {
		_ = os.WriteFile(path, []byte(res.logs.String()), 0o600)
	}
	return code
}

func seed() *akvemu.Seed {
	return &akvemu.Seed{
		Tenants: []akvemu.TenantSeed{{ID: tenantID}},
		Apps:    []akvemu.AppSeed{{ClientID: clientID, TenantID: tenantID, Secrets: []string{clientSecret}}},
		Vaults: []akvemu.VaultSeed{
			{
				Name: vault, TenantID: tenantID,
				Secrets: []akvemu.SecretSeed{
					{Name: "db-password", Value: to.Ptr(dbPassword)},
					{Name: "basic", Value: to.Ptr("alice:" + basicPass)},
					{Name: "settings", Value: to.Ptr(`{"api-key":"` + apiKey + `","region":"westeurope"}`)},
					{Name: "settings-yaml", Value: to.Ptr("api-key: " + yamlAPIKey + "\nregion: westeurope\n")},
					{Name: "padded", Value: to.Ptr("  " + padded + "\n")},
				},
				Certificates: []akvemu.CertificateSeed{{Name: "web-tls", Generate: &akvemu.GenerateCertificateSeed{Subject: "CN=web.resolver.test", Chain: "with-intermediate"}}},
			},
			{Name: denyVault, TenantID: tenantID, Secrets: []akvemu.SecretSeed{{Name: "fruit", Value: to.Ptr(fruit)}}},
			{Name: loadVault, TenantID: tenantID, Secrets: []akvemu.SecretSeed{{Name: "shared", Value: to.Ptr(shared)}}},
			{Name: downVault, TenantID: tenantID, Secrets: []akvemu.SecretSeed{{Name: "flaky", Value: to.Ptr(flaky)}}},
			{Name: benchVault, TenantID: tenantID, Secrets: []akvemu.SecretSeed{{Name: "bench", Value: to.Ptr(benchValue)}}},
			{Name: crossVault, TenantID: tenantID, Secrets: []akvemu.SecretSeed{{Name: "cross", Value: to.Ptr(crossValue)}}},
			{Name: slowVault, TenantID: tenantID, Secrets: []akvemu.SecretSeed{{Name: "slow", Value: to.Ptr(slowValue)}}},
			{Name: burstVault, TenantID: tenantID, Secrets: []akvemu.SecretSeed{{Name: "burst", Value: to.Ptr(burstValue)}}},
			{Name: filesVault, TenantID: tenantID, Secrets: []akvemu.SecretSeed{{Name: "a", Value: to.Ptr(filesValueA)}, {Name: "b", Value: to.Ptr(filesValueB)}}},
		},
	}
}

// seededValues are the identity's secret and every object of seed: secret
// values as seeded, certificates as read (their backing secret holds the
// generated private key).
func seededValues(seed *akvemu.Seed) (*leakcheck.Set, map[string]string, error) {
	cred, err := keyvault.NewCredential(keyvault.AuthConfig{Mode: keyvault.ModeEnvironment, TenantID: tenantID, ClientID: clientID, ClientSecret: clientSecret},
		suite.emu.HTTPClient())
	if err != nil {
		return nil, nil, err
	}
	reader := keyvault.NewReader(cred, keyvault.ReaderOptions{Transport: suite.emu.HTTPClient()})
	seeded := map[string]string{}
	for _, v := range seed.Vaults {
		for _, s := range v.Secrets {
			seeded[v.Name+"/"+s.Name] = *s.Value
		}
		for _, c := range v.Certificates {
			obj, err := reader.Read(context.Background(), keyvault.Ref{Backend: keyvault.Backend, Store: v.Name, Kind: keyvault.KindCertificate, Name: c.Name})
			if err != nil {
				return nil, nil, err
			}
			seeded[v.Name+"/"+c.Name] = string(obj.Value)
		}
	}
	values := &leakcheck.Set{}
	values.Add("the identity's secret", clientSecret)
	for _, name := range slices.Sorted(maps.Keys(seeded)) {
		values.Add(name, seeded[name])
	}
	return values, seeded, nil
}

// offsetClock is the real clock plus an offset tests move: tokens, the
// API server and Key Vault keep real time, the resolver's caches and
// checks see time pass without waiting.
type offsetClock struct {
	offset atomic.Int64
	// frozen, when set, is the Unix nanosecond the clock stopped at: a
	// test that counts cache hits over moves of Advance must not also
	// depend on how long its requests take on a loaded machine.
	frozen atomic.Int64
}

func (c *offsetClock) Now() time.Time {
	if f := c.frozen.Load(); f != 0 {
		return time.Unix(0, f+c.offset.Load())
	}
	return time.Now().Add(time.Duration(c.offset.Load()))
}

func (c *offsetClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// Freeze stops the clock where it is: from then on only Advance moves it.
func (c *offsetClock) Freeze() { c.frozen.Store(time.Now().UnixNano()) }

// testResolver is one resolver process of the tests.
type testResolver struct {
	*resolver.Resolver
	url      string
	logs     *leakcheck.Buffer
	clock    *offsetClock
	registry *prometheus.Registry
	// reviews, podGets and keyReads count the resolver's requests to the
	// API server (keyReads: its discovery document and JWKS); apiCalls
	// counts them all.
	reviews, podGets, keyReads, apiCalls *atomic.Int64
	// podWatchLag, when set, delays every chunk of the pod watches by that
	// many nanoseconds: a watch that lags behind the API server.
	podWatchLag *atomic.Int64
	stop        func()
}

// startResolver starts a resolver with the suite's settings, changed by
// mutate, and waits until it serves.
func startResolver(mutate func(*resolver.Config)) (*testResolver, error) {
	tr := &testResolver{logs: &leakcheck.Buffer{}, clock: &offsetClock{}, registry: prometheus.NewRegistry(),
		reviews: &atomic.Int64{}, podGets: &atomic.Int64{}, keyReads: &atomic.Int64{}, apiCalls: &atomic.Int64{}, podWatchLag: &atomic.Int64{}}
	cfg := rest.CopyConfig(suite.cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			// Watches are the informers': one each, not a call per request.
			if req.URL.Query().Get("watch") != "true" {
				tr.apiCalls.Add(1)
			}
			switch {
			case req.Method == http.MethodPost && req.URL.Path == "/apis/authentication.k8s.io/v1/tokenreviews":
				tr.reviews.Add(1)
			case req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/pods/"):
				tr.podGets.Add(1)
			case req.URL.Path == resolver.DiscoveryPath || req.URL.Path == resolver.JWKSPath:
				tr.keyReads.Add(1)
			}
			resp, err := rt.RoundTrip(req)
			if err == nil && req.URL.Query().Get("watch") == "true" && strings.HasSuffix(req.URL.Path, "/pods") {
				resp.Body = &laggingBody{ReadCloser: resp.Body, lag: tr.podWatchLag, done: req.Context().Done()}
			}
			return resp, err
		})
	})
	c := resolver.DefaultConfig()
	c.Host, c.Port, c.CertDir = "127.0.0.1", 0, suite.pki.certDir
	c.Audience = audience
	c.InjectionMarkKeys = suite.markKeys
	c.AuthMode = "environment"
	c.TenancyPolicy = suite.policy
	c.Transport = suite.emu.HTTPClient()
	c.Registry = tr.registry
	c.LeaderElection = false
	c.MetricsAddr, c.HealthAddr = "0", "0"
	c.Log = logging.Options{Level: "debug", Format: "json"}
	c.Now = tr.clock.Now
	c.SkipNameValidation = true
	if mutate != nil {
		mutate(&c)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	log, err := logging.New(tr.logs, c.Log)
	if err != nil {
		return nil, err
	}
	r, err := resolver.Setup(cfg, c, log)
	if err != nil {
		return nil, err
	}
	tr.Resolver = r
	tr.url = "https://" + r.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Start(ctx) }()
	tr.stop = func() { cancel(); <-done }
	if !r.Manager.GetCache().WaitForCacheSync(ctx) {
		tr.stop()
		return nil, errors.New("cache did not sync")
	}
	err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tr.url+protocol.HealthPath, nil)
		resp, err := suite.pki.client.Do(req)
		if err != nil {
			return false, nil //nolint:nilerr // not serving yet
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		tr.stop()
		return nil, fmt.Errorf("resolver not serving: %w", err)
	}
	// The issuer's keys are read at start; wait for that read, so the API
	// calls tests count are their requests' alone.
	err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return r.Verifier.Keys.Current() != nil, nil
	})
	if err != nil {
		tr.stop()
		return nil, fmt.Errorf("the resolver did not read the issuer's keys: %w", err)
	}
	return tr, nil
}

// newResolver starts a resolver of the test's own.
func newResolver(t testing.TB, mutate func(*resolver.Config)) *testResolver {
	t.Helper()
	r, err := startResolver(mutate)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.stop)
	return r
}

// laggingBody hands each chunk of a watch on lag after it arrived.
type laggingBody struct {
	io.ReadCloser
	lag  *atomic.Int64
	done <-chan struct{}
}

func (b *laggingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if lag := time.Duration(b.lag.Load()); lag > 0 {
		select {
		case <-time.After(lag):
		case <-b.done:
		}
	}
	return n, err
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// world is one test's labelled namespace, with a ServiceAccount "app",
// served by one resolver.
type world struct {
	t  testing.TB
	ns string
	r  *testResolver
}

// newWorld creates a namespace labelled for injection.
func newWorld(t testing.TB, r *testResolver) *world {
	t.Helper()
	return newWorldIn(t, r, createNamespace(t, "", true))
}

func newWorldIn(t testing.TB, r *testResolver, ns string) *world {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}}
	if err := suite.client.Create(context.Background(), sa); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return &world{t: t, ns: ns, r: r}
}

// createNamespace creates a namespace named name (or named after the test,
// when empty), labelled for injection or not.
func createNamespace(t testing.TB, name string, labelled bool) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if name == "" {
		base := strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				return r
			}
			return '-'
		}, strings.ToLower(t.Name()))
		ns.GenerateName = strings.Trim(base[:min(40, len(base))], "-") + "-"
	}
	if labelled {
		ns.Labels = map[string]string{podcontract.DefaultNamespaceLabel: "enabled"}
	}
	if err := suite.client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// akvs creates an AzureKeyVaultSecret without output (it serves pods only).
func (w *world) akvs(name, vaultName, object string, typ v2beta1.ObjectType, mutate ...func(*v2beta1.AzureKeyVaultSecret)) {
	w.t.Helper()
	a := &v2beta1.AzureKeyVaultSecret{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name},
		Spec:       v2beta1.AzureKeyVaultSecretSpec{Vault: v2beta1.AzureKeyVault{Name: vaultName, Object: v2beta1.AzureKeyVaultObject{Name: object, Type: typ}}},
	}
	for _, m := range mutate {
		m(a)
	}
	if err := suite.client.Create(context.Background(), a); err != nil {
		w.t.Fatal(err)
	}
}

// app is a container running /app with env pairs name, value.
func app(name string, env ...string) corev1.Container {
	c := corev1.Container{Name: name, Image: "registry.test/app:1", Command: []string{"/app"}}
	for i := 0; i+1 < len(env); i += 2 {
		c.Env = append(c.Env, corev1.EnvVar{Name: env[i], Value: env[i+1]})
	}
	return c
}

// pod admits a pod through the real webhook's mutation (resolver mode,
// pointing at w's resolver) and stores it. init containers are named
// "init-…".
func (w *world) pod(name string, containers ...corev1.Container) *corev1.Pod {
	w.t.Helper()
	p := podSpec(w.ns, name, containers...)
	injector := &webhook.Defaulter{Reader: suite.client, Options: webhook.Options{
		Image:    "registry.test/latchkey-env:test",
		Resolver: &webhook.ResolverOptions{URL: w.r.url, Audience: audience, CAConfigMap: caConfigMap},
		Marks:    suite.marks,
	}}
	if err := injector.Default(context.Background(), p); err != nil {
		w.t.Fatalf("webhook: %v", err)
	}
	return w.store(p)
}

// podSpec is a pod of ServiceAccount app; containers named init-… are
// init containers.
func podSpec(ns, name string, containers ...corev1.Container) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.PodSpec{ServiceAccountName: "app"}}
	for _, c := range containers {
		if strings.HasPrefix(c.Name, "init-") {
			p.Spec.InitContainers = append(p.Spec.InitContainers, c)
		} else {
			p.Spec.Containers = append(p.Spec.Containers, c)
		}
	}
	return p
}

// store creates p as is.
func (w *world) store(p *corev1.Pod) *corev1.Pod {
	w.t.Helper()
	if err := suite.client.Create(context.Background(), p); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// token is what the kubelet projects into p: a token of its
// ServiceAccount bound to p, for aud.
func token(t testing.TB, p *corev1.Pod, aud string) string {
	t.Helper()
	tr, err := suite.cs.CoreV1().ServiceAccounts(p.Namespace).CreateToken(context.Background(), p.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences: []string{aud}, ExpirationSeconds: ptr.To[int64](600),
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// answer is what the resolver answered.
type answer struct {
	status     int
	retryAfter string
	env        map[string]string
	err        protocol.Error
	raw        string
}

// ask sends one resolve request to r.
func ask(t testing.TB, r *testResolver, token, container string, env map[string]string) answer {
	t.Helper()
	body, _ := json.Marshal(protocol.Request{Container: container, Env: env})
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, r.url+protocol.ResolvePath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := suite.pki.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), raw: string(raw)}
	if resp.StatusCode == http.StatusOK {
		var ok protocol.Response
		if err := json.Unmarshal(raw, &ok); err != nil {
			t.Fatalf("answer %s: %v", raw, err)
		}
		a.env = ok.Env
		return a
	}
	var e protocol.ErrorBody
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("answer %d %s: %v", resp.StatusCode, raw, err)
	}
	a.err = e.Error
	return a
}

// logLine is one line of a resolver's JSON log.
type logLine map[string]any

// logged waits for a line of r's log whose fields include want, and
// returns it.
func logged(t testing.TB, r *testResolver, want map[string]any) logLine {
	t.Helper()
	var found logLine
	eventually(t, func() error {
		for line := range strings.Lines(r.logs.String()) {
			var l logLine
			if json.Unmarshal([]byte(line), &l) != nil {
				continue
			}
			match := true
			for k, v := range want {
				if fmt.Sprint(l[k]) != fmt.Sprint(v) {
					match = false
					break
				}
			}
			if match {
				found = l
				return nil
			}
		}
		return fmt.Errorf("no log line with %v", want)
	})
	return found
}

// noValues fails if s holds any value of Key Vault, in any form.
func noValues(t testing.TB, what, s string) {
	t.Helper()
	suite.values.Check(t, what, s)
}

// kvReads is how many reads of vault Key Vault answered with 200.
func kvReads(vaultName string) int64 {
	return suite.emu.Counters().Snapshot().Count(vaultName, "", http.StatusOK)
}

// eventually polls check until it returns nil; the deadline bounds a
// hang, it asserts no speed.
func eventually(t testing.TB, check func() error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		last = check()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("condition not met: %v", last)
	}
}

// testPKI is the resolver's CA, its serving certificate, and another CA.
type testPKI struct {
	dir, certDir      string
	caFile, wrongCA   string
	caPEM, wrongCAPEM []byte
	ca                *x509.Certificate
	caKey             *ecdsa.PrivateKey
	// client trusts the resolver's CA.
	client *http.Client
}

func newPKI(dir string) (*testPKI, error) {
	p := &testPKI{dir: dir, certDir: filepath.Join(dir, "tls")}
	var err error
	if p.ca, p.caKey, p.caPEM, err = newCA("latchkey resolver test CA"); err != nil {
		return nil, err
	}
	if _, _, p.wrongCAPEM, err = newCA("some other CA"); err != nil {
		return nil, err
	}
	p.caFile, p.wrongCA = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "wrong-ca.crt")
	if err := os.MkdirAll(p.certDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.caFile, p.caPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.wrongCA, p.wrongCAPEM, 0o600); err != nil {
		return nil, err
	}
	if err := p.issue(p.certDir, "resolver"); err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.caPEM)
	p.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 100}}
	return p, nil
}

// newCA makes a self-signed ECDSA CA.
func newCA(cn string) (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// issue writes a serving certificate for 127.0.0.1 and
// resolver.latchkey.test, with common name cn, into dir.
func (p *testPKI) issue(dir, cn string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"resolver.latchkey.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	// Key first, then the certificate: a watcher never pairs a new
	// certificate with the old key.
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
}

func objectMeta(ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name}
}

// tlsDial opens a TLS connection to addr trusting the resolver's CA.
func tlsDial(addr string) (*tls.Conn, error) {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(suite.pki.caPEM)
	return tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
}
