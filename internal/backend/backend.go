// Package backend is the seam between latchkey's components and the stores secrets are read from: a reference that
// names its store, the object a read returns, the classes of failure, and the single-flight cache every reader shares.
//
// A backend is a Fetcher for one identity; a Cache over it is a Source; Sources route each Ref to the Source of its
// Backend. The controller and the resolver read through a Source and never see which backend answered. Azure Key
// Vault (internal/keyvault) is one backend. The package imports nothing from Kubernetes, so the in-container binary
// can use it in direct mode.
package backend

import (
	"context"
	"crypto"
	"fmt"
	"time"
)

// Kind is the kind of object read.
type Kind string

// The kinds of object latchkey reads.
const (
	KindSecret      Kind = "secret"
	KindCertificate Kind = "certificate"
	KindKey         Kind = "key"
)

// Ref names one object: the store that holds it, its kind, its name and
// optionally a version (empty means the latest).
type Ref struct {
	// Backend names the implementation that serves Store (keyvault.Backend
	// for Azure Key Vault); Sources route on it.
	Backend string
	// Store is the store within the backend: a Key Vault's name.
	Store   string
	Kind    Kind
	Name    string
	Version string
	// Principal names who the read is made as when the store decides per
	// caller (HashiCorp Vault: a ServiceAccount of the resource's namespace
	// and the role it logs in with). Empty when the Fetcher's one Identity
	// reads everything (Key Vault). Refs that differ only here are read, and
	// cached, apart.
	Principal string
}

// String is for logs and conditions: it names the object, never its value.
func (r Ref) String() string {
	s := fmt.Sprintf("%s %s/%s", r.Kind, r.Store, r.Name)
	if r.Version != "" {
		s += "@" + r.Version
	}
	if r.Principal != "" {
		s += " as " + r.Principal
	}
	return s
}

// Pinned reports whether the ref names one version, which never changes.
func (r Ref) Pinned() bool { return r.Version != "" }

// Object is what one read of a Ref returned.
//
// For a certificate, Value holds the chain and, when the certificate is
// exportable, its private key (PKCS#12 in base64, or PEM, as ContentType
// says), so one read serves every output. For a key, PublicKey is set and
// Value is empty: stores do not release private keys.
//
// Objects from a Cache share PublicKey with every other caller: treat it as
// read-only. Value is the caller's own copy.
type Object struct {
	Ref Ref
	// Version is the version read, resolved when Ref asked for the latest.
	Version string
	// Updated is when the store last changed this version.
	Updated     time.Time
	ContentType string
	Value       []byte
	PublicKey   crypto.PublicKey
	// KeyExportable is set for a certificate whose Value holds its private
	// key. Public outputs work without it; outputs that need the key refuse.
	KeyExportable bool
}

// Fetcher reads one object from one backend with one identity.
type Fetcher interface {
	// Identity names the principal the reads are made as.
	Identity() string
	Read(ctx context.Context, ref Ref) (Object, error)
}

// Source serves objects no older than maxAge; a *Cache is one, Sources
// another. It is what the controller and the resolver read through.
type Source interface {
	Get(ctx context.Context, ref Ref, maxAge time.Duration) (Object, error)
}

// Sources routes each Ref to the Source registered for its Backend: the
// one registration a backend needs.
type Sources map[string]Source

// Get reads ref from its backend's Source. A backend this process has no
// Source for is ErrUnavailable: the process, not the object, lacks it.
func (s Sources) Get(ctx context.Context, ref Ref, maxAge time.Duration) (Object, error) {
	src, ok := s[ref.Backend]
	if !ok {
		return Object{}, &noBackend{ref: ref}
	}
	return src.Get(ctx, ref, maxAge)
}

type noBackend struct{ ref Ref }

func (e *noBackend) Error() string {
	return fmt.Sprintf("%s: no backend %q in this process", e.ref, e.ref.Backend)
}
func (e *noBackend) Unwrap() error { return ErrUnavailable }
