package runner

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/client-go/rest"

	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/backends"
	"github.com/latchkey-dev/latchkey/internal/tenancy"
	"github.com/latchkey-dev/latchkey/internal/vaultkv"
	"github.com/latchkey-dev/latchkey/internal/vaultref"
)

// VaultOptions are the HashiCorp Vault backend's settings (off by
// default): the flags --hashicorp-vault-*.
type VaultOptions struct {
	// Enabled registers the backend.
	Enabled bool
	// Address, AuthMount, Role and ServiceAccount are the defaults of
	// resources that name none.
	Address, AuthMount, Role, ServiceAccount string
	// CAFile is the PEM bundle Vault's certificate is checked against.
	CAFile string
	// Audience and TokenExpiry are those of the ServiceAccount tokens logins
	// present.
	Audience    string
	TokenExpiry time.Duration
}

// DefaultVaultOptions are the flag defaults: off; when on, the audience
// vault and ten-minute tokens.
func DefaultVaultOptions() VaultOptions {
	return VaultOptions{AuthMount: vaultref.DefaultAuthMount, Audience: vaultkv.DefaultAudience, TokenExpiry: vaultkv.DefaultTokenExpiry}
}

// BindFlags registers --hashicorp-vault and --hashicorp-vault-* on fs.
func (o *VaultOptions) BindFlags(fs *flag.FlagSet) {
	fs.BoolVar(&o.Enabled, "hashicorp-vault", o.Enabled, "serve AzureKeyVaultSecrets with spec.vault.hashicorpVault (HashiCorp Vault, KV version 2, Kubernetes auth)")
	fs.StringVar(&o.Address, "hashicorp-vault-address", o.Address, "default Vault address, e.g. https://vault.example:8200")
	fs.StringVar(&o.CAFile, "hashicorp-vault-ca-file", o.CAFile, "PEM bundle Vault's TLS certificate is checked against; empty: the system's")
	fs.StringVar(&o.AuthMount, "hashicorp-vault-auth-mount", o.AuthMount, "default mount path of Vault's Kubernetes auth method")
	fs.StringVar(&o.Role, "hashicorp-vault-role", o.Role, "default role to log in with")
	fs.StringVar(&o.ServiceAccount, "hashicorp-vault-service-account", o.ServiceAccount, "default ServiceAccount (of each resource's namespace) that logs in")
	fs.StringVar(&o.Audience, "hashicorp-vault-audience", o.Audience, "audience of the ServiceAccount tokens presented to Vault")
	fs.DurationVar(&o.TokenExpiry, "hashicorp-vault-token-expiry", o.TokenExpiry, "lifetime of the ServiceAccount tokens presented to Vault (at least 10m)")
}

// Validate checks the settings of an enabled backend.
func (o VaultOptions) Validate() error {
	if !o.Enabled {
		return nil
	}
	var errs []error
	if o.Address != "" {
		if err := vaultref.CheckAddress(o.Address); err != nil {
			errs = append(errs, fmt.Errorf("--hashicorp-vault-address: %w", err))
		}
	}
	if o.Audience == "" {
		errs = append(errs, errors.New("--hashicorp-vault-audience must not be empty"))
	}
	if o.TokenExpiry < 10*time.Minute {
		errs = append(errs, errors.New("--hashicorp-vault-token-expiry must be at least 10m, the API server's minimum"))
	}
	return errors.Join(errs...)
}

// Register adds the backend to objects when enabled: logins request tokens
// from the API server of cfg; policy (nil: none) is the tenancy policy.
func (o VaultOptions) Register(objects backend.Sources, cfg *rest.Config, policy *tenancy.Source) error {
	if !o.Enabled {
		return nil
	}
	var ca []byte
	if o.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(o.CAFile); err != nil {
			return fmt.Errorf("--hashicorp-vault-ca-file: %w", err)
		}
	}
	var allow vaultkv.Allower
	if policy != nil {
		allow = policy
	}
	return backends.OpenHashiCorpVault(objects, cfg, backends.HashiCorpVault{
		Reader:   vaultkv.Options{Audience: o.Audience, TokenExpiry: o.TokenExpiry, CACert: ca},
		Defaults: vaultref.Defaults{Address: o.Address, AuthMount: o.AuthMount, Role: o.Role, ServiceAccount: o.ServiceAccount},
	}, allow)
}
