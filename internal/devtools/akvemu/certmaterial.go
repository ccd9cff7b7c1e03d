package akvemu

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"software.sslmate.com/src/go-pkcs12"
)

// Errors of certificate import.
var (
	errNoPrivateKey  = errors.New("the certificate content does not contain a private key")
	errNoCertificate = errors.New("the certificate content does not contain a certificate")
	errKeyMismatch   = errors.New("the private key does not match any certificate")
	errUnsupportedKy = errors.New("only RSA and EC keys are supported")
)

// certMaterial is a certificate chain, leaf first, and the leaf's private key.
type certMaterial struct {
	chain []*x509.Certificate
	key   crypto.Signer
}

// leaf is the end-entity certificate.
func (m *certMaterial) leaf() *x509.Certificate { return m.chain[0] }

// parseCertificateImport decodes the value of a certificate import: base64
// PFX (with its password) by default, or PEM text (private key and chain)
// when the policy says application/x-pem-file. Clients also send PEM without
// saying so, or base64-encoded PEM, so any value that is PEM is read as PEM.
// Like Key Vault, an import must carry the private key.
func parseCertificateImport(value, password, contentType string) (*certMaterial, error) {
	data := []byte(strings.TrimSpace(value))
	if !bytes.HasPrefix(data, []byte("-----BEGIN")) {
		decoded, err := base64.StdEncoding.DecodeString(string(data))
		if err != nil {
			if contentType == contentTypePEM {
				return nil, fmt.Errorf("the value is neither PEM nor base64: %w", err)
			}
			return nil, fmt.Errorf("the value is not base64: %w", err)
		}
		data = decoded
	}
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN")) {
		return parsePEMBundle(data)
	}
	return parsePFX(data, password)
}

// parsePFX decodes a PKCS#12 file with its chain.
func parsePFX(data []byte, password string) (*certMaterial, error) {
	key, leaf, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		return nil, fmt.Errorf("decoding PFX: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errUnsupportedKy
	}
	return newCertMaterial(append([]*x509.Certificate{leaf}, cas...), signer)
}

// parsePEMBundle reads a private key and certificates from PEM text.
func parsePEMBundle(data []byte) (*certMaterial, error) {
	var certs []*x509.Certificate
	var key crypto.Signer
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parsing certificate: %w", err)
			}
			certs = append(certs, c)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			k, err := parsePrivateKey(b)
			if err != nil {
				return nil, err
			}
			key = k
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("encrypted PEM private keys are not supported; import a PFX with a password instead")
		}
	}
	return newCertMaterial(certs, key)
}

// parsePrivateKey decodes a PKCS#8, PKCS#1 or SEC 1 private key.
func parsePrivateKey(b *pem.Block) (crypto.Signer, error) {
	var k any
	var err error
	switch b.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", b.Type, err)
	}
	switch k.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
		return k.(crypto.Signer), nil
	}
	return nil, errUnsupportedKy
}

// newCertMaterial puts the certificate matching the key first and keeps the
// others in the order given.
func newCertMaterial(certs []*x509.Certificate, key crypto.Signer) (*certMaterial, error) {
	if len(certs) == 0 {
		return nil, errNoCertificate
	}
	if key == nil {
		return nil, errNoPrivateKey
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := key.Public().(equaler)
	if !ok {
		return nil, errUnsupportedKy
	}
	for i, c := range certs {
		if pub.Equal(c.PublicKey) {
			chain := append([]*x509.Certificate{c}, certs[:i]...)
			chain = append(chain, certs[i+1:]...)
			return &certMaterial{chain: chain, key: key}, nil
		}
	}
	return nil, errKeyMismatch
}

// secretValue renders the certificate-backed secret as Key Vault stores it:
// base64 PFX with an empty password, or PEM (PKCS#8 private key, then the
// chain, leaf first).
//
// A non-exportable certificate's secret holds the certificates only. Key
// Vault documents that for a non-exportable key "the private key isn't part
// of the value when it's retrieved as a secret" (learn.microsoft.com, "Export
// certificates from Azure Key Vault"); the emulator does the same in both
// formats, so readers of such a secret find no private key in it.
func (m *certMaterial) secretValue(contentType string, exportable bool) (string, error) {
	switch contentType {
	case contentTypePEM:
		var buf bytes.Buffer
		if exportable {
			der, err := x509.MarshalPKCS8PrivateKey(m.key)
			if err != nil {
				return "", fmt.Errorf("encoding private key: %w", err)
			}
			_ = pem.Encode(&buf, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
		}
		for _, c := range m.chain {
			_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
		return buf.String(), nil
	case contentTypePFX:
		var pfx []byte
		var err error
		if exportable {
			pfx, err = pkcs12.Modern2023.Encode(m.key, m.leaf(), m.chain[1:], "")
		} else {
			pfx, err = pkcs12.Modern2023.EncodeTrustStore(m.chain, "")
		}
		if err != nil {
			return "", fmt.Errorf("encoding PFX: %w", err)
		}
		return base64.StdEncoding.EncodeToString(pfx), nil
	}
	return "", fmt.Errorf("unsupported secret content type %q", contentType)
}

// pfxToPEM converts a certificate secret from base64 PFX to PEM, keeping the
// private key only if the PFX has one.
func pfxToPEM(b64 string) (string, error) {
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", fmt.Errorf("decoding PFX base64: %w", err)
	}
	if m, err := parsePFX(data, ""); err == nil {
		return m.secretValue(contentTypePEM, true)
	}
	certs, err := pkcs12.DecodeTrustStore(data, "")
	if err != nil {
		return "", fmt.Errorf("decoding PFX: %w", err)
	}
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.String(), nil
}
