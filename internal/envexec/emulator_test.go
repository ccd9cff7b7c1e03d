package envexec_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
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
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"

	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
	"github.com/latchkey-dev/latchkey/internal/envexec"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// The emulator's identities and objects. Every value is test data, made
// distinctive so a leak into logs or errors is found by substring.
const (
	tenant       = "22222222-2222-4222-8222-222222222222"
	spApp        = "bbbbbbbb-0000-4000-8000-000000000001"
	spSecret     = "sp-secret-Wd3fG5"
	certApp      = "bbbbbbbb-0000-4000-8000-000000000002"
	publicApp    = "bbbbbbbb-0000-4000-8000-000000000003"
	wiApp        = "bbbbbbbb-0000-4000-8000-000000000004"
	user         = "bob@contoso.test"
	userPassword = "user-password-Jk8lM2"
	wiIssuer     = "https://oidc.envexec.test"
	wiSubject    = "system:serviceaccount:apps:web"
	vault        = "kv-envexec"
	lockedVault  = "kv-locked"
	chinaVault   = "kv-envexec-cn"

	dbPassword = "db-password-Aa1Bb2Cc3"
	basicUser  = "alice"
	basicPass  = "basic-pass-Dd4Ee5"
	jsonK1     = "json-one-Ff6"
	jsonK2     = "json-two-Gg7"
	yamlB      = "yaml-b-Hh8"
	padded     = "padded-Ii9"
	chinaValue = "ni-hao-Jj0"
)

// refs are the AzureKeyVaultSecrets of the tests, as the webhook writes them.
var refs = podcontract.Refs{
	"db":           {Vault: vault, Name: "db-password", Type: "secret"},
	"basic":        {Vault: vault, Name: "basic", Type: "secret"},
	"multi":        {Vault: vault, Name: "multi-json", Type: "multi-key-value-secret", ContentType: "application/x-json"},
	"multi-yaml":   {Vault: vault, Name: "multi-yaml", Type: "multi-key-value-secret", ContentType: "application/x-yaml"},
	"padded":       {Vault: vault, Name: "padded", Type: "secret", Transform: []string{"trim"}},
	"web-tls":      {Vault: vault, Name: "web-tls", Type: "certificate"},
	"signing":      {Vault: vault, Name: "signing", Type: "key"},
	"gone":         {Vault: vault, Name: "does-not-exist", Type: "secret"},
	"locked":       {Vault: lockedVault, Name: "locked", Type: "secret"},
	"china":        {Vault: chinaVault, Name: "greeting", Type: "secret"},
	"sealed":       {Vault: vault, Name: "sealed", Type: "certificate"},
	"wrong-vault":  {Vault: "kv-nowhere", Name: "x", Type: "secret"},
	"db-by-alias":  {Vault: vault, Name: "db-password", Type: "secret"},
	"bad-version":  {Vault: vault, Name: "db-password", Type: "secret", Version: "0123456789abcdef0123456789abcdef"},
	"multi-broken": {Vault: vault, Name: "db-password", Type: "multi-key-value-secret", ContentType: "application/x-json"},
}

// emu is the emulator of one test and the files credentials read.
type emu struct {
	*akvemu.Server
	dir                    string
	certPEMFile, tokenFile string
	miClientID             string
	// values are every object's value (a certificate's holds its private
	// key) and the identities' secrets: what logs and errors never show.
	values *leakcheck.Set
	// seeded are the objects' values by name.
	seeded map[string]string
}

func newEmu(t *testing.T) *emu {
	t.Helper()
	dir := t.TempDir()
	certPEM, certPEMFile := writeClientCert(t, dir)
	sealed := false
	miClientID := randomID()
	seed := &akvemu.Seed{
		IdentityHeader: "identity-header-" + randomID(),
		Tenants:        []akvemu.TenantSeed{{ID: tenant, Users: []akvemu.UserSeed{{Username: user, Password: userPassword}}}},
		Apps: []akvemu.AppSeed{
			{ClientID: spApp, TenantID: tenant, Secrets: []string{spSecret}},
			{ClientID: certApp, TenantID: tenant, Certificates: []akvemu.PEMSource{{PEM: certPEM}}},
			{ClientID: publicApp, TenantID: tenant, PublicClient: true},
			{ClientID: wiApp, TenantID: tenant, FederatedCredentials: []akvemu.FederatedCredentialSeed{{Issuer: wiIssuer, Subject: wiSubject}}},
		},
		ManagedIdentities: []akvemu.ManagedIdentitySeed{{ClientID: miClientID, TenantID: tenant}},
		Vaults: []akvemu.VaultSeed{
			{
				Name: vault, TenantID: tenant,
				Secrets: []akvemu.SecretSeed{
					{Name: "db-password", Value: to.Ptr(dbPassword)},
					{Name: "basic", Value: to.Ptr(basicUser + ":" + basicPass)},
					{Name: "multi-json", Value: to.Ptr(`{"k1":"` + jsonK1 + `","k2":"` + jsonK2 + `"}`)},
					{Name: "multi-yaml", Value: to.Ptr("a: yaml-a\nb: " + yamlB + "\n")},
					{Name: "padded", Value: to.Ptr("  " + padded + "\n")},
				},
				Certificates: []akvemu.CertificateSeed{
					{Name: "web-tls", Generate: &akvemu.GenerateCertificateSeed{Subject: "CN=web.envexec.test", Chain: "with-intermediate"}},
					{Name: "sealed", Exportable: &sealed, Generate: &akvemu.GenerateCertificateSeed{Subject: "CN=sealed.envexec.test"}},
				},
				Keys: []akvemu.KeySeed{{Name: "signing", Generate: akvemu.GenerateKeySeed{KeyType: "RSA", KeySize: 2048}}},
			},
			{Name: lockedVault, TenantID: tenant, AllowedPrincipals: []string{randomID()}, Secrets: []akvemu.SecretSeed{{Name: "locked", Value: to.Ptr("locked-Kk1")}}},
			{Name: chinaVault, TenantID: tenant, Cloud: "AzureChina", Secrets: []akvemu.SecretSeed{{Name: "greeting", Value: to.Ptr(chinaValue)}}},
		},
	}
	e := &emu{Server: akvemu.StartForTest(t, seed), dir: dir, certPEMFile: certPEMFile, tokenFile: federatedToken(t, dir), miClientID: miClientID,
		values: leakcheck.Of(t, spSecret, userPassword), seeded: map[string]string{}}
	for _, v := range seed.Vaults {
		for _, s := range v.Secrets {
			e.seeded[s.Name] = *s.Value
			e.values.Add(v.Name+"/"+s.Name, *s.Value)
		}
		for _, c := range v.Certificates {
			e.seeded[c.Name] = e.readRaw(t, keyvault.Ref{Backend: keyvault.Backend, Store: v.Name, Kind: keyvault.KindCertificate, Name: c.Name})
			e.values.Add(v.Name+"/"+c.Name, e.seeded[c.Name])
		}
	}
	e.Counters().Reset() // tests count their own requests
	return e
}

// spEnv is the client-secret service principal's environment.
var spEnv = []string{"AZURE_TENANT_ID=" + tenant, "AZURE_CLIENT_ID=" + spApp, "AZURE_CLIENT_SECRET=" + spSecret}

// result is what one Run did.
type result struct {
	err  error
	exec execCall
	logs string
	took time.Duration
}

// run runs the binary's logic against the emulator with environ plus
// LATCHKEY_REFS, a PATH holding "prog" and debug logs, and captures the exec.
func (e *emu) run(t *testing.T, environ ...string) result {
	t.Helper()
	env := append([]string{"PATH=" + progDir(t), "ENV_INJECTOR_LOG_LEVEL=debug", "LATCHKEY_REFS=" + refs.String()}, environ...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var logs bytes.Buffer
	var r result
	start := time.Now()
	r.err = envexec.Run(ctx, envexec.Options{Argv: []string{"prog", "arg"}, Environ: env, Stderr: &logs, Transport: e.HTTPClient(), Exec: capture(&r.exec)})
	r.took = time.Since(start)
	r.logs = logs.String()
	e.noValues(t, r)
	return r
}

// noValues fails if the logs or the error of a run hold any value of the
// emulator, in any form (leakcheck).
func (e *emu) noValues(t testing.TB, r result) {
	t.Helper()
	e.values.Check(t, "the logs", r.logs)
	if r.err != nil {
		e.values.Check(t, "the error", r.err.Error())
	}
}

// ok asserts the run reached the exec and returns the program's environment.
func (r result) ok(t *testing.T) map[string]string {
	t.Helper()
	if !errors.Is(r.err, errExecuted) {
		t.Fatalf("Run = %v\nlogs:\n%s", r.err, r.logs)
	}
	if r.exec.path == "" || !slices.Equal(r.exec.argv, []string{"prog", "arg"}) {
		t.Fatalf("exec(%q, %q)", r.exec.path, r.exec.argv)
	}
	m := map[string]string{}
	for _, kv := range r.exec.env {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := m[k]; dup {
			t.Errorf("%s twice in the environment", k)
		}
		m[k] = v
	}
	return m
}

func (e *emu) count(v, op string, status int) int64 {
	return e.Counters().Snapshot().Count(v, op, status)
}

// TestDirectModeEveryQuery resolves every kind of placeholder in one start,
// reading each object once.
func TestDirectModeEveryQuery(t *testing.T) {
	e := newEmu(t)
	r := e.run(t, append(spEnv,
		"DB=db@azurekeyvault",
		"DB_AGAIN=db-by-alias@azurekeyvault", // another AKVS, the same object: no second read
		"BASIC_USER=basic@azurekeyvault?username",
		"BASIC_PASS=basic@azurekeyvault?password",
		"K2=multi@azurekeyvault?k2",
		"YB=multi-yaml@azurekeyvault?b",
		"TRIMMED=padded@azurekeyvault",
		"CRT=web-tls@azurekeyvault?tls.crt",
		"KEY=web-tls@azurekeyvault?tls.key",
		"RAW=web-tls@azurekeyvault?raw",
		"PUB=signing@azurekeyvault",
		"MAIL=me@azurekeyvault.example.com",
		"ENV_INJECTOR_RETRIES=1",
	)...).ok(t)

	for k, want := range map[string]string{
		"DB": dbPassword, "DB_AGAIN": dbPassword, "BASIC_USER": basicUser, "BASIC_PASS": basicPass,
		"K2": jsonK2, "YB": yamlB, "TRIMMED": padded, "MAIL": "me@azurekeyvault.example.com",
		"AZURE_TENANT_ID": tenant, "AZURE_CLIENT_ID": spApp, "AZURE_CLIENT_SECRET": spSecret, "ENV_INJECTOR_RETRIES": "1",
	} {
		if r[k] != want {
			t.Errorf("%s = %q, want %q", k, r[k], want)
		}
	}
	if _, ok := r["LATCHKEY_REFS"]; ok {
		t.Error("LATCHKEY_REFS reached the program")
	}
	pair, err := tls.X509KeyPair([]byte(r["CRT"]), []byte(r["KEY"]))
	if err != nil {
		t.Fatalf("tls.crt and tls.key do not make a key pair: %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || leaf.Subject.CommonName != "web.envexec.test" || len(pair.Certificate) != 2 {
		t.Errorf("tls.crt: leaf %v (err %v), %d certificates; want web.envexec.test and its intermediate", leaf.Subject, err, len(pair.Certificate))
	}
	backing := e.readRaw(t, keyvault.Ref{Backend: keyvault.Backend, Store: vault, Kind: keyvault.KindCertificate, Name: "web-tls"})
	if r["RAW"] != backing {
		t.Error("raw is not the certificate's backing secret")
	}
	block, _ := pem.Decode([]byte(r["PUB"]))
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("key: not a PEM public key: %.40q", r["PUB"])
	}
	if pub, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil {
		t.Errorf("key: %v", err)
	} else if _, ok := pub.(*rsa.PublicKey); !ok {
		t.Errorf("key: %T, want RSA", pub)
	}

	// db, basic, multi-json, multi-yaml, padded and web-tls: one read each
	// (raw is read once more by readRaw above); the key once.
	if n := e.count(vault, "GetSecret", http.StatusOK); n != 7 {
		t.Errorf("GetSecret answered 200: %d, want 6 + readRaw's 1", n)
	}
	if n := e.count(vault, "GetKey", http.StatusOK); n != 1 {
		t.Errorf("GetKey answered 200: %d, want 1", n)
	}
	if n := e.count("", "Token", http.StatusOK); n != 2 {
		t.Errorf("tokens issued: %d, want 1 for the run and 1 for readRaw", n)
	}
}

// readRaw reads an object's raw value as Key Vault holds it.
func (e *emu) readRaw(t *testing.T, ref keyvault.Ref) string {
	t.Helper()
	cred, err := keyvault.NewCredential(keyvault.AuthConfigFromEnv(keyvault.ModeEnvironment, envexec.Getenv(spEnv)), e.HTTPClient())
	if err != nil {
		t.Fatal(err)
	}
	obj, err := keyvault.NewReader(cred, keyvault.ReaderOptions{Transport: e.HTTPClient()}).Read(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return string(obj.Value)
}

// TestCertificateReadOnce: tls.crt, tls.key and raw of one certificate cost
// one Key Vault read.
func TestCertificateReadOnce(t *testing.T) {
	e := newEmu(t)
	env := e.run(t, append(spEnv, "CRT=web-tls@azurekeyvault?tls.crt", "KEY=web-tls@azurekeyvault?tls.key", "RAW=web-tls@azurekeyvault?raw", "ALL=web-tls@azurekeyvault")...).ok(t)
	if n := e.count(vault, "", http.StatusOK); n != 1 {
		t.Errorf("vault requests answered 200: %d, want 1", n)
	}
	if env["ALL"] != env["CRT"] || !strings.HasPrefix(env["KEY"], "-----BEGIN ") {
		t.Error("no query must give the chain, tls.key the key")
	}
}

// TestProgramFoundThroughResolvedPATH: the program is looked up in the
// environment it will get, even when PATH itself is a placeholder.
func TestProgramFoundThroughResolvedPATH(t *testing.T) {
	e := newEmu(t)
	dir := progDir(t)
	seed := &akvemu.Seed{
		Tenants: []akvemu.TenantSeed{{ID: tenant}},
		Vaults:  []akvemu.VaultSeed{{Name: vault, TenantID: tenant, Secrets: []akvemu.SecretSeed{{Name: "bin-path", Value: to.Ptr("/nowhere:" + dir)}}}},
	}
	if err := e.Seed(seed); err != nil {
		t.Fatal(err)
	}
	refs := podcontract.Refs{"bin-path": {Vault: vault, Name: "bin-path", Type: "secret"}}
	var logs bytes.Buffer
	var c execCall
	env := append([]string{"PATH=bin-path@azurekeyvault", "LATCHKEY_REFS=" + refs.String()}, spEnv...)
	err := envexec.Run(context.Background(), envexec.Options{Argv: []string{"prog"}, Environ: env, Stderr: &logs, Transport: e.HTTPClient(), Exec: capture(&c)})
	if !errors.Is(err, errExecuted) || c.path != filepath.Join(dir, "prog") {
		t.Fatalf("Run = %v, exec %q; logs:\n%s", err, c.path, logs.String())
	}
}

// TestDirectModeFailures: each failure stops the start with exit code 1, a
// message naming the variable and the AzureKeyVaultSecret, no value, and
// no retry unless it is transient (the wait is an hour: a retry would
// time the test out).
func TestDirectModeFailures(t *testing.T) {
	e := newEmu(t)
	tests := []struct {
		name   string
		env    []string
		reason string
		want   string // in the error
		reads  int64  // vault requests answered with an error
	}{
		{"missing object", []string{"GONE=gone@azurekeyvault"}, "not found", "variable GONE (AzureKeyVaultSecret gone): Key Vault secret kv-envexec/does-not-exist: not found (404 SecretNotFound)", 1},
		{"missing version", []string{"OLD=bad-version@azurekeyvault"}, "not found", "variable OLD (AzureKeyVaultSecret bad-version)", 1},
		{"forbidden", []string{"L=locked@azurekeyvault"}, "forbidden", "variable L (AzureKeyVaultSecret locked): Key Vault secret kv-locked/locked: forbidden (403", 1},
		{"vault does not exist", []string{"W=wrong-vault@azurekeyvault"}, "not found", "variable W (AzureKeyVaultSecret wrong-vault)", 1},
		{"query on a document that is not JSON", []string{"M=multi-broken@azurekeyvault?k"}, "query", "variable M (AzureKeyVaultSecret multi-broken): cannot answer the query", 0},
		{"unknown multi-key key", []string{"M=multi@azurekeyvault?k9"}, "query", "variable M (AzureKeyVaultSecret multi): cannot answer the query", 0},
		{"private key not exportable", []string{"SK=sealed@azurekeyvault?tls.key"}, "query", "variable SK (AzureKeyVaultSecret sealed)", 0},
		{"refused credentials", []string{"AZURE_TENANT_ID=" + tenant, "AZURE_CLIENT_ID=" + spApp, "AZURE_CLIENT_SECRET=wrong-secret-Ll2", "DB=db@azurekeyvault"}, "authentication failed", "variable DB (AzureKeyVaultSecret db): Key Vault secret kv-envexec/db-password: authentication failed", 0},
		{"several variables, one object", []string{"P=basic@azurekeyvault?password", "U=basic@azurekeyvault?username", "AZURE_TENANT_ID=" + tenant, "AZURE_CLIENT_ID=" + randomID(), "AZURE_CLIENT_SECRET=x"}, "authentication failed", "variables P, U (AzureKeyVaultSecret basic)", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.Counters().Reset()
			env := append([]string{"ENV_INJECTOR_WAIT_BEFORE_RETRY=1h"}, tt.env...)
			if !strings.Contains(strings.Join(tt.env, " "), "AZURE_CLIENT_ID") {
				env = append(env, spEnv...)
			}
			r := e.run(t, env...)
			if envexec.ExitCode(r.err) != envexec.ExitFailure || r.exec.path != "" {
				t.Fatalf("Run = %v (exit %d), exec %q: want exit 1 and no exec", r.err, envexec.ExitCode(r.err), r.exec.path)
			}
			if got := envexec.Reason(r.err); got != tt.reason {
				t.Errorf("reason %q, want %q (%v)", got, tt.reason, r.err)
			}
			if !strings.Contains(r.err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", r.err, tt.want)
			}
			if !strings.Contains(r.logs, "level=ERROR") || !strings.Contains(r.logs, tt.want) {
				t.Errorf("logs do not report %q:\n%s", tt.want, r.logs)
			}
			if n := e.count("", "", -1) - e.count("", "", http.StatusOK) - e.count("", "", http.StatusUnauthorized); tt.reads > 0 && n != tt.reads {
				t.Errorf("failed requests: %d, want %d (no retry)", n, tt.reads)
			}
			noneOf(t, r.logs, "wrong-secret-Ll2", "locked-Kk1")
		})
	}
}

// TestDirectModeTransient: 503s are retried after the configured wait, and
// the start succeeds once Key Vault answers; when retries run out, it fails.
func TestDirectModeTransient(t *testing.T) {
	e := newEmu(t)
	fault := func(n int) {
		if err := e.Faults().Set(vault, akvemu.FaultConfig{Rules: []akvemu.FaultRule{{Operation: "GetSecret", Status: http.StatusServiceUnavailable, Count: n}}}); err != nil {
			t.Fatal(err)
		}
	}
	fault(2)
	env := e.run(t, append(spEnv, "DB=db@azurekeyvault", "ENV_INJECTOR_RETRIES=3", "ENV_INJECTOR_WAIT_BEFORE_RETRY=10ms")...).ok(t)
	if env["DB"] != dbPassword {
		t.Errorf("DB = %q", env["DB"])
	}
	if a, b := e.count(vault, "GetSecret", http.StatusServiceUnavailable), e.count(vault, "GetSecret", http.StatusOK); a != 2 || b != 1 {
		t.Errorf("GetSecret: %d × 503, %d × 200; want 2 and 1", a, b)
	}

	e.Counters().Reset()
	fault(0) // for ever
	r := e.run(t, append(spEnv, "DB=db@azurekeyvault", "ENV_INJECTOR_RETRIES=2", "ENV_INJECTOR_WAIT_BEFORE_RETRY=10ms")...)
	if envexec.ExitCode(r.err) != envexec.ExitFailure || envexec.Reason(r.err) != "unavailable" || !strings.Contains(r.err.Error(), "variable DB (AzureKeyVaultSecret db)") {
		t.Fatalf("Run = %v", r.err)
	}
	if n := e.count(vault, "GetSecret", http.StatusServiceUnavailable); n != 3 {
		t.Errorf("GetSecret answered 503 %d times, want 3 (first try and 2 retries)", n)
	}
	if strings.Count(r.logs, "retrying") != 2 {
		t.Errorf("want two retry warnings:\n%s", r.logs)
	}
}

// TestDirectModeThrottled: a 429's Retry-After, longer than the configured
// wait, is honoured.
func TestDirectModeThrottled(t *testing.T) {
	e := newEmu(t)
	if err := e.Faults().Set(vault, akvemu.FaultConfig{Rules: []akvemu.FaultRule{{Operation: "GetSecret", Status: http.StatusTooManyRequests, RetryAfter: time.Second, Count: 1}}}); err != nil {
		t.Fatal(err)
	}
	r := e.run(t, append(spEnv, "DB=db@azurekeyvault", "ENV_INJECTOR_WAIT_BEFORE_RETRY=10ms")...)
	if env := r.ok(t); env["DB"] != dbPassword {
		t.Errorf("DB = %q", env["DB"])
	}
	if r.took < 900*time.Millisecond {
		t.Errorf("start took %v: Retry-After (1 s) not honoured", r.took)
	}
	if a, b := e.count(vault, "GetSecret", http.StatusTooManyRequests), e.count(vault, "GetSecret", http.StatusOK); a != 1 || b != 1 {
		t.Errorf("GetSecret: %d × 429, %d × 200; want 1 and 1", a, b)
	}
	if !strings.Contains(r.logs, "reason=throttled") {
		t.Errorf("no throttling warning:\n%s", r.logs)
	}
}

// TestDirectModeCredentials: every credential the container's environment
// can hold, and a sovereign cloud.
func TestDirectModeCredentials(t *testing.T) {
	e := newEmu(t)
	// azidentity reads the managed-identity endpoint from the process.
	t.Setenv("IDENTITY_ENDPOINT", e.ManagedIdentityEndpoint())
	t.Setenv("IDENTITY_HEADER", e.IdentityHeader())
	tests := []struct {
		name    string
		env     []string
		tokenOp string
	}{
		{"client secret", spEnv, "Token"},
		{"client certificate (AZURE_CLIENT_CERTIFICATE_PATH)", []string{"AZURE_TENANT_ID=" + tenant, "AZURE_CLIENT_ID=" + certApp, "AZURE_CLIENT_CERTIFICATE_PATH=" + e.certPEMFile}, "Token"},
		{"client certificate (akv2k8s's AZURE_CERTIFICATE_PATH)", []string{"AZURE_TENANT_ID=" + tenant, "AZURE_CLIENT_ID=" + certApp, "AZURE_CERTIFICATE_PATH=" + e.certPEMFile}, "Token"},
		{"username and password", []string{"AZURE_TENANT_ID=" + tenant, "AZURE_CLIENT_ID=" + publicApp, "AZURE_USERNAME=" + user, "AZURE_PASSWORD=" + userPassword}, "Token"},
		{"workload identity", []string{"AZURE_TENANT_ID=" + tenant, "AZURE_CLIENT_ID=" + wiApp, "AZURE_FEDERATED_TOKEN_FILE=" + e.tokenFile}, "Token"},
		{"user-assigned managed identity", []string{"AZURE_CLIENT_ID=" + e.miClientID}, "ManagedIdentityToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.count("", tt.tokenOp, http.StatusOK)
			env := e.run(t, append(tt.env, "DB=db@azurekeyvault")...).ok(t)
			if env["DB"] != dbPassword {
				t.Errorf("DB = %q", env["DB"])
			}
			if n := e.count("", tt.tokenOp, http.StatusOK) - before; n != 1 {
				t.Errorf("%s answered 200 %d times, want 1", tt.tokenOp, n)
			}
		})
	}
	t.Run("AZURE_ENVIRONMENT=AzureChinaCloud", func(t *testing.T) {
		env := e.run(t, append(spEnv, "AZURE_ENVIRONMENT=AzureChinaCloud", "HELLO=china@azurekeyvault")...).ok(t)
		if env["HELLO"] != chinaValue {
			t.Errorf("HELLO = %q", env["HELLO"])
		}
		if n := e.count(chinaVault, "GetSecret", http.StatusOK); n != 1 {
			t.Errorf("China vault reads: %d", n)
		}
	})
	t.Run("a public-cloud vault from the China cloud", func(t *testing.T) {
		r := e.run(t, append(spEnv, "AZURE_ENVIRONMENT=AzureChinaCloud", "DB=db@azurekeyvault")...)
		if envexec.ExitCode(r.err) != envexec.ExitFailure || !strings.Contains(r.err.Error(), "variable DB") {
			t.Errorf("Run = %v", r.err)
		}
	})
}

// writeClientCert writes a self-signed client certificate and its key as
// one PEM file.
func writeClientCert(t *testing.T, dir string) (certPEM, file string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "envexec-test-client"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	file = filepath.Join(dir, "client.pem")
	if err := os.WriteFile(file, append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), certPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPEM, file
}

// federatedToken writes a service-account token for the workload identity
// app; its issuer has no keys seeded, so the emulator checks the claims only.
func federatedToken(t *testing.T, dir string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "k"})
	c, _ := json.Marshal(map[string]any{"iss": wiIssuer, "sub": wiSubject, "aud": []string{"api://AzureADTokenExchange"}, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte(input+"."+base64.RawURLEncoding.EncodeToString(sig)), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// randomID is a fresh GUID-shaped ID.
func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
