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
type Policy struct {
	// DefaultAllow decides for namespaces the policy does not name.
	DefaultAllow *bool `json:"defaultAllow,omitempty"`
	// Namespaces grants, per namespace, the vaults it may use.
	Namespaces map[string][]Grant `json:"namespaces,omitempty"`
}

// Grant lets a namespace use one vault (or the vaults a glob matches), all
// its objects or those matching Objects.
type Grant struct {
	Vault   string   `json:"vault"`
	Objects []string `json:"objects,omitempty"`
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
			if g.Vault == "" {
				errs = append(errs, fmt.Errorf("namespaces.%s[%d]: vault is required (\"*\" for any)", ns, i))
			}
			for _, pat := range append([]string{g.Vault}, g.Objects...) {
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
func (p *Policy) Allows(namespace, vault, object string) bool {
	grants, named := p.Namespaces[namespace]
	if !named {
		return p.DefaultAllow == nil || *p.DefaultAllow
	}
	vault, object = strings.ToLower(vault), strings.ToLower(object)
	for _, g := range grants {
		if !match(g.Vault, vault) {
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

func match(pattern, name string) bool {
	ok, err := path.Match(strings.ToLower(pattern), name)
	return err == nil && ok
}
