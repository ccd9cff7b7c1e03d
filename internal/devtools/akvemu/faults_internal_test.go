package akvemu

import (
	"encoding/json"
	"testing"
	"time"
)

func TestFaultDecisions(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := newFaults(func() time.Time { return now })
	if err := f.Set("", FaultConfig{Rules: []FaultRule{{Latency: 5 * time.Millisecond}}}); err != nil {
		t.Fatal(err)
	}
	if err := f.Set("kv-v", FaultConfig{Rules: []FaultRule{
		{Operation: "GetSecret", Status: 429, RetryAfter: time.Second, Count: 2},
		{Latency: time.Millisecond},
	}}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		vault, op string
		want      faultDecision
	}{
		{"kv-v", "GetSecret", faultDecision{latency: time.Millisecond, status: 429, retryAfter: time.Second}},
		{"kv-v", "SetSecret", faultDecision{latency: time.Millisecond}},
		{"kv-v", "GetSecret", faultDecision{latency: time.Millisecond, status: 429, retryAfter: time.Second}},
		{"kv-v", "GetSecret", faultDecision{latency: time.Millisecond}}, // count used up
		{"other", "GetSecret", faultDecision{latency: 5 * time.Millisecond}},
		{"", "Token", faultDecision{}}, // global rules without an operation skip Entra
	}
	for i, s := range steps {
		if got := f.decide(s.vault, s.op); got != s.want {
			t.Errorf("step %d: decide(%q, %q) = %+v, want %+v", i, s.vault, s.op, got, s.want)
		}
	}
	if got := f.Get("kv-v"); len(got.Rules) != 1 {
		t.Errorf("expired rule kept: %+v", got)
	}
}

func TestFaultFraction(t *testing.T) {
	f := newFaults(time.Now)
	if err := f.Set("kv-v", FaultConfig{Rules: []FaultRule{{Status: 503, Fraction: 0.25}}}); err != nil {
		t.Fatal(err)
	}
	hits := 0
	for range 4000 {
		if f.decide("kv-v", "GetSecret").status == 503 {
			hits++
		}
	}
	if hits < 800 || hits > 1200 {
		t.Fatalf("fraction 0.25 hit %d of 4000", hits)
	}
}

func TestThrottleBucket(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := newFaults(func() time.Time { return now })
	if err := f.Set("kv-v", FaultConfig{Throttle: &Throttle{Rate: 2, Burst: 3}}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if d := f.decide("kv-v", "GetSecret"); d.status != 0 {
			t.Fatalf("request %d throttled within burst", i)
		}
	}
	d := f.decide("kv-v", "GetSecret")
	if d.status != 429 || d.retryAfter != time.Second {
		t.Fatalf("4th request: %+v, want 429 after 1s", d)
	}
	now = now.Add(500 * time.Millisecond) // refills one token at 2/s
	if d := f.decide("kv-v", "GetSecret"); d.status != 0 {
		t.Fatalf("after refill: %+v", d)
	}
	if d := f.decide("kv-v", "GetSecret"); d.status != 429 {
		t.Fatalf("bucket should be empty again: %+v", d)
	}
	if d := f.decide("w", "GetSecret"); d.status != 0 {
		t.Fatalf("another vault throttled: %+v", d)
	}
}

func TestFaultConfigValidate(t *testing.T) {
	bad := []FaultConfig{
		{Rules: []FaultRule{{Fraction: 1.5}}},
		{Rules: []FaultRule{{Status: 200}}},
		{Rules: []FaultRule{{Count: -1}}},
		{Rules: []FaultRule{{Latency: -time.Second}}},
		{Rules: []FaultRule{{Drop: true, Status: 500}}},
		{Throttle: &Throttle{Rate: 0, Burst: 1}},
		{Throttle: &Throttle{Rate: 1, Burst: 0}},
	}
	for i, c := range bad {
		if c.Validate() == nil {
			t.Errorf("config %d accepted: %+v", i, c)
		}
	}
}

func TestFaultConfigJSON(t *testing.T) {
	in := `{"rules":[{"operation":"GetSecret","latency":"150ms","status":429,"retryAfter":"2s","count":3}],"throttle":{"rate":400,"burst":4000}}`
	var c FaultConfig
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	r := c.Rules[0]
	if r.Latency != 150*time.Millisecond || r.RetryAfter != 2*time.Second || r.Count != 3 || c.Throttle.Burst != 4000 {
		t.Fatalf("decoded %+v %+v", r, c.Throttle)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back FaultConfig
	if err := json.Unmarshal(out, &back); err != nil || back.Rules[0] != r || *back.Throttle != *c.Throttle {
		t.Fatalf("round trip %s: %+v %v", out, back, err)
	}
	if err := json.Unmarshal([]byte(`{"rules":[{"latency":"soon"}]}`), &c); err == nil {
		t.Fatal("bad duration accepted")
	}
}

func FuzzFaultConfigJSON(f *testing.F) {
	f.Add(`{"rules":[{"latency":"1s","status":503,"fraction":0.5}]}`)
	f.Add(`{"throttle":{"rate":1,"burst":1}}`)
	f.Fuzz(func(t *testing.T, s string) {
		var c FaultConfig
		if json.Unmarshal([]byte(s), &c) != nil || c.Validate() != nil {
			return
		}
		fs := newFaults(time.Now)
		if err := fs.Set("vault-v", c); err != nil {
			t.Fatalf("valid config refused: %v", err)
		}
		_ = fs.decide("vault-v", "GetSecret")
	})
}

// TestFaultLatencyCapped: the latencies of applying rules add up to
// maxFaultLatency at most.
func TestFaultLatencyCapped(t *testing.T) {
	f := newFaults(time.Now)
	var cfg FaultConfig
	for range 20 {
		cfg.Rules = append(cfg.Rules, FaultRule{Latency: maxFaultLatency})
	}
	if err := f.Set("kv-v", cfg); err != nil {
		t.Fatal(err)
	}
	if d := f.decide("kv-v", "GetSecret"); d.latency != maxFaultLatency {
		t.Errorf("20 rules of %s: latency %s, want %s", maxFaultLatency, d.latency, maxFaultLatency)
	}
}
