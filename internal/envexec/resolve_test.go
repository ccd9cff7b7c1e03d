package envexec_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
	"github.com/latchkey-dev/latchkey/internal/envexec"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// fakeReader answers reads from a script per object name: each call takes
// the next error, and succeeds when the script runs out.
type fakeReader struct {
	mu     sync.Mutex
	script map[string][]error
	values map[string]string
	calls  map[string]int
}

func (f *fakeReader) Read(ctx context.Context, ref keyvault.Ref) (keyvault.Object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	n := f.calls[ref.Name]
	f.calls[ref.Name]++
	if s := f.script[ref.Name]; n < len(s) {
		if errors.Is(s[n], errForever) {
			f.mu.Unlock()
			<-ctx.Done()
			f.mu.Lock()
			return keyvault.Object{}, ctx.Err()
		}
		return keyvault.Object{}, s[n]
	}
	return keyvault.Object{Ref: ref, Version: "v1", Value: []byte(f.values[ref.Name])}, nil
}

var errForever = errors.New("block until cancelled")

func TestDirectRetries(t *testing.T) {
	unavailable := kvErr(keyvault.ErrUnavailable, 503, 0)
	throttled := kvErr(keyvault.ErrThrottled, 429, 5*time.Second)
	reader := &fakeReader{
		script: map[string][]error{"s": {unavailable, throttled, unavailable}},
		values: map[string]string{"s": "the-value-Qx1"},
	}
	var waits []time.Duration
	d := &envexec.Direct{
		Refs:   podcontract.Refs{"a": {Vault: "kv", Name: "s", Type: "secret"}},
		Reader: reader,
		Retry:  envexec.RetryPolicy{Retries: 3, Wait: time.Second},
		Sleep: func(_ context.Context, d time.Duration) error {
			waits = append(waits, d)
			return nil
		},
	}
	bindings := envexec.FindPlaceholders([]string{"A=a@azurekeyvault", "B=a@azurekeyvault"})
	values, err := d.Resolve(context.Background(), bindings)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(values, []string{"the-value-Qx1", "the-value-Qx1"}) {
		t.Errorf("values = %q", values)
	}
	// 1 s, then Retry-After 5 s beats 2 s, then 4 s.
	if want := []time.Duration{time.Second, 5 * time.Second, 4 * time.Second}; !slices.Equal(waits, want) {
		t.Errorf("waits = %v, want %v", waits, want)
	}
	if reader.calls["s"] != 4 {
		t.Errorf("reads = %d, want 4 (one object for both variables, three retries)", reader.calls["s"])
	}

	// One retry fewer: the third failure is final.
	reader.calls = nil
	waits = nil
	d.Retry.Retries = 2
	_, err = d.Resolve(context.Background(), bindings)
	var ve *envexec.VarError
	if !errors.As(err, &ve) || !errors.Is(err, keyvault.ErrUnavailable) || !slices.Equal(ve.Vars, []string{"A", "B"}) || !slices.Equal(ve.AKVS, []string{"a"}) {
		t.Fatalf("Resolve = %v, want ErrUnavailable naming A and B", err)
	}
	if reader.calls["s"] != 3 {
		t.Errorf("reads = %d, want 3", reader.calls["s"])
	}
}

// TestDirectFailsFast: a final failure stops the reads still retrying, and
// only the real failure is reported.
func TestDirectFailsFast(t *testing.T) {
	reader := &fakeReader{script: map[string][]error{
		"gone": {kvErr(keyvault.ErrNotFound, 404, 0)},
		"slow": {kvErr(keyvault.ErrUnavailable, 503, 0), kvErr(keyvault.ErrUnavailable, 503, 0)},
		"hang": {errForever},
	}}
	d := &envexec.Direct{
		Refs: podcontract.Refs{
			"gone": {Vault: "kv", Name: "gone", Type: "secret"},
			"slow": {Vault: "kv", Name: "slow", Type: "secret"},
			"hang": {Vault: "kv", Name: "hang", Type: "secret"},
		},
		Reader: reader,
		Retry:  envexec.RetryPolicy{Retries: 5, Wait: time.Hour},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := d.Resolve(ctx, envexec.FindPlaceholders([]string{"S=slow@azurekeyvault", "G=gone@azurekeyvault", "H=hang@azurekeyvault"}))
	if time.Since(start) > 5*time.Second {
		t.Fatalf("Resolve took %v: the failure did not stop the retries", time.Since(start))
	}
	if !errors.Is(err, keyvault.ErrNotFound) || !strings.HasPrefix(err.Error(), "variable G (AzureKeyVaultSecret gone)") || strings.Contains(err.Error(), "\n") {
		t.Errorf("Resolve = %q, want only G's failure", err)
	}
}

func TestDirectQueries(t *testing.T) {
	reader := &fakeReader{values: map[string]string{
		"basic":  "alice-Xy1:pa55-Word-Y7",
		"multi":  `{"k1":"json-one-Vv3","k2":"json-two-Ww4"}`,
		"padded": "  trimmed-Uu5 \n",
		"nul":    "bnVsLQAtdmFsdWU=", // base64 of "nul-\x00-value"
	}}
	d := &envexec.Direct{
		Refs: podcontract.Refs{
			"basic":  {Vault: "kv", Name: "basic", Type: "secret"},
			"multi":  {Vault: "kv", Name: "multi", Type: "multi-key-value-secret", ContentType: "application/x-json"},
			"padded": {Vault: "kv", Name: "padded", Type: "secret", Transform: []string{"trim"}},
			"nul":    {Vault: "kv", Name: "nul", Type: "secret", Transform: []string{"base64decode"}},
		},
		Reader: reader,
	}
	environ := []string{"U=basic@azurekeyvault?username", "P=basic@azurekeyvault?password", "K2=multi@azurekeyvault?k2", "T=padded@azurekeyvault"}
	values, err := d.Resolve(context.Background(), envexec.FindPlaceholders(environ))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"alice-Xy1", "pa55-Word-Y7", "json-two-Ww4", "trimmed-Uu5"}; !slices.Equal(values, want) {
		t.Errorf("values = %q, want %q", values, want)
	}
	for name, n := range reader.calls {
		if n != 1 {
			t.Errorf("%s read %d times", name, n)
		}
	}

	for _, tc := range []struct{ env, reason string }{
		{"X=multi@azurekeyvault?k3", "query"},
		{"X=multi@azurekeyvault", "query"},
		{"X=basic@azurekeyvault?tls.key", "query"},
		{"X=nul@azurekeyvault", "query"},
	} {
		_, err := d.Resolve(context.Background(), envexec.FindPlaceholders([]string{tc.env}))
		if err == nil || envexec.Reason(err) != tc.reason || !strings.HasPrefix(err.Error(), "variable X (AzureKeyVaultSecret ") {
			t.Errorf("%s: %v (reason %q), want a %s failure naming X", tc.env, err, envexec.Reason(err), tc.reason)
		}
		noneOf(t, err.Error(), reader.values["basic"], reader.values["multi"], reader.values["nul"])
	}
}

// noneOf fails if s holds any of the values, or what is inside them, in
// any form (leakcheck).
func noneOf(t testing.TB, s string, values ...string) {
	t.Helper()
	leakcheck.Of(t, values...).Check(t, "the text", s)
}

// spanReader records when each read ran; reads of "slow" take 50 ms.
type spanReader struct {
	mu    sync.Mutex
	spans map[string][2]time.Time
}

func (s *spanReader) Read(_ context.Context, ref keyvault.Ref) (keyvault.Object, error) {
	start := time.Now()
	if strings.HasPrefix(ref.Name, "slow") {
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spans[ref.Store+"/"+ref.Name] = [2]time.Time{start, time.Now()}
	return keyvault.Object{Ref: ref, Value: []byte("v")}, nil
}

// TestDirectReadsFirstOfEachVaultAlone: a vault's other reads wait for its
// first; vaults do not wait for each other.
func TestDirectReadsFirstOfEachVaultAlone(t *testing.T) {
	r := &spanReader{spans: map[string][2]time.Time{}}
	d := &envexec.Direct{Reader: r, Refs: podcontract.Refs{
		"a": {Vault: "kv1", Name: "slow-a", Type: "secret"},
		"b": {Vault: "kv1", Name: "b", Type: "secret"},
		"c": {Vault: "KV1", Name: "c", Type: "secret"},
		"x": {Vault: "kv2", Name: "slow-x", Type: "secret"},
		"y": {Vault: "kv2", Name: "y", Type: "secret"},
	}}
	env := []string{"A=a@azurekeyvault", "B=b@azurekeyvault", "C=c@azurekeyvault", "X=x@azurekeyvault", "Y=y@azurekeyvault"}
	if _, err := d.Resolve(context.Background(), envexec.FindPlaceholders(env)); err != nil {
		t.Fatal(err)
	}
	first, other := r.spans["kv1/slow-a"], r.spans["kv2/slow-x"]
	for _, name := range []string{"kv1/b", "KV1/c"} {
		if r.spans[name][0].Before(first[1]) {
			t.Errorf("%s started before the vault's first read ended", name)
		}
	}
	if r.spans["kv2/y"][0].Before(other[1]) {
		t.Error("kv2/y started before the vault's first read ended")
	}
	if !other[0].Before(first[1]) {
		t.Error("the second vault waited for the first")
	}
}
