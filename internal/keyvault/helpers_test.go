package keyvault_test

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
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
)

// Identities and objects of the test seed. Every value is test data.
const (
	tenant       = "11111111-1111-4111-8111-111111111111"
	spApp        = "aaaaaaaa-0000-4000-8000-000000000001"
	spSecret     = "sp-secret-Zq9xV7"
	certApp      = "aaaaaaaa-0000-4000-8000-000000000002"
	publicApp    = "aaaaaaaa-0000-4000-8000-000000000003"
	wiApp        = "aaaaaaaa-0000-4000-8000-000000000004"
	user         = "alice@contoso.test"
	userPassword = "user-password-Kp3wT8"
	wiIssuer     = "https://oidc.latchkey.test"
	wiSubject    = "system:serviceaccount:apps:reader"
	vault        = "kv-test"
	chinaVault   = "kv-china"
	govVault     = "kv-gov"
)

// testSeed is one tenant, an app per credential kind, and a vault with an
// object of every shape the tests read.
func testSeed(clientCertPEM string) *akvemu.Seed {
	disabled := false
	sealed := false
	return &akvemu.Seed{
		IdentityHeader: "identity-header-" + randomID(),
		Tenants:        []akvemu.TenantSeed{{ID: tenant, Users: []akvemu.UserSeed{{Username: user, Password: userPassword}}}},
		Apps: []akvemu.AppSeed{
			{ClientID: spApp, TenantID: tenant, Secrets: []string{spSecret}},
			{ClientID: certApp, TenantID: tenant, Certificates: []akvemu.PEMSource{{PEM: clientCertPEM}}},
			{ClientID: publicApp, TenantID: tenant, PublicClient: true},
			{ClientID: wiApp, TenantID: tenant, FederatedCredentials: []akvemu.FederatedCredentialSeed{{Issuer: wiIssuer, Subject: wiSubject}}},
		},
		Vaults: []akvemu.VaultSeed{
			{
				Name: vault, TenantID: tenant,
				Secrets: []akvemu.SecretSeed{
					{Name: "plain", Value: to.Ptr("plain-value"), ContentType: "text/plain"},
					{Name: "rotated", Versions: []akvemu.SecretVersionSeed{{Value: "first"}, {Value: "second"}}},
					{Name: "switched-off", Value: to.Ptr("invisible"), Enabled: &disabled},
				},
				Certificates: []akvemu.CertificateSeed{
					{Name: "tls-pfx", Generate: &akvemu.GenerateCertificateSeed{Subject: "CN=pfx.example.test", Chain: "with-intermediate"}},
					{Name: "tls-pem", ContentType: keyvault.ContentTypePEM, Generate: &akvemu.GenerateCertificateSeed{Subject: "CN=pem.example.test", KeyType: "EC"}},
					{Name: "sealed-pfx", Exportable: &sealed, Generate: &akvemu.GenerateCertificateSeed{Subject: "CN=sealed-pfx.example.test"}},
					{Name: "sealed-pem", Exportable: &sealed, ContentType: keyvault.ContentTypePEM, Generate: &akvemu.GenerateCertificateSeed{Subject: "CN=sealed-pem.example.test", KeyType: "EC", Curve: "P-384"}},
				},
				Keys: []akvemu.KeySeed{
					{Name: "signing-rsa", Generate: akvemu.GenerateKeySeed{KeyType: "RSA", KeySize: 2048}},
					{Name: "signing-ec", Generate: akvemu.GenerateKeySeed{KeyType: "EC", Curve: "P-256"}},
					{Name: "signing-ec384", Generate: akvemu.GenerateKeySeed{KeyType: "EC-HSM", Curve: "P-384"}},
				},
			},
			{
				Name: chinaVault, TenantID: tenant, Cloud: "AzureChina",
				Secrets: []akvemu.SecretSeed{{Name: "greeting", Value: to.Ptr("ni-hao")}},
			},
			{
				Name: govVault, TenantID: tenant, Cloud: "AzureUSGovernment",
				Secrets: []akvemu.SecretSeed{{Name: "greeting", Value: to.Ptr("howdy")}},
			},
		},
	}
}

// env is a test emulator with the files credentials read.
type env struct {
	*akvemu.Server
	seed *akvemu.Seed
	dir  string
	// clientCert files: PEM (cert + PKCS#8 key) and PKCS#12 (password pfxPassword).
	certPEMFile, certPFXFile string
}

const pfxPassword = "pfx-password-Rt5yU2"

// newEnv starts an emulator with testSeed and writes the client
// certificate files. extra, if set, changes the seed first.
func newEnv(t *testing.T, extra ...func(*akvemu.Seed)) *env {
	t.Helper()
	dir := t.TempDir()
	certPEM, pemFile, pfxFile := writeClientCert(t, dir)
	seed := testSeed(certPEM)
	for _, f := range extra {
		f(seed)
	}
	return &env{Server: akvemu.StartForTest(t, seed), seed: seed, dir: dir, certPEMFile: pemFile, certPFXFile: pfxFile}
}

// credential builds a credential with the emulator's transport.
func (e *env) credential(t *testing.T, cfg keyvault.AuthConfig) *keyvault.Credential {
	t.Helper()
	cred, err := keyvault.NewCredential(cfg, e.HTTPClient())
	if err != nil {
		t.Fatalf("NewCredential(%v): %v", cfg, err)
	}
	return cred
}

// spCredential is the client-secret service principal.
func (e *env) spCredential(t *testing.T) *keyvault.Credential {
	t.Helper()
	return e.credential(t, keyvault.AuthConfig{Mode: keyvault.ModeEnvironment, TenantID: tenant, ClientID: spApp, ClientSecret: spSecret})
}

// reader is a Reader with the emulator transport and short retry delays.
func (e *env) reader(t *testing.T, cred *keyvault.Credential, o keyvault.ReaderOptions) *keyvault.Reader {
	t.Helper()
	if o.Transport == nil {
		o.Transport = e.HTTPClient()
	}
	if o.RetryDelay == 0 {
		o.RetryDelay = time.Millisecond
	}
	return keyvault.NewReader(cred, o)
}

// count is the number of requests to vault for op answered with status
// (negative: any).
func (e *env) count(v, op string, status int) int64 {
	return e.Counters().Snapshot().Count(v, op, status)
}

// useManagedIdentityEndpoint points azidentity at the emulator's App Service
// style endpoint.
func (e *env) useManagedIdentityEndpoint(t *testing.T) {
	t.Setenv("IDENTITY_ENDPOINT", e.ManagedIdentityEndpoint())
	t.Setenv("IDENTITY_HEADER", e.IdentityHeader())
}

// addManagedIdentity seeds a managed identity with a fresh client ID (MSAL
// caches managed-identity tokens per process, so IDs never repeat).
func (e *env) addManagedIdentity(t *testing.T, systemAssigned bool) string {
	t.Helper()
	id := randomID()
	if err := e.Seed(&akvemu.Seed{Tenants: e.seed.Tenants, ManagedIdentities: []akvemu.ManagedIdentitySeed{{ClientID: id, TenantID: tenant, SystemAssigned: systemAssigned}}}); err != nil {
		t.Fatal(err)
	}
	return id
}

// writeFile writes a file in dir and returns its path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeAzureJSON writes an AKS cloud config.
func writeAzureJSON(t *testing.T, dir string, cfg map[string]any) string {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, "azure-"+randomID()+".json", b)
}

// federatedToken writes a service-account token for the workload identity
// app. Its issuer is not seeded with keys, so the emulator checks claims,
// not the signature.
func federatedToken(t *testing.T, dir string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := map[string]any{"iss": wiIssuer, "sub": wiSubject, "aud": []string{"api://AzureADTokenExchange"}, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "k"})
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, "token-"+randomID(), []byte(input+"."+base64.RawURLEncoding.EncodeToString(sig)))
}

// writeClientCert makes a self-signed client certificate and writes it as a
// PEM file (certificate and PKCS#8 key) and a PKCS#12 file.
func writeClientCert(t *testing.T, dir string) (certPEM, pemFile, pfxFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "latchkey-test-client"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	pemFile = writeFile(t, dir, "client.pem", append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), certPEM...))
	// Modern2023 (AES, SHA-256 MAC): azidentity.ParseCertificates cannot
	// read it, our loader must.
	pfx, err := pkcs12.Modern2023.Encode(key, cert, nil, pfxPassword)
	if err != nil {
		t.Fatal(err)
	}
	pfxFile = writeFile(t, dir, "client.pfx", pfx)
	return certPEM, pemFile, pfxFile
}

// randomID is a fresh GUID-shaped ID.
func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// testCtx ends with the test, after 60 s at most.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// wantClass asserts err is an *Error of class.
func wantClass(t *testing.T, err, class error) *keyvault.Error {
	t.Helper()
	var e *keyvault.Error
	if !errors.As(err, &e) || !errors.Is(err, class) {
		t.Fatalf("want *keyvault.Error of class %q, got %T: %v", class, err, err)
	}
	return e
}

// noneOf asserts msg shows none of the secrets, in any form (leakcheck).
func noneOf(t testing.TB, msg string, secrets ...string) {
	t.Helper()
	leakcheck.Of(t, secrets...).Check(t, "the message", msg)
}

// noResponse asserts msg holds nothing of a raw Entra ID or Key Vault
// response: no JSON, no error description, no token.
func noResponse(t testing.TB, msg string) {
	t.Helper()
	for _, s := range []string{"error_description", "{", "RESPONSE", "Bearer"} {
		if strings.Contains(msg, s) {
			t.Errorf("message holds %q, a piece of the response: %s", s, msg)
		}
	}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// gate holds back vault requests whose path contains match until Open, and
// reports requests cancelled while held.
type gate struct {
	next      policy.Transporter
	match     string
	open      chan struct{}
	once      sync.Once
	cancelled chan struct{}
}

func newGate(next policy.Transporter, match string) *gate {
	return &gate{next: next, match: match, open: make(chan struct{}), cancelled: make(chan struct{}, 100)}
}

func (g *gate) Open() { g.once.Do(func() { close(g.open) }) }

func (g *gate) Do(req *http.Request) (*http.Response, error) {
	if strings.Contains(req.URL.Path, g.match) {
		select {
		case <-g.open:
		case <-req.Context().Done():
			g.cancelled <- struct{}{}
			return nil, req.Context().Err()
		}
	}
	return g.next.Do(req)
}

// recorder is a keyvault.Metrics that reports cache outcomes on a channel.
type recorder struct {
	lookups  chan keyvault.CacheOutcome
	mu       sync.Mutex
	requests map[keyvault.Result]int
	rejected int
	paused   []time.Duration
}

func newRecorder() *recorder {
	return &recorder{lookups: make(chan keyvault.CacheOutcome, 1000), requests: map[keyvault.Result]int{}}
}

func (r *recorder) RequestDone(_ string, _ keyvault.Kind, res keyvault.Result, _ time.Duration) {
	r.mu.Lock()
	r.requests[res]++
	r.mu.Unlock()
}

func (r *recorder) RequestRejected(string) {
	r.mu.Lock()
	r.rejected++
	r.mu.Unlock()
}

func (r *recorder) VaultPaused(_ string, d time.Duration) {
	r.mu.Lock()
	r.paused = append(r.paused, d)
	r.mu.Unlock()
}

func (r *recorder) CacheLookup(o keyvault.CacheOutcome) { r.lookups <- o }

// awaitLookups waits until n cache lookups were recorded and returns them.
func (r *recorder) awaitLookups(t *testing.T, n int) map[keyvault.CacheOutcome]int {
	t.Helper()
	got := map[keyvault.CacheOutcome]int{}
	timeout := time.After(30 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case o := <-r.lookups:
			got[o]++
		case <-timeout:
			t.Fatalf("only %d of %d cache lookups recorded: %v", i, n, got)
		}
	}
	return got
}
