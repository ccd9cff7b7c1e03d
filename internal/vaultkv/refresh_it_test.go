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
	refresh := func(after time.Duration) (logins, reads int) {
		now = now.Add(after)
		l0, r0 := b.proxy.Count("PUT", "/v1/auth/"), b.proxy.Count("GET", "/v1/secret/data/shared/db")
		for _, ref := range refs {
			if _, err := cache.Get(ctx, ref, interval); err != nil {
				t.Fatal(err)
			}
		}
		return b.proxy.Count("PUT", "/v1/auth/") - l0, b.proxy.Count("GET", "/v1/secret/data/shared/db") - r0
	}
	for i, tt := range []struct {
		after               time.Duration
		wantLogins, wantRds int
	}{
		{0, 10, 10},                     // the first pass
		{time.Minute, 0, 0},             // within the refresh interval
		{interval + time.Second, 0, 10}, // the next refresh: reads again, logins reused
	} {
		logins, reads := refresh(tt.after)
		t.Logf("pass %d: 100 resources, 10 namespaces: %d logins, %d KV reads", i+1, logins, reads)
		if logins != tt.wantLogins || reads != tt.wantRds {
			t.Errorf("pass %d: %d logins and %d reads, want %d and %d", i+1, logins, reads, tt.wantLogins, tt.wantRds)
		}
	}
}
