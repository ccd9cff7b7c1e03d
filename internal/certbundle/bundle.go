package certbundle

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// PEM block types written by this package.
const (
	blockCertificate   = "CERTIFICATE"
	blockRSAPrivateKey = "RSA PRIVATE KEY"
	blockECPrivateKey  = "EC PRIVATE KEY"
	blockPrivateKey    = "PRIVATE KEY"
	blockPublicKey     = "PUBLIC KEY"
)

// Bundle is a parsed certificate backing secret.
type Bundle struct {
	// Leaf is the end-entity certificate, Chain[0].
	Leaf *x509.Certificate
	// Chain is the leaf followed by its issuers in issuing order, then any
	// certificates that link to none of them, in input order.
	Chain []*x509.Certificate
	// Key is the private key, or nil when the value holds none (a
	// certificate whose key is not exportable).
	Key crypto.PrivateKey
}

// CertPEM returns the chain as concatenated CERTIFICATE blocks, leaf first,
// without PEM headers.
func (b *Bundle) CertPEM() []byte {
	var buf bytes.Buffer
	for _, c := range b.Chain {
		// Writing to a bytes.Buffer cannot fail and a block without
		// headers always encodes.
		_ = pem.Encode(&buf, &pem.Block{Type: blockCertificate, Bytes: c.Raw})
	}
	return buf.Bytes()
}

// KeyPEM returns the private key as PEM: RSA keys as PKCS#1 "RSA PRIVATE
// KEY" and EC keys as SEC1 "EC PRIVATE KEY", the encodings akv2k8s wrote and
// that nginx, OpenSSL and Go all read; other keys (Ed25519) as PKCS#8
// "PRIVATE KEY". It returns ErrNoPrivateKey when the bundle holds no key.
func (b *Bundle) KeyPEM() ([]byte, error) {
	if b.Key == nil {
		return nil, ErrNoPrivateKey
	}
	block, err := privateKeyBlock(b.Key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(block), nil
}

func privateKeyBlock(key crypto.PrivateKey) (*pem.Block, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k == nil || k.N == nil {
			return nil, fmt.Errorf("%w: empty RSA key", ErrUnsupportedKey)
		}
		return &pem.Block{Type: blockRSAPrivateKey, Bytes: x509.MarshalPKCS1PrivateKey(k)}, nil
	case *ecdsa.PrivateKey:
		if k == nil || k.Curve == nil {
			return nil, fmt.Errorf("%w: empty EC key", ErrUnsupportedKey)
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("%w: EC key on an unsupported curve", ErrUnsupportedKey)
		}
		return &pem.Block{Type: blockECPrivateKey, Bytes: der}, nil
	default:
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("%w: %T", ErrUnsupportedKey, key)
		}
		return &pem.Block{Type: blockPrivateKey, Bytes: der}, nil
	}
}

// PublicKeyPEM encodes a public key (RSA, ECDSA or Ed25519) as a PKIX
// "PUBLIC KEY" PEM block, the form latchkey writes for Key Vault key objects.
func PublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	switch k := pub.(type) {
	case nil:
		return nil, fmt.Errorf("%w: no public key", ErrUnsupportedKey)
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return nil, fmt.Errorf("%w: empty RSA key", ErrUnsupportedKey)
		}
	case *ecdsa.PublicKey:
		// Read, not modified: a hand-built key without coordinates makes
		// MarshalPKIXPublicKey panic.
		if k == nil || k.Curve == nil || k.X == nil || k.Y == nil { //nolint:staticcheck // see above
			return nil, fmt.Errorf("%w: empty EC key", ErrUnsupportedKey)
		}
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %T", ErrUnsupportedKey, pub)
	}
	return pem.EncodeToMemory(&pem.Block{Type: blockPublicKey, Bytes: der}), nil
}
