package certbundle_test

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/certbundle"
	"github.com/latchkey-dev/latchkey/internal/devtools/certtest"
	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
)

func TestParse(t *testing.T) {
	rsa1 := certtest.Chain(t, certtest.RSA, 1) // leaf, int, root
	ec2 := certtest.Chain(t, certtest.ECDSA, 2)
	ed := certtest.Chain(t, certtest.Ed25519, 0)
	stray := certtest.NewRoot(t, "unrelated", certtest.ECDSA)
	sibling := rsa1[1].Issue(t, "sibling.example.com", certtest.RSA, false)
	c := certtest.Certs

	tests := []struct {
		name        string
		contentType string
		value       []byte
		wantChain   []*x509.Certificate
		wantKey     crypto.Signer // nil: no key expected
	}{
		{
			name:        "rsa pfx in order",
			contentType: certbundle.ContentTypePKCS12,
			value:       certtest.Base64(certtest.PFX(t, rsa1[0].Key, c(rsa1...)...)),
			wantChain:   c(rsa1...), wantKey: rsa1[0].Key,
		},
		{
			name:        "rsa pfx stored root first",
			contentType: certbundle.ContentTypePKCS12,
			value:       certtest.Base64(certtest.PFX(t, rsa1[0].Key, c(certtest.Reorder(rsa1, 2, 0, 1)...)...)),
			wantChain:   c(rsa1...), wantKey: rsa1[0].Key,
		},
		{
			name:        "ec pfx two intermediates shuffled",
			contentType: certbundle.ContentTypePKCS12,
			value:       certtest.Base64(certtest.PFX(t, ec2[0].Key, c(certtest.Reorder(ec2, 2, 3, 0, 1)...)...)),
			wantChain:   c(ec2...), wantKey: ec2[0].Key,
		},
		{
			name:        "pfx as raw DER",
			contentType: certbundle.ContentTypePKCS12,
			value:       certtest.PFX(t, rsa1[0].Key, c(rsa1...)...),
			wantChain:   c(rsa1...), wantKey: rsa1[0].Key,
		},
		{
			name:        "pfx base64 wrapped with newlines",
			contentType: certbundle.ContentTypePKCS12,
			value:       wrap(certtest.Base64(certtest.PFX(t, ec2[0].Key, c(ec2...)...)), 64),
			wantChain:   c(ec2...), wantKey: ec2[0].Key,
		},
		{
			name:        "pfx without key (trust store)",
			contentType: certbundle.ContentTypePKCS12,
			value:       certtest.Base64(certtest.TrustStorePFX(t, c(certtest.Reorder(ec2, 1, 3, 0, 2)...)...)),
			wantChain:   c(ec2...),
		},
		{
			name:        "rsa pem pkcs8 shuffled",
			contentType: certbundle.ContentTypePEM,
			value:       certtest.PEM(t, rsa1[0].Key, certtest.PKCS8, c(certtest.Reorder(rsa1, 1, 2, 0)...)...),
			wantChain:   c(rsa1...), wantKey: rsa1[0].Key,
		},
		{
			name:        "rsa pem pkcs1",
			contentType: certbundle.ContentTypePEM,
			value:       certtest.PEM(t, rsa1[0].Key, certtest.PKCS1, c(rsa1...)...),
			wantChain:   c(rsa1...), wantKey: rsa1[0].Key,
		},
		{
			name:        "ec pem sec1 key after certs",
			contentType: certbundle.ContentTypePEM,
			value: append(certtest.CertPEM(c(certtest.Reorder(ec2, 3, 2, 1, 0)...)...),
				certtest.KeyPEM(t, ec2[0].Key, certtest.SEC1)...),
			wantChain: c(ec2...), wantKey: ec2[0].Key,
		},
		{
			name:        "ed25519 pem",
			contentType: certbundle.ContentTypePEM,
			value:       certtest.PEM(t, ed[0].Key, certtest.PKCS8, c(ed...)...),
			wantChain:   c(ed...), wantKey: ed[0].Key,
		},
		{
			name:        "pem without key picks leaf by linkage",
			contentType: certbundle.ContentTypePEM,
			value:       certtest.CertPEM(c(certtest.Reorder(ec2, 2, 0, 3, 1)...)...),
			wantChain:   c(ec2...),
		},
		{
			name:        "pem with openssl bag attributes and EC PARAMETERS",
			contentType: certbundle.ContentTypePEM,
			value: bytes.Join([][]byte{
				[]byte("Bag Attributes\n    localKeyID: 01 02\n"),
				pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}}),
				certtest.KeyPEM(t, ec2[0].Key, certtest.SEC1),
				[]byte("subject=CN = leaf\n"),
				certtest.CertPEM(c(ec2...)...),
			}, nil),
			wantChain: c(ec2...), wantKey: ec2[0].Key,
		},
		{
			name:        "unlinked certificate goes last",
			contentType: certbundle.ContentTypePEM,
			value:       certtest.PEM(t, rsa1[0].Key, certtest.PKCS8, c(stray, rsa1[2], rsa1[0], rsa1[1])...),
			wantChain:   c(rsa1[0], rsa1[1], rsa1[2], stray), wantKey: rsa1[0].Key,
		},
		{
			name:        "key picks the leaf among siblings",
			contentType: certbundle.ContentTypePEM,
			value:       certtest.PEM(t, rsa1[0].Key, certtest.PKCS8, c(sibling, rsa1[1], rsa1[0], rsa1[2])...),
			wantChain:   c(rsa1[0], rsa1[1], rsa1[2], sibling), wantKey: rsa1[0].Key,
		},
		{
			name:        "duplicates dropped",
			contentType: certbundle.ContentTypePEM,
			value:       certtest.PEM(t, rsa1[0].Key, certtest.PKCS8, c(rsa1[0], rsa1[1], rsa1[1], rsa1[2], rsa1[0])...),
			wantChain:   c(rsa1...), wantKey: rsa1[0].Key,
		},
		{
			name:      "sniff pem",
			value:     certtest.PEM(t, ec2[0].Key, certtest.PKCS8, c(ec2...)...),
			wantChain: c(ec2...), wantKey: ec2[0].Key,
		},
		{
			name:      "sniff base64 pfx",
			value:     certtest.Base64(certtest.PFX(t, rsa1[0].Key, c(rsa1...)...)),
			wantChain: c(rsa1...), wantKey: rsa1[0].Key,
		},
		{
			name:      "sniff der pfx",
			value:     certtest.PFX(t, rsa1[0].Key, c(rsa1...)...),
			wantChain: c(rsa1...), wantKey: rsa1[0].Key,
		},
		{
			name:      "sniff base64 of pem",
			value:     certtest.Base64(certtest.PEM(t, ec2[0].Key, certtest.PKCS8, c(ec2...)...)),
			wantChain: c(ec2...), wantKey: ec2[0].Key,
		},
		{
			name:        "content type is case-insensitive",
			contentType: "Application/X-PEM-File",
			value:       certtest.PEM(t, ec2[0].Key, certtest.PKCS8, c(ec2...)...),
			wantChain:   c(ec2...), wantKey: ec2[0].Key,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := certbundle.Parse(tt.contentType, tt.value)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			assertChain(t, b.Chain, tt.wantChain)
			if b.Leaf != b.Chain[0] {
				t.Errorf("Leaf is not Chain[0]")
			}
			if tt.wantKey == nil {
				if b.Key != nil {
					t.Fatalf("Key = %T, want none", b.Key)
				}
				if _, err := b.KeyPEM(); !errors.Is(err, certbundle.ErrNoPrivateKey) {
					t.Fatalf("KeyPEM error = %v, want ErrNoPrivateKey", err)
				}
				return
			}
			if !tt.wantKey.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(b.Key.(crypto.Signer).Public()) {
				t.Fatalf("wrong key")
			}
			keyPEM, err := b.KeyPEM()
			if err != nil {
				t.Fatalf("KeyPEM: %v", err)
			}
			if _, err := tls.X509KeyPair(b.CertPEM(), keyPEM); err != nil {
				t.Fatalf("CertPEM and KeyPEM do not form a key pair: %v", err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	rsa1 := certtest.Chain(t, certtest.RSA, 1)
	other := certtest.NewKey(t, certtest.ECDSA)
	c := certtest.Certs
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("s3cr3t-encrypted-key-material")})

	tests := []struct {
		name        string
		contentType string
		value       []byte
		want        error
	}{
		{"unknown content type", "text/plain", []byte("s3cr3t-value-material"), certbundle.ErrUnsupportedContentType},
		{"garbage pfx", certbundle.ContentTypePKCS12, []byte("s3cr3t-not-a-pfx-at-all"), certbundle.ErrMalformed},
		{"garbage sniffed", "", []byte("s3cr3t-not-a-pfx-at-all"), certbundle.ErrMalformed},
		{"empty pfx", certbundle.ContentTypePKCS12, nil, certbundle.ErrMalformed},
		{"empty pem", certbundle.ContentTypePEM, nil, certbundle.ErrNoCertificate},
		{"pem text without blocks", certbundle.ContentTypePEM, []byte("s3cr3t-plain-text"), certbundle.ErrNoCertificate},
		{"password pfx", certbundle.ContentTypePKCS12, certtest.Base64(certtest.PasswordPFX(t, "s3cr3t-password", rsa1[0].Key, c(rsa1...)...)), certbundle.ErrPasswordProtected},
		{"key only", certbundle.ContentTypePEM, certtest.KeyPEM(t, rsa1[0].Key, certtest.PKCS8), certbundle.ErrNoCertificate},
		{"key matches no certificate", certbundle.ContentTypePEM, certtest.PEM(t, other, certtest.PKCS8, c(rsa1...)...), certbundle.ErrKeyMismatch},
		{"bad certificate block", certbundle.ContentTypePEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("s3cr3t-not-der-certificate")}), certbundle.ErrMalformed},
		{"bad key block", certbundle.ContentTypePEM, append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("s3cr3t-not-der-key-bytes")}), certtest.CertPEM(c(rsa1...)...)...), certbundle.ErrMalformed},
		{"encrypted pem key", certbundle.ContentTypePEM, append(encrypted, certtest.CertPEM(c(rsa1...)...)...), certbundle.ErrPasswordProtected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := certbundle.Parse(tt.contentType, tt.value)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			assertNoLeak(t, err, tt.value)
			assertNoLeak(t, err, []byte("s3cr3t"))
		})
	}
}

func TestKeyPEMEncodings(t *testing.T) {
	tests := []struct {
		kt        certtest.KeyType
		blockType string
	}{
		{certtest.RSA, "RSA PRIVATE KEY"},
		{certtest.ECDSA, "EC PRIVATE KEY"},
		{certtest.Ed25519, "PRIVATE KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.kt.String(), func(t *testing.T) {
			chain := certtest.Chain(t, tt.kt, 0)
			b, err := certbundle.Parse(certbundle.ContentTypePEM, certtest.PEM(t, chain[0].Key, certtest.PKCS8, certtest.Certs(chain...)...))
			if err != nil {
				t.Fatal(err)
			}
			out, err := b.KeyPEM()
			if err != nil {
				t.Fatal(err)
			}
			block, rest := pem.Decode(out)
			if block == nil || block.Type != tt.blockType || len(rest) != 0 {
				t.Fatalf("KeyPEM block = %v, want one %q block", block, tt.blockType)
			}
			var parsed any
			switch tt.blockType {
			case "RSA PRIVATE KEY":
				parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
			case "EC PRIVATE KEY":
				parsed, err = x509.ParseECPrivateKey(block.Bytes)
			default:
				parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
			}
			if err != nil {
				t.Fatalf("parsing %s: %v", tt.blockType, err)
			}
			if !parsed.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(chain[0].Key.Public()) {
				t.Fatal("KeyPEM wrote a different key")
			}
		})
	}
}

func TestCertPEMHasNoHeaders(t *testing.T) {
	chain := certtest.Chain(t, certtest.ECDSA, 1)
	b, err := certbundle.Parse(certbundle.ContentTypePKCS12, certtest.Base64(certtest.PFX(t, chain[0].Key, certtest.Certs(chain...)...)))
	if err != nil {
		t.Fatal(err)
	}
	// Byte-exact: plain CERTIFICATE blocks, leaf first, as akv2k8s wrote them.
	if want := certtest.CertPEM(certtest.Certs(chain...)...); !bytes.Equal(b.CertPEM(), want) {
		t.Fatalf("CertPEM =\n%s\nwant\n%s", b.CertPEM(), want)
	}
}

func TestPublicKeyPEM(t *testing.T) {
	for _, kt := range []certtest.KeyType{certtest.RSA, certtest.ECDSA, certtest.Ed25519} {
		t.Run(kt.String(), func(t *testing.T) {
			key := certtest.NewKey(t, kt)
			out, err := certbundle.PublicKeyPEM(key.Public())
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(out)
			if block == nil || block.Type != "PUBLIC KEY" {
				t.Fatalf("block = %v, want PUBLIC KEY", block)
			}
			pub, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
				t.Fatal("round trip changed the key")
			}
		})
	}
	if _, err := certbundle.PublicKeyPEM(nil); !errors.Is(err, certbundle.ErrUnsupportedKey) {
		t.Fatalf("nil key: error = %v, want ErrUnsupportedKey", err)
	}
}

func assertChain(t *testing.T, got, want []*x509.Certificate) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("chain has %d certificates %v, want %d %v", len(got), names(got), len(want), names(want))
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Fatalf("chain = %v, want %v", names(got), names(want))
		}
	}
}

func names(cs []*x509.Certificate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Subject.CommonName
	}
	return out
}

// assertNoLeak fails if the error shows secret, or any 12-byte run of it,
// in any form (leakcheck.CheckError).
func assertNoLeak(t testing.TB, err error, secret []byte) {
	t.Helper()
	leakcheck.CheckError(t, err, string(secret))
}

func wrap(b []byte, width int) []byte {
	var out []byte
	for len(b) > width {
		out = append(out, b[:width]...)
		out = append(out, '\n')
		b = b[width:]
	}
	return append(out, b...)
}
