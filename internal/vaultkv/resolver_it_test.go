package vaultkv_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/scheme"
	"github.com/latchkey-dev/latchkey/internal/tenancy"
	"github.com/latchkey-dev/latchkey/internal/vaultkv"
	"github.com/latchkey-dev/latchkey/internal/vaultref"
)

// TestResolverRollout: the resolver answers Vault-backed placeholders
// (<akvs>@azurekeyvault, ?key for every-key objects) through production's
// Values, logged in as the pod's namespace: a 500-pod rollout costs one
// login and one KV read at Vault's door; another namespace naming the
// same path with its own role is refused by Vault.
func TestResolverRollout(t *testing.T) {
	b := newBed(t, time.Hour)
	ctx := context.Background()
	b.vault.Put(t, "team-a/db", map[string]any{"username": "app", "password": "pw"})
	cl, err := client.New(suite.cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	for ns, role := range map[string]string{b.nsA: "team-a", b.nsB: "team-b"} {
		for name, spec := range map[string]struct {
			typ v2beta1.ObjectType
			key string
		}{"db": {v2beta1.ObjectTypeMultiKeyValueSecret, ""}, "db-password": {v2beta1.ObjectTypeSecret, "password"}} {
			a := &v2beta1.AzureKeyVaultSecret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v2beta1.AzureKeyVaultSecretSpec{
				Vault: v2beta1.AzureKeyVault{Name: "secret", Object: v2beta1.AzureKeyVaultObject{Name: "team-a/db", Type: spec.typ},
					HashiCorpVault: &v2beta1.HashiCorpVault{Role: role, Key: spec.key}}}}
			if err := cl.Create(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
	}
	v := &resolver.Values{AKVS: cl, Tenancy: tenancy.AllowAll(), RefreshInterval: time.Hour,
		Objects: backend.Sources{vaultkv.Backend: &vaultkv.Source{
			Defaults: vaultref.Defaults{Address: b.proxy.Address, ServiceAccount: "app"},
			Cache:    backend.NewCache(b.reader, backend.CacheOptions{}),
		}}}
	wanted := []resolver.Wanted{
		{Var: "USER", Placeholder: podcontract.Placeholder{AKVS: "db", Query: "username"}},
		{Var: "PASS", Placeholder: podcontract.Placeholder{AKVS: "db-password"}},
	}
	want := map[string]string{"USER": "app", "PASS": "pw"}
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for range 500 {
		wg.Go(func() {
			got, err := v.Resolve(ctx, b.nsA, wanted)
			if err != nil || !maps.Equal(got, want) {
				wrong.Add(1)
			}
		})
	}
	wg.Wait()
	if n := wrong.Load(); n > 0 {
		t.Fatalf("%d of 500 pods did not get their values", n)
	}
	logins := b.proxy.Count("PUT", "/v1/auth/kubernetes/login") + b.proxy.Count("POST", "/v1/auth/kubernetes/login")
	reads := b.proxy.Count("GET", "/v1/secret/data/team-a/db")
	t.Logf("500-pod rollout: %d logins, %d KV reads at Vault's door", logins, reads)
	if logins != 1 || reads != 1 {
		t.Errorf("500-pod rollout: %d logins and %d KV reads, want 1 and 1", logins, reads)
	}

	// team-b's pods name team-a's path with their own role: Vault refuses.
	_, err = v.Resolve(ctx, b.nsB, wanted[:1])
	var d *resolver.Denial
	if !errors.As(err, &d) || d.Status != http.StatusForbidden {
		t.Errorf("team-b reading team-a's path: %v, want a 403 denial", err)
	}
}
