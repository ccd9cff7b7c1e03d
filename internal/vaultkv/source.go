package vaultkv

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/vaultref"
)

// Allower is the tenancy policy's question for a Vault read: may namespace
// read path of the KV mount at address? *tenancy.Policy and
// *tenancy.Source answer it.
type Allower interface {
	AllowsVault(namespace, address, mount, path string) bool
}

// Source is what the process registers for Backend: it fills what a
// resource leaves to the install (Defaults), applies the tenancy policy
// to the complete reference (the namespace is the Principal's: the
// resource's own), and reads through the shared single-flight cache, keyed
// by the whole Ref: address, mount, path, version and principal.
type Source struct {
	Defaults vaultref.Defaults
	// Tenancy may be nil: everything is allowed.
	Tenancy Allower
	Cache   backend.Source
}

// Get implements backend.Source.
func (s *Source) Get(ctx context.Context, ref backend.Ref, maxAge time.Duration) (backend.Object, error) {
	ref = s.Defaults.Apply(ref)
	loc, who, _, err := vaultref.Parse(ref)
	if err != nil {
		return backend.Object{}, err
	}
	if s.Tenancy != nil && !s.Tenancy.AllowsVault(who.Namespace, loc.Address, loc.Mount, loc.Path) {
		return backend.Object{}, fmt.Errorf("%s: %w: namespace %s may not read %s/%s at %s (tenancy policy)",
			ref, backend.ErrForbidden, who.Namespace, loc.Mount, loc.Path, loc.Address)
	}
	return s.Cache.Get(ctx, ref, maxAge)
}
