package vaultkv_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/vaultref"
)

// TestRefreshCostPerNamespace: 100 resources on one path across 10
// namespaces are read as 10 principals (one per namespace: Vault decides
// per namespace, so reads are not shared across them). A refresh costs 10
// KV reads; logins are made once and reused by later refreshes.
func TestRefreshCostPerNamespace(t *testing.T) {
	for i, p := range refreshCost(t) {
		t.Logf("pass %d: 100 resources, 10 namespaces: %d logins, %d KV reads", i+1, p.logins, p.reads)
		if p.logins != p.wantLogins || p.reads != p.wantReads {
			t.Errorf("pass %d: %d logins and %d reads, want %d and %d", i+1, p.logins, p.reads, p.wantLogins, p.wantReads)
		}
	}
}

// refreshPass is what one pass over the resources cost at Vault's door,
// beside what it should cost.
type refreshPass struct {
	name                  string
	logins, reads         int
	wantLogins, wantReads int
}

// refreshCost runs 100 resources on one Vault path across 10 namespaces
// (one role for all) through the shared cache, as the controller does, and
// counts logins and KV reads in three passes: the first, one within the
// refresh interval, and the next refresh.
func refreshCost(t testing.TB) []refreshPass {
	b := newBed(t, time.Hour)
	ctx := context.Background()
	b.vault.Put(t, "shared/db", map[string]any{"password": "p"})
	var namespaces []string
	for range 10 {
		ns := namespace(t, "tenant")
		serviceAccount(t, ns, "app")
		namespaces = append(namespaces, ns)
	}
	b.vault.Policy(t, "shared", "secret/data/shared/*")
	b.vault.Role(t, "kubernetes", "shared", []string{"app"}, namespaces, time.Hour, "shared")
	now := time.Now()
	cache := backend.NewCache(b.reader, backend.CacheOptions{Now: func() time.Time { return now }})
	const interval = 10 * time.Minute
	var refs []backend.Ref
	for i := range 100 {
		refs = append(refs, vaultref.Ref(vaultref.Location{Address: b.proxy.Address, Mount: "secret", Path: "shared/db"},
			vaultref.Principal{AuthMount: "kubernetes", Role: "shared", Namespace: namespaces[i%10], ServiceAccount: "app"}, ""))
	}
	passes := []refreshPass{
		{name: "first pass", wantLogins: 10, wantReads: 10},
		{name: "within the interval", wantLogins: 0, wantReads: 0},
		{name: "next refresh", wantLogins: 0, wantReads: 10}, // logins reused
	}
	for i, after := range []time.Duration{0, time.Minute, interval + time.Second} {
		now = now.Add(after)
		l0, r0 := b.proxy.Count("PUT", "/v1/auth/"), b.proxy.Count("GET", "/v1/secret/data/shared/db")
		for _, ref := range refs {
			if _, err := cache.Get(ctx, ref, interval); err != nil {
				t.Fatal(err)
			}
		}
		passes[i].logins = b.proxy.Count("PUT", "/v1/auth/") - l0
		passes[i].reads = b.proxy.Count("GET", "/v1/secret/data/shared/db") - r0
	}
	return passes
}
