// Package keyvault is the one place latchkey talks to Azure Key Vault, one
// backend behind internal/backend's seam: it builds credentials (AuthConfig,
// NewCredential) and SDK clients (one per vault and identity, reused), reads
// objects with the official azsecrets and azkeys clients (Reader, a
// backend.Fetcher: one request per object, a certificate being read as its
// backing secret), limits requests per vault (Limiter), and shares each read
// between every consumer through the backend's single-flight cache, keyed
// as Key Vault compares names (NewCache). Its Ref, Object and failure
// classes are the backend's; Error carries Key Vault's answer.
//
// It imports nothing from Kubernetes, so the small in-container binary can use
// it in direct mode.
package keyvault

import "github.com/latchkey-dev/latchkey/internal/backend"

// Backend is Azure Key Vault's name among backends: the Backend of every
// Ref it serves. A Ref's Store is the vault's name.
const Backend = "azurekeyvault"

// Kind is the kind of Key Vault object read.
type Kind = backend.Kind

// The kinds of object latchkey reads. A multi-key-value-secret is a Secret.
const (
	KindSecret      = backend.KindSecret
	KindCertificate = backend.KindCertificate
	KindKey         = backend.KindKey
)

// Ref names one object; Store is the vault's name.
type Ref = backend.Ref

// Object is what one read of a Ref returned.
//
// For a certificate, Value is its backing secret (the secret of the same name
// and version Key Vault keeps beside every certificate): a base64 PFX when
// ContentType is application/x-pkcs12, PEM when application/x-pem-file. It
// holds the chain and, when the certificate is exportable, the private key.
// Key Vault leaves the key out (and returns the chain alone) when the
// certificate's policy marks the key non-exportable: KeyExportable is then
// false. For a key, PublicKey is set and Value is empty: Key Vault never
// releases private keys.
type Object = backend.Object

// Content types of certificate backing secrets.
const (
	ContentTypePKCS12 = "application/x-pkcs12"
	ContentTypePEM    = "application/x-pem-file"
)
