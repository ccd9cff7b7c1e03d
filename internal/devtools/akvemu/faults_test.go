package akvemu_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
)

// warm makes the client's first (challenge) round trip, so faults meet only
// the requests a test is about.
func warm(t *testing.T, c *azsecrets.Client) {
	t.Helper()
	if _, err := c.GetSecret(ctx(t), "greeting", "", nil); err != nil {
		t.Fatalf("warm-up read: %v", err)
	}
}

func setFaults(t *testing.T, s *akvemu.Server, vault string, cfg akvemu.FaultConfig) {
	t.Helper()
	if err := s.Faults().Set(vault, cfg); err != nil {
		t.Fatalf("Faults().Set: %v", err)
	}
}

func TestFaultLatency(t *testing.T) {
	s := akvemu.StartForTest(t, withSecret(baseSeed()))
	c := appASecrets(t, s)
	warm(t, c)
	const latency = 150 * time.Millisecond
	setFaults(t, s, vaultA, akvemu.FaultConfig{Rules: []akvemu.FaultRule{{Operation: "GetSecret", Latency: latency}}})
	start := time.Now()
	if _, err := c.GetSecret(ctx(t), "greeting", "", nil); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < latency {
		t.Fatalf("read took %s, want at least %s", el, latency)
	}
}

func TestFaultRetryAfterIsHonoured(t *testing.T) {
	s := akvemu.StartForTest(t, withSecret(baseSeed()))
	c := appASecrets(t, s)
	warm(t, c)
	setFaults(t, s, vaultA, akvemu.FaultConfig{Rules: []akvemu.FaultRule{{Status: http.StatusTooManyRequests, RetryAfter: time.Second, Count: 1}}})
	s.Counters().Reset()
	start := time.Now()
	got, err := c.GetSecret(ctx(t), "greeting", "", nil)
	if err != nil || *got.Value != "hello" {
		t.Fatalf("the SDK should retry after the 429: %v", err)
	}
	if el := time.Since(start); el < time.Second {
		t.Fatalf("retried after %s, before Retry-After", el)
	}
	snap := s.Counters().Snapshot()
	if snap.Count(vaultA, "GetSecret", http.StatusTooManyRequests) != 1 || snap.Count(vaultA, "GetSecret", http.StatusOK) != 1 {
		t.Fatalf("counters %+v", snap.Counters)
	}
}

func TestFaultServerErrors(t *testing.T) {
	s := akvemu.StartForTest(t, withSecret(baseSeed()))
	c := appASecrets(t, s)
	warm(t, c)
	setFaults(t, s, vaultA, akvemu.FaultConfig{Rules: []akvemu.FaultRule{{Status: http.StatusServiceUnavailable, Count: 2}}})
	if _, err := c.GetSecret(ctx(t), "greeting", "", nil); err != nil {
		t.Fatalf("two 503s are within the SDK's retries: %v", err)
	}
	// Scoped to one operation: reads fail for good, writes still work.
	setFaults(t, s, vaultA, akvemu.FaultConfig{Rules: []akvemu.FaultRule{{Operation: "GetSecret", Status: http.StatusInternalServerError}}})
	_, err := c.GetSecret(ctx(t), "greeting", "", nil)
	responseError(t, err, http.StatusInternalServerError, "Internal Server Error")
	if _, err := c.SetSecret(ctx(t), "other", azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil); err != nil {
		t.Fatalf("SetSecret is not faulted: %v", err)
	}
	if n := s.Counters().Snapshot().Count(vaultA, "GetSecret", http.StatusInternalServerError); n != 4 {
		t.Fatalf("500s counted %d, want 4 (a try and 3 retries)", n)
	}
}

func TestFaultDroppedConnection(t *testing.T) {
	s := akvemu.StartForTest(t, withSecret(baseSeed()))
	c := appASecrets(t, s)
	warm(t, c)
	setFaults(t, s, vaultA, akvemu.FaultConfig{Rules: []akvemu.FaultRule{{Drop: true, Count: 1}}})
	if _, err := c.GetSecret(ctx(t), "greeting", "", nil); err != nil {
		t.Fatalf("one dropped connection is retried: %v", err)
	}
	if n := s.Counters().Snapshot().Count(vaultA, "GetSecret", akvemu.StatusDropped); n != 1 {
		t.Fatalf("dropped connections counted %d", n)
	}
	setFaults(t, s, vaultA, akvemu.FaultConfig{Rules: []akvemu.FaultRule{{Drop: true}}})
	_, err := c.GetSecret(ctx(t), "greeting", "", nil)
	var re *azcore.ResponseError
	if err == nil || errors.As(err, &re) {
		t.Fatalf("want a transport error, got %v", err)
	}
}

func TestFaultThrottle(t *testing.T) {
	// A frozen clock: the bucket never refills during the test.
	frozen := time.Now()
	s, err := akvemu.New(akvemu.Options{Seed: withSecret(baseSeed()), Now: func() time.Time { return frozen }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	opts := s.ClientOptions()
	opts.Retry.MaxRetries = -1
	c, err := azsecrets.NewClient(vaultURL(vaultA), secretCredential(t, s, tenantA, appA, appASecret), &azsecrets.ClientOptions{ClientOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	warm(t, c)
	setFaults(t, s, "", akvemu.FaultConfig{Throttle: &akvemu.Throttle{Rate: 0.5, Burst: 3}})
	for i := range 3 {
		if _, err := c.GetSecret(ctx(t), "greeting", "", nil); err != nil {
			t.Fatalf("read %d within the burst: %v", i, err)
		}
	}
	_, err = c.GetSecret(ctx(t), "greeting", "", nil)
	responseError(t, err, http.StatusTooManyRequests, "Throttled")
	var re *azcore.ResponseError
	errors.As(err, &re)
	if ra := re.RawResponse.Header.Get("Retry-After"); ra != "2" {
		t.Fatalf("Retry-After %q, want 2 (one token at 0.5/s)", ra)
	}
}

func TestAdminEndpoints(t *testing.T) {
	s := akvemu.StartForTest(t, withSecret(baseSeed()))
	c := appASecrets(t, s)
	warm(t, c)
	hc := s.HTTPClient()
	do := func(method, path string, body any) (int, []byte) {
		t.Helper()
		var buf bytes.Buffer
		if body != nil {
			if err := json.NewEncoder(&buf).Encode(body); err != nil {
				t.Fatal(err)
			}
		}
		req, err := http.NewRequestWithContext(ctx(t), method, s.URL()+path, &buf)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, out
	}

	var snap akvemu.CounterSnapshot
	status, body := do(http.MethodGet, "/_emulator/counters", nil)
	if err := json.Unmarshal(body, &snap); err != nil || status != http.StatusOK {
		t.Fatalf("GET counters: %d %v", status, err)
	}
	if snap.Count(vaultA, "GetSecret", http.StatusOK) != 1 || snap.Count(vaultA, "GetSecret", http.StatusUnauthorized) != 1 {
		t.Fatalf("counters %+v", snap.Counters)
	}

	cfg := akvemu.FaultConfig{Rules: []akvemu.FaultRule{{Operation: "GetSecret", Status: http.StatusServiceUnavailable, Count: 10}}}
	if status, body := do(http.MethodPut, "/_emulator/faults?vault="+vaultA, cfg); status != http.StatusOK {
		t.Fatalf("PUT faults: %d %s", status, body)
	}
	if got := s.Faults().Get(vaultA); len(got.Rules) != 1 || got.Rules[0].Count != 10 {
		t.Fatalf("faults set over HTTP: %+v", got)
	}
	_, err := c.GetSecret(ctx(t), "greeting", "", nil)
	responseError(t, err, http.StatusServiceUnavailable, "ServiceUnavailable")
	if status, _ := do(http.MethodPut, "/_emulator/faults", map[string]any{"rules": []map[string]any{{"status": 200}}}); status != http.StatusBadRequest {
		t.Fatalf("invalid faults accepted: %d", status)
	}
	if status, _ := do(http.MethodDelete, "/_emulator/faults?vault="+vaultA, nil); status != http.StatusNoContent {
		t.Fatalf("DELETE faults: %d", status)
	}
	if _, err := c.GetSecret(ctx(t), "greeting", "", nil); err != nil {
		t.Fatalf("faults cleared: %v", err)
	}
	if status, _ := do(http.MethodDelete, "/_emulator/counters", nil); status != http.StatusNoContent {
		t.Fatalf("DELETE counters: %d", status)
	}
	if n := len(s.Counters().Snapshot().Counters); n != 0 {
		t.Fatalf("%d counters after reset", n)
	}
	if _, ca := do(http.MethodGet, "/_emulator/ca.pem", nil); !bytes.Equal(ca, s.CACertPEM()) {
		t.Fatal("ca.pem differs from CACertPEM")
	}
}

// TestGlobalFaults: the global default applies to vaults without their own
// configuration, and Entra only through rules naming its operation.
func TestGlobalFaults(t *testing.T) {
	seed := withSecret(baseSeed())
	seed.Vaults[1].Secrets = []akvemu.SecretSeed{{Name: "greeting", Value: to.Ptr("hello")}}
	s := akvemu.StartForTest(t, seed)
	setFaults(t, s, "", akvemu.FaultConfig{Rules: []akvemu.FaultRule{
		{Operation: "Token", Status: http.StatusServiceUnavailable, Count: 1},
		{Operation: "GetSecret", Status: http.StatusServiceUnavailable, Count: 1},
	}})
	setFaults(t, s, vaultB, akvemu.FaultConfig{})
	if err := readGreeting(t, s, secretCredential(t, s, tenantA, appA, appASecret)); err != nil {
		t.Fatalf("vault A: %v", err)
	}
	snap := s.Counters().Snapshot()
	if snap.Count("", "Token", http.StatusServiceUnavailable) != 1 || snap.Count(vaultA, "GetSecret", http.StatusServiceUnavailable) != 1 {
		t.Fatalf("global faults not applied: %+v", snap.Counters)
	}
	if _, err := secretsClient(t, s, vaultURL(vaultB), secretCredential(t, s, tenantB, appB, appBSecret)).GetSecret(ctx(t), "greeting", "", nil); err != nil {
		t.Fatalf("vault B: %v", err)
	}
	if n := s.Counters().Snapshot().Count(vaultB, "GetSecret", http.StatusServiceUnavailable); n != 0 {
		t.Fatalf("vault B has its own (empty) configuration, yet got %d 503s", n)
	}
}
