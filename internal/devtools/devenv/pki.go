package devenv

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"k8s.io/client-go/util/cert"
)

// servingPKI is the throwaway CA of one dev run and the serving certificate
// it signed, which the webhook and the resolver both present: the API server
// verifies the webhook with the CA, injected pods the resolver (the CA is
// what the resolver publishes into each labelled namespace).
type servingPKI struct {
	// CertDir holds tls.crt (the certificate, then the CA) and tls.key.
	CertDir string
	// CAFile holds the CA alone; CAPEM is its content.
	CAFile string
	CAPEM  []byte
	// MarkKeys is the file of the admission mark key the webhook signs
	// with and the resolver verifies with.
	MarkKeys string
}

// newServingPKI writes a fresh CA and a certificate for 127.0.0.1 (and
// extraIPs: the node's address, which pods reach the resolver at) under
// dir/latchkey-tls, with the admission mark key, every file 0600. A new CA
// and key each run: nothing outlives the cluster that trusts them.
func newServingPKI(dir string, extraIPs ...net.IP) (*servingPKI, error) {
	certPEM, keyPEM, err := cert.GenerateSelfSignedCertKey("127.0.0.1", extraIPs, []string{"localhost"})
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	caPEM, err := caOf(certPEM)
	if err != nil {
		return nil, err
	}
	p := &servingPKI{CertDir: filepath.Join(dir, "latchkey-tls")}
	p.CAFile, p.CAPEM = filepath.Join(p.CertDir, "ca.crt"), caPEM
	p.MarkKeys = filepath.Join(p.CertDir, "injection-mark-keys")
	if err := os.MkdirAll(p.CertDir, 0o700); err != nil {
		return nil, err
	}
	// The key first: the certificate watchers never pair a new
	// certificate with a stale key.
	for _, f := range []struct {
		name string
		data []byte
	}{{"tls.key", keyPEM}, {"tls.crt", certPEM}, {"ca.crt", caPEM}, {"injection-mark-keys", []byte(rand.Text() + rand.Text() + "\n")}} {
		if err := os.WriteFile(filepath.Join(p.CertDir, f.name), f.data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// caOf picks the CA out of the chain GenerateSelfSignedCertKey returns
// (leaf, then CA): the CA bundles must hold the CA only.
func caOf(chainPEM []byte) ([]byte, error) {
	certs, err := cert.ParseCertsPEM(chainPEM)
	if err != nil {
		return nil, err
	}
	for _, c := range certs {
		if c.IsCA {
			return cert.EncodeCertificates(c)
		}
	}
	return nil, errors.New("serving certificate: no CA in the generated chain")
}

// pool is a certificate pool of the CA, for the readiness probes.
func (p *servingPKI) pool() *x509.CertPool {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.CAPEM)
	return roots
}
