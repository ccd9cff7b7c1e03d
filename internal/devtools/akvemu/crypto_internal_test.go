package akvemu

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

func TestTokenRoundTrip(t *testing.T) {
	signer, err := newTokenSigner(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, _, err := signer.issue(principal{tenantID: "t", objectID: "o", appID: "a"}, "https://vault.azure.net", now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := signer.check(tok, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.Tid != "t" || c.AppID != "a" || !c.Aud.contains("https://vault.azure.net") || c.Iss != "https://sts.windows.net/t/" {
		t.Fatalf("claims %+v", c)
	}
	if _, err := signer.check(tok, now.Add(2*time.Hour)); !errors.Is(err, errTokenExpired) {
		t.Errorf("expired token: %v", err)
	}
	parts := strings.Split(tok, ".")
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"aud":"x","tid":"t","exp":9999999999}`)) + "." + parts[2]
	if _, err := signer.check(forged, now); !errors.Is(err, errJWTSignature) {
		t.Errorf("forged token: %v", err)
	}
	other, _ := newTokenSigner(time.Hour)
	if _, err := other.check(tok, now); !errors.Is(err, errTokenKey) {
		t.Errorf("foreign key: %v", err)
	}
}

func TestJWTVerifyAlgorithms(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		alg  string
		key  crypto.Signer
		sign func([]byte) []byte
	}{
		{"RS256", rsaKey, func(d []byte) []byte { s, _ := rsa.SignPKCS1v15(rand.Reader, rsaKey, crypto.SHA256, d); return s }},
		{"PS256", rsaKey, func(d []byte) []byte {
			s, _ := rsa.SignPSS(rand.Reader, rsaKey, crypto.SHA256, d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			return s
		}},
		{"ES256", ecKey, func(d []byte) []byte {
			r, s, _ := ecdsa.Sign(rand.Reader, ecKey, d)
			out := make([]byte, 64)
			r.FillBytes(out[:32])
			s.FillBytes(out[32:])
			return out
		}},
	} {
		h, _ := json.Marshal(jwtHeader{Alg: tc.alg})
		input := b64u(h) + "." + b64u([]byte(`{"iss":"i","exp":1}`))
		d := sha256.Sum256([]byte(input))
		tok, err := parseJWT(input + "." + b64u(tc.sign(d[:])))
		if err != nil {
			t.Fatalf("%s: %v", tc.alg, err)
		}
		if err := tok.verify(tc.key.Public()); err != nil {
			t.Errorf("%s: verify: %v", tc.alg, err)
		}
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if tok.verify(other.Public()) == nil {
			t.Errorf("%s: verified with the wrong key", tc.alg)
		}
	}
}

func FuzzParseJWT(f *testing.F) {
	signer, err := newTokenSigner(time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	tok, _, _ := signer.issue(principal{tenantID: "t"}, "https://vault.azure.net", time.Now())
	f.Add(tok)
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := signer.check(raw, time.Now())
		if err == nil && raw != tok && c.Tid != "t" {
			t.Fatalf("accepted a token the signer did not issue: %q", raw)
		}
	})
}

func TestJWKRoundTrip(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		k, _ := ecdsa.GenerateKey(curve, rand.Reader)
		j, err := publicJWK(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		pub, err := j.publicKey()
		if err != nil || !k.PublicKey.Equal(pub) {
			t.Fatalf("%s: %v", curve.Params().Name, err)
		}
		raw, _ := k.Bytes()
		j.D = b64u(raw)
		priv, err := j.privateKey()
		if err != nil || !k.Equal(priv) {
			t.Fatalf("%s private: %v", curve.Params().Name, err)
		}
	}
	j, _ := publicJWK(rsaKey.Public())
	if _, err := j.privateKey(); err == nil {
		t.Fatal("public JWK imported as private")
	}
	j.D, j.P, j.Q = b64u(rsaKey.D.Bytes()), b64u(rsaKey.Primes[0].Bytes()), b64u(rsaKey.Primes[1].Bytes())
	priv, err := j.privateKey()
	if err != nil || !rsaKey.Equal(priv) {
		t.Fatalf("RSA private: %v", err)
	}
	j.Q = b64u(rsaKey.Primes[0].Bytes())
	if _, err := j.privateKey(); err == nil {
		t.Fatal("inconsistent RSA key accepted")
	}
}

func TestParseSubject(t *testing.T) {
	n, err := parseSubject(`CN=app.example, O=Example\, Inc., OU=Ops; C=NO, L=Oslo, ST=Oslo`)
	if err != nil {
		t.Fatal(err)
	}
	if n.CommonName != "app.example" || n.Organization[0] != "Example, Inc." || n.OrganizationalUnit[0] != "Ops" || n.Country[0] != "NO" {
		t.Fatalf("parsed %+v", n)
	}
	for _, bad := range []string{"", "CN", "CN=", "XX=y", "CN=a,,O=b"} {
		if _, err := parseSubject(bad); err == nil {
			t.Errorf("parseSubject(%q) accepted", bad)
		}
	}
}

func FuzzParseSubject(f *testing.F) {
	f.Add("CN=a, O=b")
	f.Add(`CN=a\,b;OU=c`)
	f.Fuzz(func(t *testing.T, dn string) {
		n, err := parseSubject(dn)
		if err == nil && n.String() == "" {
			t.Fatalf("accepted %q as an empty name", dn)
		}
	})
}

func TestCertificateImportFormats(t *testing.T) {
	pfx, err := os.ReadFile("testdata/tls-rsa.pfx")
	if err != nil {
		t.Fatal(err)
	}
	ecPEM, err := os.ReadFile("testdata/tls-ec.pem")
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseCertificateImport(base64.StdEncoding.EncodeToString(pfx), "changeit", contentTypePFX)
	if err != nil || len(m.chain) != 2 || m.leaf().Subject.CommonName != "rsa.example.test" {
		t.Fatalf("PFX: %v", err)
	}
	if _, err := parseCertificateImport(base64.StdEncoding.EncodeToString(pfx), "wrong", contentTypePFX); err == nil {
		t.Fatal("wrong PFX password accepted")
	}
	for name, value := range map[string]string{"pem": string(ecPEM), "base64 pem": base64.StdEncoding.EncodeToString(ecPEM)} {
		m, err := parseCertificateImport(value, "", contentTypePEM)
		if err != nil || len(m.chain) != 2 || m.leaf().Subject.CommonName != "ec.example.test" {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// Chain given intermediate first: the leaf is still put first.
	blocks := splitPEM(t, ecPEM)
	reordered := string(pem.EncodeToMemory(blocks[2])) + string(pem.EncodeToMemory(blocks[0])) + string(pem.EncodeToMemory(blocks[1]))
	if m, err := parseCertificateImport(reordered, "", contentTypePEM); err != nil || m.leaf().Subject.CommonName != "ec.example.test" {
		t.Fatalf("reordered: %v", err)
	}
	certsOnly := string(pem.EncodeToMemory(blocks[1]))
	if _, err := parseCertificateImport(certsOnly, "", contentTypePEM); !errors.Is(err, errNoPrivateKey) {
		t.Fatalf("no key: %v", err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p8, _ := x509MarshalPKCS8(t, other)
	if _, err := parseCertificateImport(p8+certsOnly, "", contentTypePEM); !errors.Is(err, errKeyMismatch) {
		t.Fatalf("mismatched key: %v", err)
	}
}

func TestSecretValueFormats(t *testing.T) {
	m, _, err := generateCertificate(certSpec{subject: "CN=x", kty: "EC", withIntermediate: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ct         string
		exportable bool
	}{{contentTypePFX, true}, {contentTypePFX, false}, {contentTypePEM, true}, {contentTypePEM, false}} {
		v, err := m.secretValue(tc.ct, tc.exportable)
		if err != nil {
			t.Fatal(err)
		}
		hasKey := false
		if tc.ct == contentTypePFX {
			der, _ := base64.StdEncoding.DecodeString(v)
			_, _, cas, err := pkcs12.DecodeChain(der, "")
			hasKey = err == nil
			if hasKey && len(cas) != 1 {
				t.Errorf("PFX chain has %d CA certificates", len(cas))
			}
			if !tc.exportable {
				if certs, err := pkcs12.DecodeTrustStore(der, ""); err != nil || len(certs) != 2 {
					t.Errorf("non-exportable PFX: %d certs, %v", len(certs), err)
				}
			}
		} else {
			hasKey = strings.Contains(v, "PRIVATE KEY")
			if strings.Count(v, "BEGIN CERTIFICATE") != 2 {
				t.Errorf("PEM has %d certificates", strings.Count(v, "BEGIN CERTIFICATE"))
			}
		}
		if hasKey != tc.exportable {
			t.Errorf("%s exportable=%v: private key present=%v", tc.ct, tc.exportable, hasKey)
		}
	}
}

func FuzzParseCertificateImport(f *testing.F) {
	// A seed that cannot be read would be an empty string, which fails to
	// parse: the checks below would never run on a valid import.
	pfx, err := os.ReadFile("testdata/tls-rsa.pfx")
	if err != nil {
		f.Fatal(err)
	}
	ecPEM, err := os.ReadFile("testdata/tls-ec.pem")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(base64.StdEncoding.EncodeToString(pfx), "changeit", contentTypePFX)
	f.Add(string(ecPEM), "", contentTypePEM)
	f.Add("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "", contentTypePEM)
	f.Fuzz(func(t *testing.T, value, password, ct string) {
		m, err := parseCertificateImport(value, password, ct)
		if err != nil {
			return
		}
		if len(m.chain) == 0 || m.key == nil {
			t.Fatal("material without chain or key")
		}
		type equaler interface{ Equal(crypto.PublicKey) bool }
		if !m.key.Public().(equaler).Equal(m.leaf().PublicKey) {
			t.Fatal("leaf does not match the key")
		}
		// PEM only: PFX encoding runs PBKDF2, which coverage instrumentation makes too slow to fuzz.
		if _, err := m.secretValue(contentTypePEM, true); err != nil {
			t.Fatalf("re-encoding as PEM: %v", err)
		}
	})
}

func splitPEM(t *testing.T, data []byte) []*pem.Block {
	t.Helper()
	var out []*pem.Block
	for {
		b, rest := pem.Decode(data)
		if b == nil {
			return out
		}
		out, data = append(out, b), rest
	}
}

func x509MarshalPKCS8(t *testing.T, k crypto.Signer) (string, error) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), err
}
