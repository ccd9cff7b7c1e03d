package akvemu

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// errBadSubject reports a distinguished name the emulator cannot read.
var errBadSubject = errors.New("invalid subject")

// parseSubject reads a distinguished name such as "CN=a.example, O=Example, C=US".
// Commas inside values may be escaped with a backslash.
func parseSubject(dn string) (pkix.Name, error) {
	var n pkix.Name
	if strings.TrimSpace(dn) == "" {
		return n, fmt.Errorf("%w: empty", errBadSubject)
	}
	for _, part := range splitDN(dn) {
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.ToUpper(strings.TrimSpace(k)), strings.TrimSpace(v)
		if !ok || v == "" {
			return pkix.Name{}, fmt.Errorf("%w: %q", errBadSubject, part)
		}
		switch k {
		case "CN":
			n.CommonName = v
		case "O":
			n.Organization = append(n.Organization, v)
		case "OU":
			n.OrganizationalUnit = append(n.OrganizationalUnit, v)
		case "C":
			n.Country = append(n.Country, v)
		case "L":
			n.Locality = append(n.Locality, v)
		case "ST", "S":
			n.Province = append(n.Province, v)
		case "STREET":
			n.StreetAddress = append(n.StreetAddress, v)
		case "POSTALCODE":
			n.PostalCode = append(n.PostalCode, v)
		case "SERIALNUMBER":
			n.SerialNumber = v
		case "E", "EMAILADDRESS":
			n.ExtraNames = append(n.ExtraNames, pkix.AttributeTypeAndValue{Type: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, Value: v})
		default:
			return pkix.Name{}, fmt.Errorf("%w: unknown attribute %q", errBadSubject, k)
		}
	}
	return n, nil
}

// splitDN splits a DN on unescaped commas (and semicolons, as Windows writes).
func splitDN(dn string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(dn); i++ {
		switch ch := dn[i]; {
		case ch == '\\' && i+1 < len(dn):
			cur.WriteByte(dn[i+1])
			i++
		case ch == ',' || ch == ';':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(ch)
		}
	}
	return append(parts, cur.String())
}

// keyUsageNames are Key Vault's key usage names, in bit order.
func keyUsageNames() []struct {
	name string
	bit  x509.KeyUsage
} {
	return []struct {
		name string
		bit  x509.KeyUsage
	}{
		{"digitalSignature", x509.KeyUsageDigitalSignature},
		{"nonRepudiation", x509.KeyUsageContentCommitment},
		{"keyEncipherment", x509.KeyUsageKeyEncipherment},
		{"dataEncipherment", x509.KeyUsageDataEncipherment},
		{"keyAgreement", x509.KeyUsageKeyAgreement},
		{"keyCertSign", x509.KeyUsageCertSign},
		{"cRLSign", x509.KeyUsageCRLSign},
		{"encipherOnly", x509.KeyUsageEncipherOnly},
		{"decipherOnly", x509.KeyUsageDecipherOnly},
	}
}

// parseKeyUsage maps key usage names; none gives Key Vault's defaults
// (digitalSignature plus keyEncipherment for RSA).
func parseKeyUsage(names []string, key crypto.Signer) (x509.KeyUsage, error) {
	if len(names) == 0 {
		if _, ok := key.(*rsa.PrivateKey); ok {
			return x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, nil
		}
		return x509.KeyUsageDigitalSignature, nil
	}
	var ku x509.KeyUsage
next:
	for _, n := range names {
		for _, k := range keyUsageNames() {
			if strings.EqualFold(k.name, n) {
				ku |= k.bit
				continue next
			}
		}
		return 0, fmt.Errorf("unknown key usage %q", n)
	}
	return ku, nil
}

// formatKeyUsage names the bits of a key usage.
func formatKeyUsage(ku x509.KeyUsage) []string {
	var out []string
	for _, k := range keyUsageNames() {
		if ku&k.bit != 0 {
			out = append(out, k.name)
		}
	}
	return out
}

// knownEKUs maps extended key usages to their OIDs, as Key Vault writes them.
func knownEKUs() map[x509.ExtKeyUsage]string {
	return map[x509.ExtKeyUsage]string{
		x509.ExtKeyUsageServerAuth:      "1.3.6.1.5.5.7.3.1",
		x509.ExtKeyUsageClientAuth:      "1.3.6.1.5.5.7.3.2",
		x509.ExtKeyUsageCodeSigning:     "1.3.6.1.5.5.7.3.3",
		x509.ExtKeyUsageEmailProtection: "1.3.6.1.5.5.7.3.4",
		x509.ExtKeyUsageTimeStamping:    "1.3.6.1.5.5.7.3.8",
		x509.ExtKeyUsageOCSPSigning:     "1.3.6.1.5.5.7.3.9",
	}
}

// parseEKUs maps OID strings; none gives serverAuth and clientAuth, as Key Vault does.
func parseEKUs(oids []string) ([]x509.ExtKeyUsage, []asn1.ObjectIdentifier, error) {
	if len(oids) == 0 {
		return []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, nil, nil
	}
	var known []x509.ExtKeyUsage
	var unknown []asn1.ObjectIdentifier
next:
	for _, o := range oids {
		for eku, s := range knownEKUs() {
			if s == o {
				known = append(known, eku)
				continue next
			}
		}
		oid, err := parseOID(o)
		if err != nil {
			return nil, nil, err
		}
		unknown = append(unknown, oid)
	}
	return known, unknown, nil
}

// parseOID reads a dotted OID.
func parseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("invalid OID %q", s)
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("invalid OID %q", s)
		}
		oid[i] = n
	}
	return oid, nil
}

// policyOf describes a certificate as Key Vault reports the policy of an
// imported certificate: the key and X.509 properties read from the leaf.
func policyOf(m *certMaterial, exportable bool, contentType, issuer string) wirePolicy {
	leaf := m.leaf()
	kp := &wireKeyProps{Exportable: ptr(exportable), ReuseKey: ptr(false)}
	switch k := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		kp.Kty, kp.KeySize = "RSA", ptr(k.N.BitLen())
	case *ecdsa.PublicKey:
		kp.Kty, kp.Crv = "EC", curveName(k.Curve)
	}
	xp := &wireX509Props{
		Subject:        leaf.Subject.String(),
		KeyUsage:       formatKeyUsage(leaf.KeyUsage),
		ValidityMonths: ptr(monthsBetween(leaf.NotBefore, leaf.NotAfter)),
	}
	for _, eku := range leaf.ExtKeyUsage {
		if s, ok := knownEKUs()[eku]; ok {
			xp.Ekus = append(xp.Ekus, s)
		}
	}
	for _, oid := range leaf.UnknownExtKeyUsage {
		xp.Ekus = append(xp.Ekus, oid.String())
	}
	sans := &wireSANs{DNSNames: slices.Clone(leaf.DNSNames), Emails: slices.Clone(leaf.EmailAddresses)}
	for _, ip := range leaf.IPAddresses {
		sans.IPAddresses = append(sans.IPAddresses, ip.String())
	}
	for _, u := range leaf.URIs {
		sans.URIs = append(sans.URIs, u.String())
	}
	if len(sans.DNSNames)+len(sans.Emails)+len(sans.IPAddresses)+len(sans.URIs) > 0 {
		xp.Sans = sans
	}
	return wirePolicy{
		KeyProps:    kp,
		SecretProps: &wireSecretProps{ContentType: contentType},
		X509Props:   xp,
		Issuer:      &wireIssuer{Name: issuer},
		LifetimeActions: []wireLifetimeAction{{
			Trigger: &wireTrigger{LifetimePercentage: ptr(80)},
			Action:  &wireAction{ActionType: "EmailContacts"},
		}},
	}
}

// monthsBetween rounds a validity period to whole months.
func monthsBetween(a, b time.Time) int {
	days := b.Sub(a).Hours() / 24
	return max(1, int(days/30.44+0.5))
}
