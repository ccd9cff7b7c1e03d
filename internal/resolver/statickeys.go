package resolver

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// KeyFile reads the service-account issuer's verification keys from a
// file the install gives (--service-account-keys), for clusters whose API
// server does not publish them: OIDC discovery is off unless the first
// --service-account-issuer is an https URL, and some clusters keep the
// historical non-URL issuer (kubernetes/serviceaccount). Without keys such
// a cluster costs a TokenReview per new token.
//
// The file is read again on every refresh and on an unknown key id, as
// discovery would be, so a key rotation is a change of the file (a
// ConfigMap the kubelet updates in place).
type KeyFile struct {
	// Path is the file: a JWKS, or PEM public keys or certificates, the
	// same the API server's --service-account-key-file takes (private keys
	// are refused: a verifier needs none).
	Path string
	// Issuer is the iss the tokens carry: the API server's first
	// --service-account-issuer.
	Issuer string
}

// Load implements IssuerKeys.Load.
func (f KeyFile) Load(context.Context) (*KeySet, error) {
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, fmt.Errorf("service-account keys: %w", err)
	}
	if len(data) > maxKeyDocumentBytes {
		return nil, fmt.Errorf("service-account keys: %s is larger than %d bytes", f.Path, maxKeyDocumentBytes)
	}
	set, err := ParseKeyFile(data, f.Issuer)
	if err != nil {
		return nil, fmt.Errorf("service-account keys in %s: %w", f.Path, err)
	}
	return set, nil
}

// ParseKeyFile reads public signing keys from a JWKS or from PEM blocks
// (PUBLIC KEY, RSA PUBLIC KEY, CERTIFICATE). A PEM key gets the key id
// kube-apiserver gives its tokens (KeyIDOf), so tokens still select their
// key by kid.
func ParseKeyFile(data []byte, issuer string) (*KeySet, error) {
	if issuer == "" {
		return nil, errors.New("no issuer given for the keys")
	}
	if trimmed := strings.TrimSpace(string(data)); strings.HasPrefix(trimmed, "{") {
		return ParseKeySet(fmt.Appendf(nil, `{"issuer":%q}`, issuer), data)
	}
	set := &KeySet{Issuer: issuer}
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		key, err := publicKeyOf(b)
		if err != nil {
			return nil, err
		}
		kid, err := KeyIDOf(key)
		if err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: key, KeyID: kid, Use: "sig"})
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("no PEM public key, certificate or JWKS")
	}
	return set, nil
}

// publicKeyOf is the RSA or ECDSA public key of a PEM block.
func publicKeyOf(b *pem.Block) (crypto.PublicKey, error) {
	var key any
	var err error
	switch b.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(b.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(b.Bytes)
	case "CERTIFICATE":
		var c *x509.Certificate
		if c, err = x509.ParseCertificate(b.Bytes); err == nil {
			key = c.PublicKey
		}
	default:
		// A private key in particular: the resolver must not hold one.
		return nil, fmt.Errorf("a PEM block of type %q: only public keys and certificates are read", b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("a PEM %s: %w", strings.ToLower(b.Type), err)
	}
	switch key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
		return key, nil
	}
	return nil, fmt.Errorf("a %T: service-account tokens are signed with RSA or ECDSA keys", key)
}

// KeyIDOf is the key id kube-apiserver puts in the tokens a public key
// verifies: the unpadded base64url SHA-256 of its PKIX DER encoding.
func KeyIDOf(key crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}
