package resolver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
	"github.com/latchkey-dev/latchkey/internal/envexec"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// replicas creates n pods of one template, as a Deployment's ReplicaSet
// would, and their tokens.
func (w *world) replicas(n int, c corev1.Container) ([]*corev1.Pod, []string) {
	w.t.Helper()
	pods, tokens := make([]*corev1.Pod, n), make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			pods[i] = w.pod(fmt.Sprintf("web-%d", i), c)
			tokens[i] = token(w.t, pods[i], audience)
		})
	}
	wg.Wait()
	return pods, tokens
}

// TestOneReadForARollout: 100 pods of one Deployment asking at once for
// one object cost one Key Vault read, and each gets its value.
func TestOneReadForARollout(t *testing.T) {
	t.Parallel()
	w := newWorld(t, suite.res)
	w.akvs("shared", loadVault, "shared", v2beta1.ObjectTypeSecret)
	_, tokens := w.replicas(100, app("app", "SHARED", "shared@azurekeyvault"))
	before := kvReads(loadVault)
	answers := make([]answer, len(tokens))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, tok := range tokens {
		wg.Go(func() {
			<-start
			answers[i] = ask(t, w.r, tok, "app", map[string]string{"SHARED": "shared@azurekeyvault"})
		})
	}
	close(start)
	wg.Wait()
	for i, a := range answers {
		if a.status != http.StatusOK || a.env["SHARED"] != shared {
			t.Fatalf("pod %d: %d %.80s", i, a.status, a.raw)
		}
	}
	if n := kvReads(loadVault) - before; n != 1 {
		t.Errorf("100 pods cost %d Key Vault reads, want 1", n)
	}
}

// TestRolloutBeyondTheBurst: more pods of one Deployment than the
// namespace's burst start at once; those over it get 429 with
// Retry-After, the binary waits and asks again, and every pod gets its
// value for one Key Vault read: the retries are served from the shared
// cache. (The default burst, 200, against 500 pods is the same with other
// numbers.)
func TestRolloutBeyondTheBurst(t *testing.T) {
	t.Parallel()
	r := newResolver(t, func(c *resolver.Config) { c.RateLimit, c.RateBurst = 20, 5 })
	w := newWorld(t, r)
	w.akvs("burst", burstVault, "burst", v2beta1.ObjectTypeSecret)
	pods, _ := w.replicas(30, app("app", "BURST", "burst@azurekeyvault"))
	before := kvReads(burstVault)
	values := make([][]string, len(pods))
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, p := range pods {
		c := binaryClient(t, r, p, "app", suite.pki.caFile, func(o *envexec.ResolverClientOptions) {
			o.Retry = envexec.RetryPolicy{Retries: 10, Wait: 100 * time.Millisecond}
		})
		wg.Go(func() {
			<-start
			values[i], errs[i] = c.Resolve(context.Background(), bindings("BURST=burst@azurekeyvault"))
		})
	}
	close(start)
	wg.Wait()
	for i := range pods {
		if errs[i] != nil || len(values[i]) != 1 || values[i][0] != burstValue {
			t.Errorf("pod %d: %v", i, errs[i])
		}
	}
	if n := metric(t, r.registry, "latchkey_resolver_requests_total", "result", "rate_limited"); n == 0 {
		t.Error("no pod was over the burst")
	}
	if n := kvReads(burstVault) - before; n != 1 {
		t.Errorf("%d Key Vault reads, want 1", n)
	}
}

// TestCheckCaches: a token is verified locally at every request (no
// TokenReview) and the pod comes from the watch-fed cache: once the watch
// holds the pod, its containers' requests, whenever they come, cost no
// API call at all.
func TestCheckCaches(t *testing.T) {
	t.Parallel()
	r := newResolver(t, nil)
	w := newWorld(t, r)
	w.akvs("db", vault, "db-password", v2beta1.ObjectTypeSecret)
	p := w.pod("web-1", app("app", "DB", "db@azurekeyvault"), app("init-migrate", "DB", "db@azurekeyvault"))
	tok := token(t, p, audience)
	untilCached(t, r, p, true)
	// The AzureKeyVaultSecret's informer has it too.
	if a := ask(t, r, tok, "init-migrate", dbEnv); a.status != http.StatusOK {
		t.Fatalf("first ask: %d %s", a.status, a.raw)
	}
	calls := r.apiCalls.Load() - r.keyReads.Load() // the keys' periodic reads aside
	steps := []time.Duration{0, time.Second, time.Minute, 5 * time.Minute}
	for i, advance := range steps {
		r.clock.Advance(advance)
		for _, c := range []string{"app", "init-migrate"} {
			if a := ask(t, r, tok, c, dbEnv); a.status != http.StatusOK {
				t.Fatalf("step %d, %s: %d %s", i, c, a.status, a.raw)
			}
		}
	}
	if n := r.apiCalls.Load() - r.keyReads.Load() - calls; n != 0 {
		t.Errorf("%d API calls for %d requests in steady state, want 0", n, 2*len(steps))
	}
	if got := r.reviews.Load(); got != 0 {
		t.Errorf("%d TokenReviews, want 0", got)
	}
	if v := metric(t, r.registry, "latchkey_resolver_token_verifications_total", "how", "local"); v != float64(1+2*len(steps)) {
		t.Errorf("local verifications metric %v, want %d", v, 1+2*len(steps))
	}
	if v := metric(t, r.registry, "latchkey_resolver_pod_lookups_total", "result", "cached"); v != float64(1+2*len(steps)) {
		t.Errorf("cached pod lookups metric %v, want %d", v, 1+2*len(steps))
	}
}

// TestRateLimit: a namespace over its bucket gets 429 with Retry-After,
// others do not, and the binary's client waits as asked and then gets its
// values.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	r := newResolver(t, func(c *resolver.Config) { c.RateLimit, c.RateBurst = 0.5, 2 })
	w := newWorld(t, r)
	w.akvs("db", vault, "db-password", v2beta1.ObjectTypeSecret)
	p := w.pod("web-1", app("app", "DB", "db@azurekeyvault"))
	tok := token(t, p, audience)
	other := newWorld(t, r)
	other.akvs("db", vault, "db-password", v2beta1.ObjectTypeSecret)
	otherTok := token(t, other.pod("web-1", app("app", "DB", "db@azurekeyvault")), audience)
	// The bucket refills with the clock: only the test moves it, so what
	// is left of it does not depend on how fast the machine runs.
	r.clock.Freeze()
	for i := range 2 {
		if a := ask(t, r, tok, "app", dbEnv); a.status != http.StatusOK {
			t.Fatalf("request %d of the burst: %d %s", i+1, a.status, a.raw)
		}
	}
	a := ask(t, r, tok, "app", dbEnv)
	if a.status != http.StatusTooManyRequests || a.err.Code != protocol.CodeRateLimited || a.retryAfter != "2" {
		t.Fatalf("over the burst: %d %q Retry-After %q; want 429 %s, 2", a.status, a.raw, a.retryAfter, protocol.CodeRateLimited)
	}
	logged(t, r, map[string]any{"msg": "request refused", "code": protocol.CodeRateLimited, "namespace": w.ns})

	if a := ask(t, r, otherTok, "app", dbEnv); a.status != http.StatusOK {
		t.Errorf("another namespace: %d %s", a.status, a.raw)
	}

	// The binary: waits Retry-After (here longer than its own backoff),
	// during which the bucket refills.
	var waits []time.Duration
	var logs bytes.Buffer
	c := binaryClient(t, r, p, "app", suite.pki.caFile, func(o *envexec.ResolverClientOptions) {
		o.Retry = envexec.RetryPolicy{Retries: 3, Wait: 100 * time.Millisecond}
		o.Log = slog.New(slog.NewTextHandler(&logs, nil))
		o.Sleep = func(_ context.Context, d time.Duration) error {
			waits = append(waits, d)
			r.clock.Advance(d)
			return nil
		}
	})
	values, err := c.Resolve(context.Background(), bindings("DB=db@azurekeyvault"))
	if err != nil || values[0] != dbPassword {
		t.Fatalf("Resolve = %v", err)
	}
	if len(waits) != 1 || waits[0] != 2*time.Second {
		t.Errorf("the client waited %v, want [2s] (Retry-After)", waits)
	}
	if !strings.Contains(logs.String(), "RateLimited") || !strings.Contains(logs.String(), "retrying") {
		t.Errorf("the client's log does not say why it waited:\n%s", logs.String())
	}
	if v := metric(t, r.registry, "latchkey_resolver_requests_total", "result", "rate_limited"); v != 2 {
		t.Errorf("rate-limited requests metric %v, want 2", v)
	}
	if v := metric(t, r.registry, "akv2k8s_auth_requests_failed_total"); v != 2 {
		t.Errorf("akv2k8s_auth_requests_failed_total %v, want 2", v)
	}
}

// TestKeyVaultDown: while Key Vault fails, a value not read recently is
// 503 (retryable); the binary retries and starts once Key Vault is back.
// Throttling passes Key Vault's Retry-After on.
func TestKeyVaultDown(t *testing.T) {
	t.Parallel()
	w := newWorld(t, suite.res)
	w.akvs("flaky", downVault, "flaky", v2beta1.ObjectTypeSecret)
	p := w.pod("web-1", app("app", "FLAKY", "flaky@azurekeyvault"))
	env := map[string]string{"FLAKY": "flaky@azurekeyvault"}
	faults := suite.emu.Faults()
	t.Cleanup(func() { faults.Clear(downVault) })

	if err := faults.Set(downVault, akvemu.FaultConfig{Rules: []akvemu.FaultRule{{Operation: "GetSecret", Status: http.StatusTooManyRequests, RetryAfter: time.Second}}}); err != nil {
		t.Fatal(err)
	}
	tok := token(t, p, audience)
	a := ask(t, w.r, tok, "app", env)
	if a.status != http.StatusServiceUnavailable || a.err.Code != protocol.CodeKeyVaultThrottled || a.retryAfter == "" {
		t.Fatalf("throttled: %d %s Retry-After %q", a.status, a.raw, a.retryAfter)
	}

	if err := faults.Set(downVault, akvemu.FaultConfig{Rules: []akvemu.FaultRule{{Operation: "GetSecret", Status: http.StatusServiceUnavailable}}}); err != nil {
		t.Fatal(err)
	}
	// Past the throttling pause Key Vault asked for.
	eventually(t, func() error {
		a = ask(t, w.r, tok, "app", env)
		if a.err.Code != protocol.CodeKeyVaultUnavailable {
			return fmt.Errorf("%d %s", a.status, a.raw)
		}
		return nil
	})
	if a.status != http.StatusServiceUnavailable || len(a.err.Failures) != 1 || a.err.Failures[0].Variables[0] != "FLAKY" {
		t.Fatalf("Key Vault down: %d %s", a.status, a.raw)
	}
	logged(t, w.r, map[string]any{"msg": "request failed", "code": protocol.CodeKeyVaultUnavailable, "namespace": w.ns})

	var logs bytes.Buffer
	retries := 0
	c := binaryClient(t, w.r, p, "app", suite.pki.caFile, func(o *envexec.ResolverClientOptions) {
		o.Log = slog.New(slog.NewTextHandler(&logs, nil))
		o.Sleep = func(context.Context, time.Duration) error {
			retries++
			if retries == 2 {
				faults.Clear(downVault) // Key Vault is back
			}
			return nil
		}
	})
	values, err := c.Resolve(context.Background(), bindings("FLAKY=flaky@azurekeyvault"))
	if err != nil || values[0] != flaky {
		t.Fatalf("Resolve = %v after %d retries", err, retries)
	}
	if retries != 2 || !strings.Contains(logs.String(), "reason=unavailable") {
		t.Errorf("%d retries, want 2, each logged with Key Vault's reason:\n%s", retries, logs.String())
	}
	noValues(t, "the client's log", logs.String())
}

// TestFailures: what waiting will not fix is not retried, and names the
// variable and the reason as direct mode would: an object missing in Key
// Vault, a query the object cannot answer.
func TestFailures(t *testing.T) {
	t.Parallel()
	w := newWorld(t, suite.res)
	w.akvs("missing", vault, "no-such-secret", v2beta1.ObjectTypeSecret)
	w.akvs("settings", vault, "settings", v2beta1.ObjectTypeMultiKeyValueSecret, func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Vault.Object.ContentType = v2beta1.ContentTypeJSON
	})
	p := w.pod("web-1", app("app", "MISSING", "missing@azurekeyvault", "NOKEY", "settings@azurekeyvault?nokey"))
	tests := []struct {
		env          string
		status       int
		code, reason string
		classIs      error
	}{
		{"MISSING=missing@azurekeyvault", http.StatusNotFound, protocol.CodeKeyVaultNotFound, "not found", keyvault.ErrNotFound},
		{"NOKEY=settings@azurekeyvault?nokey", http.StatusUnprocessableEntity, protocol.CodeQueryFailed, "query", envexec.ErrQuery},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			name, value, _ := strings.Cut(tt.env, "=")
			eventually(t, func() error {
				a := ask(t, w.r, token(t, p, audience), "app", map[string]string{name: value})
				if a.status != tt.status || a.err.Code != tt.code {
					return fmt.Errorf("%d %s, want %d %s", a.status, a.raw, tt.status, tt.code)
				}
				return nil
			})
			slept := 0
			c := binaryClient(t, w.r, p, "app", suite.pki.caFile, func(o *envexec.ResolverClientOptions) {
				o.Sleep = func(context.Context, time.Duration) error { slept++; return nil }
			})
			_, err := c.Resolve(context.Background(), bindings(tt.env))
			var ve *envexec.VarError
			if !errors.As(err, &ve) || ve.Vars[0] != name || !errors.Is(err, tt.classIs) || envexec.Reason(err) != tt.reason || slept != 0 {
				t.Errorf("Resolve = %v (reason %q, %d retries); want a %s for %s, not retried", err, envexec.Reason(err), slept, tt.reason, name)
			}
		})
	}
}

// metric is the value of a counter of reg, summed over the series whose
// labels include the pairs given.
func metric(t *testing.T, reg *prometheus.Registry, name string, labelPairs ...string) float64 {
	t.Helper()
	// A vector with no series yet is gathered as nothing, so a sum of 0 is
	// only an answer for a name the registry knows: registering a probe under
	// it must collide.
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "probe"})
	if err := reg.Register(probe); err == nil {
		reg.Unregister(probe)
		t.Fatalf("no metric %s is registered", name)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			match := true
			for i := 0; i+1 < len(labelPairs); i += 2 {
				if labels[labelPairs[i]] != labelPairs[i+1] {
					match = false
				}
			}
			if match {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}
