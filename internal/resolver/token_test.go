package resolver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// These unit tests sign tokens with keys of their own, to reach every
// branch; TestIssuer* (issuer_test.go) verify tokens of a real API server.

const (
	testIssuerURL = "https://kubernetes.default.svc"
	testAudience  = "latchkey-x"
)

// signingKey is a key of a test issuer.
type signingKey struct {
	kid    string
	alg    jose.SignatureAlgorithm
	signer any
	public any
}

func newRSAKey(t testing.TB, kid string) signingKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, alg: jose.RS256, signer: k, public: &k.PublicKey}
}

func newECKey(t testing.TB, kid string) signingKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, alg: jose.ES256, signer: k, public: &k.PublicKey}
}

func (k signingKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.public, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

// sign signs claims as kube-apiserver would, with key k.
func (k signingKey) sign(t testing.TB, claims any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.signer}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// podClaims are the claims of a token the kubelet projects into pod web-1.
func podClaims(now time.Time) Claims {
	return Claims{
		Claims: jwt.Claims{
			Issuer: testIssuerURL, Subject: "system:serviceaccount:team:app", Audience: jwt.Audience{testAudience},
			Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute)), NotBefore: jwt.NewNumericDate(now), IssuedAt: jwt.NewNumericDate(now),
		},
		Kubernetes: &KubernetesClaims{Namespace: "team", ServiceAccount: &ObjectRef{Name: "app", UID: "sa-uid"}, Pod: &ObjectRef{Name: "web-1", UID: "uid-1"}},
	}
}

// fakeIssuer serves the discovery document and JWKS of its keys, counting
// reads.
type fakeIssuer struct {
	mu    sync.Mutex
	keys  []jose.JSONWebKey
	fail  bool
	reads atomic.Int32
}

func (f *fakeIssuer) get(_ context.Context, path string) ([]byte, error) {
	f.reads.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return nil, errors.New("the server could not find the requested resource")
	}
	switch path {
	case DiscoveryPath:
		return json.Marshal(map[string]any{"issuer": testIssuerURL, "jwks_uri": testIssuerURL + JWKSPath})
	case JWKSPath:
		return json.Marshal(jose.JSONWebKeySet{Keys: f.keys})
	}
	return nil, fmt.Errorf("no %s", path)
}

func (f *fakeIssuer) set(keys ...signingKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = nil
	for _, k := range keys {
		f.keys = append(f.keys, k.jwk())
	}
}

func newTestVerifier(f *fakeIssuer, clock *fakeClock) *TokenVerifier {
	return &TokenVerifier{
		Audience: testAudience,
		Keys:     &IssuerKeys{Get: f.get, Now: clock.Now},
		Now:      clock.Now,
	}
}

// unsigned is a token of claims with header alg and signature sig as
// given: what a forger sends without a key.
func unsigned(alg string, claims any, sig string) string {
	enc := base64.RawURLEncoding.EncodeToString
	h, _ := json.Marshal(map[string]string{"alg": alg, "kid": "k1", "typ": "JWT"})
	p, _ := json.Marshal(claims)
	return enc(h) + "." + enc(p) + "." + sig
}

// TestVerify: a token the issuer signed is accepted and names its pod;
// every other is refused with its status and code, and only a token
// naming a key id the resolver does not know reads the keys again.
func TestVerify(t *testing.T) {
	clock := newFakeClock()
	now := clock.Now()
	k1, ec, stranger := newRSAKey(t, "k1"), newECKey(t, "ec1"), newRSAKey(t, "k1")
	f := &fakeIssuer{}
	f.set(k1, ec)
	v := newTestVerifier(f, clock)
	with := func(m func(*Claims)) Claims {
		c := podClaims(now)
		m(&c)
		return c
	}
	hmacKey, err := x509.MarshalPKIXPublicKey(k1.public)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: hmacKey}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	hsToken, err := jwt.Signed(hs).Claims(podClaims(now)).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		token  string
		status int
		code   string
	}{
		{"RSA key", k1.sign(t, podClaims(now)), 0, ""},
		{"EC key", ec.sign(t, podClaims(now)), 0, ""},
		{"issued a little in the future (clock skew)", k1.sign(t, with(func(c *Claims) {
			c.NotBefore, c.IssuedAt = jwt.NewNumericDate(now.Add(30*time.Second)), jwt.NewNumericDate(now.Add(30*time.Second))
		})), 0, ""},
		{"no token", "", http.StatusUnauthorized, protocol.CodeTokenMissing},
		{"not a JWT", "not-a-jwt", http.StatusUnauthorized, protocol.CodeTokenMalformed},
		{"unsigned (alg none)", unsigned("none", podClaims(now), ""), http.StatusUnauthorized, protocol.CodeTokenMalformed},
		{"HMAC with the public key", hsToken, http.StatusUnauthorized, protocol.CodeTokenMalformed},
		{"garbage signature", unsigned("RS256", podClaims(now), "c2ln"), http.StatusUnauthorized, protocol.CodeTokenRejected},
		{"another key under the issuer's key id", stranger.sign(t, podClaims(now)), http.StatusUnauthorized, protocol.CodeTokenRejected},
		{"wrong issuer", k1.sign(t, with(func(c *Claims) { c.Issuer = "https://elsewhere" })), http.StatusUnauthorized, protocol.CodeTokenRejected},
		{"wrong audience", k1.sign(t, with(func(c *Claims) { c.Audience = jwt.Audience{"https://kubernetes.default.svc"} })), http.StatusUnauthorized, protocol.CodeTokenWrongAudience},
		{"no audience", k1.sign(t, with(func(c *Claims) { c.Audience = nil })), http.StatusUnauthorized, protocol.CodeTokenWrongAudience},
		{"expired", k1.sign(t, with(func(c *Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Second)) })), http.StatusUnauthorized, protocol.CodeTokenExpired},
		{"expires now", k1.sign(t, with(func(c *Claims) { c.Expiry = jwt.NewNumericDate(now) })), http.StatusUnauthorized, protocol.CodeTokenExpired},
		{"no exp", k1.sign(t, with(func(c *Claims) { c.Expiry = nil })), http.StatusUnauthorized, protocol.CodeTokenMalformed},
		{"not valid yet", k1.sign(t, with(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(2 * time.Minute)) })), http.StatusUnauthorized, protocol.CodeTokenRejected},
		{"issued in the future", k1.sign(t, with(func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(2 * time.Minute)) })), http.StatusUnauthorized, protocol.CodeTokenRejected},
		{"no pod claims", k1.sign(t, with(func(c *Claims) { c.Kubernetes.Pod = nil })), http.StatusForbidden, protocol.CodeNoPodClaims},
		{"no kubernetes.io claim", k1.sign(t, with(func(c *Claims) { c.Kubernetes = nil })), http.StatusForbidden, protocol.CodeNoPodClaims},
		{"subject of another ServiceAccount", k1.sign(t, with(func(c *Claims) { c.Subject = "system:serviceaccount:team:admin" })), http.StatusForbidden, protocol.CodeNoPodClaims},
		{"too long", k1.sign(t, with(func(c *Claims) { c.ID = strings.Repeat("x", maxTokenBytes) })), http.StatusUnauthorized, protocol.CodeTokenMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), tt.token)
			if tt.status == 0 {
				if err != nil || id != theIdentity {
					t.Fatalf("Verify = %+v, %v; want %+v", id, err, theIdentity)
				}
				return
			}
			var d *Denial
			if !errors.As(err, &d) || d.Status != tt.status || d.Code != tt.code {
				t.Fatalf("Verify = %v, want %d %s", err, tt.status, tt.code)
			}
			if tt.token != "" && strings.Contains(d.Message, tt.token) {
				t.Error("the denial quotes the token")
			}
		})
	}
	// One read at the first token; no token above named an unknown key id.
	if n := f.reads.Load(); n != 2 {
		t.Errorf("%d reads of the issuer, want 2 (discovery and keys, once)", n)
	}
}

// TestUnknownKeyID: a token naming a key id the resolver does not know
// reads the keys again at most once per MinRefetch, whatever the number of
// such tokens; meanwhile they answer 503 with Retry-After (a key rotation
// then serves them on the retry), and after a read without that key 401.
// A key the issuer starts publishing (a rotation) is accepted once read.
func TestUnknownKeyID(t *testing.T) {
	clock := newFakeClock()
	k1, k2 := newRSAKey(t, "k1"), newRSAKey(t, "k2")
	f := &fakeIssuer{}
	f.set(k1)
	v := newTestVerifier(f, clock)
	if _, err := v.Verify(context.Background(), k1.sign(t, podClaims(clock.Now()))); err != nil {
		t.Fatal(err)
	}
	reads := f.reads.Load()

	// A flood of forged key ids right after a read: no read, 503.
	for i := range 1000 {
		forged := newForgedKid(t, k1, fmt.Sprintf("forged-%d", i), clock.Now())
		_, err := v.Verify(context.Background(), forged)
		var d *Denial
		if !errors.As(err, &d) || d.Status != http.StatusServiceUnavailable || d.RetryAfter <= 0 || d.RetryAfter > DefaultKeyRefetch {
			t.Fatalf("forged key id %d: %v, want 503 with Retry-After", i, err)
		}
	}
	if n := f.reads.Load() - reads; n != 0 {
		t.Fatalf("1000 forged key ids within the interval cost %d reads, want 0", n)
	}
	// After the interval: one read, then 401 for a key it does not hold.
	clock.Advance(DefaultKeyRefetch)
	_, err := v.Verify(context.Background(), newForgedKid(t, k1, "forged-x", clock.Now()))
	if d := (*Denial)(nil); !errors.As(err, &d) || d.Status != http.StatusUnauthorized {
		t.Fatalf("after the interval: %v, want 401", err)
	}
	if n := f.reads.Load() - reads; n != 2 {
		t.Fatalf("%d reads after the interval, want 2 (one refresh)", n)
	}

	// Rotation: the issuer publishes k2 and signs with it.
	f.set(k1, k2)
	clock.Advance(DefaultKeyRefetch)
	if id, err := v.Verify(context.Background(), k2.sign(t, podClaims(clock.Now()))); err != nil || id != theIdentity {
		t.Fatalf("a token of the new key: %+v, %v", id, err)
	}
	if _, err := v.Verify(context.Background(), k1.sign(t, podClaims(clock.Now()))); err != nil {
		t.Fatalf("a token of the old key, still published: %v", err)
	}
	// The old key retired: refused after the next refresh.
	f.set(k2)
	clock.Advance(DefaultKeyRefetch)
	if _, err := v.Keys.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), k1.sign(t, podClaims(clock.Now()))); err == nil {
		t.Fatal("a token of a retired key was accepted")
	}
}

// newForgedKid is a token signed with k under another key id.
func newForgedKid(t testing.TB, k signingKey, kid string, now time.Time) string {
	k.kid = kid
	return k.sign(t, podClaims(now))
}

// TestKeysUnavailable: while the issuer's keys have never been read, the
// verifier asks TokenReview (bounded) or, without one, answers 503; once
// they are read, it verifies locally and reviews nothing. A read that
// fails later keeps the last good keys.
func TestKeysUnavailable(t *testing.T) {
	clock := newFakeClock()
	k1 := newRSAKey(t, "k1")
	f := &fakeIssuer{fail: true}
	f.set(k1)
	v := newTestVerifier(f, clock)
	tok := k1.sign(t, podClaims(clock.Now()))
	_, err := v.Verify(context.Background(), tok)
	if err == nil || !errors.Is(err, errKeysUnavailable) || unavailable(err).Status != http.StatusServiceUnavailable {
		t.Fatalf("no keys, no fallback: %v, want 503", err)
	}

	reviews := &fakeReviews{ok: map[string]bool{tok: true}}
	v.Fallback = &Reviewer{Create: func(ctx context.Context, tr *authenticationv1.TokenReview) (*authenticationv1.TokenReview, error) {
		out, err := reviews.create(ctx, tr)
		if err == nil && out.Status.Authenticated {
			out.Status.User = authenticationv1.UserInfo{Username: "system:serviceaccount:team:app", Extra: map[string]authenticationv1.ExtraValue{
				extraPodName: {"web-1"}, extraPodUID: {"uid-1"}}}
		}
		return out, err
	}, Audience: testAudience, TTL: time.Minute, Now: clock.Now}
	clock.Advance(DefaultKeyRefetch)
	if id, err := v.Verify(context.Background(), tok); err != nil || id != theIdentity {
		t.Fatalf("fallback: %+v, %v", id, err)
	}
	if n := reviews.calls.Load(); n != 1 {
		t.Fatalf("%d reviews, want 1", n)
	}

	f.mu.Lock()
	f.fail = false
	f.mu.Unlock()
	clock.Advance(DefaultKeyRefetch)
	if id, err := v.Verify(context.Background(), k1.sign(t, podClaims(clock.Now()))); err != nil || id != theIdentity {
		t.Fatalf("keys back: %+v, %v", id, err)
	}
	if n := reviews.calls.Load(); n != 1 {
		t.Errorf("%d reviews once the keys were read, want still 1", n)
	}
	f.mu.Lock()
	f.fail = true
	f.mu.Unlock()
	clock.Advance(DefaultKeyRefetch)
	if _, err := v.Keys.Fetch(context.Background()); err == nil {
		t.Fatal("the failing read succeeded")
	}
	if _, err := v.Verify(context.Background(), k1.sign(t, podClaims(clock.Now()))); err != nil {
		t.Errorf("with the last good keys: %v", err)
	}
}

func TestParseKeySet(t *testing.T) {
	k := newRSAKey(t, "k1")
	priv := jose.JSONWebKey{Key: k.signer, KeyID: "private", Algorithm: "RS256"}
	enc := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.public, KeyID: "enc", Use: "enc"}, priv, k.jwk()}}
	jwks, err := json.Marshal(enc)
	if err != nil {
		t.Fatal(err)
	}
	set, err := ParseKeySet([]byte(`{"issuer":"https://kubernetes.default.svc"}`), jwks)
	if err != nil {
		t.Fatal(err)
	}
	if set.Issuer != testIssuerURL || len(set.Keys) != 1 || set.Keys[0].KeyID != "k1" {
		t.Errorf("set %+v: want the public signing key only", set)
	}
	for name, docs := range map[string][2]string{
		"no issuer":      {`{}`, string(jwks)},
		"not a key set":  {`{"issuer":"x"}`, `[]`},
		"no usable key":  {`{"issuer":"x"}`, `{"keys":[]}`},
		"not JSON":       {`<html>`, string(jwks)},
		"too large JWKS": {`{"issuer":"x"}`, strings.Repeat(" ", maxKeyDocumentBytes+1)},
	} {
		if _, err := ParseKeySet([]byte(docs[0]), []byte(docs[1])); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
