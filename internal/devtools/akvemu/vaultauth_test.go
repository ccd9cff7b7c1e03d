package akvemu_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
)

// rewriteRequest is a credential that changes token requests before passing
// them on, to present a vault with tokens a well-behaved client would not send.
type rewriteRequest struct {
	cred    azcore.TokenCredential
	rewrite func(*policy.TokenRequestOptions)
}

func (r rewriteRequest) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	r.rewrite(&o)
	return r.cred.GetToken(ctx, o)
}

func TestChallengeIsCountedApart(t *testing.T) {
	s := akvemu.StartForTest(t, withSecret(baseSeed()))
	c := appASecrets(t, s)
	for range 3 {
		if _, err := c.GetSecret(ctx(t), "greeting", "", nil); err != nil {
			t.Fatal(err)
		}
	}
	snap := s.Counters().Snapshot()
	if got := snap.Count(vaultA, "GetSecret", http.StatusUnauthorized); got != 1 {
		t.Errorf("challenges: %d, want 1", got)
	}
	if got := snap.Count(vaultA, "GetSecret", http.StatusOK); got != 3 {
		t.Errorf("reads: %d, want 3", got)
	}
	if got := snap.Count("", "Token", http.StatusOK); got != 1 {
		t.Errorf("tokens: %d, want 1 (the SDK caches it)", got)
	}
}

func TestTokenValidation(t *testing.T) {
	seed := withSecret(baseSeed())
	seed.Vaults[1].Secrets = []akvemu.SecretSeed{{Name: "greeting", Value: to.Ptr("hello")}}
	s := akvemu.StartForTest(t, seed)
	credA := secretCredential(t, s, tenantA, appA, appASecret)
	tests := []struct {
		name    string
		vault   string
		cred    azcore.TokenCredential
		message string
	}{
		{"token of tenant A at a vault of tenant B", vaultB, rewriteRequest{credA, func(o *policy.TokenRequestOptions) { o.TenantID = "" }}, "AKV10032"},
		{"token for another audience", vaultA, rewriteRequest{credA, func(o *policy.TokenRequestOptions) { o.Scopes = []string{"https://storage.azure.com/.default"} }}, "AKV10022"},
		{"token for the vault URL as audience", vaultA, rewriteRequest{credA, func(o *policy.TokenRequestOptions) {
			o.Scopes = []string{"https://vault.azure.net//.default"}
		}}, "AKV10022"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := secretsClient(t, s, vaultURL(tt.vault), tt.cred).GetSecret(ctx(t), "greeting", "", nil)
			responseError(t, err, http.StatusUnauthorized, "Unauthorized")
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("want %s in %v", tt.message, err)
			}
		})
	}
}

func TestAccessList(t *testing.T) {
	const appC = "cccccccc-0000-4000-8000-00000000000c"
	seed := withSecret(baseSeed())
	seed.Apps = append(seed.Apps, akvemu.AppSeed{ClientID: appC, TenantID: tenantA, Secrets: []string{"c"}})
	seed.Vaults[0].AllowedPrincipals = []string{appA}
	s := akvemu.StartForTest(t, seed)
	if err := readGreeting(t, s, secretCredential(t, s, tenantA, appA, appASecret)); err != nil {
		t.Fatalf("allowed app: %v", err)
	}
	err := readGreeting(t, s, secretCredential(t, s, tenantA, appC, "c"))
	responseError(t, err, http.StatusForbidden, "Forbidden")
}

func TestUnknownVault(t *testing.T) {
	s := akvemu.StartForTest(t, baseSeed())
	_, err := appASecretsAt(t, s, vaultURL("no-such-vault")).GetSecret(ctx(t), "x", "", nil)
	responseError(t, err, http.StatusNotFound, "VaultNotFound")
}

func TestAutoCreateVaults(t *testing.T) {
	s, err := akvemu.New(akvemu.Options{Seed: baseSeed(), AutoCreateVaults: true, DefaultTenantID: tenantA})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c := appASecretsAt(t, s, vaultURL("fresh-vault"))
	if _, err := c.SetSecret(ctx(t), "x", azsecrets.SetSecretParameters{Value: to.Ptr("y")}, nil); err != nil {
		t.Fatalf("SetSecret on an auto-created vault: %v", err)
	}
	if got, err := c.GetSecret(ctx(t), "x", "", nil); err != nil || *got.Value != "y" {
		t.Fatalf("GetSecret: %v", err)
	}
	if s.VaultURL("fresh-vault") != "https://fresh-vault.vault.azure.net" {
		t.Errorf("VaultURL = %s", s.VaultURL("fresh-vault"))
	}
}

// TestExpiredToken moves the emulator's clock past the token's lifetime: the
// SDK still trusts its cached token, the vault refuses it.
func TestExpiredToken(t *testing.T) {
	var offset atomic.Int64
	s, err := akvemu.New(akvemu.Options{Seed: withSecret(baseSeed()), Now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c := appASecrets(t, s)
	if _, err := c.GetSecret(ctx(t), "greeting", "", nil); err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(2 * time.Hour))
	_, err = c.GetSecret(ctx(t), "greeting", "", nil)
	responseError(t, err, http.StatusUnauthorized, "Unauthorized")
}

// TestTokenOfAnotherEmulator replays a managed-identity token (MSAL caches
// them process-wide) at a second emulator: its claims challenge makes the
// SDK fetch a new token instead of failing.
func TestTokenOfAnotherEmulator(t *testing.T) {
	id := randomID(t)
	seed := func() *akvemu.Seed {
		s := withSecret(baseSeed())
		s.IdentityHeader = "h"
		s.ManagedIdentities = []akvemu.ManagedIdentitySeed{{ClientID: id, TenantID: tenantA}}
		return s
	}
	t.Setenv("IDENTITY_HEADER", "h")
	for i := range 2 {
		s := akvemu.StartForTest(t, seed())
		t.Setenv("IDENTITY_ENDPOINT", s.ManagedIdentityEndpoint())
		cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: s.ClientOptions(), ID: azidentity.ClientID(id)})
		if err != nil {
			t.Fatal(err)
		}
		if err := readGreeting(t, s, cred); err != nil {
			t.Fatalf("emulator %d: %v", i, err)
		}
		if n := s.Counters().Snapshot().Count("", "ManagedIdentityToken", http.StatusOK); n != 1 {
			t.Fatalf("emulator %d issued %d tokens, want 1", i, n)
		}
	}
}
