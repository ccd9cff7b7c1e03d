package backends

import (
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/vaultkv"
	"github.com/latchkey-dev/latchkey/internal/vaultref"
)

// HashiCorpVault is the install's HashiCorp Vault settings: how to reach
// Vault and log in, and what a resource that names none uses.
type HashiCorpVault struct {
	Reader   vaultkv.Options
	Defaults vaultref.Defaults
}

// OpenHashiCorpVault registers HashiCorp Vault into sources beside Key
// Vault: logins request ServiceAccount tokens from the API server of cfg,
// the tenancy policy (nil: none) decides per namespace, and one
// single-flight cache serves the process. Reads of an AzureKeyVaultSecret
// with spec.vault.hashicorpVault in a process that did not register it fail
// as unavailable, naming the backend.
func OpenHashiCorpVault(sources backend.Sources, cfg *rest.Config, h HashiCorpVault, tenancy vaultkv.Allower) error {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	o := h.Reader
	o.Tokens = ServiceAccountTokens{Client: kube}
	r, err := vaultkv.NewReader(o)
	if err != nil {
		return err
	}
	sources[vaultkv.Backend] = &vaultkv.Source{Defaults: h.Defaults, Tenancy: tenancy, Cache: backend.NewCache(r, backend.CacheOptions{})}
	return nil
}
