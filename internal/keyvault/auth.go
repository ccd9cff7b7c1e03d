package keyvault

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// Mode is how latchkey finds its Key Vault credential: the chart's
// keyVaultAuth value, plus two explicit modes.
type Mode string

// The authentication modes.
const (
	// ModeAzureCloudConfig reads the AKS cloud config (/etc/kubernetes/azure.json):
	// workload identity, managed identity, client secret or client certificate.
	// It is the default, as in akv2k8s.
	ModeAzureCloudConfig Mode = "azureCloudConfig"
	// ModeEnvironment is akv2k8s's environment credential: the first complete
	// set of AZURE_* variables picks one credential when latchkey starts.
	ModeEnvironment Mode = "environment"
	// ModeEnvironmentAzidentity is azidentity's chain of environment, workload
	// identity and managed identity credentials, tried in turn at token time,
	// configured by the process environment exactly as azidentity reads it.
	// Developer-tool credentials (Azure CLI and the like) are not part of it.
	ModeEnvironmentAzidentity Mode = "environment-azidentity"
	// ModeWorkloadIdentity is Azure workload identity (a federated
	// service-account token file).
	ModeWorkloadIdentity Mode = "workload-identity"
	// ModeManagedIdentity is a system- or user-assigned managed identity.
	ModeManagedIdentity Mode = "managed-identity"
)

// DefaultAzureJSONPath is where AKS writes its cloud config on every node.
const DefaultAzureJSONPath = "/etc/kubernetes/azure.json"

// Environment variables AuthConfigFromEnv reads. The AZURE_CERTIFICATE_*
// spellings are akv2k8s's (go-autorest's); azidentity spells them
// AZURE_CLIENT_CERTIFICATE_*, and both are accepted.
const (
	EnvEnvironment               = "AZURE_ENVIRONMENT"
	EnvAuthorityHost             = "AZURE_AUTHORITY_HOST"
	EnvTenantID                  = "AZURE_TENANT_ID"
	EnvClientID                  = "AZURE_CLIENT_ID"
	EnvClientSecret              = "AZURE_CLIENT_SECRET" //nolint:gosec // a variable name
	EnvCertificatePath           = "AZURE_CERTIFICATE_PATH"
	EnvCertificatePassword       = "AZURE_CERTIFICATE_PASSWORD" //nolint:gosec // a variable name
	EnvClientCertificatePath     = "AZURE_CLIENT_CERTIFICATE_PATH"
	EnvClientCertificatePassword = "AZURE_CLIENT_CERTIFICATE_PASSWORD" //nolint:gosec // a variable name
	EnvUsername                  = "AZURE_USERNAME"
	EnvPassword                  = "AZURE_PASSWORD"
	EnvFederatedTokenFile        = "AZURE_FEDERATED_TOKEN_FILE"
)

// AuthConfig says how to obtain Key Vault tokens. Build it from flags or with
// AuthConfigFromEnv, check it with Validate, and turn it into a credential
// with NewCredential.
//
// It holds secrets (ClientSecret, CertificatePassword, Password): String,
// GoString and LogValue redact them, so printing or logging an AuthConfig is
// safe.
type AuthConfig struct {
	// Mode is the authentication mode; empty means ModeAzureCloudConfig.
	Mode Mode
	// Cloud names the Azure cloud as AZURE_ENVIRONMENT does. Empty: the
	// azure.json `cloud` in ModeAzureCloudConfig, else the public cloud.
	Cloud string
	// AuthorityHost overrides the cloud's Entra ID authority
	// (AZURE_AUTHORITY_HOST, which the workload identity webhook sets).
	AuthorityHost string
	// AzureJSONPath is the AKS cloud config (ModeAzureCloudConfig); empty
	// means DefaultAzureJSONPath.
	AzureJSONPath string

	// TenantID and ClientID name the service principal, user application or
	// workload identity (ModeEnvironment, ModeWorkloadIdentity). In
	// ModeEnvironment a ClientID without other credentials names a
	// user-assigned managed identity, as in akv2k8s.
	TenantID string
	ClientID string
	// ClientSecret is a service principal's secret.
	ClientSecret string
	// CertificatePath is a PEM or PKCS#12 file with a client certificate and
	// its key; CertificatePassword decrypts a PKCS#12 file.
	CertificatePath     string
	CertificatePassword string
	// Username and Password sign in a user (ROPC; no MFA).
	Username string
	Password string
	// FederatedTokenFile is a projected service-account token (workload identity).
	FederatedTokenFile string
	// ManagedIdentityID is the client ID or ARM resource ID of a user-assigned
	// managed identity (ModeManagedIdentity); empty means system-assigned.
	ManagedIdentityID string
}

// AuthConfigFromEnv reads the AZURE_* variables through getenv (os.Getenv
// in production) into an AuthConfig for mode. It does not validate.
//
// In ModeManagedIdentity AZURE_CLIENT_ID names the user-assigned identity.
// In ModeEnvironmentAzidentity azidentity reads the process environment
// itself (os.Getenv, whatever getenv is): only Cloud and AuthorityHost of
// the result are used.
func AuthConfigFromEnv(mode Mode, getenv func(string) string) AuthConfig {
	first := func(names ...string) string {
		for _, n := range names {
			if v := getenv(n); v != "" {
				return v
			}
		}
		return ""
	}
	c := AuthConfig{
		Mode:                mode,
		Cloud:               getenv(EnvEnvironment),
		AuthorityHost:       getenv(EnvAuthorityHost),
		TenantID:            getenv(EnvTenantID),
		ClientID:            getenv(EnvClientID),
		ClientSecret:        getenv(EnvClientSecret),
		CertificatePath:     first(EnvCertificatePath, EnvClientCertificatePath),
		CertificatePassword: first(EnvCertificatePassword, EnvClientCertificatePassword),
		Username:            getenv(EnvUsername),
		Password:            getenv(EnvPassword),
		FederatedTokenFile:  getenv(EnvFederatedTokenFile),
	}
	if mode == ModeEnvironmentAzidentity {
		// azidentity's EnvironmentCredential knows only its own spelling.
		c.CertificatePath = getenv(EnvClientCertificatePath)
		c.CertificatePassword = getenv(EnvClientCertificatePassword)
	}
	if mode == ModeManagedIdentity {
		c.ManagedIdentityID = c.ClientID
	}
	return c
}

// Modes lists the valid modes, for flag help and error messages.
func Modes() []Mode {
	return []Mode{ModeAzureCloudConfig, ModeEnvironment, ModeEnvironmentAzidentity, ModeWorkloadIdentity, ModeManagedIdentity}
}

// mode returns the mode with the default applied.
func (c AuthConfig) mode() Mode {
	if c.Mode == "" {
		return ModeAzureCloudConfig
	}
	return c.Mode
}

// Validate reports every problem with the configuration that can be found
// without reading files. Messages name the field and its environment
// variable, never a value.
func (c AuthConfig) Validate() error {
	var errs []error
	if _, err := ParseCloud(c.Cloud); err != nil {
		errs = append(errs, fmt.Errorf("cloud (%s): %w", EnvEnvironment, err))
	}
	if c.AuthorityHost != "" {
		if u, err := url.Parse(c.AuthorityHost); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("authority host (%s) must be an https URL", EnvAuthorityHost))
		}
	}
	switch c.mode() {
	case ModeAzureCloudConfig, ModeEnvironmentAzidentity, ModeManagedIdentity:
		// azure.json is checked when it is read; azidentity checks its own
		// environment; managed identity needs nothing.
	case ModeEnvironment:
		errs = append(errs, c.validateEnvironment()...)
	case ModeWorkloadIdentity:
		errs = append(errs, require("workload identity", c.tenant(), c.client(), c.tokenFile())...)
	default:
		errs = append(errs, fmt.Errorf("unknown authentication mode %q (want one of %v)", c.Mode, Modes()))
	}
	return errors.Join(errs...)
}

// setting is one required value, named with its environment variable for
// error messages.
type setting struct{ name, env, value string }

func (c AuthConfig) tenant() setting   { return setting{"tenant ID", EnvTenantID, c.TenantID} }
func (c AuthConfig) client() setting   { return setting{"client ID", EnvClientID, c.ClientID} }
func (c AuthConfig) password() setting { return setting{"password", EnvPassword, c.Password} }
func (c AuthConfig) tokenFile() setting {
	return setting{"federated token file", EnvFederatedTokenFile, c.FederatedTokenFile}
}

// require reports each empty setting needed by what.
func require(what string, settings ...setting) []error {
	var errs []error
	for _, s := range settings {
		if s.value == "" {
			errs = append(errs, fmt.Errorf("%s needs a %s (%s)", what, s.name, s.env))
		}
	}
	return errs
}

// validateEnvironment checks that whichever credential ModeEnvironment
// would pick is complete: a half-configured service principal is an error,
// not a silent fall-through to managed identity.
func (c AuthConfig) validateEnvironment() []error {
	switch c.environmentKind() {
	case credClientSecret:
		return require("a client secret ("+EnvClientSecret+")", c.tenant(), c.client())
	case credClientCertificate:
		return require("a client certificate ("+EnvCertificatePath+")", c.tenant(), c.client())
	case credUsernamePassword:
		return require("a username ("+EnvUsername+")", c.tenant(), c.client(), c.password())
	case credWorkloadIdentity:
		return require("a federated token file ("+EnvFederatedTokenFile+")", c.tenant(), c.client())
	}
	return nil
}

// credKind is the kind of credential a configuration resolves to.
type credKind int

const (
	credManagedIdentity credKind = iota
	credClientSecret
	credClientCertificate
	credUsernamePassword
	credWorkloadIdentity
)

// environmentKind is ModeEnvironment's order: client secret, client
// certificate, username and password (akv2k8s's, go-autorest's order), then
// workload identity, then managed identity.
func (c AuthConfig) environmentKind() credKind {
	switch {
	case c.ClientSecret != "":
		return credClientSecret
	case c.CertificatePath != "":
		return credClientCertificate
	case c.Username != "":
		return credUsernamePassword
	case c.FederatedTokenFile != "":
		return credWorkloadIdentity
	}
	return credManagedIdentity
}

const redacted = "[redacted]"

// String describes the configuration with its secrets redacted.
func (c AuthConfig) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mode=%s", c.mode())
	add := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, " %s=%s", k, v)
		}
	}
	add("cloud", c.Cloud)
	add("authorityHost", c.AuthorityHost)
	add("azureJSON", c.AzureJSONPath)
	add("tenantID", c.TenantID)
	add("clientID", c.ClientID)
	add("clientSecret", redact(c.ClientSecret))
	add("certificatePath", c.CertificatePath)
	add("certificatePassword", redact(c.CertificatePassword))
	add("username", c.Username)
	add("password", redact(c.Password))
	add("federatedTokenFile", c.FederatedTokenFile)
	add("managedIdentityID", c.ManagedIdentityID)
	return b.String()
}

// GoString keeps %#v from printing secrets.
func (c AuthConfig) GoString() string { return "keyvault.AuthConfig{" + c.String() + "}" }

// LogValue keeps slog from printing secrets.
func (c AuthConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }

func redact(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}
