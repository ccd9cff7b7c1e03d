// Package keyvault is the one place latchkey talks to Azure Key Vault: it
// builds credentials (AuthConfig, NewCredential) and SDK clients (one per
// vault and identity, reused), reads objects with the official azsecrets and
// azkeys clients (Reader: one request per object, a certificate being read
// as its backing secret), limits requests per vault (Limiter), and shares
// each read between every consumer through a single-flight cache (Cache).
//
// It imports nothing from Kubernetes, so the small in-container binary can use
// it in direct mode.
package keyvault

import (
	"crypto"
	"fmt"
	"time"
)

// Kind is the kind of Key Vault object read.
type Kind string

// The kinds of object latchkey reads. A multi-key-value-secret is a Secret.
const (
	KindSecret      Kind = "secret"
	KindCertificate Kind = "certificate"
	KindKey         Kind = "key"
)

// Ref names one object: a vault, a kind, a name and optionally a version
// (empty means the latest).
type Ref struct {
	Vault   string
	Kind    Kind
	Name    string
	Version string
}

// String is for logs and conditions: it names the object, never its value.
func (r Ref) String() string {
	if r.Version == "" {
		return fmt.Sprintf("%s %s/%s", r.Kind, r.Vault, r.Name)
	}
	return fmt.Sprintf("%s %s/%s@%s", r.Kind, r.Vault, r.Name, r.Version)
}

// Pinned reports whether the ref names one version, which never changes.
func (r Ref) Pinned() bool { return r.Version != "" }

// Object is what one read of a Ref returned.
//
// For a certificate, Value is its backing secret (the secret of the same name
// and version Key Vault keeps beside every certificate): a base64 PFX when
// ContentType is application/x-pkcs12, PEM when application/x-pem-file. It
// holds the chain and, when the certificate is exportable, the private key,
// so one read serves every output. For a key, PublicKey is set and Value is
// empty: Key Vault never releases private keys.
//
// Objects from a Cache share PublicKey with every other caller: treat it as
// read-only. Value is the caller's own copy.
type Object struct {
	Ref Ref
	// Version is the version read, resolved when Ref asked for the latest.
	Version string
	// Updated is when Key Vault last changed this version.
	Updated     time.Time
	ContentType string
	Value       []byte
	PublicKey   crypto.PublicKey
	// KeyExportable is set for a certificate whose backing secret holds its
	// private key. Key Vault leaves the key out (and returns the chain alone)
	// when the certificate's policy marks the key non-exportable: public
	// outputs still work, outputs that need the key must refuse.
	KeyExportable bool
}

// Content types of certificate backing secrets.
const (
	ContentTypePKCS12 = "application/x-pkcs12"
	ContentTypePEM    = "application/x-pem-file"
)
