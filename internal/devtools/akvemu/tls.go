package akvemu

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// tlsMaterial is the emulator's serving certificate and the CA clients must trust.
type tlsMaterial struct {
	caPEM []byte
	cert  tls.Certificate
}

// servingNames are the DNS names every serving certificate covers: the vault
// suffixes and login hosts of every cloud, and localhost.
func servingNames() []string {
	names := []string{"localhost"}
	for _, c := range clouds() {
		names = append(names, "*."+c.vaultSuffix, c.loginHost)
		names = append(names, c.loginAliases...)
	}
	return names
}

// loadOrCreateTLS builds the TLS material from the options: a given serving
// certificate, a given CA that signs a fresh serving certificate, or a fresh CA.
func loadOrCreateTLS(o Options, now time.Time) (*tlsMaterial, error) {
	if o.TLSCertFile != "" {
		return loadServingCert(o.TLSCertFile, o.TLSKeyFile)
	}
	var caCert *x509.Certificate
	var caKey crypto.Signer
	var err error
	if o.CACertFile != "" {
		caCert, caKey, err = loadCA(o.CACertFile, o.CAKeyFile)
	} else {
		caCert, caKey, err = newCA(now)
	}
	if err != nil {
		return nil, err
	}
	cert, err := newServingCert(caCert, caKey, o.ExtraNames, now)
	if err != nil {
		return nil, err
	}
	return &tlsMaterial{caPEM: pemCert(caCert.Raw), cert: cert}, nil
}

// loadServingCert uses a serving certificate as is. The CA clients should trust
// is the last certificate of the file (the leaf itself when it is alone).
func loadServingCert(certFile, keyFile string) (*tlsMaterial, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading TLS certificate: %w", err)
	}
	last := cert.Certificate[len(cert.Certificate)-1]
	return &tlsMaterial{caPEM: pemCert(last), cert: cert}, nil
}

// loadCA reads a CA certificate and its private key from PEM files.
func loadCA(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("loading CA: %w", err)
	}
	ca, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("parsing CA certificate: %w", err)
	}
	if !ca.IsCA {
		return nil, nil, errors.New("loading CA: the certificate is not a CA (basicConstraints CA:FALSE)")
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, errors.New("loading CA: the private key cannot sign")
	}
	return ca, signer, nil
}

// newCA creates a self-signed ECDSA CA; ECDSA keeps start-up fast.
func newCA(now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "akv-emulator CA", Organization: []string{"latchkey"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing CA certificate: %w", err)
	}
	return ca, key, nil
}

// newServingCert issues the HTTPS certificate for every vault and login host
// plus localhost, the loopback addresses and the extra names.
func newServingCert(ca *x509.Certificate, caKey crypto.Signer, extra []string, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generating serving key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "akv-emulator", Organization: []string{"latchkey"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     servingNames(),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, n := range extra {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("creating serving certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Raw}, PrivateKey: key}, nil
}

// randomSerial returns a positive 128-bit certificate serial number.
func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand never fails on supported platforms (Go 1.24+ crashes instead).
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}

// pemCert encodes one DER certificate as PEM.
func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// writeFileAtomic writes data to path through a temporary file, so a reader
// (a test waiting for the CA) never sees half a file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming %s: %w", tmp, err)
	}
	return nil
}
