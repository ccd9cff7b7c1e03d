package akvemu_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"

	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
)

// endless is n bytes of fill, made as they are read.
type endless struct {
	prefix string
	n      int64
}

func (e *endless) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), e.n)]
	k := copy(p, e.prefix)
	e.prefix = e.prefix[k:]
	for i := k; i < len(p); i++ {
		p[i] = ' '
	}
	e.n -= int64(len(p))
	return len(p), nil
}

// admin sends an admin request and returns the status and body, or -1 when
// the emulator closed the connection before answering.
func admin(t *testing.T, s *akvemu.Server, method, path string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), method, s.URL()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		return -1, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// TestAdminFaultsBounded: the fault endpoint refuses oversized bodies
// before parsing them (within a memory bound), configurations beyond the
// counts and durations, and keeps serving.
func TestAdminFaultsBounded(t *testing.T) {
	s := akvemu.StartForTest(t, withSecret(baseSeed()))

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	status, body := admin(t, s, http.MethodPut, "/_emulator/faults", &endless{prefix: `{"rules":[`, n: 256 << 20})
	runtime.ReadMemStats(&after)
	if status != http.StatusRequestEntityTooLarge && status != -1 {
		t.Errorf("256 MiB body: %d %s, want 413 (or the connection closed)", status, body)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
		t.Errorf("a 256 MiB body cost %d MiB", grew>>20)
	}
	if status, body := admin(t, s, http.MethodPut, "/_emulator/faults", strings.NewReader(`{"rules":[`+strings.Repeat(" ", 2<<20)+`]}`)); status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than") {
		t.Errorf("2 MiB body: %d %s, want 413 saying it is too large", status, body)
	}

	rules := strings.TrimSuffix(strings.Repeat(`{"status":503},`, 1001), ",")
	for name, tc := range map[string]struct{ path, body, want string }{
		"1001 rules":        {"/_emulator/faults", `{"rules":[` + rules + `]}`, "1001 rules, more than 1000"},
		"an hour's latency": {"/_emulator/faults", `{"rules":[{"latency":"1h"}]}`, "a duration over 10m0s"},
		"unknown field":     {"/_emulator/faults", `{"rules":[{"status":503,"delay":"1s"}]}`, "unknown field"},
		"endless throttle":  {"/_emulator/faults", `{"throttle":{"rate":1e-300,"burst":1}}`, "throttle needs a rate"},
		"huge burst":        {"/_emulator/faults", `{"throttle":{"rate":1,"burst":1000000000}}`, "throttle needs a rate"},
		"bad vault name":    {"/_emulator/faults?vault=" + strings.Repeat("v", 100), `{}`, "invalid vault name"},
	} {
		if status, body := admin(t, s, http.MethodPut, tc.path, strings.NewReader(tc.body)); status != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want 400 saying %q", name, status, body, tc.want)
		}
	}

	for i := range 999 { // vault-a has none yet: 999 others and vault-a make 1000
		if err := s.Faults().Set(fmt.Sprintf("vault-%04d", i), akvemu.FaultConfig{}); err != nil {
			t.Fatalf("vault %d: %v", i, err)
		}
	}
	if status, body := admin(t, s, http.MethodPut, "/_emulator/faults?vault="+vaultA, strings.NewReader(`{"rules":[{"latency":"1ms"}]}`)); status != http.StatusOK {
		t.Fatalf("the 1000th vault: %d %s", status, body)
	}
	if status, body := admin(t, s, http.MethodPut, "/_emulator/faults?vault=vault-extra", strings.NewReader(`{}`)); status != http.StatusBadRequest || !strings.Contains(body, "1000 vaults") {
		t.Errorf("the 1001st vault: %d %s, want 400", status, body)
	}
	if status, body := admin(t, s, http.MethodPut, "/_emulator/faults?vault="+vaultA, strings.NewReader(`{"rules":[{"latency":"2ms"}]}`)); status != http.StatusOK {
		t.Errorf("changing a vault that has one: %d %s", status, body)
	}

	c := appASecrets(t, s)
	if got, err := c.GetSecret(ctx(t), "greeting", "", nil); err != nil || *got.Value != "hello" {
		t.Fatalf("after the refused inputs: %v", err)
	}
}

// TestSeedBounded: seeds, and the files they name, are refused beyond
// their bounds before they are parsed or generated.
func TestSeedBounded(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, bytes.Repeat([]byte("# padding\n"), 17<<20/10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := akvemu.LoadSeedFile(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("17 MiB seed file: %v", err)
	}
	if _, err := akvemu.ParseSeed(bytes.Repeat([]byte(" "), 17<<20)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("17 MiB seed: %v", err)
	}

	seedWith := func(v akvemu.VaultSeed) *akvemu.Seed {
		s := baseSeed()
		v.Name, v.TenantID = "kv-bounds", tenantA
		s.Vaults = append(s.Vaults, v)
		return s
	}
	keys := make([]akvemu.KeySeed, 257)
	for i := range keys {
		keys[i] = akvemu.KeySeed{Name: fmt.Sprintf("k%d", i)}
	}
	secrets := make([]akvemu.SecretSeed, 100_001)
	for i := range secrets {
		secrets[i] = akvemu.SecretSeed{Name: fmt.Sprintf("s%d", i), Value: to.Ptr("v")}
	}
	pemFile := filepath.Join(dir, "big.pem")
	if err := os.WriteFile(pemFile, bytes.Repeat([]byte("-----BEGIN CERTIFICATE-----\n"), 2<<20/28), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		seed *akvemu.Seed
		want string
	}{
		"257 keys to generate": {seedWith(akvemu.VaultSeed{Keys: keys}), "257 keys and certificates to generate, more than 256"},
		"100001 secrets":       {seedWith(akvemu.VaultSeed{Secrets: secrets}), "100001 secret versions, certificates and keys, more than 100000"},
		"a 5 MiB value":        {seedWith(akvemu.VaultSeed{Secrets: []akvemu.SecretSeed{{Name: "s", Value: to.Ptr(strings.Repeat("v", 5<<20))}}}), "value larger than"},
		"a 5 MiB version":      {seedWith(akvemu.VaultSeed{Secrets: []akvemu.SecretSeed{{Name: "s", Versions: []akvemu.SecretVersionSeed{{Value: strings.Repeat("v", 5<<20)}}}}}), "value larger than"},
		"a 2 MiB PEM file":     {seedWith(akvemu.VaultSeed{Certificates: []akvemu.CertificateSeed{{Name: "c", PEMFile: pemFile}}}), "larger than"},
	} {
		start := time.Now()
		_, err := akvemu.New(akvemu.Options{Seed: tc.seed})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one saying %q", name, err, tc.want)
		}
		t.Logf("%s: refused in %s", name, time.Since(start).Round(time.Millisecond))
	}
}
