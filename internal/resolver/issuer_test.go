package resolver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/latchkey-dev/latchkey/internal/devtools/kubetest"
	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// apiIssuer is an API server of a test's own, which the test may restart
// with another service-account signing key, and a pod of it.
type apiIssuer struct {
	t   *testing.T
	env *envtest.Environment
	dir string
	cs  *kubernetes.Clientset
	pod *corev1.Pod
	// reads counts the verifier's reads of its discovery documents.
	reads atomic.Int32
}

func newAPIIssuer(t *testing.T) *apiIssuer { return newAPIIssuerWith(t, nil) }

// newAPIIssuerWith is newAPIIssuer with API server flags of the test's.
func newAPIIssuerWith(t *testing.T, args map[string][]string) *apiIssuer {
	dir := t.TempDir()
	env, cfg := kubetest.Start(t, kubetest.Options{CertDir: dir, APIServerArgs: args})
	a := &apiIssuer{t: t, env: env, dir: dir, cs: kubernetes.NewForConfigOrDie(cfg)}
	ctx := context.Background()
	ns, err := a.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "issuer-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.cs.CoreV1().ServiceAccounts(ns.Name).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a.pod, err = a.cs.CoreV1().Pods(ns.Name).Create(ctx, podSpec(ns.Name, "web-1", app("app")), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// keys reads this API server's issuer keys as the resolver does, with the
// resolver's clock.
func (a *apiIssuer) keys(clock *offsetClock) *resolver.IssuerKeys {
	rc := a.cs.Discovery().RESTClient()
	return &resolver.IssuerKeys{
		Get: func(ctx context.Context, path string) ([]byte, error) {
			a.reads.Add(1)
			return rc.Get().AbsPath(path).DoRaw(ctx)
		},
		Now: clock.Now,
	}
}

// token is what the kubelet projects into the pod.
func (a *apiIssuer) token() string {
	a.t.Helper()
	tr, err := a.cs.CoreV1().ServiceAccounts(a.pod.Namespace).CreateToken(context.Background(), "app", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences: []string{audience}, ExpirationSeconds: ptr.To[int64](600),
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: a.pod.Name, UID: a.pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		a.t.Fatal(err)
	}
	return tr.Status.Token
}

// reviewed is whether the API server itself authenticates tok.
func (a *apiIssuer) reviewed(tok string) bool {
	a.t.Helper()
	tr, err := a.cs.AuthenticationV1().TokenReviews().Create(context.Background(), &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: tok, Audiences: []string{audience}}}, metav1.CreateOptions{})
	if err != nil {
		a.t.Fatal(err)
	}
	return tr.Status.Authenticated
}

// newKey writes a new signing key and its public key into the API
// server's folder, and returns both files.
func (a *apiIssuer) newKey(name string) (private, public string) {
	a.t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		a.t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		a.t.Fatal(err)
	}
	private, public = filepath.Join(a.dir, name+".key"), filepath.Join(a.dir, name+".pub")
	if err := os.WriteFile(private, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), 0o600); err != nil {
		a.t.Fatal(err)
	}
	if err := os.WriteFile(public, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		a.t.Fatal(err)
	}
	return private, public
}

// restart restarts the API server signing with signing and publishing
// (and accepting) the keys of verify.
func (a *apiIssuer) restart(signing string, verify ...string) {
	a.t.Helper()
	api := a.env.ControlPlane.GetAPIServer()
	if err := api.Stop(); err != nil {
		a.t.Fatal(err)
	}
	api.Configure().Set("service-account-signing-key-file", signing).Set("service-account-key-file", verify...)
	if err := api.Start(); err != nil {
		a.t.Fatal(err)
	}
}

// kid is the key id in a token's header.
func kid(t testing.TB, tok string) string {
	t.Helper()
	var h struct {
		Kid string `json:"kid"`
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err == nil {
		err = json.Unmarshal(raw, &h)
	}
	if err != nil || h.Kid == "" {
		t.Fatalf("token header: %v", err)
	}
	return h.Kid
}

// TestIssuerKeyRotation: a real API server's tokens verify against its
// published keys without a TokenReview; when it rotates its signing key
// (restarted signing with a new key, publishing both), the first token of
// the new key makes the resolver read the keys once, and tokens of the old
// key still verify; once the old key is retired, its tokens are refused,
// as the API server refuses them. A flood of forged key ids reads the keys
// at most once per interval.
func TestIssuerKeyRotation(t *testing.T) {
	t.Parallel()
	a := newAPIIssuer(t)
	clock := &offsetClock{}
	v := &resolver.TokenVerifier{Audience: audience, Keys: a.keys(clock), Now: clock.Now}
	verify := func(tok string) (resolver.Identity, error) { return v.Verify(context.Background(), tok) }
	want := resolver.Identity{Namespace: a.pod.Namespace, ServiceAccount: "app", PodName: "web-1", PodUID: a.pod.UID}

	tokA := a.token()
	if id, err := verify(tokA); err != nil || id != want {
		t.Fatalf("a token of the API server: %+v, %v; want %+v", id, err, want)
	}
	if n := a.reads.Load(); n != 2 {
		t.Fatalf("%d reads of the discovery documents, want 2", n)
	}
	if iss := v.Keys.Current().Issuer; !strings.HasPrefix(iss, "https://127.0.0.1:") {
		t.Errorf("issuer %q, want the API server's URL (envtest's --service-account-issuer)", iss)
	}

	// Rotation: sign with B, publish A and B.
	oldKey, oldCert := filepath.Join(a.dir, "sa-signer.key"), filepath.Join(a.dir, "sa-signer.crt")
	if _, err := os.Stat(oldKey); err != nil {
		t.Fatalf("the API server's signing key: %v", err)
	}
	newKey, newPub := a.newKey("rotated")
	a.restart(newKey, oldCert, newPub)
	tokB := a.token()
	if kid(t, tokB) == kid(t, tokA) {
		t.Fatal("the restarted API server signs with the old key")
	}
	clock.Advance(resolver.DefaultKeyRefetch)
	if id, err := verify(tokB); err != nil || id != want {
		t.Fatalf("a token of the new key: %+v, %v", id, err)
	}
	if n := a.reads.Load(); n != 4 {
		t.Errorf("%d reads after the new key id, want 4 (one more read)", n)
	}
	if _, err := verify(tokA); err != nil {
		t.Errorf("a token of the old key, still published: %v", err)
	}

	// A flood of forged key ids: refused, at most one read per interval.
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	reads := a.reads.Load()
	for i := range 200 {
		forged := resign(t, tokB, stranger, fmt.Sprintf("forged-%d", i))
		if _, err := verify(forged); err == nil {
			t.Fatalf("forged key id %d accepted", i)
		}
	}
	if n := a.reads.Load() - reads; n > 0 {
		t.Errorf("200 forged key ids within the interval cost %d reads, want 0", n)
	}
	clock.Advance(resolver.DefaultKeyRefetch)
	for i := range 200 {
		_, _ = verify(resign(t, tokB, stranger, fmt.Sprintf("forged-again-%d", i)))
	}
	if n := a.reads.Load() - reads; n != 2 {
		t.Errorf("200 forged key ids in the next interval cost %d reads, want 2 (one read)", n)
	}

	// The old key retired: refused by the API server, and by the resolver
	// from its next read of the keys (every DefaultKeyRefresh).
	a.restart(newKey, newPub)
	if a.reviewed(tokA) {
		t.Fatal("the API server still accepts a token of the retired key")
	}
	if _, err := v.Keys.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(resolver.DefaultKeyRefetch)
	_, err = verify(tokA)
	var d *resolver.Denial
	if !errors.As(err, &d) || d.Status != http.StatusUnauthorized || d.Code != protocol.CodeTokenRejected {
		t.Errorf("a token of the retired key: %v, want 401 %s", err, protocol.CodeTokenRejected)
	}
	if _, err := verify(tokB); err != nil {
		t.Errorf("a token of the current key: %v", err)
	}

	// A token of this API server is another issuer's to the suite's
	// resolver: refused before any read of its keys.
	r := newResolver(t, nil)
	before := r.apiCalls.Load()
	if ans := ask(t, r, tokB, "app", dbEnv); ans.status != http.StatusUnauthorized || ans.err.Code != protocol.CodeTokenRejected || !strings.Contains(ans.err.Message, "issuer") {
		t.Errorf("another cluster's token: %d %s, want 401 %s naming the issuer", ans.status, ans.raw, protocol.CodeTokenRejected)
	}
	if n := r.apiCalls.Load() - before; n != 0 {
		t.Errorf("another cluster's token cost %d API calls, want 0", n)
	}
}

// resign is tok's header and claims signed with key under key id kid.
func resign(t testing.TB, tok string, key any, kid string) string {
	t.Helper()
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	alg := jose.RS256
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		alg = jose.ES256
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// unsignedCopy is tok's claims under the header {"alg":"none"} with its
// key id, and no signature.
func unsignedCopy(t testing.TB, tok string) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": "none", "kid": kid(t, tok), "typ": "JWT"})
	return base64.RawURLEncoding.EncodeToString(h) + "." + strings.Split(tok, ".")[1] + "."
}

// tampered is tok with its claims changed by change, and its signature
// kept.
func tampered(t testing.TB, tok string, change func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	change(claims)
	raw, err = json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]
}
