package keyvault_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"

	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
)

// cacheEnv is an emulator, a gate in front of its secret requests, and a
// Cache reading through both with a fake clock.
type cacheEnv struct {
	*env
	gate  *gate
	clock *fakeClock
	rec   *recorder
	cache *keyvault.Cache
}

func newCacheEnv(t *testing.T, o keyvault.CacheOptions) *cacheEnv {
	t.Helper()
	e := newEnv(t)
	c := &cacheEnv{env: e, gate: newGate(e.HTTPClient(), "/secrets/"), clock: newFakeClock(), rec: newRecorder()}
	r := e.reader(t, e.spCredential(t), keyvault.ReaderOptions{Transport: c.gate})
	o.Now, o.Metrics = c.clock.Now, c.rec
	c.cache = keyvault.NewCache(r, o)
	return c
}

// reads is how many secret reads Key Vault answered with status.
func (c *cacheEnv) reads(status int) int64 { return c.count(vault, "GetSecret", status) }

// TestCacheSingleFlight: 200 concurrent Gets of one object cost one read,
// and every caller gets the value.
func TestCacheSingleFlight(t *testing.T) {
	c := newCacheEnv(t, keyvault.CacheOptions{})
	ctx := testCtx(t)
	const callers = 200
	var wg sync.WaitGroup
	results := make(chan keyvault.Object, callers)
	errs := make(chan error, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			obj, err := c.cache.Get(ctx, secretRef("plain", ""), time.Minute)
			if err != nil {
				errs <- err
				return
			}
			results <- obj
		}()
	}
	// Every caller is waiting for the read before Key Vault may answer it.
	got := c.rec.awaitLookups(t, callers)
	if got[keyvault.CacheMiss] != 1 || got[keyvault.CacheJoined] != callers-1 {
		t.Fatalf("lookups %v", got)
	}
	c.gate.Open()
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n := 0
	for obj := range results {
		n++
		if string(obj.Value) != "plain-value" {
			t.Fatalf("value %q", obj.Value)
		}
		obj.Value[0] = 'X' // each caller owns its copy
	}
	if n != callers {
		t.Fatalf("%d results", n)
	}
	if r := c.reads(http.StatusOK); r != 1 {
		t.Fatalf("reads: %d, want 1", r)
	}
	if obj, err := c.cache.Get(ctx, secretRef("plain", ""), time.Minute); err != nil || string(obj.Value) != "plain-value" {
		t.Fatalf("stored value changed by a caller: %q, %v", obj.Value, err)
	}
}

// TestCacheMaxAge: a stored read younger than maxAge is served without a
// request; older, or maxAge 0, reads again.
func TestCacheMaxAge(t *testing.T) {
	c := newCacheEnv(t, keyvault.CacheOptions{IdleTimeout: time.Hour})
	c.gate.Open()
	ctx := testCtx(t)
	ref := secretRef("plain", "")
	get := func(maxAge time.Duration, wantReads int64) {
		t.Helper()
		obj, err := c.cache.Get(ctx, ref, maxAge)
		if err != nil || string(obj.Value) != "plain-value" {
			t.Fatalf("Get: %q, %v", obj.Value, err)
		}
		if n := c.reads(http.StatusOK); n != wantReads {
			t.Fatalf("reads: %d, want %d", n, wantReads)
		}
	}
	get(10*time.Minute, 1)
	c.clock.Advance(9 * time.Minute)
	get(10*time.Minute, 1) // 9 minutes old: fresh enough
	get(5*time.Minute, 2)  // too old for this caller
	c.clock.Advance(10 * time.Minute)
	get(10*time.Minute, 3)
	get(10*time.Minute, 3)
	get(0, 4) // never from the store
}

// TestCacheNegative: not-found and forbidden answers are reused for
// NegativeTTL, so a rollout against a missing object costs one read; an
// object created afterwards is found once the TTL has passed.
func TestCacheNegative(t *testing.T) {
	c := newCacheEnv(t, keyvault.CacheOptions{NegativeTTL: 5 * time.Second})
	c.gate.Open()
	ctx := testCtx(t)
	missing := secretRef("late", "")
	for i := 0; i < 50; i++ {
		_, err := c.cache.Get(ctx, missing, 10*time.Minute)
		wantClass(t, err, keyvault.ErrNotFound)
	}
	if n := c.reads(http.StatusNotFound); n != 1 {
		t.Fatalf("404s: %d, want 1", n)
	}
	for i := 0; i < 10; i++ {
		_, err := c.cache.Get(ctx, secretRef("switched-off", ""), 10*time.Minute)
		wantClass(t, err, keyvault.ErrForbidden)
	}
	if n := c.reads(http.StatusForbidden); n != 1 {
		t.Fatalf("403s: %d, want 1", n)
	}
	// A caller that wants fresher than the TTL reads again.
	if _, err := c.cache.Get(ctx, missing, time.Second); !errors.Is(err, keyvault.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := c.cache.Get(ctx, missing, 0); !errors.Is(err, keyvault.ErrNotFound) {
		t.Fatal(err)
	}
	if n := c.reads(http.StatusNotFound); n != 2 {
		t.Fatalf("404s: %d, want 2 (maxAge 0 reads again; maxAge 1s within the age)", n)
	}

	if err := c.Seed(&akvemu.Seed{Tenants: c.seed.Tenants, Vaults: []akvemu.VaultSeed{{Name: vault, TenantID: tenant, Secrets: []akvemu.SecretSeed{{Name: "late", Value: to.Ptr("here now")}}}}}); err != nil {
		t.Fatal(err)
	}
	c.clock.Advance(5 * time.Second)
	obj, err := c.cache.Get(ctx, missing, 10*time.Minute)
	if err != nil || string(obj.Value) != "here now" {
		t.Fatalf("after the TTL: %q, %v", obj.Value, err)
	}
}

// TestCacheNegativeReplacesValue: an object that becomes disabled is not
// served from the store any more once a read says so.
func TestCacheNegativeReplacesValue(t *testing.T) {
	c := newCacheEnv(t, keyvault.CacheOptions{})
	c.gate.Open()
	ctx := testCtx(t)
	ref := secretRef("plain", "")
	if _, err := c.cache.Get(ctx, ref, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := c.Faults().Set(vault, akvemu.FaultConfig{Rules: []akvemu.FaultRule{{Operation: "GetSecret", Status: http.StatusForbidden}}}); err != nil {
		t.Fatal(err)
	}
	_, err := c.cache.Get(ctx, ref, 0)
	wantClass(t, err, keyvault.ErrForbidden)
	_, err = c.cache.Get(ctx, ref, time.Hour)
	wantClass(t, err, keyvault.ErrForbidden)
}

// TestCacheFailuresNotStored: an unavailable Key Vault is asked again by
// the next Get, and a good stored value is kept for callers that accept it.
func TestCacheFailuresNotStored(t *testing.T) {
	c := newCacheEnv(t, keyvault.CacheOptions{})
	c.gate.Open()
	ctx := testCtx(t)
	ref := secretRef("plain", "")
	if _, err := c.cache.Get(ctx, ref, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := c.Faults().Set(vault, akvemu.FaultConfig{Rules: []akvemu.FaultRule{{Operation: "GetSecret", Status: http.StatusInternalServerError}}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		_, err := c.cache.Get(ctx, ref, 0)
		wantClass(t, err, keyvault.ErrUnavailable)
	}
	if n := c.reads(http.StatusInternalServerError); n != 2*(1+keyvault.DefaultMaxRetries) {
		t.Fatalf("500s: %d", n)
	}
	if obj, err := c.cache.Get(ctx, ref, time.Hour); err != nil || string(obj.Value) != "plain-value" {
		t.Fatalf("stored value: %v", err)
	}
}

// TestCacheCallerCancellation: a caller giving up does not cancel the read
// others wait for; when the last one gives up the read is cancelled and
// the next Get starts afresh.
func TestCacheCallerCancellation(t *testing.T) {
	c := newCacheEnv(t, keyvault.CacheOptions{})
	ref := secretRef("plain", "")

	leaving, leave := context.WithCancel(testCtx(t))
	left := make(chan error, 1)
	go func() {
		_, err := c.cache.Get(leaving, ref, time.Minute)
		left <- err
	}()
	staying := make(chan error, 1)
	go func() {
		obj, err := c.cache.Get(testCtx(t), ref, time.Minute)
		if err == nil && string(obj.Value) != "plain-value" {
			err = errors.New("wrong value")
		}
		staying <- err
	}()
	c.rec.awaitLookups(t, 2)
	leave()
	if err := <-left; !errors.Is(err, context.Canceled) {
		t.Fatalf("leaving caller: %v", err)
	}
	select {
	case <-c.gate.cancelled:
		t.Fatal("the shared read was cancelled while a caller still waited")
	default:
	}
	c.gate.Open()
	if err := <-staying; err != nil {
		t.Fatalf("staying caller: %v", err)
	}
	if n := c.reads(http.StatusOK); n != 1 {
		t.Fatalf("reads: %d", n)
	}

	t.Run("last caller leaving cancels the read", func(t *testing.T) {
		c := newCacheEnv(t, keyvault.CacheOptions{})
		only, cancel := context.WithCancel(testCtx(t))
		done := make(chan error, 1)
		go func() {
			_, err := c.cache.Get(only, ref, time.Minute)
			done <- err
		}()
		c.rec.awaitLookups(t, 1)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("caller: %v", err)
		}
		select {
		case <-c.gate.cancelled:
		case <-time.After(30 * time.Second):
			t.Fatal("the abandoned read was not cancelled")
		}
		c.gate.Open()
		if _, err := c.cache.Get(testCtx(t), ref, time.Minute); err != nil {
			t.Fatal(err)
		}
		if got := c.rec.awaitLookups(t, 1); got[keyvault.CacheMiss] != 1 {
			t.Fatalf("the next Get joined the cancelled read: %v", got)
		}
	})
}

// TestCacheIdleEviction: entries nobody asks for are dropped.
func TestCacheIdleEviction(t *testing.T) {
	c := newCacheEnv(t, keyvault.CacheOptions{IdleTimeout: 20 * time.Minute})
	c.gate.Open()
	ctx := testCtx(t)
	for _, name := range []string{"plain", "rotated", "absent"} {
		_, _ = c.cache.Get(ctx, secretRef(name, ""), time.Hour)
	}
	if c.cache.Len() != 3 {
		t.Fatalf("entries: %d", c.cache.Len())
	}
	c.clock.Advance(15 * time.Minute)
	_, _ = c.cache.Get(ctx, secretRef("plain", ""), time.Hour) // keeps plain in use
	c.clock.Advance(10 * time.Minute)
	_, _ = c.cache.Get(ctx, secretRef("plain", ""), time.Hour) // sweeps
	if c.cache.Len() != 1 {
		t.Fatalf("entries after idle time: %d, want 1", c.cache.Len())
	}
	if n := c.reads(http.StatusOK); n != 2 {
		t.Fatalf("reads: %d (plain stays cached)", n)
	}
}

// TestCacheCaseInsensitiveNames: Key Vault names ignore case, so spellings
// of one object share an entry; each caller gets its own Ref back.
func TestCacheCaseInsensitiveNames(t *testing.T) {
	c := newCacheEnv(t, keyvault.CacheOptions{})
	c.gate.Open()
	ctx := testCtx(t)
	if _, err := c.cache.Get(ctx, secretRef("plain", ""), time.Hour); err != nil {
		t.Fatal(err)
	}
	shouting := keyvault.Ref{Store: strings.ToUpper(vault), Kind: keyvault.KindSecret, Name: "PLAIN"}
	obj, err := c.cache.Get(ctx, shouting, time.Hour)
	if err != nil || obj.Ref != shouting || string(obj.Value) != "plain-value" {
		t.Fatalf("%+v, %v", obj.Ref, err)
	}
	if n := c.reads(http.StatusOK); n != 1 || c.cache.Len() != 1 {
		t.Fatalf("reads %d, entries %d", n, c.cache.Len())
	}
}
