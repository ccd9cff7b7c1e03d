// Package tenancy is the admin-controlled allow-list of which vaults (and,
// optionally, which objects in them) each namespace may read. Without it,
// anyone who can create an AzureKeyVaultSecret can read every vault
// latchkey's identity reaches. The controller and the resolver both enforce
// it; the default allows everything, as akv2k8s did.
package tenancy

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/latchkey-dev/latchkey/internal/vaultref"
)

// Policy says which vaults and objects each namespace may use.
//
//	defaultAllow: false        # namespaces without an entry (default: true)
//	namespaces:
//	  team-a:
//	    - vault: kv-team-a     # a vault name, or a glob: kv-team-a-*
//	      objects: [app-*]     # globs; none: every object of the vault
//	  team-b:
//	    - vault: "*"
//	    - hashicorpVault:      # HashiCorp Vault reads (globs)
//	        address: https://vault.example:8200
//	        mount: secret
//	        paths: [team-b/]   # a prefix ending in '/', or globs; none: every path
type Policy struct {
	// DefaultAllow decides for namespaces the policy does not name.
	DefaultAllow *bool `json:"defaultAllow,omitempty"`
	// Namespaces grants, per namespace, the vaults it may use.
	Namespaces map[string][]Grant `json:"namespaces,omitempty"`
}

// Grant lets a namespace use one vault (or the vaults a glob matches), all
// its objects or those matching Objects; or, with HashiCorpVault, paths of
// a HashiCorp Vault's KV mounts.
type Grant struct {
	Vault          string      `json:"vault,omitempty"`
	Objects        []string    `json:"objects,omitempty"`
	HashiCorpVault *VaultGrant `json:"hashicorpVault,omitempty"`
}

// VaultGrant lets a namespace read KV version 2 secrets of HashiCorp
// Vaults: Address and Mount are globs ("*" or empty: any); Paths are path
// prefixes ending in '/' (everything under them) or globs, none meaning
// every path. Vault's own roles still decide too: the grant only narrows.
type VaultGrant struct {
	Address string   `json:"address,omitempty"`
	Mount   string   `json:"mount,omitempty"`
	Paths   []string `json:"paths,omitempty"`
}

// AllowAll is the policy when none is configured.
func AllowAll() *Policy { return &Policy{} }

// Parse reads a policy from YAML, strictly: a misspelt key is an error, not
// a silently wider policy.
func Parse(data []byte) (*Policy, error) {
	p := &Policy{}
	if err := yaml.UnmarshalStrict(data, p); err != nil {
		return nil, fmt.Errorf("tenancy policy: %w", err)
	}
	return p, p.Validate()
}

// Validate checks the globs and names.
func (p *Policy) Validate() error {
	var errs []error
	for ns, grants := range p.Namespaces {
		for i, g := range grants {
			patterns := append([]string{g.Vault}, g.Objects...)
			switch {
			case g.HashiCorpVault != nil && (g.Vault != "" || len(g.Objects) > 0):
				errs = append(errs, fmt.Errorf("namespaces.%s[%d]: a grant names a Key Vault (vault, objects) or a HashiCorp Vault (hashicorpVault), not both", ns, i))
			case g.HashiCorpVault != nil:
				h := g.HashiCorpVault
				patterns = append([]string{h.Address, h.Mount}, h.Paths...)
			case g.Vault == "":
				errs = append(errs, fmt.Errorf("namespaces.%s[%d]: vault is required (\"*\" for any)", ns, i))
			}
			for _, pat := range patterns {
				if _, err := path.Match(pat, ""); err != nil {
					errs = append(errs, fmt.Errorf("namespaces.%s[%d]: bad pattern %q: %w", ns, i, pat, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Allows reports whether namespace may read object in vault. Names are
// compared case-insensitively, as Key Vault does.
//
// A HashiCorp Vault store (vaultref.IsStore) is allowed here: its reads are
// decided by AllowsVault, which the Vault backend's Source asks once the
// install's defaults have completed the reference.
func (p *Policy) Allows(namespace, vault, object string) bool {
	if vaultref.IsStore(vault) {
		return true
	}
	grants, named := p.Namespaces[namespace]
	if !named {
		return p.DefaultAllow == nil || *p.DefaultAllow
	}
	vault, object = strings.ToLower(vault), strings.ToLower(object)
	for _, g := range grants {
		if g.HashiCorpVault != nil || !match(g.Vault, vault) {
			continue
		}
		if len(g.Objects) == 0 {
			return true
		}
		for _, o := range g.Objects {
			if match(o, object) {
				return true
			}
		}
	}
	return false
}

// AllowsVault reports whether namespace may read path of the KV mount at
// address of a HashiCorp Vault. Vault's names are case-sensitive, and so is
// this.
func (p *Policy) AllowsVault(namespace, address, mount, secretPath string) bool {
	grants, named := p.Namespaces[namespace]
	if !named {
		return p.DefaultAllow == nil || *p.DefaultAllow
	}
	for _, g := range grants {
		h := g.HashiCorpVault
		if h == nil || !globOrAny(h.Address, address) || !globOrAny(h.Mount, mount) {
			continue
		}
		if len(h.Paths) == 0 {
			return true
		}
		for _, pat := range h.Paths {
			if strings.HasSuffix(pat, "/") && strings.HasPrefix(secretPath, pat) && !strings.Contains(secretPath, "..") {
				return true
			}
			if ok, err := path.Match(pat, secretPath); err == nil && ok {
				return true
			}
		}
	}
	return false
}

// globOrAny matches name against a case-sensitive glob; empty matches all.
func globOrAny(pattern, name string) bool {
	if pattern == "" {
		return true
	}
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}

func match(pattern, name string) bool {
	ok, err := path.Match(strings.ToLower(pattern), name)
	return err == nil && ok
}
