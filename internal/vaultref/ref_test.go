package vaultref_test

import (
	"errors"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/vaultref"
)

func TestRefRoundTrip(t *testing.T) {
	loc := vaultref.Location{Address: "https://vault.example:8200", Mount: "kv/team", Path: "app/db"}
	who := vaultref.Principal{AuthMount: "kubernetes", Role: "app", Namespace: "team-a", ServiceAccount: "app-sa"}
	ref := vaultref.Ref(loc, who, "3")
	if ref.Backend != vaultref.Backend || !vaultref.IsStore(ref.Store) || ref.Principal != "kubernetes:app:team-a/app-sa" {
		t.Fatalf("Ref = %+v", ref)
	}
	gotLoc, gotWho, v, err := vaultref.Parse(ref)
	if err != nil || gotLoc != loc || gotWho != who || v != 3 {
		t.Fatalf("Parse = %+v, %+v, %d, %v", gotLoc, gotWho, v, err)
	}
	if want := "secret https://vault.example:8200#kv/team/app/db@3 as kubernetes:app:team-a/app-sa"; ref.String() != want {
		t.Errorf("String = %q, want %q", ref.String(), want)
	}
	// Refs that differ only in who reads are distinct cache keys.
	other := vaultref.Ref(loc, vaultref.Principal{AuthMount: "kubernetes", Role: "app", Namespace: "team-b", ServiceAccount: "app-sa"}, "3")
	if other == ref {
		t.Error("two principals share a Ref")
	}
}

func TestDefaultsApply(t *testing.T) {
	d := vaultref.Defaults{Address: "https://vault:8200", Role: "default-role", ServiceAccount: "latchkey"}
	ref := d.Apply(vaultref.Ref(vaultref.Location{Mount: "secret", Path: "p"}, vaultref.Principal{Namespace: "ns"}, ""))
	loc, who, _, err := vaultref.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	if loc.Address != d.Address || who != (vaultref.Principal{AuthMount: vaultref.DefaultAuthMount, Role: "default-role", Namespace: "ns", ServiceAccount: "latchkey"}) {
		t.Errorf("defaults applied: %+v %+v", loc, who)
	}
	// What the resource names wins.
	ref = d.Apply(vaultref.Ref(vaultref.Location{Address: "https://other:8200", Mount: "secret", Path: "p"},
		vaultref.Principal{AuthMount: "k8s-b", Role: "mine", Namespace: "ns", ServiceAccount: "sa"}, ""))
	loc, who, _, _ = vaultref.Parse(ref)
	if loc.Address != "https://other:8200" || who.Role != "mine" || who.AuthMount != "k8s-b" || who.ServiceAccount != "sa" {
		t.Errorf("the resource's settings lost: %+v %+v", loc, who)
	}
}

func TestParseRefuses(t *testing.T) {
	good := vaultref.Ref(vaultref.Location{Address: "https://v:8200", Mount: "secret", Path: "p"},
		vaultref.Principal{AuthMount: "kubernetes", Role: "r", Namespace: "ns", ServiceAccount: "sa"}, "")
	for name, mut := range map[string]func(*backend.Ref){
		"no address":      func(r *backend.Ref) { r.Store = "#secret" },
		"bad address":     func(r *backend.Ref) { r.Store = "ftp://v#secret" },
		"no mount":        func(r *backend.Ref) { r.Store = "https://v:8200#" },
		"no path":         func(r *backend.Ref) { r.Name = "" },
		"no role":         func(r *backend.Ref) { r.Principal = "kubernetes::ns/sa" },
		"no sa":           func(r *backend.Ref) { r.Principal = "kubernetes:r:ns/" },
		"version 0":       func(r *backend.Ref) { r.Version = "0" },
		"version text":    func(r *backend.Ref) { r.Version = "latest" },
		"a certificate":   func(r *backend.Ref) { r.Kind = backend.KindCertificate },
		"other backend":   func(r *backend.Ref) { r.Backend = "azure-key-vault" },
		"user in the URL": func(r *backend.Ref) { r.Store = "https://u:p@v:8200#secret" },
	} {
		ref := good
		mut(&ref)
		if _, _, _, err := vaultref.Parse(ref); !errors.Is(err, vaultref.ErrInvalidRef) || !errors.Is(err, backend.ErrInvalidObject) {
			t.Errorf("%s: %v, want ErrInvalidRef", name, err)
		}
	}
	if _, _, _, err := vaultref.Parse(good); err != nil {
		t.Errorf("a good ref: %v", err)
	}
}
