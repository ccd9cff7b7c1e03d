package certbundle_test

import (
	"crypto/tls"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/certbundle"
	"github.com/latchkey-dev/latchkey/internal/devtools/certtest"
)

var fuzzContentTypes = []string{"", certbundle.ContentTypePKCS12, certbundle.ContentTypePEM}

func FuzzParse(f *testing.F) {
	rsa := certtest.Chain(f, certtest.RSA, 1)
	ec := certtest.Chain(f, certtest.ECDSA, 0)
	f.Add(uint8(1), certtest.Base64(certtest.PFX(f, rsa[0].Key, certtest.Certs(rsa...)...)))
	f.Add(uint8(1), certtest.Base64(certtest.TrustStorePFX(f, certtest.Certs(ec...)...)))
	f.Add(uint8(2), certtest.PEM(f, ec[0].Key, certtest.SEC1, certtest.Certs(ec...)...))
	f.Add(uint8(0), certtest.PEM(f, nil, certtest.PKCS8, certtest.Certs(rsa[2], rsa[0])...))
	f.Add(uint8(0), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add(uint8(0), []byte("MIIB"))
	f.Fuzz(func(t *testing.T, ct uint8, value []byte) {
		b, err := certbundle.Parse(fuzzContentTypes[int(ct)%len(fuzzContentTypes)], value)
		if err != nil {
			return
		}
		if len(b.Chain) == 0 || b.Leaf != b.Chain[0] {
			t.Fatalf("bundle without a leaf first")
		}
		certPEM := b.CertPEM()
		again, err := certbundle.Parse(certbundle.ContentTypePEM, certPEM)
		if err != nil {
			t.Fatalf("CertPEM does not parse back: %v", err)
		}
		if len(again.Chain) != len(b.Chain) {
			t.Fatalf("CertPEM round trip changed the chain")
		}
		if b.Key == nil {
			return
		}
		keyPEM, err := b.KeyPEM()
		if err != nil {
			return // an unusual key type can be unencodable; that is an error, not a panic
		}
		if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
			t.Fatalf("parsed key does not pair with the leaf: %v", err)
		}
	})
}
