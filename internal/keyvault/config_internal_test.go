package keyvault

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

func TestParseCloud(t *testing.T) {
	tests := map[string]Cloud{
		"":                       AzurePublicCloud,
		"AzurePublicCloud":       AzurePublicCloud,
		"azurecloud":             AzurePublicCloud,
		"AZUREPUBLICCLOUD":       AzurePublicCloud,
		"\tAzureChinaCloud\n":    AzureChinaCloud,
		"AzureChinaCloud":        AzureChinaCloud,
		"azurechinacloud":        AzureChinaCloud,
		"AzureUSGovernmentCloud": AzureUSGovernmentCloud,
		"AzureUSGovernment":      AzureUSGovernmentCloud,
	}
	for in, want := range tests {
		if got, err := ParseCloud(in); err != nil || got != want {
			t.Errorf("ParseCloud(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"AzureStackCloud", "AzureGermanCloud", "mars"} {
		if _, err := ParseCloud(bad); err == nil {
			t.Errorf("ParseCloud(%q) accepted", bad)
		}
	}
	for _, tt := range []struct {
		cloud                    Cloud
		url, scope, authorityURL string
	}{
		{AzurePublicCloud, "https://kv.vault.azure.net/", "https://vault.azure.net/.default", "https://login.microsoftonline.com/"},
		{AzureChinaCloud, "https://kv.vault.azure.cn/", "https://vault.azure.cn/.default", "https://login.chinacloudapi.cn/"},
		{AzureUSGovernmentCloud, "https://kv.vault.usgovcloudapi.net/", "https://vault.usgovcloudapi.net/.default", "https://login.microsoftonline.us/"},
	} {
		if tt.cloud.VaultURL("kv") != tt.url || tt.cloud.TokenScope() != tt.scope || tt.cloud.AuthorityHost() != tt.authorityURL {
			t.Errorf("%s: %s %s %s", tt.cloud, tt.cloud.VaultURL("kv"), tt.cloud.TokenScope(), tt.cloud.AuthorityHost())
		}
	}
}

// TestAzureJSONSpec: which credential an AKS cloud config resolves to.
func TestAzureJSONSpec(t *testing.T) {
	const rid = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/kubelet"
	tests := []struct {
		name         string
		cfg          azureJSON
		wantIdentity string
		wantErr      string
	}{
		{"client secret", azureJSON{TenantID: "t", AADClientID: "c", AADClientSecret: "s"}, "sp:t/c", ""},
		{"client certificate", azureJSON{TenantID: "t", AADClientID: "c", AADClientCertPath: "/p"}, "sp:t/c", ""},
		{"secret wins over certificate", azureJSON{TenantID: "t", AADClientID: "c", AADClientSecret: "s", AADClientCertPath: "/p"}, "sp:t/c", ""},
		{"AKS managed identity cluster (msi)", azureJSON{TenantID: "t", AADClientID: "msi", AADClientSecret: "msi", UseManagedIdentityExtension: true, UserAssignedIdentityID: "kubelet-id"}, "mi:kubelet-id", ""},
		{"msi without the flag", azureJSON{AADClientID: "MSI", AADClientSecret: "msi"}, "mi:system", ""},
		{"managed identity by resource ID", azureJSON{UseManagedIdentityExtension: true, UserAssignedIdentityID: rid}, "mi:" + rid, ""},
		{"system-assigned", azureJSON{UseManagedIdentityExtension: true}, "mi:system", ""},
		{"workload identity first", azureJSON{TenantID: "t", AADClientID: "c", UseFederatedWorkloadIdentityExtension: true, AADFederatedTokenFile: "/f", UseManagedIdentityExtension: true}, "wi:t/c", ""},
		{"workload identity without file", azureJSON{TenantID: "t", AADClientID: "c", UseFederatedWorkloadIdentityExtension: true}, "", "aadFederatedTokenFile"},
		{"secret without tenant", azureJSON{AADClientID: "c", AADClientSecret: "s"}, "", "tenantId"},
		{"nothing", azureJSON{TenantID: "t"}, "", "names no credential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.cfg.spec("/etc/kubernetes/azure.json")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || s.identity() != tt.wantIdentity {
				t.Fatalf("identity %q, err %v; want %q", s.identity(), err, tt.wantIdentity)
			}
		})
	}
	if k := managedIDKind(rid); fmt.Sprintf("%T", k) != "azidentity.ResourceID" {
		t.Errorf("resource ID taken as %T", k)
	}
	if k := managedIDKind("guid"); fmt.Sprintf("%T", k) != "azidentity.ClientID" {
		t.Errorf("client ID taken as %T", k)
	}
}

// TestEnvironmentOrder: ModeEnvironment picks client secret, certificate,
// username, workload identity, then managed identity.
func TestEnvironmentOrder(t *testing.T) {
	base := map[string]string{EnvTenantID: "t", EnvClientID: "c"}
	with := func(kv ...string) func(string) string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name   string
		getenv func(string) string
		want   string
	}{
		{"everything set: secret", with(EnvClientSecret, "s", EnvCertificatePath, "/c", EnvUsername, "u", EnvPassword, "p", EnvFederatedTokenFile, "/f"), "sp:t/c"},
		{"certificate before username", with(EnvCertificatePath, "/c", EnvUsername, "u", EnvPassword, "p"), "sp:t/c"},
		{"azidentity's certificate variable", with(EnvClientCertificatePath, "/c"), "sp:t/c"},
		{"username before workload identity", with(EnvUsername, "u", EnvPassword, "p", EnvFederatedTokenFile, "/f"), "user:t/c/u"},
		{"workload identity", with(EnvFederatedTokenFile, "/f"), "wi:t/c"},
		{"client ID alone: user-assigned managed identity", with(), "mi:c"},
		{"nothing: system-assigned", func(string) string { return "" }, "mi:system"},
	}
	for _, tt := range tests {
		cfg := AuthConfigFromEnv(ModeEnvironment, tt.getenv)
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if got := cfg.environmentSpec().identity(); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
	cfg := AuthConfigFromEnv(ModeEnvironment, with(EnvCertificatePath, "/akv2k8s", EnvClientCertificatePath, "/azidentity"))
	if cfg.CertificatePath != "/akv2k8s" {
		t.Errorf("AZURE_CERTIFICATE_PATH should win: %q", cfg.CertificatePath)
	}
	if cfg := AuthConfigFromEnv(ModeManagedIdentity, with()); cfg.ManagedIdentityID != "c" {
		t.Errorf("managed-identity mode ignores AZURE_CLIENT_ID: %+v", cfg)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  AuthConfig
		want []string // every fragment must appear; none: valid
	}{
		{"default mode", AuthConfig{}, nil},
		{"environment secret without tenant and client", AuthConfig{Mode: ModeEnvironment, ClientSecret: "s"}, []string{EnvTenantID, EnvClientID}},
		{"username without password", AuthConfig{Mode: ModeEnvironment, TenantID: "t", ClientID: "c", Username: "u"}, []string{EnvPassword}},
		{"workload identity incomplete", AuthConfig{Mode: ModeWorkloadIdentity, ClientID: "c"}, []string{EnvTenantID, EnvFederatedTokenFile}},
		{"managed identity", AuthConfig{Mode: ModeManagedIdentity}, nil},
		{"azidentity chain", AuthConfig{Mode: ModeEnvironmentAzidentity}, nil},
		{"unknown mode", AuthConfig{Mode: "aad-pod-identity"}, []string{"unknown authentication mode", "environment-azidentity"}},
		{"unknown cloud", AuthConfig{Mode: ModeManagedIdentity, Cloud: "AzureGermanCloud"}, []string{EnvEnvironment, "AzureGermanCloud"}},
		{"http authority", AuthConfig{Mode: ModeManagedIdentity, AuthorityHost: "http://login.example"}, []string{EnvAuthorityHost}},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if len(tt.want) == 0 {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %v lacks %q", tt.name, err, w)
			}
		}
		if err != nil && strings.Contains(err.Error(), "\"s\"") {
			t.Errorf("%s: secret in %v", tt.name, err)
		}
	}
}

func TestAuthConfigRedaction(t *testing.T) {
	cfg := AuthConfig{Mode: ModeEnvironment, TenantID: "tenant-1", ClientID: "client-1", ClientSecret: "s3cret-A", CertificatePassword: "s3cret-B", Username: "u", Password: "s3cret-C"}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "auth", cfg)
	out := fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg) + logged.String()
	for _, s := range []string{"s3cret-A", "s3cret-B", "s3cret-C"} {
		if strings.Contains(out, s) {
			t.Fatalf("secret %q printed: %s", s, out)
		}
	}
	if !strings.Contains(out, "client-1") || !strings.Contains(out, redacted) {
		t.Fatalf("description lost: %s", out)
	}
}

func TestPublicKey(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pt, _ := ec.PublicKey.Bytes() // 0x04 || X || Y, fixed width
	size := (521 + 7) / 8
	x, y := bytes.TrimLeft(pt[1:1+size], "\x00"), bytes.TrimLeft(pt[1+size:], "\x00") // JWKs may drop leading zeros
	good, err := publicKey(&azkeys.JSONWebKey{Kty: to.Ptr(azkeys.KeyTypeEC), Crv: to.Ptr(azkeys.CurveNameP521), X: x, Y: y})
	if err != nil || !ec.PublicKey.Equal(good) {
		t.Fatalf("P-521: %v", err)
	}
	offCurve := append([]byte(nil), y...)
	offCurve[len(offCurve)-1] ^= 1
	for name, k := range map[string]*azkeys.JSONWebKey{
		"point not on curve":  {Kty: to.Ptr(azkeys.KeyTypeEC), Crv: to.Ptr(azkeys.CurveNameP521), X: x, Y: offCurve},
		"secp256k1":           {Kty: to.Ptr(azkeys.KeyTypeEC), Crv: to.Ptr(azkeys.CurveNameP256K), X: []byte{1}, Y: []byte{1}},
		"symmetric":           {Kty: to.Ptr(azkeys.KeyTypeOct), K: []byte("k")},
		"RSA without modulus": {Kty: to.Ptr(azkeys.KeyTypeRSA), E: []byte{1, 0, 1}},
		"RSA exponent 1":      {Kty: to.Ptr(azkeys.KeyTypeRSA), N: []byte{0xff}, E: []byte{1}},
		"no type":             {},
	} {
		if _, err := publicKey(k); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	l := NewLimiter(LimiterOptions{Rate: 1, Burst: 2, Now: clock})
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if d, err := l.Acquire(ctx, "a"); d != 0 || err != nil {
			t.Fatalf("burst token %d: %v %v", i, d, err)
		}
	}
	// The bucket is empty: the next token is a second away, longer than the caller waits.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(short, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting past the deadline: %v", err)
	}
	if d, err := l.Acquire(ctx, "b"); d != 0 || err != nil {
		t.Fatalf("another vault waits: %v %v", d, err)
	}
	if got := l.Pause("b", 0); got != DefaultThrottlePause {
		t.Fatalf("default pause %v", got)
	}
	if got := l.Pause("b", time.Second); got != DefaultThrottlePause {
		t.Fatalf("a shorter pause shortened the running one: %v", got)
	}
	if got := l.Pause("c", 24*time.Hour); got != MaxThrottlePause {
		t.Fatalf("pause not capped: %v", got)
	}
	if d, err := l.Acquire(ctx, "b"); d != DefaultThrottlePause || err != nil {
		t.Fatalf("paused vault: %v %v", d, err)
	}
	now = now.Add(DefaultThrottlePause)
	if l.PausedFor("b") != 0 {
		t.Fatal("pause did not end")
	}
}

// PausedFor is how long requests to vault remain paused (zero: not paused).
func (l *Limiter) PausedFor(vault string) time.Duration { return l.remaining(l.vault(vault)) }

// TokenScope is the scope of vault tokens, e.g. https://vault.azure.net/.default.
// The Key Vault clients take it from the vault's authentication challenge;
// the test holds each cloud's to the scope Azure documents.
func (c Cloud) TokenScope() string { return "https://" + c.VaultSuffix() + "/.default" }
