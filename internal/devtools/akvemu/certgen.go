package akvemu

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"time"
)

// certSpec is what a self-issued certificate should look like.
type certSpec struct {
	subject          string
	dnsNames         []string
	emails           []string
	ips              []string
	uris             []string
	kty              string
	keySize          int
	curve            string
	validityMonths   int
	ekus             []string
	keyUsage         []string
	withIntermediate bool
}

// specFromPolicy reads a create request's policy.
func specFromPolicy(p *wirePolicy) certSpec {
	s := certSpec{kty: "RSA"}
	if kp := p.KeyProps; kp != nil {
		if kp.Kty != "" {
			s.kty = kp.Kty
		}
		if kp.KeySize != nil {
			s.keySize = *kp.KeySize
		}
		s.curve = kp.Crv
	}
	if xp := p.X509Props; xp != nil {
		s.subject, s.ekus, s.keyUsage = xp.Subject, xp.Ekus, xp.KeyUsage
		if xp.ValidityMonths != nil {
			s.validityMonths = *xp.ValidityMonths
		}
		if sans := xp.Sans; sans != nil {
			s.dnsNames, s.emails, s.ips, s.uris = sans.DNSNames, sans.Emails, sans.IPAddresses, sans.URIs
		}
	}
	return s
}

// specFromSeed reads a seed's generate block; SANs are sorted into DNS names,
// IP addresses, e-mail addresses and URIs by their shape.
func specFromSeed(g *GenerateCertificateSeed) certSpec {
	s := certSpec{subject: g.Subject, kty: g.KeyType, keySize: g.KeySize, curve: g.Curve, validityMonths: g.ValidityMonths,
		withIntermediate: g.Chain == "with-intermediate"}
	if s.kty == "" {
		s.kty = "RSA"
	}
	for _, n := range g.SANs {
		switch {
		case net.ParseIP(n) != nil:
			s.ips = append(s.ips, n)
		case strings.Contains(n, "://"):
			s.uris = append(s.uris, n)
		case strings.Contains(n, "@"):
			s.emails = append(s.emails, n)
		default:
			s.dnsNames = append(s.dnsNames, n)
		}
	}
	return s
}

// generateCertificate issues a certificate for spec: self-signed, or issued
// by a fresh intermediate under a fresh root (chain = leaf, intermediate).
// It also returns the CSR Key Vault reports in the certificate operation.
func generateCertificate(spec certSpec, now time.Time) (*certMaterial, []byte, error) {
	key, err := newKey(spec.kty, spec.keySize, spec.curve)
	if err != nil {
		return nil, nil, err
	}
	tmpl, err := leafTemplate(spec, key, now)
	if err != nil {
		return nil, nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: tmpl.Subject, DNSNames: tmpl.DNSNames, EmailAddresses: tmpl.EmailAddresses, IPAddresses: tmpl.IPAddresses, URIs: tmpl.URIs,
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating CSR: %w", err)
	}
	parent, parentKey := tmpl, key
	var intermediate *x509.Certificate
	if spec.withIntermediate {
		if intermediate, parentKey, err = newIntermediate(tmpl.Subject.CommonName, now); err != nil {
			return nil, nil, err
		}
		parent = intermediate
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("creating certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing certificate: %w", err)
	}
	m := &certMaterial{chain: []*x509.Certificate{leaf}, key: key}
	if intermediate != nil {
		m.chain = append(m.chain, intermediate)
	}
	return m, csr, nil
}

// leafTemplate turns a spec into a certificate template.
func leafTemplate(spec certSpec, key crypto.Signer, now time.Time) (*x509.Certificate, error) {
	subject, err := parseSubject(spec.subject)
	if err != nil {
		return nil, err
	}
	months := spec.validityMonths
	if months <= 0 {
		months = 12
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               subject,
		NotBefore:             now.Add(-5 * time.Minute).UTC().Truncate(time.Second),
		NotAfter:              now.AddDate(0, months, 0).UTC().Truncate(time.Second),
		BasicConstraintsValid: true,
		DNSNames:              spec.dnsNames,
	}
	for _, ip := range spec.ips {
		p := net.ParseIP(ip)
		if p == nil {
			return nil, fmt.Errorf("invalid IP address SAN %q", ip)
		}
		tmpl.IPAddresses = append(tmpl.IPAddresses, p)
	}
	for _, e := range spec.emails {
		if _, err := mail.ParseAddress(e); err != nil {
			return nil, fmt.Errorf("invalid e-mail SAN %q: %w", e, err)
		}
		tmpl.EmailAddresses = append(tmpl.EmailAddresses, e)
	}
	for _, u := range spec.uris {
		pu, err := url.Parse(u)
		if err != nil {
			return nil, fmt.Errorf("invalid URI SAN %q: %w", u, err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	if tmpl.KeyUsage, err = parseKeyUsage(spec.keyUsage, key); err != nil {
		return nil, err
	}
	if tmpl.ExtKeyUsage, tmpl.UnknownExtKeyUsage, err = parseEKUs(spec.ekus); err != nil {
		return nil, err
	}
	return tmpl, nil
}

// newIntermediate creates a root CA and an intermediate CA under it; only
// the intermediate (and its key) is kept, as a chain would carry it.
func newIntermediate(cn string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating root key: %w", err)
	}
	root := &x509.Certificate{
		SerialNumber: randomSerial(), Subject: pkix.Name{CommonName: "Emulator Root CA for " + cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
	}
	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating intermediate key: %w", err)
	}
	inter := &x509.Certificate{
		SerialNumber: randomSerial(), Subject: pkix.Name{CommonName: "Emulator Intermediate CA for " + cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(3, 0, 0),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, inter, root, interKey.Public(), rootKey)
	if err != nil {
		return nil, nil, fmt.Errorf("creating intermediate: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing intermediate: %w", err)
	}
	return c, interKey, nil
}
