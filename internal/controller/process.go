package controller

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/latchkey-dev/latchkey/internal/crdcheck"
	"github.com/latchkey-dev/latchkey/internal/logging"
	"github.com/latchkey-dev/latchkey/internal/runner"
)

// Config is everything the controller process is configured with.
type Config struct {
	Manager ManagerOptions
	// KeyVaultOptions select the Key Vault credential (--keyvault-auth,
	// --cloud-config).
	runner.KeyVaultOptions
	Log logging.Options
	// Transport carries Key Vault and Entra ID requests. Nil in production;
	// tests and `make dev` pass the emulator's.
	Transport policy.Transporter
	// Registry receives the metrics; nil means controller-runtime's, which
	// the metrics endpoint serves.
	Registry prometheus.Registerer
	// TenancyOptions name the admin's allow-list of vaults per namespace
	// (--tenancy-policy).
	runner.TenancyOptions
	// Vault is the HashiCorp Vault backend (--hashicorp-vault*), off by
	// default.
	Vault runner.VaultOptions
}

// DefaultConfig is the flag defaults.
func DefaultConfig() Config {
	return Config{
		Manager:         DefaultManagerOptions(),
		KeyVaultOptions: runner.DefaultKeyVaultOptions(),
		Log:             logging.DefaultOptions(),
		TenancyOptions:  runner.DefaultTenancyOptions(),
		Vault:           runner.DefaultVaultOptions(),
	}
}

// BindFlags registers the controller's flags, kebab-case, on fs.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	m := &c.Manager
	c.KeyVaultOptions.BindFlags(fs)
	fs.DurationVar(&m.Controller.RefreshInterval, "refresh-interval", m.Controller.RefreshInterval, "how often an unpinned object is read again (per object: spec.refreshInterval)")
	fs.Float64Var(&m.Controller.Jitter, "refresh-jitter", m.Controller.Jitter, "spread objects' refresh due times over this fraction of the interval (never lengthens it)")
	fs.BoolVar(&m.Controller.Rollouts, "rollouts", m.Controller.Rollouts, "roll out the Deployments, StatefulSets and DaemonSets annotated latchkey.dev/rollout-on-change when a version they consume changes (needs RBAC to patch them; docs/rollouts.md)")
	fs.DurationVar(&m.Controller.RolloutWindow, "rollout-window", m.Controller.RolloutWindow, "changes within this window make one rollout; a workload is rolled out at most once per window")
	fs.IntVar(&m.Workers, "workers", m.Workers, "AzureKeyVaultSecrets reconciled at once")
	m.APIClientOptions.BindFlags(fs)
	fs.Func("namespaces", "comma-separated namespaces to watch (default: all)", func(s string) error {
		m.Namespaces = splitList(s)
		return nil
	})
	fs.StringVar(&m.Selector, "selector", m.Selector, "label selector of the AzureKeyVaultSecrets this controller syncs (sharding); default: akv2k8s's OBJECT_LABELS variable")
	m.LeaderElectionOptions.BindFlags(fs, "")
	m.ServingOptions.BindFlags(fs)
	c.TenancyOptions.BindFlags(fs)
	c.Vault.BindFlags(fs)
	c.Log.BindFlags(fs)
}

// Logging is the process logger's configuration.
func (c Config) Logging() logging.Options { return c.Log }

// EnvObjectLabels is akv2k8s's controller variable that sharded
// AzureKeyVaultSecrets (akv2k8s's chart set it through controller.env):
// a comma-separated list of key=value labels an object must carry. That is
// a label selector, so it is the selector when --selector is not given.
const EnvObjectLabels = "OBJECT_LABELS"

// withEnv returns c completed from the environment (getenv): the selector
// from OBJECT_LABELS when --selector is empty. When both are set they must
// agree: which of two different shards was meant cannot be guessed.
func (c Config) withEnv(getenv func(string) string) (Config, error) {
	env := strings.TrimSpace(getenv(EnvObjectLabels))
	switch {
	case env == "":
	case c.Manager.Selector == "":
		c.Manager.Selector = env
	case c.Manager.Selector != env:
		return c, fmt.Errorf("--selector %q and %s %q differ: set one", c.Manager.Selector, EnvObjectLabels, env)
	}
	return c, nil
}

// Validate checks the configuration and the Key Vault credentials it names.
func (c Config) Validate() error {
	c, err := c.withEnv(os.Getenv)
	if err != nil {
		return err
	}
	return errors.Join(c.Manager.Validate(), c.Log.Validate(), c.KeyVaultOptions.Validate(), c.TenancyOptions.Validate(), c.Vault.Validate())
}

// Setup builds the controller: the Key Vault credential, reader and shared
// cache, the manager and its controllers. The caller starts the manager.
func Setup(restCfg *rest.Config, c Config, log logr.Logger) (ctrl.Manager, error) {
	c, err := c.withEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	reg := runner.MetricsRegistry(c.Registry)
	cache, identity, err := c.KeyVaultOptions.Open(reg, c.Transport, nil, log)
	if err != nil {
		return nil, err
	}
	mgr, err := NewManager(restCfg, c.Manager, log)
	if err != nil {
		return nil, err
	}
	// Refuse to run on akv2k8s's CRD: its schema would prune our fields.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := crdcheck.Verify(ctx, mgr.GetAPIReader()); err != nil {
		return nil, err
	}
	policy, err := c.TenancyOptions.Open(mgr, log)
	if err != nil {
		return nil, err
	}
	if err := c.Vault.Register(cache, restCfg, policy); err != nil {
		return nil, err
	}
	r := &Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Source:    cache,
		Recorder:  mgr.GetEventRecorder("latchkey-controller"),
		Metrics:   NewMetrics(reg),
		Options:   c.Manager.Controller,
		Tenancy:   policy,
	}
	if c.Manager.Controller.Rollouts {
		r.Rollouts = &Rollouts{Client: r.Client, APIReader: r.APIReader, Recorder: r.Recorder, Metrics: r.Metrics,
			Window: c.Manager.Controller.RolloutWindow}
	}
	if err := r.SetupWithManager(mgr, c.Manager.Workers); err != nil {
		return nil, err
	}
	log.Info("controller configured", "identity", identity, "refreshInterval", c.Manager.Controller.RefreshInterval.String(),
		"namespaces", c.Manager.Namespaces, "selector", c.Manager.Selector, "rollouts", c.Manager.Controller.Rollouts)
	return mgr, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
