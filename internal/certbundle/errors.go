package certbundle

import "errors"

// Sentinel errors returned by this package; match them with errors.Is. Their
// messages describe the condition only, never the input.
var (
	// ErrUnsupportedContentType is returned for a content type other than
	// application/x-pkcs12, application/x-pem-file or empty (sniff).
	ErrUnsupportedContentType = errors.New("unsupported certificate content type")
	// ErrMalformed is returned when the value is not a readable PFX or PEM
	// file, or a certificate or key in it cannot be parsed.
	ErrMalformed = errors.New("malformed certificate bundle")
	// ErrPasswordProtected is returned for a PFX that needs a password or an
	// encrypted PEM key; Key Vault stores certificates without a password.
	ErrPasswordProtected = errors.New("certificate bundle is password protected (Key Vault stores certificates without a password)")
	// ErrNoCertificate is returned when the value holds no certificate.
	ErrNoCertificate = errors.New("no certificate found")
	// ErrNoPrivateKey is returned by KeyPEM when the bundle holds no private
	// key, as with a certificate whose key is not exportable.
	ErrNoPrivateKey = errors.New("no private key in certificate bundle")
	// ErrKeyMismatch is returned when the value holds a private key that
	// belongs to none of its certificates: writing it would produce a TLS
	// Secret whose key does not match its certificate.
	ErrKeyMismatch = errors.New("private key matches no certificate in the bundle")
	// ErrTooManyCertificates is returned for a bundle with more certificates
	// than any real chain has, to bound the work of ordering them.
	ErrTooManyCertificates = errors.New("too many certificates in bundle")
	// ErrUnsupportedKey is returned when a key cannot be encoded as PEM.
	ErrUnsupportedKey = errors.New("unsupported key type")
)
