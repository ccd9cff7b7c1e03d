package akvemu

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// FaultRule is one injected misbehaviour. A rule applies to a request when
// its Operation matches (empty: every operation) and then:
//   - with Count > 0, to the next Count matching requests (then it expires);
//   - with Fraction > 0, to that fraction of matching requests (both set: the
//     fraction, until Count are used);
//   - with neither, to every matching request.
//
// An applying rule adds its Latency, then drops the connection (Drop) or
// answers Status (with Retry-After for 429 and 503) instead of the real response.
type FaultRule struct {
	// Operation limits the rule to one operation (see CounterKey.Operation).
	Operation string
	// Latency is added before the response.
	Latency time.Duration
	// Status, when non-zero, is answered instead of the real response (e.g. 429, 500, 503).
	Status int
	// RetryAfter is sent as the Retry-After header (whole seconds, rounded up) with Status.
	RetryAfter time.Duration
	// Drop closes the connection without any response.
	Drop bool
	// Fraction of matching requests the rule applies to (0: see Count).
	Fraction float64
	// Count of matching requests the rule applies to before it expires (0: no limit).
	Count int
}

// Throttle is a token bucket per vault, like Key Vault's service limits
// (about 4,000 GETs per 10 s per vault): Rate tokens per second refill a
// bucket of Burst tokens; a request finding it empty gets 429 with
// Retry-After and Key Vault's throttling error. Throttled requests take no token.
type Throttle struct {
	// Rate is the refill rate in requests per second.
	Rate float64
	// Burst is the bucket size.
	Burst int
	// Operation limits the bucket to one operation (empty: all).
	Operation string
}

// FaultConfig is what one vault, or the global default, is set to.
type FaultConfig struct {
	// Rules are evaluated in order; latencies of all applying rules add up, the
	// first applying rule with Drop or Status decides the answer.
	Rules []FaultRule
	// Throttle, when set, rate-limits the vault.
	Throttle *Throttle
}

// Validate reports the first invalid field.
func (c FaultConfig) Validate() error {
	if len(c.Rules) > maxFaultRules {
		return fmt.Errorf("%d rules, more than %d", len(c.Rules), maxFaultRules)
	}
	for i, r := range c.Rules {
		switch {
		case r.Latency < 0 || r.RetryAfter < 0:
			return fmt.Errorf("rule %d: negative duration", i)
		case r.Latency > maxFaultLatency || r.RetryAfter > maxFaultLatency:
			return fmt.Errorf("rule %d: a duration over %s (drop the connection instead)", i, maxFaultLatency)
		case r.Fraction < 0 || r.Fraction > 1:
			return fmt.Errorf("rule %d: fraction %v is outside 0..1", i, r.Fraction)
		case r.Count < 0:
			return fmt.Errorf("rule %d: negative count", i)
		case r.Status != 0 && (r.Status < 400 || r.Status > 599):
			return fmt.Errorf("rule %d: status %d is not an error status", i, r.Status)
		case r.Drop && r.Status != 0:
			return fmt.Errorf("rule %d: drop and status are exclusive", i)
		}
	}
	if t := c.Throttle; t != nil && (t.Rate < minThrottleRate || t.Rate > maxThrottleRate || t.Burst < 1 || t.Burst > maxThrottleBurst) {
		return fmt.Errorf("throttle needs a rate of %g to %g per second and a burst of 1 to %d", minThrottleRate, maxThrottleRate, maxThrottleBurst)
	}
	return nil
}

// faultDecision is what the emulator does to one request.
type faultDecision struct {
	latency    time.Duration
	status     int
	retryAfter time.Duration
	drop       bool
}

// activeRule is a rule with its remaining count.
type activeRule struct {
	FaultRule
	remaining int
}

// activeConfig is a configuration in force.
type activeConfig struct {
	rules    []*activeRule
	throttle *Throttle
}

// bucket is the state of one token bucket.
type bucket struct {
	tokens float64
	last   time.Time
}

// Faults holds the fault configuration of every vault and the global default.
// Change it at any time, from Go or over HTTP (/_emulator/faults).
type Faults struct {
	mu      sync.Mutex
	global  *activeConfig
	vaults  map[string]*activeConfig
	buckets map[string]*bucket
	rng     *rand.Rand
	now     func() time.Time
}

func newFaults(now func() time.Time) *Faults {
	return &Faults{
		vaults:  map[string]*activeConfig{},
		buckets: map[string]*bucket{},
		// A fixed seed keeps fractional faults reproducible run to run.
		rng: rand.New(rand.NewPCG(1, 2)), // #nosec G404 -- choosing faults, not secrets
		now: now,
	}
}

// Set replaces the configuration of a vault; vault "" sets the global default,
// which applies to every vault without its own. At most maxFaultVaults
// vaults have their own.
func (f *Faults) Set(vault string, cfg FaultConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if vault != "" && !vaultNamePattern.MatchString(vault) {
		return fmt.Errorf("invalid vault name %q (3-24 letters, digits and dashes)", vault)
	}
	ac := &activeConfig{throttle: cfg.Throttle}
	if cfg.Throttle != nil {
		t := *cfg.Throttle
		ac.throttle = &t
	}
	for _, r := range cfg.Rules {
		ac.rules = append(ac.rules, &activeRule{FaultRule: r, remaining: r.Count})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.vaults[vault]; vault != "" && !ok && len(f.vaults) >= maxFaultVaults {
		return fmt.Errorf("%d vaults have a fault configuration of their own; clear some first", maxFaultVaults)
	}
	if vault == "" {
		f.global = ac
		clear(f.buckets)
	} else {
		f.vaults[vault] = ac
		delete(f.buckets, vault)
	}
	return nil
}

// Get returns the configuration in force for a vault ("" for the global
// default), with the counts that remain.
func (f *Faults) Get(vault string) FaultConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	ac := f.global
	if vault != "" {
		ac = f.vaults[vault]
	}
	return exportConfig(ac)
}

// Vaults lists the vaults with a configuration of their own.
func (f *Faults) Vaults() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.vaults))
	for v := range f.vaults {
		out = append(out, v)
	}
	return out
}

// Clear removes a vault's configuration ("" clears the global default).
func (f *Faults) Clear(vault string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if vault == "" {
		f.global = nil
		clear(f.buckets)
		return
	}
	delete(f.vaults, vault)
	delete(f.buckets, vault)
}

// Reset removes every configuration.
func (f *Faults) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.global = nil
	clear(f.vaults)
	clear(f.buckets)
}

func exportConfig(ac *activeConfig) FaultConfig {
	if ac == nil {
		return FaultConfig{}
	}
	out := FaultConfig{}
	if ac.throttle != nil {
		t := *ac.throttle
		out.Throttle = &t
	}
	for _, r := range ac.rules {
		fr := r.FaultRule
		fr.Count = r.remaining
		out.Rules = append(out.Rules, fr)
	}
	return out
}

// decide picks what happens to one request. Vault requests follow their
// vault's configuration, else the global one; requests to Entra ID and the
// managed-identity endpoint (vault "") follow only global rules that name
// their operation, so a global latency meant for vaults does not slow token
// requests too.
func (f *Faults) decide(vault, op string) faultDecision {
	f.mu.Lock()
	defer f.mu.Unlock()
	ac := f.global
	if vault != "" {
		if own, ok := f.vaults[vault]; ok {
			ac = own
		}
	}
	if ac == nil {
		return faultDecision{}
	}
	var d faultDecision
	decided := false
	kept := ac.rules[:0]
	for _, r := range ac.rules {
		applies, expired := f.ruleApplies(r, vault, op)
		if !expired {
			kept = append(kept, r)
		}
		if !applies {
			continue
		}
		d.latency += r.Latency
		if !decided && (r.Drop || r.Status != 0) {
			decided = true
			d.drop, d.status, d.retryAfter = r.Drop, r.Status, r.RetryAfter
		}
	}
	clear(ac.rules[len(kept):])
	ac.rules = kept
	d.latency = min(d.latency, maxFaultLatency)
	if !decided && vault != "" && ac.throttle != nil && (ac.throttle.Operation == "" || ac.throttle.Operation == op) {
		if wait, ok := f.take(vault, ac.throttle); !ok {
			d.status, d.retryAfter = 429, wait
		}
	}
	return d
}

// ruleApplies decides one rule for one request and consumes its count;
// expired reports that the rule has no count left.
func (f *Faults) ruleApplies(r *activeRule, vault, op string) (applies, expired bool) {
	if r.Operation != op && (r.Operation != "" || vault == "") {
		return false, false
	}
	if r.Fraction > 0 && f.rng.Float64() >= r.Fraction {
		return false, false
	}
	if r.Count > 0 {
		r.remaining--
		return true, r.remaining <= 0
	}
	return true, false
}

// take removes a token from the vault's bucket, or says how long until one is there.
func (f *Faults) take(vault string, t *Throttle) (time.Duration, bool) {
	now := f.now()
	b := f.buckets[vault]
	if b == nil {
		b = &bucket{tokens: float64(t.Burst), last: now}
		f.buckets[vault] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(float64(t.Burst), b.tokens+el*t.Rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	wait := time.Duration((1 - b.tokens) / t.Rate * float64(time.Second))
	return max(wait, time.Second), false
}
