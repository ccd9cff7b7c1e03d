package akvemu

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// defaultFederatedAudience is the audience Entra expects in federated tokens.
const defaultFederatedAudience = "api://AzureADTokenExchange"

// tenant is an Entra ID tenant.
type tenant struct {
	id    string
	users map[string]*user // by lower-case username
}

// user is an account that can use the password grant.
type user struct {
	username, password, objectID string
}

// app is an app registration with its service principal.
type app struct {
	clientID, tenantID, objectID string
	publicClient                 bool
	secrets                      []string
	certs                        []*x509.Certificate
	federated                    []FederatedCredentialSeed
}

// managedIdentity is a managed identity.
type managedIdentity struct {
	clientID, objectID, resourceID, tenantID string
	systemAssigned                           bool
}

// directory is the fake Entra ID's data.
type directory struct {
	mu             sync.RWMutex
	tenants        map[string]*tenant // by lower-case id and domain
	apps           map[string]*app    // by lower-case client ID
	identities     []*managedIdentity
	issuers        map[string][]publicKeyEntry // by issuer URL
	identityHeader string
}

func newDirectory(identityHeader string) *directory {
	return &directory{
		tenants:        map[string]*tenant{},
		apps:           map[string]*app{},
		issuers:        map[string][]publicKeyEntry{},
		identityHeader: identityHeader,
	}
}

// derivedID makes a stable GUID-shaped ID from a name, for object IDs the seed leaves out.
func derivedID(kind, name string) string {
	s := sha256.Sum256([]byte(kind + "/" + strings.ToLower(name)))
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

// apply adds the identities of a seed. It builds everything first and then
// swaps it in, so a bad seed changes nothing.
func (d *directory) apply(s *Seed) error {
	tenants := map[string]*tenant{}
	for _, ts := range s.Tenants {
		t := &tenant{id: ts.ID, users: map[string]*user{}}
		for _, us := range ts.Users {
			oid := us.ObjectID
			if oid == "" {
				oid = derivedID("user", us.Username)
			}
			t.users[strings.ToLower(us.Username)] = &user{username: us.Username, password: us.Password, objectID: oid}
		}
		tenants[strings.ToLower(ts.ID)] = t
		for _, dom := range ts.Domains {
			tenants[strings.ToLower(dom)] = t
		}
	}
	var apps []*app
	for _, as := range s.Apps {
		a := &app{clientID: as.ClientID, tenantID: as.TenantID, objectID: as.ObjectID, publicClient: as.PublicClient,
			secrets: append([]string(nil), as.Secrets...), federated: append([]FederatedCredentialSeed(nil), as.FederatedCredentials...)}
		if a.objectID == "" {
			a.objectID = derivedID("sp", as.ClientID)
		}
		for _, src := range as.Certificates {
			b, err := s.readPEM(src)
			if err != nil {
				return fmt.Errorf("app %s: %w", as.ClientID, err)
			}
			certs, err := parsePEMCertificates(b)
			if err != nil {
				return fmt.Errorf("app %s: %w", as.ClientID, err)
			}
			a.certs = append(a.certs, certs...)
		}
		apps = append(apps, a)
	}
	issuers := map[string][]publicKeyEntry{}
	for _, is := range s.FederatedIssuers {
		keys, err := loadIssuerKeys(s, is)
		if err != nil {
			return fmt.Errorf("federated issuer %s: %w", is.Issuer, err)
		}
		issuers[is.Issuer] = keys
	}
	var mis []*managedIdentity
	for _, ms := range s.ManagedIdentities {
		m := &managedIdentity{clientID: ms.ClientID, objectID: ms.ObjectID, resourceID: ms.ResourceID, tenantID: ms.TenantID, systemAssigned: ms.SystemAssigned}
		if m.objectID == "" {
			m.objectID = derivedID("mi", ms.ClientID)
		}
		mis = append(mis, m)
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	for k, t := range tenants {
		d.tenants[k] = t
	}
	for _, a := range apps {
		d.apps[strings.ToLower(a.clientID)] = a
	}
	for k, v := range issuers {
		d.issuers[k] = v
	}
	d.identities = append(d.identities, mis...)
	if s.IdentityHeader != "" {
		d.identityHeader = s.IdentityHeader
	}
	return nil
}

// loadIssuerKeys reads the verification keys of a federated issuer.
func loadIssuerKeys(s *Seed, is FederatedIssuerSeed) ([]publicKeyEntry, error) {
	var keys []publicKeyEntry
	jwksData := []byte(is.JWKS)
	if is.JWKSFile != "" {
		b, err := readBounded(s.path(is.JWKSFile), maxSeedFileBytes)
		if err != nil {
			return nil, fmt.Errorf("reading JWKS: %w", err)
		}
		jwksData = b
	}
	if len(jwksData) > 0 {
		k, err := parseJWKS(jwksData)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k...)
	}
	for _, src := range is.PublicKeys {
		b, err := s.readPEM(src)
		if err != nil {
			return nil, err
		}
		k, err := parsePEMPublicKeys(b)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k...)
	}
	return keys, nil
}

// parsePEMCertificates returns every CERTIFICATE block of a PEM text.
func parsePEMCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}

// parsePEMPublicKeys returns the keys of PUBLIC KEY and CERTIFICATE blocks.
func parsePEMPublicKeys(data []byte) ([]publicKeyEntry, error) {
	var out []publicKeyEntry
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		var pub crypto.PublicKey
		var err error
		switch b.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(b.Bytes); err == nil {
				pub = c.PublicKey
			}
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", b.Type, err)
		}
		out = append(out, publicKeyEntry{key: pub})
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM public key found")
	}
	return out, nil
}

// tenant finds a tenant by ID or domain.
func (d *directory) tenant(idOrDomain string) *tenant {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.tenants[strings.ToLower(idOrDomain)]
}

// app finds an app registration by client ID.
func (d *directory) app(clientID string) *app {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.apps[strings.ToLower(clientID)]
}

// issuerKeys returns an issuer's keys and whether the issuer has any configured.
func (d *directory) issuerKeys(iss string) ([]publicKeyEntry, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	k, ok := d.issuers[iss]
	return k, ok && len(k) > 0
}

// identity finds a managed identity by the selector the SDK sends: client_id,
// object_id or principal_id, mi_res_id or msi_res_id; none picks the
// system-assigned identity.
func (d *directory) identity(sel miSelector) *managedIdentity {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, m := range d.identities {
		switch {
		case sel.clientID != "":
			if strings.EqualFold(m.clientID, sel.clientID) {
				return m
			}
		case sel.objectID != "":
			if strings.EqualFold(m.objectID, sel.objectID) {
				return m
			}
		case sel.resourceID != "":
			if m.resourceID != "" && strings.EqualFold(m.resourceID, sel.resourceID) {
				return m
			}
		default:
			if m.systemAssigned {
				return m
			}
		}
	}
	return nil
}

// header returns the X-IDENTITY-HEADER secret.
func (d *directory) header() string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.identityHeader
}
