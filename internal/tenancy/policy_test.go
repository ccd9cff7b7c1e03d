package tenancy

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestAllows(t *testing.T) {
	p, err := Parse([]byte(`
defaultAllow: false
namespaces:
  team-a:
    - vault: kv-team-a
      objects: [app-*, shared]
    - vault: kv-common-*
  team-b:
    - vault: "*"
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ns, vault, object string
		want              bool
	}{
		{"team-a", "kv-team-a", "app-db", true},
		{"team-a", "KV-Team-A", "App-DB", true}, // Key Vault names ignore case
		{"team-a", "kv-team-a", "shared", true},
		{"team-a", "kv-team-a", "admin", false},
		{"team-a", "kv-common-eu", "anything", true},
		{"team-a", "kv-team-b", "app-db", false},
		{"team-b", "kv-team-a", "admin", true},
		{"other", "kv-team-a", "app-db", false}, // defaultAllow: false
	}
	for _, tc := range tests {
		if got := p.Allows(tc.ns, tc.vault, tc.object); got != tc.want {
			t.Errorf("Allows(%s, %s, %s) = %v, want %v", tc.ns, tc.vault, tc.object, got, tc.want)
		}
	}
	if !AllowAll().Allows("any", "kv", "o") {
		t.Error("the default policy must allow everything (akv2k8s compatibility)")
	}
}

func TestParseRefusesMistakes(t *testing.T) {
	for _, bad := range []string{
		"namespaces: {a: [{vault: ''}]}",
		"namespaces: {a: [{vault: 'kv[', objects: []}]}",
		"namespace: {a: [{vault: kv}]}", // misspelt key: must not silently allow all
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestSourceReloadsAndKeepsLastGoodPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("namespaces: {a: [{vault: kv-a}]}")
	src, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	changed := make(chan struct{}, 4)
	src.OnChange = func() { changed <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go src.Watch(ctx, 10*time.Millisecond)

	if src.Allows("a", "kv-b", "x") {
		t.Fatal("kv-b allowed before the change")
	}
	write("namespaces: {a: [{vault: kv-b}]}")
	<-changed
	if !src.Allows("a", "kv-b", "x") || src.Allows("a", "kv-a", "x") {
		t.Error("new policy not in force")
	}
	write("namespaces: {a: [{vault: 'kv['}]}") // broken: the last good policy stays
	time.Sleep(50 * time.Millisecond)          // a few polls: nothing must change
	if !src.Allows("a", "kv-b", "x") {
		t.Error("a broken file changed the policy")
	}
}

func TestAllowsVault(t *testing.T) {
	p, err := Parse([]byte(`
defaultAllow: false
namespaces:
  team-a:
    - vault: kv-team-a
    - hashicorpVault:
        address: https://vault.example:8200
        mount: secret
        paths: [team-a/, shared]
  team-b:
    - hashicorpVault: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	const addr = "https://vault.example:8200"
	tests := []struct {
		ns, address, mount, path string
		want                     bool
	}{
		{"team-a", addr, "secret", "team-a/db", true},
		{"team-a", addr, "secret", "team-a/deep/db", true}, // a prefix covers every level
		{"team-a", addr, "secret", "shared", true},
		{"team-a", addr, "secret", "shared/x", false},
		{"team-a", addr, "secret", "team-b/db", false},
		{"team-a", addr, "secret", "team-a/../team-b/db", false},
		{"team-a", addr, "other", "team-a/db", false},
		{"team-a", "https://evil.example:8200", "secret", "team-a/db", false},
		{"team-a", addr, "secret", "Team-A/db", false}, // Vault names are case-sensitive
		{"team-b", "http://anything:8200", "any", "any/path", true},
		{"other", addr, "secret", "team-a/db", false}, // defaultAllow: false
	}
	for _, tc := range tests {
		if got := p.AllowsVault(tc.ns, tc.address, tc.mount, tc.path); got != tc.want {
			t.Errorf("AllowsVault(%s, %s, %s, %s) = %v, want %v", tc.ns, tc.address, tc.mount, tc.path, got, tc.want)
		}
	}
	// A Key Vault grant never allows a Vault read, nor the other way round.
	if p.Allows("team-b", "kv-team-a", "x") {
		t.Error("team-b's HashiCorp Vault grant allowed a Key Vault read")
	}
	if _, err := Parse([]byte("namespaces: {a: [{vault: x, hashicorpVault: {}}]}")); err == nil {
		t.Error("a grant naming both a Key Vault and a HashiCorp Vault was accepted")
	}
}
