package akvemu

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Seed is the emulator's initial data, written as YAML (see testdata/seed.yaml)
// or built in Go. Relative file paths resolve against BaseDir (the seed
// file's folder when loaded with LoadSeedFile).
type Seed struct {
	// IdentityHeader is the secret the managed-identity endpoint expects in
	// X-IDENTITY-HEADER (the IDENTITY_HEADER of App Service). Empty: a random one,
	// see (*Server).IdentityHeader.
	IdentityHeader string `json:"identityHeader,omitempty"`
	// Tenants are the Entra ID tenants.
	Tenants []TenantSeed `json:"tenants,omitempty"`
	// Apps are app registrations (service principals).
	Apps []AppSeed `json:"apps,omitempty"`
	// ManagedIdentities are served by the managed-identity endpoint.
	ManagedIdentities []ManagedIdentitySeed `json:"managedIdentities,omitempty"`
	// FederatedIssuers are OIDC issuers (e.g. a Kubernetes service-account
	// issuer) whose tokens workload-identity federation accepts.
	FederatedIssuers []FederatedIssuerSeed `json:"federatedIssuers,omitempty"`
	// Vaults are the key vaults and their contents.
	Vaults []VaultSeed `json:"vaults,omitempty"`
	// BaseDir resolves relative file paths; empty means the working directory.
	BaseDir string `json:"-"`
}

// TenantSeed is an Entra ID tenant.
type TenantSeed struct {
	// ID is the tenant ID (a GUID in Azure; any string without "/" here).
	ID string `json:"id"`
	// Domains are other names of the tenant accepted in authority URLs (e.g. contoso.onmicrosoft.com).
	Domains []string `json:"domains,omitempty"`
	// Users can sign in with the password grant (UsernamePasswordCredential).
	Users []UserSeed `json:"users,omitempty"`
}

// UserSeed is a user account.
type UserSeed struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// ObjectID is the user's oid; empty: derived from the username.
	ObjectID string `json:"objectId,omitempty"`
}

// AppSeed is an app registration and its service principal.
type AppSeed struct {
	ClientID string `json:"clientId"`
	TenantID string `json:"tenantId"`
	// ObjectID is the service principal's oid; empty: derived from the client ID.
	ObjectID string `json:"objectId,omitempty"`
	// PublicClient allows the password grant without a client secret
	// ("Allow public client flows" in the portal).
	PublicClient bool `json:"publicClient,omitempty"`
	// Secrets are client secret values.
	Secrets []string `json:"secrets,omitempty"`
	// Certificates are client certificates (PEM, public part only).
	Certificates []PEMSource `json:"certificates,omitempty"`
	// FederatedCredentials trust tokens of a federated issuer.
	FederatedCredentials []FederatedCredentialSeed `json:"federatedCredentials,omitempty"`
}

// PEMSource is PEM text given inline or as a file.
type PEMSource struct {
	File string `json:"file,omitempty"`
	PEM  string `json:"pem,omitempty"`
}

// FederatedCredentialSeed is a federated identity credential of an app.
type FederatedCredentialSeed struct {
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
	// Audiences default to api://AzureADTokenExchange.
	Audiences []string `json:"audiences,omitempty"`
}

// FederatedIssuerSeed gives the verification keys of an OIDC issuer. An issuer
// named by a federated credential but not listed here is trusted without
// signature checks (its iss, sub, aud and exp are still checked).
type FederatedIssuerSeed struct {
	Issuer string `json:"issuer"`
	// JWKS is a JSON Web Key Set, inline; JWKSFile names one.
	JWKS     string `json:"jwks,omitempty"`
	JWKSFile string `json:"jwksFile,omitempty"`
	// PublicKeys are PEM public keys or certificates.
	PublicKeys []PEMSource `json:"publicKeys,omitempty"`
}

// ManagedIdentitySeed is a managed identity.
type ManagedIdentitySeed struct {
	ClientID string `json:"clientId"`
	// ObjectID is the principal ID; empty: derived from the client ID.
	ObjectID string `json:"objectId,omitempty"`
	// ResourceID is the ARM ID of a user-assigned identity.
	ResourceID string `json:"resourceId,omitempty"`
	TenantID   string `json:"tenantId"`
	// SystemAssigned marks the identity used when a request names none. At most one.
	SystemAssigned bool `json:"systemAssigned,omitempty"`
}

// VaultSeed is a key vault and its contents.
type VaultSeed struct {
	Name     string `json:"name"`
	TenantID string `json:"tenantId"`
	// Cloud is AzurePublic (default), AzureChina or AzureUSGovernment; it sets the
	// vault's DNS suffix, login host and token audience.
	Cloud string `json:"cloud,omitempty"`
	// AllowedPrincipals, when set, are the only client IDs, object IDs or UPNs
	// allowed in; others get 403. Empty: every principal of the tenant.
	AllowedPrincipals []string `json:"allowedPrincipals,omitempty"`
	// CertificateOnlyPrincipals may read certificates and keys but not
	// secrets: an access policy with certificate and key permissions only,
	// as the akv2k8s README tells users to grant for certificates. Their
	// secret operations get 403.
	CertificateOnlyPrincipals []string          `json:"certificateOnlyPrincipals,omitempty"`
	Secrets                   []SecretSeed      `json:"secrets,omitempty"`
	Certificates              []CertificateSeed `json:"certificates,omitempty"`
	Keys                      []KeySeed         `json:"keys,omitempty"`
}

// SecretSeed is a secret: one value (Value) or several versions, oldest first.
type SecretSeed struct {
	Name        string              `json:"name"`
	Value       *string             `json:"value,omitempty"`
	ContentType string              `json:"contentType,omitempty"`
	Enabled     *bool               `json:"enabled,omitempty"`
	Tags        map[string]string   `json:"tags,omitempty"`
	Versions    []SecretVersionSeed `json:"versions,omitempty"`
}

// SecretVersionSeed is one version of a secret.
type SecretVersionSeed struct {
	Value       string            `json:"value"`
	ContentType string            `json:"contentType,omitempty"`
	Enabled     *bool             `json:"enabled,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
}

// CertificateSeed is a certificate: from a PFX file, a PEM file, inline PEM, or generated.
type CertificateSeed struct {
	Name string `json:"name"`
	// PFXFile is a PKCS#12 file, Password its password.
	PFXFile  string `json:"pfxFile,omitempty"`
	Password string `json:"password,omitempty"`
	// PEMFile or PEM hold a private key and the chain, leaf first.
	PEMFile string `json:"pemFile,omitempty"`
	PEM     string `json:"pem,omitempty"`
	// Generate issues a new certificate instead.
	Generate *GenerateCertificateSeed `json:"generate,omitempty"`
	// ContentType of the backing secret: application/x-pkcs12 (default) or application/x-pem-file.
	ContentType string `json:"contentType,omitempty"`
	// Exportable: false keeps the private key out of the backing secret. Default true.
	Exportable *bool             `json:"exportable,omitempty"`
	Enabled    *bool             `json:"enabled,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
}

// GenerateCertificateSeed describes a certificate to issue.
type GenerateCertificateSeed struct {
	// Subject is a distinguished name such as "CN=app.example.com, O=Example".
	Subject string `json:"subject"`
	// SANs are DNS names, IP addresses, e-mail addresses or URIs.
	SANs []string `json:"sans,omitempty"`
	// KeyType is RSA (default) or EC; KeySize (RSA, default 2048) and Curve
	// (EC, default P-256) refine it.
	KeyType string `json:"keyType,omitempty"`
	KeySize int    `json:"keySize,omitempty"`
	Curve   string `json:"curve,omitempty"`
	// Chain is "leaf" (self-signed, default) or "with-intermediate" (a leaf issued
	// by an intermediate CA, stored as leaf + intermediate).
	Chain string `json:"chain,omitempty"`
	// ValidityMonths defaults to 12.
	ValidityMonths int `json:"validityMonths,omitempty"`
	// Exportable and ContentType override the certificate-level fields.
	Exportable  *bool  `json:"exportable,omitempty"`
	ContentType string `json:"contentType,omitempty"`
}

// KeySeed is a key, generated at start.
type KeySeed struct {
	Name     string            `json:"name"`
	Generate GenerateKeySeed   `json:"generate"`
	Enabled  *bool             `json:"enabled,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
}

// GenerateKeySeed describes a key to generate.
type GenerateKeySeed struct {
	// KeyType is RSA (default), RSA-HSM, EC or EC-HSM.
	KeyType string `json:"keyType,omitempty"`
	// KeySize is 2048 (default), 3072 or 4096 for RSA.
	KeySize int `json:"keySize,omitempty"`
	// Curve is P-256 (default), P-384 or P-521 for EC.
	Curve string `json:"curve,omitempty"`
}

// LoadSeedFile reads a YAML (or JSON) seed; relative paths in it resolve
// against the file's folder.
func LoadSeedFile(path string) (*Seed, error) {
	data, err := readBounded(path, maxSeedBytes)
	if err != nil {
		return nil, fmt.Errorf("reading seed: %w", err)
	}
	s, err := ParseSeed(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s.BaseDir = filepath.Dir(path)
	return s, nil
}

// ParseSeed decodes a YAML (or JSON) seed strictly: unknown fields are errors,
// so a misspelt key fails loudly instead of seeding nothing. A seed over
// maxSeedBytes is refused before it is parsed.
func ParseSeed(data []byte) (*Seed, error) {
	if len(data) > maxSeedBytes {
		return nil, fmt.Errorf("parsing seed: larger than %d bytes", maxSeedBytes)
	}
	var s Seed
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return nil, fmt.Errorf("parsing seed: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Validate checks references and required fields; it reads no files.
func (s *Seed) Validate() error {
	tenants := map[string]bool{}
	var errs []error
	for i, t := range s.Tenants {
		if t.ID == "" || strings.ContainsAny(t.ID, "/ ") {
			errs = append(errs, fmt.Errorf("tenants[%d]: invalid id %q", i, t.ID))
		}
		tenants[strings.ToLower(t.ID)] = true
		for j, u := range t.Users {
			if u.Username == "" {
				errs = append(errs, fmt.Errorf("tenants[%d].users[%d]: username is required", i, j))
			}
		}
	}
	knownTenant := func(where, id string) {
		if !tenants[strings.ToLower(id)] {
			errs = append(errs, fmt.Errorf("%s: unknown tenant %q", where, id))
		}
	}
	for i, a := range s.Apps {
		if a.ClientID == "" {
			errs = append(errs, fmt.Errorf("apps[%d]: clientId is required", i))
		}
		knownTenant(fmt.Sprintf("apps[%d]", i), a.TenantID)
		for j, c := range a.Certificates {
			if (c.File == "") == (c.PEM == "") {
				errs = append(errs, fmt.Errorf("apps[%d].certificates[%d]: give exactly one of file and pem", i, j))
			}
		}
		for j, f := range a.FederatedCredentials {
			if f.Issuer == "" || f.Subject == "" {
				errs = append(errs, fmt.Errorf("apps[%d].federatedCredentials[%d]: issuer and subject are required", i, j))
			}
		}
	}
	system := 0
	for i, m := range s.ManagedIdentities {
		if m.ClientID == "" {
			errs = append(errs, fmt.Errorf("managedIdentities[%d]: clientId is required", i))
		}
		knownTenant(fmt.Sprintf("managedIdentities[%d]", i), m.TenantID)
		if m.SystemAssigned {
			system++
		}
	}
	if system > 1 {
		errs = append(errs, errors.New("managedIdentities: at most one can be systemAssigned"))
	}
	for i, f := range s.FederatedIssuers {
		if f.Issuer == "" {
			errs = append(errs, fmt.Errorf("federatedIssuers[%d]: issuer is required", i))
		}
	}
	objects, generated := 0, 0
	for i, v := range s.Vaults {
		errs = append(errs, v.validate(fmt.Sprintf("vaults[%d]", i), knownTenant)...)
		for _, sec := range v.Secrets {
			objects += max(len(sec.Versions), 1)
		}
		objects += len(v.Certificates) + len(v.Keys)
		generated += len(v.Keys)
		for _, c := range v.Certificates {
			if c.Generate != nil {
				generated++
			}
		}
	}
	if objects > maxSeedObjects {
		errs = append(errs, fmt.Errorf("vaults: %d secret versions, certificates and keys, more than %d", objects, maxSeedObjects))
	}
	if generated > maxSeedGenerated {
		errs = append(errs, fmt.Errorf("vaults: %d keys and certificates to generate, more than %d", generated, maxSeedGenerated))
	}
	return errors.Join(errs...)
}

// validate checks one vault of a seed.
func (v VaultSeed) validate(where string, knownTenant func(where, id string)) []error {
	var errs []error
	if !vaultNamePattern.MatchString(v.Name) {
		errs = append(errs, fmt.Errorf("%s: invalid vault name %q (3-24 letters, digits and dashes)", where, v.Name))
	}
	knownTenant(where, v.TenantID)
	if _, err := parseCloud(v.Cloud); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", where, err))
	}
	for j, s := range v.Secrets {
		if !validObjectName(s.Name) {
			errs = append(errs, fmt.Errorf("%s.secrets[%d]: invalid name %q", where, j, s.Name))
		}
		if (s.Value == nil) == (len(s.Versions) == 0) {
			errs = append(errs, fmt.Errorf("%s.secrets[%d]: give exactly one of value and versions", where, j))
		}
		if s.Value != nil && len(*s.Value) > maxSeedValueBytes {
			errs = append(errs, fmt.Errorf("%s.secrets[%d]: value larger than %d bytes", where, j, maxSeedValueBytes))
		}
		for k, ver := range s.Versions {
			if len(ver.Value) > maxSeedValueBytes {
				errs = append(errs, fmt.Errorf("%s.secrets[%d].versions[%d]: value larger than %d bytes", where, j, k, maxSeedValueBytes))
			}
		}
	}
	for j, c := range v.Certificates {
		if !validObjectName(c.Name) {
			errs = append(errs, fmt.Errorf("%s.certificates[%d]: invalid name %q", where, j, c.Name))
		}
		n := 0
		for _, set := range []bool{c.PFXFile != "", c.PEMFile != "", c.PEM != "", c.Generate != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			errs = append(errs, fmt.Errorf("%s.certificates[%d]: give exactly one of pfxFile, pemFile, pem and generate", where, j))
		}
	}
	for j, k := range v.Keys {
		if !validObjectName(k.Name) {
			errs = append(errs, fmt.Errorf("%s.keys[%d]: invalid name %q", where, j, k.Name))
		}
	}
	return errs
}

// path resolves a seed-relative path.
func (s *Seed) path(p string) string {
	if filepath.IsAbs(p) || s.BaseDir == "" {
		return p
	}
	return filepath.Join(s.BaseDir, p)
}

// readPEM returns the PEM text of a source.
func (s *Seed) readPEM(src PEMSource) ([]byte, error) {
	if src.PEM != "" {
		return []byte(src.PEM), nil
	}
	b, err := readBounded(s.path(src.File), maxSeedFileBytes)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", src.File, err)
	}
	return b, nil
}
