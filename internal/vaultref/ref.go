// Package vaultref names HashiCorp Vault reads in the backend seam's terms: a KV version 2 secret (address, mount,
// path) read as a Principal (auth mount, role, namespace, ServiceAccount), encoded into a backend.Ref and back. It is
// pure and imports nothing from Vault or Kubernetes, so the pod contract, the tenancy policy and the in-container
// binary can use it; internal/vaultkv reads what it names.
package vaultref

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/latchkey-dev/latchkey/internal/backend"
)

// Backend is the name Refs of HashiCorp Vault carry (backend.Ref.Backend).
const Backend = "hashicorp-vault"

// DefaultAuthMount is the auth mount of a Principal that names none:
// where `vault auth enable kubernetes` mounts the method.
const DefaultAuthMount = "kubernetes"

// Location is one KV v2 secret: the Vault, the engine's mount and the path
// in it.
type Location struct {
	// Address is the Vault's URL, e.g. https://vault.example:8200.
	Address string
	// Mount is the KV v2 engine's mount path, e.g. secret.
	Mount string
	// Path is the secret's path in the engine, e.g. team-a/db.
	Path string
}

// Principal is who reads: a ServiceAccount of a namespace, logged in with
// a role at an auth mount.
type Principal struct {
	AuthMount      string
	Role           string
	Namespace      string
	ServiceAccount string
}

// String is the principal as a Ref carries it and logs show it:
// <authMount>:<role>:<namespace>/<serviceAccount>.
func (p Principal) String() string {
	return p.AuthMount + ":" + p.Role + ":" + p.Namespace + "/" + p.ServiceAccount
}

// Defaults are the install's: what a resource that names no address, role,
// auth mount or ServiceAccount reads with.
type Defaults struct {
	Address        string
	AuthMount      string
	Role           string
	ServiceAccount string
}

// Apply fills what ref leaves empty from d (the auth mount from
// DefaultAuthMount when d names none).
func (d Defaults) Apply(ref backend.Ref) backend.Ref {
	loc, who := split(ref)
	if loc.Address == "" {
		loc.Address = d.Address
	}
	if who.AuthMount == "" {
		who.AuthMount = cmp.Or(d.AuthMount, DefaultAuthMount)
	}
	if who.Role == "" {
		who.Role = d.Role
	}
	if who.ServiceAccount == "" {
		who.ServiceAccount = d.ServiceAccount
	}
	return Ref(loc, who, ref.Version)
}

// IsStore reports whether a Ref's Store is a Vault's (<address>#<mount>):
// no Key Vault name holds a '#'.
func IsStore(store string) bool { return strings.Contains(store, "#") }

// SplitStore is a Store's address and mount.
func SplitStore(store string) (address, mount string) {
	address, mount, _ = strings.Cut(store, "#")
	return address, mount
}

// Ref is the backend.Ref of version (empty: the latest) of the secret at
// loc, read as who. It is the one encoding of a Vault read into the seam's
// Ref: Store is <address>#<mount>, Name the path, Principal who's String.
func Ref(loc Location, who Principal, version string) backend.Ref {
	return backend.Ref{
		Backend: Backend, Store: strings.TrimRight(loc.Address, "/") + "#" + strings.Trim(loc.Mount, "/"),
		Kind: backend.KindSecret, Name: strings.Trim(loc.Path, "/"), Version: version, Principal: who.String(),
	}
}

// ErrInvalidRef is the class of a Ref this backend cannot read (a bug or a
// spec Check should have refused): it is an ErrInvalidObject.
var ErrInvalidRef = fmt.Errorf("%w: invalid HashiCorp Vault reference", backend.ErrInvalidObject)

// split is Ref's inverse, unchecked.
func split(ref backend.Ref) (Location, Principal) {
	addr, mount := SplitStore(ref.Store)
	var who Principal
	if parts := strings.SplitN(ref.Principal, ":", 3); len(parts) == 3 {
		ns, sa, _ := strings.Cut(parts[2], "/")
		who = Principal{AuthMount: parts[0], Role: parts[1], Namespace: ns, ServiceAccount: sa}
	}
	return Location{Address: addr, Mount: mount, Path: ref.Name}, who
}

// Parse is Ref's inverse, checking what a read needs: an address, a mount,
// a path, a whole principal, and a version that is a positive integer (0
// for the latest).
func Parse(ref backend.Ref) (Location, Principal, int, error) {
	loc, who := split(ref)
	var problems []string
	if ref.Backend != Backend {
		problems = append(problems, "not a HashiCorp Vault reference")
	}
	if loc.Mount == "" {
		problems = append(problems, "no KV mount")
	}
	if err := CheckAddress(loc.Address); err != nil {
		problems = append(problems, err.Error())
	}
	if ref.Name == "" {
		problems = append(problems, "no path")
	}
	if ref.Kind != backend.KindSecret {
		problems = append(problems, "only KV secrets are read")
	}
	if who.AuthMount == "" || who.Role == "" || who.Namespace == "" || who.ServiceAccount == "" {
		problems = append(problems, "no principal (auth mount, role, namespace and ServiceAccount)")
	}
	version := 0
	if ref.Version != "" {
		v, err := strconv.Atoi(ref.Version)
		if err != nil || v < 1 {
			problems = append(problems, "the version must be a positive integer")
		}
		version = v
	}
	if len(problems) > 0 {
		// The ref is not quoted: an address refused for holding a user may
		// hold a password.
		return Location{}, Principal{}, 0, fmt.Errorf("%w: %s", ErrInvalidRef, strings.Join(problems, "; "))
	}
	return loc, who, version, nil
}

// CheckAddress says whether addr can be a Vault's address: an http or
// https URL with a host and nothing after the path.
func CheckAddress(addr string) error {
	u, err := url.Parse(addr)
	switch {
	case addr == "":
		return errors.New("no Vault address")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return errors.New("the Vault address must be an http or https URL with a host and no query, fragment or user")
	}
	return nil
}
