package akvemu_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
)

// Identities every test seed shares.
const (
	tenantA    = "11111111-1111-1111-1111-111111111111"
	tenantB    = "22222222-2222-2222-2222-222222222222"
	appA       = "aaaaaaaa-0000-4000-8000-000000000001"
	appASecret = "app-a-secret-value"
	appB       = "bbbbbbbb-0000-4000-8000-000000000002"
	appBSecret = "app-b-secret-value"
	vaultA     = "vault-a"
	vaultB     = "vault-b"
)

// baseSeed has two tenants with one app and one vault each.
func baseSeed() *akvemu.Seed {
	return &akvemu.Seed{
		Tenants: []akvemu.TenantSeed{{ID: tenantA}, {ID: tenantB}},
		Apps: []akvemu.AppSeed{
			{ClientID: appA, TenantID: tenantA, Secrets: []string{appASecret}},
			{ClientID: appB, TenantID: tenantB, Secrets: []string{appBSecret}},
		},
		Vaults: []akvemu.VaultSeed{
			{Name: vaultA, TenantID: tenantA},
			{Name: vaultB, TenantID: tenantB},
		},
	}
}

// ctx returns a context that ends with the test (and after 60 s at most).
func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// secretCredential is app A's client-secret credential.
func secretCredential(t *testing.T, s *akvemu.Server, tenant, client, secret string) azcore.TokenCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenant, client, secret, &azidentity.ClientSecretCredentialOptions{ClientOptions: s.ClientOptions()})
	if err != nil {
		t.Fatalf("NewClientSecretCredential: %v", err)
	}
	return cred
}

// vaultURL is the real public-cloud URL of a vault.
func vaultURL(name string) string { return "https://" + name + ".vault.azure.net" }

// secretsClient is an azsecrets client with the emulator transport.
func secretsClient(t *testing.T, s *akvemu.Server, vault string, cred azcore.TokenCredential) *azsecrets.Client {
	t.Helper()
	c, err := azsecrets.NewClient(vault, cred, &azsecrets.ClientOptions{ClientOptions: s.ClientOptions()})
	if err != nil {
		t.Fatalf("azsecrets.NewClient: %v", err)
	}
	return c
}

// certsClient is an azcertificates client with the emulator transport.
func certsClient(t *testing.T, s *akvemu.Server, vault string, cred azcore.TokenCredential) *azcertificates.Client {
	t.Helper()
	c, err := azcertificates.NewClient(vault, cred, &azcertificates.ClientOptions{ClientOptions: s.ClientOptions()})
	if err != nil {
		t.Fatalf("azcertificates.NewClient: %v", err)
	}
	return c
}

// keysClient is an azkeys client with the emulator transport.
func keysClient(t *testing.T, s *akvemu.Server, vault string, cred azcore.TokenCredential) *azkeys.Client {
	t.Helper()
	c, err := azkeys.NewClient(vault, cred, &azkeys.ClientOptions{ClientOptions: s.ClientOptions()})
	if err != nil {
		t.Fatalf("azkeys.NewClient: %v", err)
	}
	return c
}

// appASecrets is the common case: app A reading vault A.
func appASecrets(t *testing.T, s *akvemu.Server) *azsecrets.Client {
	t.Helper()
	return secretsClient(t, s, vaultURL(vaultA), secretCredential(t, s, tenantA, appA, appASecret))
}

// responseError asserts err is a Key Vault error with status and code.
func responseError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want *azcore.ResponseError %d %s, got %v", status, code, err)
	}
	if re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("want %d %s, got %d %s: %v", status, code, re.StatusCode, re.ErrorCode, err)
	}
}

// authFailed asserts err is an azidentity.AuthenticationFailedError whose
// response has the status and mentions the AADSTS code.
func authFailed(t *testing.T, err error, status int, aadsts string) {
	t.Helper()
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) {
		t.Fatalf("want *azidentity.AuthenticationFailedError, got %T: %v", err, err)
	}
	if afe.RawResponse == nil || afe.RawResponse.StatusCode != status {
		t.Fatalf("want status %d, got %v", status, afe.RawResponse)
	}
	if aadsts != "" && !strings.Contains(afe.Error(), aadsts) {
		t.Fatalf("want %s in %v", aadsts, err)
	}
}
