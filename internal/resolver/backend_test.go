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

// TestVersionChangeSeenByTheController: a value read by the resolver before
// its object changed is not served once the AzureKeyVaultSecret's status
// names another version (the controller saw the change, and may have rolled
// pods out for it): the resolver reads again, though its read is younger
// than the refresh interval, at most once a second while they differ.
func TestVersionChangeSeenByTheController(t *testing.T) {
	ns := createNamespace(t, "", true)
	a := &v2beta1.AzureKeyVaultSecret{ObjectMeta: objectMeta(ns, "db"), Spec: v2beta1.AzureKeyVaultSecretSpec{
		Vault: v2beta1.AzureKeyVault{Name: "mem-store", Object: v2beta1.AzureKeyVaultObject{Name: "db-password", Type: v2beta1.ObjectTypeSecret}},
	}}
	if err := suite.client.Create(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	mem := &backendtest.Store{}
	mem.Put("mem-store", "db-password", []byte("old"))
	v := &resolver.Values{AKVS: suite.client, Tenancy: allowAll{}, RefreshInterval: time.Hour,
		Objects: backend.Sources{keyvault.Backend: backend.NewCache(mem, backend.CacheOptions{})}}
	resolve := func(want string) {
		t.Helper()
		got, err := v.Resolve(context.Background(), ns, []resolver.Wanted{{Var: "DB", Placeholder: podcontract.Placeholder{AKVS: "db"}}})
		if err != nil || got["DB"] != want {
			t.Fatalf("Resolve = %q, %v; want %q", got["DB"], err, want)
		}
	}
	setStatusVersion := func(version string) {
		t.Helper()
		a.Status.ObjectVersion = version
		if err := suite.client.Status().Update(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	setStatusVersion("1")
	resolve("old")
	mem.Put("mem-store", "db-password", []byte("new")) // version 2
	resolve("old")                                     // the controller has not seen it: within the interval
	if n := mem.Reads(); n != 1 {
		t.Fatalf("%d reads, want 1", n)
	}
	setStatusVersion("2")
	// A read younger than a second is still served (pods rolled out for
	// the change start a window after it).
	time.Sleep(1100 * time.Millisecond)
	resolve("new") // Values reads the AzureKeyVaultSecret from the API server here
	reads := mem.Reads()
	resolve("new")
	if n := mem.Reads() - reads; n != 0 {
		t.Errorf("%d more reads once the versions agree, want 0", n)
	}
	// Versions that disagree the other way (the controller lags): one read
	// a second at most.
	mem.Put("mem-store", "db-password", []byte("newer")) // version 3; status still says 2
	reads = mem.Reads()
	for range 20 {
		_, _ = v.Resolve(context.Background(), ns, []resolver.Wanted{{Var: "DB", Placeholder: podcontract.Placeholder{AKVS: "db"}}})
	}
	if n := mem.Reads() - reads; n > 2 {
		t.Errorf("%d reads for 20 requests while the status lags, want at most 2 (one a second)", n)
	}
}
