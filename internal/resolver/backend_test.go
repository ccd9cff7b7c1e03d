package resolver_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/devtools/backendtest"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

type allowAll struct{}

func (allowAll) Allows(_, _, _ string) bool { return true }

// TestSecondBackend: a backend other than Azure Key Vault (backendtest's,
// in memory) answers placeholders of AzureKeyVaultSecrets stored in the
// real API server, through production's Values; only the registration (the
// Sources it reads through) says which backend serves.
func TestSecondBackend(t *testing.T) {
	ns := createNamespace(t, "", true)
	for name, object := range map[string]string{"db": "db-password", "gone": "no-such-object"} {
		a := &v2beta1.AzureKeyVaultSecret{ObjectMeta: objectMeta(ns, name), Spec: v2beta1.AzureKeyVaultSecretSpec{
			Vault: v2beta1.AzureKeyVault{Name: "mem-store", Object: v2beta1.AzureKeyVaultObject{Name: object, Type: v2beta1.ObjectTypeSecret}},
		}}
		if err := suite.client.Create(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	mem := &backendtest.Store{}
	mem.Put("mem-store", "db-password", []byte("from-memory"))
	v := &resolver.Values{AKVS: suite.client, Tenancy: allowAll{}, RefreshInterval: time.Hour,
		// The one registration: the AzureKeyVaultSecret API type selects
		// keyvault.Backend, and here that name is the memory store's.
		Objects: backend.Sources{keyvault.Backend: backend.NewCache(mem, backend.CacheOptions{})}}

	want := map[string]string{"DB": "from-memory"}
	for range 2 {
		got, err := v.Resolve(context.Background(), ns, []resolver.Wanted{{Var: "DB", Placeholder: podcontract.Placeholder{AKVS: "db"}}})
		if err != nil || !maps.Equal(got, want) {
			t.Fatalf("Resolve = %d values, %v; want the memory store's", len(got), err)
		}
	}
	if n := mem.Reads(); n != 1 {
		t.Errorf("the memory store was read %d times, want 1: the shared cache serves the second request", n)
	}

	// A failure crosses the seam as its class, answered with the code
	// every binary knows.
	_, err := v.Resolve(context.Background(), ns, []resolver.Wanted{{Var: "GONE", Placeholder: podcontract.Placeholder{AKVS: "gone"}}})
	var d *resolver.Denial
	if !errors.As(err, &d) || d.Status != http.StatusNotFound || d.Code != protocol.CodeStoreNotFound {
		t.Errorf("a missing object: %v, want 404 %s", err, protocol.CodeStoreNotFound)
	}
}
