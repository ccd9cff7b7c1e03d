package resolver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/latchkey-dev/latchkey/internal/resolver"
)

// TestServiceAccountKeyFile: an API server whose first issuer is not an
// https URL (kubernetes/serviceaccount, the one HashiCorp Vault v1.1
// accepts) publishes no keys, so the resolver verifies its tokens with the
// keys the install gives (--service-account-keys): the API server's own
// public key file, a certificate here, whose key id the resolver computes
// as the API server does. Tokens verify locally, with no TokenReview; a
// token of another issuer, or signed by another key, is refused; a file
// holding a private key, or no key, is refused with a clear error.
func TestServiceAccountKeyFile(t *testing.T) {
	t.Parallel()
	a := newAPIIssuerWith(t, map[string][]string{"service-account-issuer": {"kubernetes/serviceaccount"}})
	ctx := context.Background()
	_, err := a.cs.Discovery().RESTClient().Get().AbsPath(resolver.DiscoveryPath).DoRaw(ctx)
	if !apierrors.IsNotFound(err) {
		t.Fatalf("discovery with a non-URL issuer: %v, want 404 (the case the key file is for)", err)
	}
	cert := filepath.Join(a.dir, "sa-signer.crt")
	clock := &offsetClock{}
	keys := &resolver.IssuerKeys{Load: resolver.KeyFile{Path: cert, Issuer: "kubernetes/serviceaccount"}.Load, Now: clock.Now}
	reviews := 0
	v := &resolver.TokenVerifier{Audience: audience, Keys: keys, Now: clock.Now,
		Observe: func(how string) {
			if how != "local" {
				reviews++
			}
		}}
	want := resolver.Identity{Namespace: a.pod.Namespace, ServiceAccount: "app", PodName: "web-1", PodUID: a.pod.UID}
	tok := a.token()
	if id, err := v.Verify(ctx, tok); err != nil || id != want {
		t.Fatalf("a token of the API server: %+v, %v; want %+v", id, err, want)
	}
	if reviews != 0 {
		t.Errorf("%d verifications were not local", reviews)
	}
	if got := keys.Current().Keys[0].KeyID; got != kid(t, tok) {
		t.Errorf("key id %q, the API server's tokens carry %q", got, kid(t, tok))
	}

	// Another issuer: the same key, the resolver told another iss.
	other := &resolver.TokenVerifier{Audience: audience, Now: clock.Now,
		Keys: &resolver.IssuerKeys{Load: resolver.KeyFile{Path: cert, Issuer: "https://elsewhere.example"}.Load, Now: clock.Now}}
	var d *resolver.Denial
	if _, err := other.Verify(ctx, tok); !errors.As(err, &d) || d.Status != http.StatusUnauthorized {
		t.Errorf("a token of another issuer: %v, want 401", err)
	}
	// Another key (an ECDSA one, as PUBLIC KEY): the token's kid is unknown.
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(t.TempDir(), "other.pub")
	if err := os.WriteFile(wrong, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	stranger := &resolver.TokenVerifier{Audience: audience, Now: clock.Now,
		Keys: &resolver.IssuerKeys{Load: resolver.KeyFile{Path: wrong, Issuer: "kubernetes/serviceaccount"}.Load, Now: clock.Now}}
	// The first read is the first verification's; an unknown key id reads
	// the file again once the refetch interval has passed, then refuses.
	if _, err := stranger.Verify(ctx, tok); !errors.As(err, &d) || d.Status != http.StatusServiceUnavailable {
		t.Errorf("a token of an unknown key id right after the keys were read: %v, want 503 (read again later)", err)
	}
	clock.Advance(resolver.DefaultKeyRefetch)
	if _, err := stranger.Verify(ctx, tok); !errors.As(err, &d) || d.Status != http.StatusUnauthorized {
		t.Errorf("a token the key file's key did not sign: %v, want 401", err)
	}

	for name, tt := range map[string]struct{ file, want string }{
		"private key": {filepath.Join(a.dir, "sa-signer.key"), "only public keys and certificates"},
		"no key":      {emptyKeyFile(t), "no PEM public key"},
		"missing":     {filepath.Join(a.dir, "absent.pem"), "no such file"},
	} {
		_, err := resolver.KeyFile{Path: tt.file, Issuer: "kubernetes/serviceaccount"}.Load(ctx)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tt.want)
		}
	}
}

func emptyKeyFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(p, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
