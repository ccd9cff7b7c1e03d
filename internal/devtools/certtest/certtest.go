// Package certtest builds certificates, chains and Key Vault style backing
// secrets (base64 PFX and PEM) for tests, in the spirit of cert-manager's
// test/unit/gen: small builders so each table row says what it needs and
// nothing else. It is imported only by tests.
package certtest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // subject key identifiers, not security
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// KeyType selects the key algorithm of a generated certificate.
type KeyType int

// Key algorithms.
const (
	RSA KeyType = iota
	ECDSA
	Ed25519
)

// String names the key type for subtest names.
func (k KeyType) String() string {
	switch k {
	case RSA:
		return "rsa"
	case ECDSA:
		return "ec"
	case Ed25519:
		return "ed25519"
	}
	return "unknown"
}

// Cert is a generated certificate and its private key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// rsaPool holds RSA keys generated once per test binary: 2048-bit generation
// is slow under -race. Consecutive certificates get different keys, so a
// chain of up to len(pool) certificates never reuses one.
var (
	rsaPool     = sync.OnceValue(func() []*rsa.PrivateKey { return generateRSAPool(8) })
	rsaNext     atomic.Uint32
	serialCount atomic.Int64
)

func generateRSAPool(n int) []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, n)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	return keys
}

// NewKey returns a private key of the given type.
func NewKey(t testing.TB, kt KeyType) crypto.Signer {
	t.Helper()
	switch kt {
	case RSA:
		pool := rsaPool()
		return pool[int(rsaNext.Add(1))%len(pool)]
	case ECDSA:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	t.Fatalf("unknown key type %d", kt)
	return nil
}

// NewRoot returns a self-signed CA certificate.
func NewRoot(t testing.TB, name string, kt KeyType) *Cert {
	t.Helper()
	key := NewKey(t, kt)
	return sign(t, template(name, true, key.Public()), nil, key)
}

// Issue returns a certificate for name signed by parent, a CA when isCA.
func (parent *Cert) Issue(t testing.TB, name string, kt KeyType, isCA bool) *Cert {
	t.Helper()
	key := NewKey(t, kt)
	return sign(t, template(name, isCA, key.Public()), parent, key)
}

// Chain returns a leaf, intermediates and a root, leaf first, all with keys
// of type kt.
func Chain(t testing.TB, kt KeyType, intermediates int) []*Cert {
	t.Helper()
	root := NewRoot(t, "root", kt)
	chain := []*Cert{root}
	parent := root
	for i := range intermediates {
		parent = parent.Issue(t, "intermediate-"+string(rune('a'+i)), kt, true)
		chain = append(chain, parent)
	}
	chain = append(chain, parent.Issue(t, "leaf.example.com", kt, false))
	// Reverse: leaf first.
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	return chain
}

// Certs returns the x509 certificates of cs, in order.
func Certs(cs ...*Cert) []*x509.Certificate {
	out := make([]*x509.Certificate, len(cs))
	for i, c := range cs {
		out[i] = c.Cert
	}
	return out
}

// Reorder returns cs in the order of the given indexes.
func Reorder(cs []*Cert, order ...int) []*Cert {
	out := make([]*Cert, len(order))
	for i, o := range order {
		out[i] = cs[o]
	}
	return out
}

func template(name string, isCA bool, pub crypto.PublicKey) *x509.Certificate {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	skid := sha1.Sum(der) //nolint:gosec // identifier only
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serialCount.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  isCA,
		SubjectKeyId:          skid[:],
	}
	if isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.DNSNames = []string{name}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	return tmpl
}

func sign(t testing.TB, tmpl *x509.Certificate, parent *Cert, key crypto.Signer) *Cert {
	t.Helper()
	parentCert, signer := tmpl, key
	if parent != nil {
		parentCert, signer = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &Cert{Cert: c, Key: key}
}

// PFX returns a DER PFX with an empty password holding key and certs; the
// first certificate is stored as the PFX's leaf, whatever it is, so callers
// can test shuffled input.
func PFX(t testing.TB, key crypto.PrivateKey, certs ...*x509.Certificate) []byte {
	t.Helper()
	der, err := pkcs12.Modern2023.Encode(key, certs[0], certs[1:], "")
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// PasswordPFX is PFX with a password.
func PasswordPFX(t testing.TB, password string, key crypto.PrivateKey, certs ...*x509.Certificate) []byte {
	t.Helper()
	der, err := pkcs12.Modern2023.Encode(key, certs[0], certs[1:], password)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TrustStorePFX returns a DER PFX without a key, the layout of a
// non-exportable certificate's backing secret in the latchkey emulator.
func TrustStorePFX(t testing.TB, certs ...*x509.Certificate) []byte {
	t.Helper()
	der, err := pkcs12.Modern2023.EncodeTrustStore(certs, "")
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// Base64 is what Key Vault stores for an application/x-pkcs12 secret.
func Base64(der []byte) []byte {
	return []byte(base64.StdEncoding.EncodeToString(der))
}

// KeyFormat selects how PEM writes a private key.
type KeyFormat int

// Private key encodings.
const (
	PKCS8 KeyFormat = iota // "PRIVATE KEY", what Key Vault writes
	PKCS1                  // "RSA PRIVATE KEY"
	SEC1                   // "EC PRIVATE KEY"
)

// PEM returns a PEM file with the key (if not nil) first, then certs, in the
// order given.
func PEM(t testing.TB, key crypto.PrivateKey, format KeyFormat, certs ...*x509.Certificate) []byte {
	t.Helper()
	var buf bytes.Buffer
	if key != nil {
		buf.Write(KeyPEM(t, key, format))
	}
	buf.Write(CertPEM(certs...))
	return buf.Bytes()
}

// KeyPEM encodes key in the given format.
func KeyPEM(t testing.TB, key crypto.PrivateKey, format KeyFormat) []byte {
	t.Helper()
	var block *pem.Block
	switch format {
	case PKCS1:
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key.(*rsa.PrivateKey))}
	case SEC1:
		der, err := x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	default:
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	return pem.EncodeToMemory(block)
}

// CertPEM encodes certs as CERTIFICATE blocks in the order given.
func CertPEM(certs ...*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.Bytes()
}

// TLSFromPFX is what akv2k8s wrote as tls.crt and tls.key for the base64
// PFX text Key Vault keeps as a certificate's backing secret: the leaf, then
// the certificate that issued it and so on, then any other, as CERTIFICATE
// blocks; the key as RSA PRIVATE KEY (PKCS#1) or EC PRIVATE KEY (SEC1). It
// is worked out with go-pkcs12 and crypto/x509 alone, never with the
// certbundle package, so tests of what latchkey delivers can expect it.
func TLSFromPFX(t testing.TB, pfxText string) (crt, key []byte) {
	t.Helper()
	der, err := base64.StdEncoding.DecodeString(pfxText)
	if err != nil {
		t.Fatalf("the backing secret is not base64: %v", err)
	}
	k, leaf, others, err := pkcs12.DecodeChain(der, "")
	if err != nil {
		t.Fatal(err)
	}
	chain := []*x509.Certificate{leaf}
	for cur := leaf; ; {
		i := slices.IndexFunc(others, func(c *x509.Certificate) bool { return cur.CheckSignatureFrom(c) == nil })
		if i < 0 {
			break
		}
		cur = others[i]
		chain = append(chain, cur)
		others = slices.Delete(slices.Clone(others), i, i+1)
	}
	for _, c := range append(chain, others...) {
		crt = append(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		key = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	case *ecdsa.PrivateKey:
		sec1, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		key = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})
	default:
		t.Fatalf("a private key of type %T", k)
	}
	return crt, key
}
