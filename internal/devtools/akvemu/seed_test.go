package akvemu_test

import (
	"context"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
)

// The identities of testdata/seed.yaml.
const (
	sampleTenant   = "72f988bf-0000-4000-8000-00000000000a"
	sampleSecretID = "0a1b2c3d-0000-4000-8000-000000000001"
	sampleCertApp  = "0a1b2c3d-0000-4000-8000-000000000002"
	sampleWIApp    = "0a1b2c3d-0000-4000-8000-000000000003"
	samplePublic   = "0a1b2c3d-0000-4000-8000-000000000004"
	sampleVault    = "https://sample-vault.vault.azure.net"
)

func startSample(t *testing.T) *akvemu.Server {
	t.Helper()
	seed, err := akvemu.LoadSeedFile("testdata/seed.yaml")
	if err != nil {
		t.Fatalf("LoadSeedFile: %v", err)
	}
	return akvemu.StartForTest(t, seed)
}

func TestSampleSeedObjects(t *testing.T) {
	s := startSample(t)
	cred := secretCredential(t, s, sampleTenant, sampleSecretID, "sample-client-secret")
	vc := vaultClients{
		secrets: secretsClient(t, s, sampleVault, cred),
		certs:   certsClient(t, s, sampleVault, cred),
		keys:    keysClient(t, s, sampleVault, cred),
	}
	for name, want := range map[string]string{"plain": "plain-value", "rotated": "second", "json-settings": `{"user":"app","password":"p4ss"}`} {
		got, err := vc.secrets.GetSecret(ctx(t), name, "", nil)
		if err != nil || *got.Value != want {
			t.Errorf("secret %s: %v", name, err)
		}
	}
	rotated, _ := vc.secrets.GetSecret(ctx(t), "rotated", "", nil)
	if *rotated.Tags["owner"] != "platform" || *rotated.ContentType != "text/plain" {
		t.Errorf("rotated: %+v", rotated)
	}
	_, err := vc.secrets.GetSecret(ctx(t), "switched-off", "", nil)
	responseError(t, err, http.StatusForbidden, "Forbidden")

	for _, tt := range []struct {
		name      string
		chain     int
		exportabl bool
	}{
		{"tls-from-pfx", 2, true},
		{"tls-from-pem", 2, true},
		{"tls-inline", 1, true},
		{"tls-generated", 2, true},
		{"tls-generated-ec-sealed", 1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cert := checkCertificate(t, vc, tt.name, tt.chain, tt.exportabl)
			leaf, _ := x509.ParseCertificate(cert.CER)
			if tt.name == "tls-generated" && (len(leaf.DNSNames) != 2 || leaf.Subject.CommonName != "app.example.test" || leaf.Issuer.CommonName == leaf.Subject.CommonName) {
				t.Errorf("generated leaf %s (%v) issued by %s", leaf.Subject, leaf.DNSNames, leaf.Issuer)
			}
		})
	}
	for name, kty := range map[string]azkeys.KeyType{"signing-rsa": azkeys.KeyTypeRSA, "signing-ec": azkeys.KeyTypeEC} {
		k, err := vc.keys.GetKey(ctx(t), name, "", nil)
		if err != nil || *k.Key.Kty != kty {
			t.Errorf("key %s: %v", name, err)
			continue
		}
		assertPublicOnly(t, k.Key)
	}
}

func TestSampleSeedIdentities(t *testing.T) {
	s := startSample(t)
	read := func(t *testing.T, cred azcore.TokenCredential) {
		t.Helper()
		got, err := secretsClient(t, s, sampleVault, cred).GetSecret(ctx(t), "plain", "", nil)
		if err != nil || *got.Value != "plain-value" {
			t.Fatalf("GetSecret: %v", err)
		}
	}
	certCred := func(t *testing.T, opts azcore.ClientOptions) azcore.TokenCredential {
		t.Helper()
		data, err := os.ReadFile("testdata/app-client.pem")
		if err != nil {
			t.Fatal(err)
		}
		certs, key, err := azidentity.ParseCertificates(data, nil)
		if err != nil {
			t.Fatal(err)
		}
		cred, err := azidentity.NewClientCertificateCredential(sampleTenant, sampleCertApp, certs, key, &azidentity.ClientCertificateCredentialOptions{ClientOptions: opts})
		if err != nil {
			t.Fatal(err)
		}
		return cred
	}
	t.Run("client certificate", func(t *testing.T) {
		read(t, certCred(t, s.ClientOptions()))
	})
	t.Run("workload identity", func(t *testing.T) {
		tok := signToken(t, issuerKey(t), "issuer-key-1", map[string]any{
			"iss": "https://oidc.cluster.example", "sub": "system:serviceaccount:default:workload",
			"aud": "api://AzureADTokenExchange", "exp": time.Now().Add(time.Hour).Unix(),
		})
		file := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(file, []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
		cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{ClientOptions: s.ClientOptions(), ClientID: sampleWIApp, TenantID: sampleTenant, TokenFilePath: file})
		if err != nil {
			t.Fatal(err)
		}
		read(t, cred)
	})
	t.Run("password by tenant domain", func(t *testing.T) {
		//nolint:staticcheck // deprecated in Azure, still configured by akv2k8s users
		cred, err := azidentity.NewUsernamePasswordCredential("contoso.example", samplePublic, "alice@contoso.example", "correct-horse-battery-staple", &azidentity.UsernamePasswordCredentialOptions{
			ClientOptions: s.ClientOptions(), AdditionallyAllowedTenants: []string{sampleTenant},
		})
		if err != nil {
			t.Fatal(err)
		}
		read(t, cred)
	})
	t.Run("managed identity", func(t *testing.T) {
		t.Setenv("IDENTITY_ENDPOINT", s.ManagedIdentityEndpoint())
		t.Setenv("IDENTITY_HEADER", "local-identity-header")
		cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: s.ClientOptions(),
			ID: azidentity.ResourceID("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/sample")})
		if err != nil {
			t.Fatal(err)
		}
		read(t, cred)
	})
	t.Run("china vault with an access list", func(t *testing.T) {
		opts := s.ClientOptions()
		opts.Cloud = cloud.AzureChina
		cred, err := azidentity.NewClientSecretCredential(sampleTenant, sampleSecretID, "sample-client-secret", &azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
		if err != nil {
			t.Fatal(err)
		}
		got, err := secretsClient(t, s, "https://sample-vault-cn.vault.azure.cn", cred).GetSecret(ctx(t), "greeting", "", nil)
		if err != nil || *got.Value != "ni-hao" {
			t.Fatalf("GetSecret: %v", err)
		}
		// The certificate app is of the same tenant but not on the vault's access list.
		_, err = secretsClient(t, s, "https://sample-vault-cn.vault.azure.cn", certCred(t, opts)).GetSecret(ctx(t), "greeting", "", nil)
		responseError(t, err, http.StatusForbidden, "Forbidden")
	})
}

func TestParseSeedRejects(t *testing.T) {
	tests := map[string]string{
		"unknown field":           "tenants: [{id: t1}]\nvault: []\n",
		"vault of unknown tenant": "vaults: [{name: kv-one, tenantId: nope}]\n",
		"bad vault name":          "tenants: [{id: t1}]\nvaults: [{name: x, tenantId: t1}]\n",
		"bad cloud":               "tenants: [{id: t1}]\nvaults: [{name: kv-one, tenantId: t1, cloud: Mars}]\n",
		"value and versions":      "tenants: [{id: t1}]\nvaults: [{name: kv-one, tenantId: t1, secrets: [{name: s, value: a, versions: [{value: b}]}]}]\n",
		"no value":                "tenants: [{id: t1}]\nvaults: [{name: kv-one, tenantId: t1, secrets: [{name: s}]}]\n",
		"bad secret name":         "tenants: [{id: t1}]\nvaults: [{name: kv-one, tenantId: t1, secrets: [{name: a_b, value: x}]}]\n",
		"two certificate sources": "tenants: [{id: t1}]\nvaults: [{name: kv-one, tenantId: t1, certificates: [{name: c, pem: x, pemFile: y}]}]\n",
		"two system identities":   "tenants: [{id: t1}]\nmanagedIdentities: [{clientId: a, tenantId: t1, systemAssigned: true}, {clientId: b, tenantId: t1, systemAssigned: true}]\n",
		"app without client id":   "tenants: [{id: t1}]\napps: [{tenantId: t1}]\n",
		"not yaml":                "{{{",
	}
	for name, doc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := akvemu.ParseSeed([]byte(doc)); err == nil {
				t.Fatalf("accepted:\n%s", doc)
			}
		})
	}
	if _, err := akvemu.New(akvemu.Options{Seed: &akvemu.Seed{
		Tenants: []akvemu.TenantSeed{{ID: "t1"}},
		Vaults:  []akvemu.VaultSeed{{Name: "kv-one", TenantID: "t1", Certificates: []akvemu.CertificateSeed{{Name: "c", PEMFile: "missing.pem"}}}},
	}}); err == nil {
		t.Fatal("a seed naming a missing file started")
	}
}

func FuzzParseSeed(f *testing.F) {
	sample, err := os.ReadFile("testdata/seed.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(sample))
	f.Add("tenants: [{id: t}]\nvaults: [{name: kv-one, tenantId: t, secrets: [{name: s, value: v}]}]\n")
	f.Add("identityHeader: h\n")
	f.Fuzz(func(t *testing.T, doc string) {
		seed, err := akvemu.ParseSeed([]byte(doc))
		if err != nil {
			return
		}
		if err := seed.Validate(); err != nil {
			t.Fatalf("ParseSeed returned a seed that does not validate: %v", err)
		}
	})
}

func TestRun(t *testing.T) {
	caOut := filepath.Join(t.TempDir(), "ca.pem")
	seed, err := akvemu.LoadSeedFile("testdata/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- akvemu.Run(runCtx, akvemu.Options{Seed: seed, CAOut: caOut}, pw)
		_ = pw.Close()
	}()
	buf := make([]byte, 4096)
	n, err := pr.Read(buf)
	if err != nil {
		t.Fatalf("reading the banner: %v", err)
	}
	banner := string(buf[:n])
	if !strings.Contains(banner, "listening on 127.0.0.1:") || !strings.Contains(banner, caOut) {
		t.Fatalf("banner:\n%s", banner)
	}
	ca, err := os.ReadFile(caOut)
	if err != nil || !strings.Contains(string(ca), "BEGIN CERTIFICATE") {
		t.Fatalf("CA file: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
