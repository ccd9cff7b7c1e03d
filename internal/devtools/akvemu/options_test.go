package akvemu_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
)

func TestOptionsValidate(t *testing.T) {
	bad := map[string]akvemu.Options{
		"listen without port":       {Listen: "localhost"},
		"CA cert without key":       {CACertFile: "ca.pem"},
		"TLS key without cert":      {TLSKeyFile: "tls.key"},
		"CA and serving cert":       {CACertFile: "a", CAKeyFile: "b", TLSCertFile: "c", TLSKeyFile: "d"},
		"page size above 25":        {PageSize: 26},
		"negative token lifetime":   {TokenLifetime: -time.Second},
		"auto-create without owner": {AutoCreateVaults: true},
		"invalid seed":              {Seed: &akvemu.Seed{Vaults: []akvemu.VaultSeed{{Name: "kv-one", TenantID: "nobody"}}}},
	}
	for name, o := range bad {
		if err := o.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	good := akvemu.Options{Listen: "127.0.0.1:0", PageSize: 25, AutoCreateVaults: true, DefaultTenantID: "t"}
	if err := good.Validate(); err != nil {
		t.Errorf("valid options refused: %v", err)
	}
}

// TestGivenCA signs the serving certificate with a CA from files, so clients
// can keep one trust anchor across restarts.
func TestGivenCA(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := akvemu.New(akvemu.Options{Seed: withSecret(baseSeed()), CACertFile: filepath.Join(dir, "ca.pem"), CAKeyFile: filepath.Join(dir, "ca.key")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if string(s.CACertPEM()) != string(caPEM) {
		t.Fatal("CACertPEM is not the given CA")
	}
	if err := readGreeting(t, s, secretCredential(t, s, tenantA, appA, appASecret)); err != nil {
		t.Fatalf("GetSecret through the given CA: %v", err)
	}
}
