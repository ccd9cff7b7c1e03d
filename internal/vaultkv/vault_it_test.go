package vaultkv_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/backends"
	"github.com/latchkey-dev/latchkey/internal/devtools/kubetest"
	"github.com/latchkey-dev/latchkey/internal/devtools/vaulttest"
	"github.com/latchkey-dev/latchkey/internal/vaultkv"
	"github.com/latchkey-dev/latchkey/internal/vaultref"
)

// The suite: one real API server whose service-account issuer is the one
// Vault v1.1.2 accepts, and one real Vault per test.
var suite struct {
	cfg  *rest.Config
	kube kubernetes.Interface
}

func TestMain(m *testing.M) {
	env, cfg, err := kubetest.New(kubetest.Options{CRDDirectoryPaths: []string{"../../config/crd"}, APIServerArgs: map[string][]string{
		"service-account-issuer": {vaulttest.Issuer},
	}})
	if err != nil {
		panic(err)
	}
	suite.cfg = cfg
	suite.kube = kubernetes.NewForConfigOrDie(cfg)
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// countingTokens counts the TokenRequests logins make and keeps the
// tokens, for leak checks.
type countingTokens struct {
	vaultkv.TokenRequester
	n atomic.Int64

	mu     sync.Mutex
	issued []string
}

func (c *countingTokens) ServiceAccountToken(ctx context.Context, ns, name string, aud []string, exp time.Duration) (string, error) {
	c.n.Add(1)
	tok, err := c.TokenRequester.ServiceAccountToken(ctx, ns, name, aud, exp)
	if err == nil {
		c.mu.Lock()
		c.issued = append(c.issued, tok)
		c.mu.Unlock()
	}
	return tok, err
}

// tokens are the ServiceAccount tokens issued so far.
func (c *countingTokens) tokens() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.issued...)
}

// bed is a Vault with Kubernetes auth configured against the suite's API
// server, namespaces team-a-* and team-b-* with ServiceAccount app, and a
// role per team that reads its own prefix only.
type bed struct {
	vault  *vaulttest.Server
	proxy  *vaulttest.Proxy
	nsA    string
	nsB    string
	reader *vaultkv.Reader
	tokens *countingTokens
}

func newBed(t testing.TB, roleTTL time.Duration) *bed {
	t.Helper()
	return newBedOn(t, vaulttest.Start(t), roleTTL)
}

// newBedOn is newBed on a Vault the caller started.
func newBedOn(t testing.TB, v *vaulttest.Server, roleTTL time.Duration) *bed {
	t.Helper()
	ctx := context.Background()
	b := &bed{vault: v, proxy: v.NewProxy(t), nsA: namespace(t, "team-a"), nsB: namespace(t, "team-b")}

	// The reviewer: a ServiceAccount allowed to create TokenReviews.
	rev := namespace(t, "vault-reviewer")
	serviceAccount(t, rev, "reviewer")
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: rev},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:auth-delegator"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "reviewer", Namespace: rev}}}
	if _, err := suite.kube.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = suite.kube.RbacV1().ClusterRoleBindings().Delete(context.Background(), rev, metav1.DeleteOptions{})
	})
	api := backends.ServiceAccountTokens{Client: suite.kube}
	reviewer, err := api.ServiceAccountToken(ctx, rev, "reviewer", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	v.EnableKubernetesAuth(t, "kubernetes", suite.cfg.Host, suite.cfg.CAData, reviewer)

	v.Policy(t, "team-a", "secret/data/team-a/*")
	v.Policy(t, "team-b", "secret/data/team-b/*")
	v.Role(t, "kubernetes", "team-a", []string{"app"}, []string{b.nsA}, roleTTL, "team-a")
	v.Role(t, "kubernetes", "team-b", []string{"app"}, []string{b.nsB}, roleTTL, "team-b")
	for _, ns := range []string{b.nsA, b.nsB} {
		serviceAccount(t, ns, "app")
	}

	b.tokens = &countingTokens{TokenRequester: api}
	// Vault v1.1's roles name no audience: its TokenReview asks for the
	// API server's own, which is the issuer here.
	b.reader, err = vaultkv.NewReader(vaultkv.Options{Tokens: b.tokens, Audience: vaulttest.Issuer, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *bed) ref(ns, role, path, version string) backend.Ref {
	return vaultref.Ref(vaultref.Location{Address: b.proxy.Address, Mount: "secret", Path: path},
		vaultref.Principal{AuthMount: "kubernetes", Role: role, Namespace: ns, ServiceAccount: "app"}, version)
}

func TestReadLatestAndPinned(t *testing.T) {
	b := newBed(t, time.Hour)
	b.vault.Put(t, "team-a/db", map[string]any{"username": "app", "password": "first"})
	b.vault.Put(t, "team-a/db", map[string]any{"username": "app", "password": "second"})

	obj, err := b.reader.Read(context.Background(), b.ref(b.nsA, "team-a", "team-a/db", ""))
	if err != nil {
		t.Fatal(err)
	}
	if obj.Version != "2" || obj.ContentType != vaultkv.ContentType || obj.Updated.IsZero() {
		t.Errorf("latest: version %q, content type %q, updated %v; want 2, %s, a time", obj.Version, obj.ContentType, obj.Updated, vaultkv.ContentType)
	}
	if got := kvMap(t, obj.Value); got["password"] != "second" || got["username"] != "app" || len(got) != 2 {
		t.Errorf("latest holds %d keys, not version 2's", len(got))
	}
	obj, err = b.reader.Read(context.Background(), b.ref(b.nsA, "team-a", "team-a/db", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if got := kvMap(t, obj.Value); obj.Version != "1" || got["password"] != "first" {
		t.Errorf("pinned version 1: got version %q and not its value", obj.Version)
	}
	if n := b.reader.Logins(); n != 1 {
		t.Errorf("%d logins for two reads as one principal, want 1", n)
	}
}

// TestRolloutOneLoginOneRead: 500 concurrent reads of one path as one
// principal through the shared cache cost one TokenRequest, one login and
// one KV read, counted at Vault's door.
func TestRolloutOneLoginOneRead(t *testing.T) {
	logins, reads, tokens := rolloutCost(t)
	if logins != 1 || reads != 1 || tokens != 1 {
		t.Errorf("500 pods: %d logins, %d KV reads, %d TokenRequests at the doors; want 1 each", logins, reads, tokens)
	}
}

// rolloutCost asks the cache for one Vault path 500 times at once, as the
// resolver does for the pods of one rollout, and counts what reached Vault
// (logins, KV reads, at its door) and the API server (TokenRequests).
func rolloutCost(t testing.TB) (logins, reads, tokens int) {
	b := newBed(t, time.Hour)
	b.vault.Put(t, "team-a/db", map[string]any{"password": "p"})
	cache := backend.NewCache(b.reader, backend.CacheOptions{})
	ref := b.ref(b.nsA, "team-a", "team-a/db", "")
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 500 {
		wg.Go(func() {
			if _, err := cache.Get(context.Background(), ref, time.Hour); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of 500 reads failed", failed.Load())
	}
	logins = b.proxy.Count("PUT", "/v1/auth/kubernetes/login") + b.proxy.Count("POST", "/v1/auth/kubernetes/login")
	return logins, b.proxy.Count("GET", "/v1/secret/data/team-a/db"), int(b.tokens.n.Load())
}

// TestTenancyByRole: Vault's roles decide. A namespace reads its own prefix
// and is refused another's with a reason; naming another namespace's role
// does not help, since the login is as the resource's own namespace.
func TestTenancyByRole(t *testing.T) {
	b := newBed(t, time.Hour)
	b.vault.Put(t, "team-b/db", map[string]any{"password": "b-only"})
	b.vault.Put(t, "team-a/db", map[string]any{"password": "a-only"})

	_, err := b.reader.Read(context.Background(), b.ref(b.nsA, "team-a", "team-b/db", ""))
	if !errors.Is(err, backend.ErrForbidden) || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("team-a reading team-b's path: %v; want forbidden, permission denied", err)
	}
	_, err = b.reader.Read(context.Background(), b.ref(b.nsA, "team-b", "team-b/db", ""))
	if !errors.Is(err, backend.ErrAuthentication) || !strings.Contains(err.Error(), "not authorized") {
		t.Errorf("team-a's ServiceAccount logging in with team-b's role: %v; want an authentication failure naming what is not authorized", err)
	}
	for _, e := range []error{err} {
		if e != nil && strings.Contains(e.Error(), "b-only") {
			t.Errorf("an error holds a value: %v", e)
		}
	}
	if _, err := b.reader.Read(context.Background(), b.ref(b.nsB, "team-b", "team-b/db", "")); err != nil {
		t.Errorf("team-b reading its own path: %v", err)
	}
}

// TestMissingDeletedDestroyed: each is not found, with its own reason.
func TestMissingDeletedDestroyed(t *testing.T) {
	b := newBed(t, time.Hour)
	ctx := context.Background()
	b.vault.Put(t, "team-a/gone", map[string]any{"k": "v1"})
	b.vault.Put(t, "team-a/gone", map[string]any{"k": "v2"})
	b.vault.Put(t, "team-a/gone", map[string]any{"k": "v3"})
	kv := b.vault.Root.KVv2("secret")
	if err := kv.DeleteVersions(ctx, "team-a/gone", []int{1}); err != nil {
		t.Fatal(err)
	}
	if err := kv.Destroy(ctx, "team-a/gone", []int{2}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, version, reason string }{
		{"team-a/none", "", "no secret at secret/team-a/none"},
		{"team-a/gone", "1", "deleted"},
		{"team-a/gone", "2", "destroyed"},
		{"team-a/gone", "9", "no secret"},
	} {
		_, err := b.reader.Read(ctx, b.ref(b.nsA, "team-a", tt.path, tt.version))
		if !errors.Is(err, backend.ErrNotFound) || !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("%s@%s: %v; want not found, %q", tt.path, tt.version, err, tt.reason)
		}
	}
}

// TestVaultRestart: a Vault restarted with its storage (a production
// server, not dev mode) keeps its data and the tokens it issued. While it
// is down a read is unavailable (the class on which the controller keeps
// the last good output); once it is unsealed reads resume with the login
// made before, and a new version is picked up.
func TestVaultRestart(t *testing.T) {
	b := newBedOn(t, vaulttest.StartPersistent(t), time.Hour)
	ctx := context.Background()
	b.vault.Put(t, "team-a/db", map[string]any{"password": "before"})
	ref := b.ref(b.nsA, "team-a", "team-a/db", "")
	if obj, err := b.reader.Read(ctx, ref); err != nil || kvMap(t, obj.Value)["password"] != "before" {
		t.Fatalf("before the restart: %v", err)
	}
	b.vault.Stop()
	if _, err := b.reader.Read(ctx, ref); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("while stopped: %v; want unavailable", err)
	}
	b.vault.Restart(t)
	obj, err := b.reader.Read(ctx, ref)
	if err != nil || kvMap(t, obj.Value)["password"] != "before" || obj.Version != "1" {
		t.Fatalf("after the restart: %v (version %q); want version 1 as stored", err, obj.Version)
	}
	b.vault.Put(t, "team-a/db", map[string]any{"password": "after"})
	if obj, err := b.reader.Read(ctx, ref); err != nil || kvMap(t, obj.Value)["password"] != "after" || obj.Version != "2" {
		t.Errorf("a version written after the restart: %v; want version 2", err)
	}
	if n := b.reader.Logins(); n != 1 {
		t.Errorf("%d logins across the restart, want 1: the token Vault issued survives it", n)
	}
}

// TestSealedAndUnreachable: both are unavailable (the controller keeps the
// last good output on that class), with their reason; unsealing heals.
func TestSealedAndUnreachable(t *testing.T) {
	b := newBed(t, time.Hour)
	ctx := context.Background()
	b.vault.Put(t, "team-a/db", map[string]any{"password": "p"})
	ref := b.ref(b.nsA, "team-a", "team-a/db", "")
	if _, err := b.reader.Read(ctx, ref); err != nil {
		t.Fatal(err)
	}
	b.vault.Seal(t)
	_, err := b.reader.Read(ctx, ref)
	if !errors.Is(err, backend.ErrUnavailable) || !strings.Contains(err.Error(), "sealed") {
		t.Errorf("sealed: %v; want unavailable, sealed", err)
	}
	b.vault.Unseal(t)
	if _, err := b.reader.Read(ctx, ref); err != nil {
		t.Errorf("after unseal: %v", err)
	}
	// Stopped: nothing listens (read directly, not through the proxy).
	direct := vaultref.Ref(vaultref.Location{Address: b.vault.Address, Mount: "secret", Path: "team-a/db"},
		vaultref.Principal{AuthMount: "kubernetes", Role: "team-a", Namespace: b.nsA, ServiceAccount: "app"}, "")
	b.vault.Stop()
	_, err = b.reader.Read(ctx, direct)
	if !errors.Is(err, backend.ErrUnavailable) || !strings.Contains(err.Error(), "could not be reached") {
		t.Errorf("stopped: %v; want unavailable, could not be reached", err)
	}
}

// TestLoginRepeatedBeforeTTL: a login is reused until shortly before its
// TTL, then repeated.
func TestLoginRepeatedBeforeTTL(t *testing.T) {
	b := newBed(t, 10*time.Second)
	b.vault.Put(t, "team-a/db", map[string]any{"password": "p"})
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r, err := vaultkv.NewReader(vaultkv.Options{Tokens: b.tokens, Audience: vaulttest.Issuer, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ref := b.ref(b.nsA, "team-a", "team-a/db", "")
	for range 3 {
		if _, err := r.Read(context.Background(), ref); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.Logins(); n != 1 {
		t.Fatalf("%d logins for 3 reads within the TTL, want 1", n)
	}
	mu.Lock()
	now = now.Add(9 * time.Second) // past 80% of the 10s TTL
	mu.Unlock()
	if _, err := r.Read(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	if n := r.Logins(); n != 2 {
		t.Errorf("%d logins after 90%% of the TTL, want 2", n)
	}
}

// TestAudienceVault: Vault v1.1.2 cannot check a token's audience: a token
// for the audience "vault" (what current Vault roles name) fails its
// TokenReview, which asks for the API server's own audience.
func TestAudienceVault(t *testing.T) {
	b := newBed(t, time.Hour)
	b.vault.Put(t, "team-a/db", map[string]any{"password": "p"})
	r, err := vaultkv.NewReader(vaultkv.Options{Tokens: b.tokens})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Read(context.Background(), b.ref(b.nsA, "team-a", "team-a/db", ""))
	if !errors.Is(err, backend.ErrAuthentication) {
		t.Errorf("audience vault against Vault v1.1.2: %v; want an authentication failure", err)
	}
}

func kvMap(t *testing.T, v []byte) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(v, &m); err != nil {
		t.Fatalf("the value is no JSON map of strings: %v", err)
	}
	return m
}

func namespace(t testing.TB, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	ns, err := suite.kube.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func serviceAccount(t testing.TB, ns, name string) {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if _, err := suite.kube.CoreV1().ServiceAccounts(ns).Create(context.Background(), sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestForbiddenIsNotALogin: a 403 on a read with a cached token is the
// role's policies answering unless the token itself is gone. A path the
// policy refuses is Forbidden ("permission denied") and costs no new login,
// only the token's look-up of itself; a token Vault revoked costs one new
// login, and the read succeeds with it.
func TestForbiddenIsNotALogin(t *testing.T) {
	b := newBed(t, time.Hour)
	b.vault.Put(t, "team-a/db", map[string]any{"password": "a"})
	b.vault.Put(t, "team-b/db", map[string]any{"password": "b"})
	ctx := context.Background()
	logins := func() int {
		return b.proxy.Count("PUT", "/v1/auth/kubernetes/login") + b.proxy.Count("POST", "/v1/auth/kubernetes/login")
	}
	if _, err := b.reader.Read(ctx, b.ref(b.nsA, "team-a", "team-a/db", "")); err != nil {
		t.Fatal(err)
	}
	_, err := b.reader.Read(ctx, b.ref(b.nsA, "team-a", "team-b/db", ""))
	if !errors.Is(err, backend.ErrForbidden) || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("a path the role's policy refuses: %v; want forbidden, permission denied", err)
	}
	if n, r := logins(), b.reader.Logins(); n != 1 || r != 1 {
		t.Errorf("a policy refusal with a valid cached token: %d logins at Vault's door (%d counted), want 1: no new login", n, r)
	}
	if n := b.proxy.Count("GET", "/v1/auth/token/lookup-self"); n != 1 {
		t.Errorf("%d token look-ups, want 1", n)
	}

	// Revoked: every token the Kubernetes auth method issued.
	b.vault.Write(t, "sys/leases/revoke-prefix/auth/kubernetes", nil)
	if _, err := b.reader.Read(ctx, b.ref(b.nsA, "team-a", "team-a/db", "")); err != nil {
		t.Fatalf("a read after the cached token was revoked: %v; want one new login and the value", err)
	}
	if n := logins(); n != 2 {
		t.Errorf("%d logins after a revocation, want 2: one new login", n)
	}
}
