package keyvault_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/latchkey-dev/latchkey/internal/certbundle"
	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
)

func secretRef(name, version string) keyvault.Ref {
	return keyvault.Ref{Store: vault, Kind: keyvault.KindSecret, Name: name, Version: version}
}

// versionsOf lists a secret's versions with the real SDK.
func versionsOf(t *testing.T, e *env, name string) []string {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenant, spApp, spSecret, &azidentity.ClientSecretCredentialOptions{ClientOptions: e.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := azsecrets.NewClient("https://"+vault+".vault.azure.net", cred, &azsecrets.ClientOptions{ClientOptions: e.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for pager := c.NewListSecretPropertiesVersionsPager(name, nil); pager.More(); {
		page, err := pager.NextPage(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Value {
			ids = append(ids, p.ID.Version())
		}
	}
	return ids
}

func TestReadSecret(t *testing.T) {
	e := newEnv(t)
	r := e.reader(t, e.spCredential(t), keyvault.ReaderOptions{})
	ctx := testCtx(t)

	obj, err := r.Read(ctx, secretRef("plain", ""))
	if err != nil {
		t.Fatal(err)
	}
	if string(obj.Value) != "plain-value" || obj.ContentType != "text/plain" || obj.Version == "" || obj.Updated.IsZero() || obj.Ref != secretRef("plain", "") {
		t.Fatalf("object %+v", obj)
	}

	t.Run("latest and pinned versions", func(t *testing.T) {
		latest, err := r.Read(ctx, secretRef("rotated", ""))
		if err != nil || string(latest.Value) != "second" {
			t.Fatalf("latest: %q, %v", latest.Value, err)
		}
		versions := versionsOf(t, e, "rotated")
		if len(versions) != 2 {
			t.Fatalf("versions %v", versions)
		}
		older := versions[0]
		if older == latest.Version {
			older = versions[1]
		}
		pinned, err := r.Read(ctx, secretRef("rotated", older))
		if err != nil || string(pinned.Value) != "first" || pinned.Version != older {
			t.Fatalf("pinned %s: %q (version %s), %v", older, pinned.Value, pinned.Version, err)
		}
	})
	t.Run("not found", func(t *testing.T) {
		_, err := r.Read(ctx, secretRef("absent", ""))
		if ke := wantClass(t, err, keyvault.ErrNotFound); ke.Status != http.StatusNotFound || ke.Code != "SecretNotFound" {
			t.Fatalf("%d %s", ke.Status, ke.Code)
		}
		_, err = r.Read(ctx, secretRef("plain", strings.Repeat("0", 32)))
		wantClass(t, err, keyvault.ErrNotFound)
	})
	t.Run("disabled is forbidden", func(t *testing.T) {
		_, err := r.Read(ctx, secretRef("switched-off", ""))
		ke := wantClass(t, err, keyvault.ErrForbidden)
		if ke.Status != http.StatusForbidden || ke.Code != "SecretDisabled" || !strings.Contains(err.Error(), "disabled") {
			t.Fatalf("%v", err)
		}
		noneOf(t, err.Error(), "invisible")
	})
	t.Run("identity not allowed is forbidden", func(t *testing.T) {
		if err := e.Seed(&akvemu.Seed{Tenants: e.seed.Tenants, Vaults: []akvemu.VaultSeed{{Name: "kv-locked", TenantID: tenant, AllowedPrincipals: []string{certApp}}}}); err != nil {
			t.Fatal(err)
		}
		_, err := r.Read(ctx, keyvault.Ref{Store: "kv-locked", Kind: keyvault.KindSecret, Name: "plain"})
		wantClass(t, err, keyvault.ErrForbidden)
	})
	t.Run("invalid names cost no request", func(t *testing.T) {
		before := e.count("", "", -1)
		for _, ref := range []keyvault.Ref{
			{Store: "kv", Kind: keyvault.KindSecret, Name: "x"},
			{Store: "kv.evil.example", Kind: keyvault.KindSecret, Name: "x"},
			{Store: vault, Kind: keyvault.KindSecret, Name: "../keys/x"},
			{Store: vault, Kind: keyvault.KindSecret, Name: "x", Version: "1?a=b"},
		} {
			_, err := r.Read(ctx, ref)
			wantClass(t, err, keyvault.ErrNotFound)
		}
		if n := e.count("", "", -1) - before; n != 0 {
			t.Fatalf("%d requests sent", n)
		}
	})
}

func TestReadCertificate(t *testing.T) {
	e := newEnv(t)
	r := e.reader(t, e.spCredential(t), keyvault.ReaderOptions{})
	ctx := testCtx(t)
	tests := []struct {
		name, contentType string
		exportable        bool
		chain             int
	}{
		{"tls-pfx", keyvault.ContentTypePKCS12, true, 2},
		{"tls-pem", keyvault.ContentTypePEM, true, 1},
		{"sealed-pfx", keyvault.ContentTypePKCS12, false, 1},
		{"sealed-pem", keyvault.ContentTypePEM, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.Counters().Reset()
			obj, err := r.Read(ctx, keyvault.Ref{Store: vault, Kind: keyvault.KindCertificate, Name: tt.name})
			if err != nil {
				t.Fatal(err)
			}
			if obj.ContentType != tt.contentType || obj.KeyExportable != tt.exportable || obj.Version == "" {
				t.Fatalf("content type %q, exportable %v, version %q", obj.ContentType, obj.KeyExportable, obj.Version)
			}
			// The value is the backing secret: the chain, and the key when exportable.
			b, err := certbundle.Parse(obj.ContentType, obj.Value)
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Chain) != tt.chain || (b.Key != nil) != tt.exportable {
				t.Fatalf("chain %d, key %v", len(b.Chain), b.Key != nil)
			}
			// Exactly one data-plane read, and no certificate or key request.
			snap := e.Counters().Snapshot()
			if got := snap.Count(vault, "GetSecret", http.StatusOK); got != 1 {
				t.Errorf("GetSecret 200: %d", got)
			}
			if got := snap.Count(vault, "GetCertificate", -1) + snap.Count(vault, "GetKey", -1); got != 0 {
				t.Errorf("certificate or key requests: %d", got)
			}
		})
	}
	t.Run("a plain secret is not a certificate", func(t *testing.T) {
		_, err := r.Read(ctx, keyvault.Ref{Store: vault, Kind: keyvault.KindCertificate, Name: "plain"})
		wantClass(t, err, keyvault.ErrNotFound)
		noneOf(t, err.Error(), "plain-value")
	})
	t.Run("not found", func(t *testing.T) {
		_, err := r.Read(ctx, keyvault.Ref{Store: vault, Kind: keyvault.KindCertificate, Name: "absent"})
		wantClass(t, err, keyvault.ErrNotFound)
	})
}

func TestReadKey(t *testing.T) {
	e := newEnv(t)
	r := e.reader(t, e.spCredential(t), keyvault.ReaderOptions{})
	ctx := testCtx(t)
	t.Run("RSA", func(t *testing.T) {
		obj, err := r.Read(ctx, keyvault.Ref{Store: vault, Kind: keyvault.KindKey, Name: "signing-rsa"})
		if err != nil {
			t.Fatal(err)
		}
		pub, ok := obj.PublicKey.(*rsa.PublicKey)
		if !ok || pub.N.BitLen() != 2048 || pub.E != 65537 || obj.Version == "" || len(obj.Value) != 0 {
			t.Fatalf("%T %+v", obj.PublicKey, obj)
		}
		// The version read can be read again, pinned.
		again, err := r.Read(ctx, keyvault.Ref{Store: vault, Kind: keyvault.KindKey, Name: "signing-rsa", Version: obj.Version})
		if err != nil || !pub.Equal(again.PublicKey) {
			t.Fatalf("pinned: %v", err)
		}
	})
	for name, curve := range map[string]elliptic.Curve{"signing-ec": elliptic.P256(), "signing-ec384": elliptic.P384()} {
		t.Run(name, func(t *testing.T) {
			obj, err := r.Read(ctx, keyvault.Ref{Store: vault, Kind: keyvault.KindKey, Name: name})
			if err != nil {
				t.Fatal(err)
			}
			pub, ok := obj.PublicKey.(*ecdsa.PublicKey)
			if !ok || pub.Curve != curve {
				t.Fatalf("%T", obj.PublicKey)
			}
		})
	}
	t.Run("not found", func(t *testing.T) {
		_, err := r.Read(ctx, keyvault.Ref{Store: vault, Kind: keyvault.KindKey, Name: "absent"})
		if ke := wantClass(t, err, keyvault.ErrNotFound); ke.Code != "KeyNotFound" {
			t.Fatalf("code %q", ke.Code)
		}
	})
}

// TestOneTokenForManyReads: clients are reused and the credential caches
// its token, so 30 reads of every kind cost one token request.
func TestOneTokenForManyReads(t *testing.T) {
	e := newEnv(t)
	r := e.reader(t, e.spCredential(t), keyvault.ReaderOptions{})
	ctx := testCtx(t)
	refs := []keyvault.Ref{
		secretRef("plain", ""), secretRef("rotated", ""),
		{Store: vault, Kind: keyvault.KindCertificate, Name: "tls-pfx"},
		{Store: vault, Kind: keyvault.KindKey, Name: "signing-ec"},
	}
	for i := 0; i < 30; i++ {
		if _, err := r.Read(ctx, refs[i%len(refs)]); err != nil {
			t.Fatal(err)
		}
	}
	snap := e.Counters().Snapshot()
	if n := snap.Count("", "Token", http.StatusOK); n != 1 {
		t.Errorf("token requests: %d, want 1", n)
	}
	// One challenge round trip per client (secrets and keys), not per read.
	if n := snap.Count(vault, "", http.StatusUnauthorized); n != 2 {
		t.Errorf("challenge round trips: %d, want 2", n)
	}
	if n := snap.Count(vault, "", http.StatusOK); n != 30 {
		t.Errorf("reads: %d, want 30", n)
	}
}

// TestThrottling: a 429 pauses the vault for Retry-After; during the pause
// reads fail at once without a request; afterwards they go through.
func TestThrottling(t *testing.T) {
	e := newEnv(t)
	clock := newFakeClock()
	limiter := keyvault.NewLimiter(keyvault.LimiterOptions{Now: clock.Now})
	rec := newRecorder()
	r := e.reader(t, e.spCredential(t), keyvault.ReaderOptions{Limiter: limiter, Metrics: rec})
	ctx := testCtx(t)
	ref := secretRef("plain", "")
	if _, err := r.Read(ctx, ref); err != nil { // warm up: challenge and token
		t.Fatal(err)
	}
	// One second is within the SDK's MaxRetryDelay: had the SDK been left to
	// retry 429s it would sleep and succeed, and this test would fail.
	if err := e.Faults().Set(vault, akvemu.FaultConfig{Rules: []akvemu.FaultRule{{Operation: "GetSecret", Status: http.StatusTooManyRequests, RetryAfter: time.Second, Count: 1}}}); err != nil {
		t.Fatal(err)
	}
	e.Counters().Reset()

	_, err := r.Read(ctx, ref)
	ke := wantClass(t, err, keyvault.ErrThrottled)
	if ke.Status != http.StatusTooManyRequests || ke.RetryAfter != time.Second {
		t.Fatalf("status %d, retry after %v", ke.Status, ke.RetryAfter)
	}
	if d, ok := keyvault.RetryAfter(err); !ok || d != time.Second {
		t.Fatalf("RetryAfter(err) = %v, %v", d, ok)
	}
	// The SDK did not retry the 429: the limiter owns throttling.
	if n := e.count(vault, "GetSecret", http.StatusTooManyRequests); n != 1 {
		t.Fatalf("429s: %d", n)
	}

	clock.Advance(400 * time.Millisecond)
	for i := 0; i < 5; i++ {
		_, err := r.Read(ctx, ref)
		if ke := wantClass(t, err, keyvault.ErrThrottled); ke.RetryAfter != 600*time.Millisecond || ke.Status != 0 {
			t.Fatalf("during the pause: %v (retry after %v)", err, ke.RetryAfter)
		}
	}
	if n := e.count(vault, "", -1); n != 1 {
		t.Fatalf("requests during the pause: %d, want none after the 429", n)
	}
	// Other vaults are not paused.
	if _, err := r.Read(ctx, keyvault.Ref{Store: "kv-other", Kind: keyvault.KindSecret, Name: "x"}); errors.Is(err, keyvault.ErrThrottled) {
		t.Fatalf("another vault is paused: %v", err)
	}

	clock.Advance(600 * time.Millisecond)
	if obj, err := r.Read(ctx, ref); err != nil || string(obj.Value) != "plain-value" {
		t.Fatalf("after the pause: %v", err)
	}
	if n := e.count(vault, "GetSecret", http.StatusOK); n != 1 {
		t.Fatalf("reads after the pause: %d", n)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.rejected != 5 || len(rec.paused) != 1 || rec.paused[0] != time.Second || rec.requests[keyvault.ResultThrottled] != 1 {
		t.Fatalf("metrics: rejected %d, paused %v, requests %v", rec.rejected, rec.paused, rec.requests)
	}
}

// TestServerErrors: 5xx answers are retried by the SDK, then reported as
// ErrUnavailable; a dropped connection too.
func TestServerErrors(t *testing.T) {
	e := newEnv(t)
	r := e.reader(t, e.spCredential(t), keyvault.ReaderOptions{MaxRetries: 3})
	ctx := testCtx(t)
	ref := secretRef("plain", "")
	if _, err := r.Read(ctx, ref); err != nil { // warm up
		t.Fatal(err)
	}
	set := func(rule akvemu.FaultRule) {
		t.Helper()
		rule.Operation = "GetSecret"
		if err := e.Faults().Set(vault, akvemu.FaultConfig{Rules: []akvemu.FaultRule{rule}}); err != nil {
			t.Fatal(err)
		}
		e.Counters().Reset()
	}

	t.Run("transient 500s are retried", func(t *testing.T) {
		set(akvemu.FaultRule{Status: http.StatusInternalServerError, Count: 2})
		if obj, err := r.Read(ctx, ref); err != nil || string(obj.Value) != "plain-value" {
			t.Fatalf("Read: %v", err)
		}
		if n5, n2 := e.count(vault, "GetSecret", 500), e.count(vault, "GetSecret", 200); n5 != 2 || n2 != 1 {
			t.Fatalf("500s %d, 200s %d", n5, n2)
		}
	})
	t.Run("persistent 503", func(t *testing.T) {
		set(akvemu.FaultRule{Status: http.StatusServiceUnavailable})
		_, err := r.Read(ctx, ref)
		if ke := wantClass(t, err, keyvault.ErrUnavailable); ke.Status != http.StatusServiceUnavailable {
			t.Fatalf("status %d", ke.Status)
		}
		if n := e.count(vault, "GetSecret", 503); n != 4 {
			t.Fatalf("attempts: %d, want 1 + 3 retries", n)
		}
	})
	t.Run("dropped connections", func(t *testing.T) {
		set(akvemu.FaultRule{Drop: true})
		_, err := r.Read(ctx, ref)
		wantClass(t, err, keyvault.ErrUnavailable)
		if n := e.count(vault, "GetSecret", akvemu.StatusDropped); n < 4 {
			t.Fatalf("attempts: %d, want at least 1 + 3 retries", n)
		}
	})
	t.Run("recovered", func(t *testing.T) {
		e.Faults().Clear(vault)
		if _, err := r.Read(ctx, ref); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCancellation: the caller's cancellation is returned as is, not as a
// Key Vault failure.
func TestCancellation(t *testing.T) {
	e := newEnv(t)
	g := newGate(e.HTTPClient(), "/secrets/")
	r := e.reader(t, e.spCredential(t), keyvault.ReaderOptions{Transport: g})
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() {
		_, err := r.Read(ctx, secretRef("plain", ""))
		done <- err
	}()
	cancel()
	err := <-done
	var ke *keyvault.Error
	if !errors.Is(err, context.Canceled) || errors.As(err, &ke) {
		t.Fatalf("err = %v", err)
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		t.Fatal("response error leaked")
	}
}

// TestReadCertificateWithCertificatePermissionsOnly: the akv2k8s README tells
// users to grant certificate permissions for certificates. Such an identity
// may not read the backing secret; the reader then falls back to the
// certificate itself (public part only) at the cost of a second request.
func TestReadCertificateWithCertificatePermissionsOnly(t *testing.T) {
	e := newEnv(t, func(s *akvemu.Seed) {
		for i := range s.Vaults {
			if s.Vaults[i].Name == vault {
				s.Vaults[i].CertificateOnlyPrincipals = []string{spApp}
			}
		}
	})
	r := e.reader(t, e.spCredential(t), keyvault.ReaderOptions{})
	ctx := testCtx(t)
	e.Counters().Reset()
	obj, err := r.Read(ctx, keyvault.Ref{Store: vault, Kind: keyvault.KindCertificate, Name: "tls-pfx"})
	if err != nil {
		t.Fatal(err)
	}
	if obj.ContentType != keyvault.ContentTypePEM || obj.KeyExportable || obj.Version == "" {
		t.Fatalf("content type %q, exportable %v, version %q", obj.ContentType, obj.KeyExportable, obj.Version)
	}
	b, err := certbundle.Parse(obj.ContentType, obj.Value)
	if err != nil || b.Key != nil || b.Leaf == nil {
		t.Fatalf("parse: %v, key %v", err, b != nil && b.Key != nil)
	}
	if got := e.count(vault, "GetSecret", 403); got != 1 {
		t.Errorf("GetSecret 403s = %d, want 1", got)
	}
	if got := e.count(vault, "GetCertificate", 200); got != 1 {
		t.Errorf("GetCertificate reads = %d, want 1", got)
	}
	// A plain secret stays forbidden: no fallback for non-certificates.
	if _, err := r.Read(ctx, keyvault.Ref{Store: vault, Kind: keyvault.KindSecret, Name: "tls-pfx"}); !errors.Is(err, keyvault.ErrForbidden) {
		t.Errorf("secret read: %v, want ErrForbidden", err)
	}
}
