package keyvault

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"software.sslmate.com/src/go-pkcs12"
)

// Credential is a Key Vault token credential with a stable identity. It is
// an azcore.TokenCredential, so any SDK client can use it; tokens are cached
// by the underlying azidentity credential, so one Credential should be
// shared by every client of a process.
type Credential struct {
	cred     azcore.TokenCredential
	identity string
	cloud    Cloud
}

// NewCredential builds the credential cfg describes. transport carries every
// request to Entra ID and the managed-identity endpoint; nil means the SDK's
// default HTTP client (tests pass the emulator's).
//
// Files (azure.json, client certificates) are read now, so a missing or
// unreadable file fails here, with its path and never its contents. Wrong
// credentials are only found out at the first token request.
func NewCredential(cfg AuthConfig, transport policy.Transporter) (*Credential, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cl, _ := ParseCloud(cfg.Cloud) // validated
	var spec credSpec
	switch cfg.mode() {
	case ModeAzureCloudConfig:
		path := cfg.AzureJSONPath
		if path == "" {
			path = DefaultAzureJSONPath
		}
		aj, err := readAzureJSON(path)
		if err != nil {
			return nil, err
		}
		if cfg.Cloud == "" && aj.Cloud != "" {
			if cl, err = ParseCloud(aj.Cloud); err != nil {
				return nil, fmt.Errorf("cloud config %s: %w", path, err)
			}
		}
		if spec, err = aj.spec(path); err != nil {
			return nil, err
		}
	case ModeEnvironment:
		spec = cfg.environmentSpec()
	case ModeWorkloadIdentity:
		spec = credSpec{kind: credWorkloadIdentity, tenantID: cfg.TenantID, clientID: cfg.ClientID, tokenFile: cfg.FederatedTokenFile}
	case ModeManagedIdentity:
		spec = credSpec{kind: credManagedIdentity, managedID: cfg.ManagedIdentityID}
	case ModeEnvironmentAzidentity:
		return newAzidentityChain(cl, clientOptions(cl, cfg.AuthorityHost, transport))
	}
	cred, err := spec.build(clientOptions(cl, cfg.AuthorityHost, transport))
	if err != nil {
		return nil, err
	}
	return &Credential{cred: cred, identity: withCloud(spec.identity(), cl), cloud: cl}, nil
}

// Identity names the principal, never its secret: sp:<tenant>/<client>,
// user:<tenant>/<client>/<username>, wi:<tenant>/<client>, mi:system,
// mi:<client or resource ID>, or chain(…) for environment-azidentity,
// followed by @<cloud> outside the public cloud. Caches key on it, and logs
// may show it.
func (c *Credential) Identity() string { return c.identity }

// Cloud is the cloud whose vaults the credential reaches.
func (c *Credential) Cloud() Cloud { return c.cloud }

// String is the identity.
func (c *Credential) String() string { return c.identity }

// GetToken implements azcore.TokenCredential. Failures are marked so that
// Key Vault reads classify them as ErrAuthentication.
func (c *Credential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tk, err := c.cred.GetToken(ctx, opts)
	if err != nil {
		return tk, &tokenError{identity: c.identity, err: err}
	}
	return tk, nil
}

// tokenError marks a failure to get a token. Its message is ours: the
// wrapped azidentity error prints Entra ID's whole response.
type tokenError struct {
	identity string
	err      error
}

func (e *tokenError) Error() string { return "credential " + e.identity + " could not get a token" }
func (e *tokenError) Unwrap() error { return e.err }

// clientOptions are the options every credential gets. Instance discovery
// stays on: Azure (and the emulator) serve it.
func clientOptions(cl Cloud, authorityHost string, transport policy.Transporter) azcore.ClientOptions {
	cc := cl.configuration()
	if authorityHost != "" {
		cc.ActiveDirectoryAuthorityHost = authorityHost
	}
	return azcore.ClientOptions{Transport: transport, Cloud: cc}
}

// withCloud suffixes an identity with its cloud outside the public cloud, so
// the same client ID in two clouds never shares a cache entry.
func withCloud(identity string, cl Cloud) string {
	if cl == AzurePublicCloud {
		return identity
	}
	return identity + "@" + string(cl)
}

// credSpec is one resolved credential.
type credSpec struct {
	kind                   credKind
	tenantID, clientID     string
	secret                 string
	certPath, certPassword string
	username, password     string
	tokenFile              string
	managedID              string
}

// environmentSpec is ModeEnvironment's choice (see environmentKind).
func (c AuthConfig) environmentSpec() credSpec {
	s := credSpec{kind: c.environmentKind(), tenantID: c.TenantID, clientID: c.ClientID}
	switch s.kind {
	case credClientSecret:
		s.secret = c.ClientSecret
	case credClientCertificate:
		s.certPath, s.certPassword = c.CertificatePath, c.CertificatePassword
	case credUsernamePassword:
		s.username, s.password = c.Username, c.Password
	case credWorkloadIdentity:
		s.tokenFile = c.FederatedTokenFile
	case credManagedIdentity:
		// akv2k8s (go-autorest) used AZURE_CLIENT_ID as the user-assigned identity.
		s.managedID = c.ClientID
	}
	return s
}

func (s credSpec) identity() string {
	switch s.kind {
	case credClientSecret, credClientCertificate:
		return "sp:" + s.tenantID + "/" + s.clientID
	case credUsernamePassword:
		return "user:" + s.tenantID + "/" + s.clientID + "/" + s.username
	case credWorkloadIdentity:
		return "wi:" + s.tenantID + "/" + s.clientID
	}
	return managedIdentity(s.managedID)
}

func managedIdentity(id string) string {
	if id == "" {
		return "mi:system"
	}
	return "mi:" + id
}

// managedIDKind tells a client ID from an ARM resource ID, as
// cloud-provider-azure does.
func managedIDKind(id string) azidentity.ManagedIDKind {
	switch {
	case id == "":
		return nil
	case strings.Contains(strings.ToLower(id), "/subscriptions/"):
		return azidentity.ResourceID(id)
	}
	return azidentity.ClientID(id)
}

func (s credSpec) build(opts azcore.ClientOptions) (azcore.TokenCredential, error) {
	switch s.kind {
	case credClientSecret:
		return azidentity.NewClientSecretCredential(s.tenantID, s.clientID, s.secret, &azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
	case credClientCertificate:
		certs, key, err := loadClientCertificate(s.certPath, s.certPassword)
		if err != nil {
			return nil, err
		}
		return azidentity.NewClientCertificateCredential(s.tenantID, s.clientID, certs, key, &azidentity.ClientCertificateCredentialOptions{ClientOptions: opts})
	case credUsernamePassword:
		//nolint:staticcheck // deprecated by Azure (no MFA), but akv2k8s users configure AZURE_USERNAME.
		return azidentity.NewUsernamePasswordCredential(s.tenantID, s.clientID, s.username, s.password, &azidentity.UsernamePasswordCredentialOptions{ClientOptions: opts})
	case credWorkloadIdentity:
		return azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: opts, TenantID: s.tenantID, ClientID: s.clientID, TokenFilePath: s.tokenFile,
		})
	}
	return azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts, ID: managedIDKind(s.managedID)})
}

// newAzidentityChain is ModeEnvironmentAzidentity: azidentity's environment,
// workload identity and managed identity credentials, each included when
// the process environment configures it, tried in that order at token time
// (the first to return a token is kept). It is DefaultAzureCredential
// without the developer tools.
func newAzidentityChain(cl Cloud, opts azcore.ClientOptions) (*Credential, error) {
	var creds []azcore.TokenCredential
	var ids []string
	tenant, client := os.Getenv(EnvTenantID), os.Getenv(EnvClientID)
	if env, err := azidentity.NewEnvironmentCredential(&azidentity.EnvironmentCredentialOptions{ClientOptions: opts}); err == nil {
		creds = append(creds, env)
		if u := os.Getenv(EnvUsername); u != "" && os.Getenv(EnvClientSecret) == "" && os.Getenv(EnvClientCertificatePath) == "" {
			ids = append(ids, "user:"+tenant+"/"+client+"/"+u)
		} else {
			ids = append(ids, "sp:"+tenant+"/"+client)
		}
	}
	if os.Getenv(EnvFederatedTokenFile) != "" {
		wi, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{ClientOptions: opts})
		if err != nil {
			return nil, fmt.Errorf("workload identity from %s: %w", EnvFederatedTokenFile, err)
		}
		creds = append(creds, wi)
		ids = append(ids, "wi:"+tenant+"/"+client)
	}
	mi, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts, ID: managedIDKind(client)})
	if err != nil {
		return nil, fmt.Errorf("managed identity: %w", err)
	}
	creds = append(creds, mi)
	ids = append(ids, managedIdentity(client))
	chain, err := azidentity.NewChainedTokenCredential(creds, nil)
	if err != nil {
		return nil, err
	}
	return &Credential{cred: chain, identity: withCloud("chain("+strings.Join(ids, ",")+")", cl), cloud: cl}, nil
}

// loadClientCertificate reads a client certificate and its key from a PEM
// file (unencrypted key) or a PKCS#12 file (any MAC, with the password).
// Errors name the file and never its contents or the password.
func loadClientCertificate(path, password string) ([]*x509.Certificate, crypto.PrivateKey, error) {
	data, err := os.ReadFile(path) //nolint:gosec // the path is the operator's configuration
	if err != nil {
		return nil, nil, fmt.Errorf("reading client certificate: %w", err)
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		certs, key, err := azidentity.ParseCertificates(data, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("client certificate %s: want PEM CERTIFICATE blocks and an unencrypted private key", path)
		}
		return certs, key, nil
	}
	key, leaf, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return nil, nil, fmt.Errorf("client certificate %s: wrong PKCS#12 password", path)
		}
		return nil, nil, fmt.Errorf("client certificate %s: not a PEM file nor a PKCS#12 file with one certificate and key", path)
	}
	return append([]*x509.Certificate{leaf}, cas...), key, nil
}
