package akvemu_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
)

// withSecret seeds vault A with one secret and returns the seed.
func withSecret(seed *akvemu.Seed) *akvemu.Seed {
	seed.Vaults[0].Secrets = append(seed.Vaults[0].Secrets, akvemu.SecretSeed{Name: "greeting", Value: to.Ptr("hello")})
	return seed
}

// readGreeting reads vault A's greeting with cred and returns the error.
func readGreeting(t *testing.T, s *akvemu.Server, cred azcore.TokenCredential) error {
	t.Helper()
	got, err := secretsClient(t, s, vaultURL(vaultA), cred).GetSecret(ctx(t), "greeting", "", nil)
	if err == nil && *got.Value != "hello" {
		t.Fatalf("greeting = %q", *got.Value)
	}
	return err
}

// randomID returns a fresh GUID-shaped ID, so identities never repeat across
// emulator instances (MSAL caches managed-identity tokens process-wide).
func randomID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func TestClientSecretCredential(t *testing.T) {
	s := akvemu.StartForTest(t, withSecret(baseSeed()))
	tests := []struct {
		name, tenant, client, secret string
		status                       int
		aadsts                       string
	}{
		{"valid", tenantA, appA, appASecret, 0, ""},
		{"wrong secret", tenantA, appA, "not-the-secret", http.StatusUnauthorized, "AADSTS7000215"},
		{"unknown client", tenantA, randomID(t), appASecret, http.StatusBadRequest, "AADSTS700016"},
		{"app of another tenant", tenantA, appB, appBSecret, http.StatusBadRequest, "AADSTS700016"},
		{"unknown tenant", randomID(t), appA, appASecret, http.StatusBadRequest, "AADSTS90002"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred, err := azidentity.NewClientSecretCredential(tt.tenant, tt.client, tt.secret, &azidentity.ClientSecretCredentialOptions{ClientOptions: s.ClientOptions()})
			if err != nil {
				t.Fatal(err)
			}
			if tt.status == 0 {
				if err := readGreeting(t, s, cred); err != nil {
					t.Fatalf("GetSecret: %v", err)
				}
				return
			}
			// Asked directly, so the request goes to the credential's own tenant.
			_, err = cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
			authFailed(t, err, tt.status, tt.aadsts)
		})
	}
}

// newClientCert makes a self-signed RSA client certificate.
func newClientCert(t *testing.T) (*x509.Certificate, *rsa.PrivateKey, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestClientCertificateCredential(t *testing.T) {
	registered, regKey, regPEM := newClientCert(t)
	stranger, strangerKey, _ := newClientCert(t)
	seed := withSecret(baseSeed())
	const certApp = "cccccccc-0000-4000-8000-000000000003"
	seed.Apps = append(seed.Apps, akvemu.AppSeed{ClientID: certApp, TenantID: tenantA, Certificates: []akvemu.PEMSource{{PEM: regPEM}}})
	s := akvemu.StartForTest(t, seed)
	tests := []struct {
		name      string
		cert      *x509.Certificate
		key       crypto.PrivateKey
		sendChain bool
		wantErr   bool
	}{
		{"registered certificate", registered, regKey, false, false},
		{"registered certificate with x5c", registered, regKey, true, false},
		{"unregistered certificate", stranger, strangerKey, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred, err := azidentity.NewClientCertificateCredential(tenantA, certApp, []*x509.Certificate{tt.cert}, tt.key, &azidentity.ClientCertificateCredentialOptions{
				ClientOptions: s.ClientOptions(), SendCertificateChain: tt.sendChain,
			})
			if err != nil {
				t.Fatal(err)
			}
			err = readGreeting(t, s, cred)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("GetSecret: %v", err)
				}
				return
			}
			authFailed(t, err, http.StatusUnauthorized, "AADSTS700027")
		})
	}
	// An assertion naming the registered certificate but signed with another key.
	t.Run("forged assertion", func(t *testing.T) {
		thumb := sha256.Sum256(registered.Raw)
		cred, err := azidentity.NewClientAssertionCredential(tenantA, certApp, func(context.Context) (string, error) {
			return signTokenWithHeader(t, strangerKey, map[string]string{"alg": "RS256", "x5t#S256": base64.StdEncoding.EncodeToString(thumb[:])}, map[string]any{
				"iss": certApp, "sub": certApp, "aud": "https://login.microsoftonline.com/" + tenantA + "/oauth2/v2.0/token",
				"exp": time.Now().Add(time.Hour).Unix(), "nbf": time.Now().Unix(), "jti": randomID(t),
			}), nil
		}, &azidentity.ClientAssertionCredentialOptions{ClientOptions: s.ClientOptions()})
		if err != nil {
			t.Fatal(err)
		}
		authFailed(t, readGreeting(t, s, cred), http.StatusUnauthorized, "AADSTS700027")
	})
}

// issuerKey is the federated issuer's signing key from testdata.
func issuerKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile("testdata/issuer-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signToken makes an RS256 JWT, as a Kubernetes service-account issuer would.
func signToken(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	return signTokenWithHeader(t, key, map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid}, claims)
}

// signTokenWithHeader makes an RS256 JWT with the given header.
func signTokenWithHeader(t *testing.T, key *rsa.PrivateKey, header map[string]string, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	d := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestWorkloadIdentityCredential(t *testing.T) {
	const (
		issuer     = "https://oidc.cluster.test"
		openIssuer = "https://unverified.cluster.test"
		subject    = "system:serviceaccount:apps:reader"
		wiApp      = "dddddddd-0000-4000-8000-000000000004"
	)
	jwks, err := os.ReadFile("testdata/issuer-jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	seed := withSecret(baseSeed())
	seed.Apps = append(seed.Apps, akvemu.AppSeed{ClientID: wiApp, TenantID: tenantA, FederatedCredentials: []akvemu.FederatedCredentialSeed{
		{Issuer: issuer, Subject: subject},
		{Issuer: openIssuer, Subject: subject, Audiences: []string{"custom-audience"}},
	}})
	seed.FederatedIssuers = []akvemu.FederatedIssuerSeed{{Issuer: issuer, JWKS: string(jwks)}}
	s := akvemu.StartForTest(t, seed)
	key := issuerKey(t)
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	now := time.Now()
	claims := func(iss, sub, aud string, exp time.Time) map[string]any {
		return map[string]any{"iss": iss, "sub": sub, "aud": []string{aud}, "exp": exp.Unix(), "iat": now.Unix(), "nbf": now.Unix()}
	}
	tests := []struct {
		name   string
		token  string
		status int
		aadsts string
	}{
		{"valid", signToken(t, key, "issuer-key-1", claims(issuer, subject, "api://AzureADTokenExchange", now.Add(time.Hour))), 0, ""},
		{"unverified issuer, custom audience", signToken(t, otherKey, "x", claims(openIssuer, subject, "custom-audience", now.Add(time.Hour))), 0, ""},
		{"wrong subject", signToken(t, key, "issuer-key-1", claims(issuer, "system:serviceaccount:apps:other", "api://AzureADTokenExchange", now.Add(time.Hour))), http.StatusBadRequest, "AADSTS70021"},
		{"wrong audience", signToken(t, key, "issuer-key-1", claims(issuer, subject, "api://other", now.Add(time.Hour))), http.StatusBadRequest, "AADSTS70021"},
		{"unknown issuer", signToken(t, key, "issuer-key-1", claims("https://elsewhere", subject, "api://AzureADTokenExchange", now.Add(time.Hour))), http.StatusBadRequest, "AADSTS70021"},
		{"forged signature", signToken(t, otherKey, "issuer-key-1", claims(issuer, subject, "api://AzureADTokenExchange", now.Add(time.Hour))), http.StatusUnauthorized, "AADSTS5002738"},
		{"expired", signToken(t, key, "issuer-key-1", claims(issuer, subject, "api://AzureADTokenExchange", now.Add(-time.Hour))), http.StatusUnauthorized, "AADSTS700024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(file, []byte(tt.token), 0o600); err != nil {
				t.Fatal(err)
			}
			cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
				ClientOptions: s.ClientOptions(), ClientID: wiApp, TenantID: tenantA, TokenFilePath: file,
			})
			if err != nil {
				t.Fatal(err)
			}
			err = readGreeting(t, s, cred)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("GetSecret: %v", err)
				}
				return
			}
			authFailed(t, err, tt.status, tt.aadsts)
		})
	}
}

func TestManagedIdentityCredential(t *testing.T) {
	system, byClient, byObject, byResource, otherTenant := randomID(t), randomID(t), randomID(t), randomID(t), randomID(t)
	objectID := randomID(t)
	resourceID := "/subscriptions/" + randomID(t) + "/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/reader"
	seed := withSecret(baseSeed())
	seed.IdentityHeader = "identity-header-" + randomID(t)
	seed.ManagedIdentities = []akvemu.ManagedIdentitySeed{
		{ClientID: system, TenantID: tenantA, SystemAssigned: true},
		{ClientID: byClient, TenantID: tenantA},
		{ClientID: byObject, ObjectID: objectID, TenantID: tenantA},
		{ClientID: byResource, ResourceID: resourceID, TenantID: tenantA},
		{ClientID: otherTenant, TenantID: tenantB},
	}
	s := akvemu.StartForTest(t, seed)
	t.Setenv("IDENTITY_ENDPOINT", s.ManagedIdentityEndpoint())
	t.Setenv("IDENTITY_HEADER", seed.IdentityHeader)
	tests := []struct {
		name string
		id   azidentity.ManagedIDKind
		// wantErr: the failure expected.
		wantErr func(t *testing.T, err error)
	}{
		{name: "system-assigned"},
		{name: "user-assigned by client ID", id: azidentity.ClientID(byClient)},
		{name: "user-assigned by object ID", id: azidentity.ObjectID(objectID)},
		{name: "user-assigned by resource ID", id: azidentity.ResourceID(resourceID)},
		{name: "unknown identity", id: azidentity.ClientID(randomID(t)), wantErr: func(t *testing.T, err error) { authFailed(t, err, http.StatusBadRequest, "") }},
		{name: "identity of another tenant", id: azidentity.ClientID(otherTenant), wantErr: func(t *testing.T, err error) {
			responseError(t, err, http.StatusUnauthorized, "Unauthorized")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: s.ClientOptions(), ID: tt.id})
			if err != nil {
				t.Fatal(err)
			}
			err = readGreeting(t, s, cred)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("GetSecret: %v", err)
				}
				return
			}
			tt.wantErr(t, err)
		})
	}
	t.Run("wrong identity header", func(t *testing.T) {
		t.Setenv("IDENTITY_HEADER", "not-the-header")
		cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: s.ClientOptions(), ID: azidentity.ClientID(randomID(t))})
		if err != nil {
			t.Fatal(err)
		}
		authFailed(t, readGreeting(t, s, cred), http.StatusUnauthorized, "")
	})
	if n := s.Counters().Snapshot().Count("", "ManagedIdentityToken", http.StatusOK); n < 5 {
		t.Errorf("managed identity tokens issued: %d, want at least 5", n)
	}
}

func TestUsernamePasswordCredential(t *testing.T) {
	const (
		publicApp  = "eeeeeeee-0000-4000-8000-000000000005"
		privateApp = "ffffffff-0000-4000-8000-000000000006"
		user       = "alice@contoso.test"
		password   = "correct-horse"
	)
	seed := withSecret(baseSeed())
	seed.Tenants[0].Users = []akvemu.UserSeed{{Username: user, Password: password}}
	seed.Apps = append(seed.Apps,
		akvemu.AppSeed{ClientID: publicApp, TenantID: tenantA, PublicClient: true},
		akvemu.AppSeed{ClientID: privateApp, TenantID: tenantA},
	)
	seed.Vaults[0].AllowedPrincipals = []string{user}
	s := akvemu.StartForTest(t, seed)
	tests := []struct {
		name, client, user, password string
		status                       int
		aadsts                       string
	}{
		{"valid", publicApp, user, password, 0, ""},
		{"username in another case", publicApp, "Alice@Contoso.Test", password, 0, ""},
		{"wrong password", publicApp, user, "wrong", http.StatusBadRequest, "AADSTS50126"},
		{"unknown user", publicApp, "bob@contoso.test", password, http.StatusBadRequest, "AADSTS50034"},
		{"confidential app", privateApp, user, password, http.StatusUnauthorized, "AADSTS7000218"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			//nolint:staticcheck // UsernamePasswordCredential is deprecated in Azure, but akv2k8s users configure it (AZURE_USERNAME).
			cred, err := azidentity.NewUsernamePasswordCredential(tenantA, tt.client, tt.user, tt.password, &azidentity.UsernamePasswordCredentialOptions{ClientOptions: s.ClientOptions()})
			if err != nil {
				t.Fatal(err)
			}
			err = readGreeting(t, s, cred)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("GetSecret: %v", err)
				}
				return
			}
			authFailed(t, err, tt.status, tt.aadsts)
		})
	}
}

// TestAuthorityOnEmulatorHost uses the emulator's own URL as the authority
// host: MSAL then asks login.microsoftonline.com for instance discovery
// before fetching the OpenID configuration from the emulator's host.
func TestAuthorityOnEmulatorHost(t *testing.T) {
	s := akvemu.StartForTest(t, withSecret(baseSeed()))
	opts := s.ClientOptions()
	opts.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: s.URL() + "/", Services: cloud.AzurePublic.Services}
	cred, err := azidentity.NewClientSecretCredential(tenantA, appA, appASecret, &azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	if err := readGreeting(t, s, cred); err != nil {
		t.Fatalf("GetSecret: %v", err)
	}
	snap := s.Counters().Snapshot()
	if snap.Count("", "InstanceDiscovery", http.StatusOK) == 0 || snap.Count("", "OpenIDConfiguration", http.StatusOK) == 0 {
		t.Fatalf("discovery requests: %+v", snap)
	}
}

func TestSovereignClouds(t *testing.T) {
	seed := baseSeed()
	seed.Vaults = append(seed.Vaults,
		akvemu.VaultSeed{Name: "kv-china", TenantID: tenantA, Cloud: "AzureChina", Secrets: []akvemu.SecretSeed{{Name: "s", Value: to.Ptr("cn")}}},
		akvemu.VaultSeed{Name: "kv-gov", TenantID: tenantA, Cloud: "AzureUSGovernmentCloud", Secrets: []akvemu.SecretSeed{{Name: "s", Value: to.Ptr("us")}}},
	)
	s := akvemu.StartForTest(t, seed)
	for _, tt := range []struct {
		url   string
		cloud cloud.Configuration
		want  string
	}{
		{"https://kv-china.vault.azure.cn", cloud.AzureChina, "cn"},
		{"https://kv-gov.vault.usgovcloudapi.net", cloud.AzureGovernment, "us"},
	} {
		t.Run(tt.url, func(t *testing.T) {
			opts := s.ClientOptions()
			opts.Cloud = tt.cloud
			cred, err := azidentity.NewClientSecretCredential(tenantA, appA, appASecret, &azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
			if err != nil {
				t.Fatal(err)
			}
			got, err := secretsClient(t, s, tt.url, cred).GetSecret(ctx(t), "s", "", nil)
			if err != nil {
				t.Fatalf("GetSecret: %v", err)
			}
			if *got.Value != tt.want {
				t.Fatalf("value %q", *got.Value)
			}
		})
	}
	// The public-cloud name of a China vault does not resolve.
	_, err := appASecretsAt(t, s, "https://kv-china.vault.azure.net").GetSecret(ctx(t), "s", "", nil)
	responseError(t, err, http.StatusNotFound, "VaultNotFound")
}

// appASecretsAt is app A's secrets client for any vault URL.
func appASecretsAt(t *testing.T, s *akvemu.Server, url string) *azsecrets.Client {
	t.Helper()
	return secretsClient(t, s, url, secretCredential(t, s, tenantA, appA, appASecret))
}
