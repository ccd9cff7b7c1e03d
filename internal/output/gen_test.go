package output_test

import (
	"crypto"
	"crypto/x509"
	"sync"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/certbundle"
	"github.com/latchkey-dev/latchkey/internal/devtools/certtest"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/output"
)

// Builders in the style of cert-manager's test/unit/gen: a base value and
// small options, so each table row shows only what matters to it.

type specOpt func(*output.Spec)

func newSpec(objectType string, opts ...specOpt) output.Spec {
	s := output.Spec{ObjectType: objectType, Target: output.TargetSecret}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func secretType(t string) specOpt   { return func(s *output.Spec) { s.SecretType = t } }
func dataKey(k string) specOpt      { return func(s *output.Spec) { s.DataKey = k } }
func contentType(ct string) specOpt { return func(s *output.Spec) { s.ContentType = ct } }
func transforms(ts ...string) specOpt {
	return func(s *output.Spec) { s.Transforms = ts }
}
func toConfigMap() specOpt { return func(s *output.Spec) { s.Target = output.TargetConfigMap } }

func secretObject(value string) keyvault.Object {
	return keyvault.Object{
		Ref:   keyvault.Ref{Backend: keyvault.Backend, Store: "vault", Kind: keyvault.KindSecret, Name: "obj"},
		Value: []byte(value),
	}
}

func certObject(ct string, value []byte) keyvault.Object {
	return keyvault.Object{
		Ref:         keyvault.Ref{Backend: keyvault.Backend, Store: "vault", Kind: keyvault.KindCertificate, Name: "cert"},
		ContentType: ct,
		Value:       value,
	}
}

func keyObject(pub crypto.PublicKey) keyvault.Object {
	return keyvault.Object{
		Ref:       keyvault.Ref{Backend: keyvault.Backend, Store: "vault", Kind: keyvault.KindKey, Name: "key"},
		PublicKey: pub,
	}
}

// certFixture is a certificate object with the outputs expected from it.
type certFixture struct {
	name     string
	obj      keyvault.Object
	chainPEM []byte // leaf, intermediate, root
	keyPEM   []byte // nil when not exportable
	raw      []byte // what an Opaque Secret gets
}

type fixtureSet struct {
	rsaPFX, ecPEM, sealedPFX, sealedPEM certFixture
	// pfxSecret and pemSecret hold a certificate in a secret object.
	pfxSecret, pemSecret string
	rsaKey, ecKey        crypto.Signer
	rsaChain, ecChain    []*certtest.Cert
}

var (
	fixturesOnce sync.Once
	fixtureData  *fixtureSet
)

// fixtures builds the certificates once per test binary (RSA keys are slow
// under -race). Input orders are shuffled on purpose.
func fixtures(t testing.TB) *fixtureSet {
	fixturesOnce.Do(func() { fixtureData = buildFixtures(t) })
	return fixtureData
}

func buildFixtures(t testing.TB) *fixtureSet {
	rsa := certtest.Chain(t, certtest.RSA, 1)
	ec := certtest.Chain(t, certtest.ECDSA, 1)
	c := certtest.Certs
	rsaChainPEM := certtest.CertPEM(c(rsa...)...)
	ecChainPEM := certtest.CertPEM(c(ec...)...)
	rsaKeyPEM := certtest.KeyPEM(t, rsa[0].Key, certtest.PKCS1)
	ecKeyPEM := certtest.KeyPEM(t, ec[0].Key, certtest.SEC1)

	rsaPFX := certtest.PFX(t, rsa[0].Key, c(certtest.Reorder(rsa, 2, 0, 1)...)...)
	ecPEM := certtest.PEM(t, ec[0].Key, certtest.PKCS8, c(certtest.Reorder(ec, 1, 2, 0)...)...)
	sealedPFX := certtest.TrustStorePFX(t, c(certtest.Reorder(rsa, 1, 0, 2)...)...)
	sealedPEM := certtest.CertPEM(c(certtest.Reorder(ec, 2, 0, 1)...)...)

	return &fixtureSet{
		rsaPFX: certFixture{
			name:     "rsa pfx",
			obj:      certObject(certbundle.ContentTypePKCS12, certtest.Base64(rsaPFX)),
			chainPEM: rsaChainPEM, keyPEM: rsaKeyPEM, raw: rsaPFX,
		},
		ecPEM: certFixture{
			name:     "ec pem",
			obj:      certObject(certbundle.ContentTypePEM, ecPEM),
			chainPEM: ecChainPEM, keyPEM: ecKeyPEM, raw: ecPEM,
		},
		sealedPFX: certFixture{
			name:     "non-exportable pfx",
			obj:      certObject(certbundle.ContentTypePKCS12, certtest.Base64(sealedPFX)),
			chainPEM: rsaChainPEM,
		},
		sealedPEM: certFixture{
			name:     "non-exportable pem",
			obj:      certObject(certbundle.ContentTypePEM, sealedPEM),
			chainPEM: ecChainPEM,
		},
		pfxSecret: string(certtest.Base64(rsaPFX)),
		pemSecret: string(ecPEM),
		rsaKey:    certtest.NewKey(t, certtest.RSA),
		ecKey:     certtest.NewKey(t, certtest.ECDSA),
		rsaChain:  rsa,
		ecChain:   ec,
	}
}

func (f *fixtureSet) certs() []certFixture {
	return []certFixture{f.rsaPFX, f.ecPEM, f.sealedPFX, f.sealedPEM}
}

func publicPEM(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("PUBLIC KEY", der)
}
