package controller

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/latchkey-dev/latchkey/internal/backends"
	"github.com/latchkey-dev/latchkey/internal/crdcheck"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/keyvault/kvmetrics"
	"github.com/latchkey-dev/latchkey/internal/logging"
	"github.com/latchkey-dev/latchkey/internal/tenancy"
)

// Config is everything the controller process is configured with.
type Config struct {
	Manager ManagerOptions
	// AuthMode selects the Key Vault credential; the rest of the auth
	// settings come from the environment (AZURE_*) and azure.json.
	AuthMode      string
	AzureJSONPath string
	Log           logging.Options
	// Transport carries Key Vault and Entra ID requests. Nil in production;
	// tests and `make dev` pass the emulator's.
	Transport policy.Transporter
	// Registry receives the metrics; nil means controller-runtime's, which
	// the metrics endpoint serves.
	Registry prometheus.Registerer
	// TenancyPolicy is the file of the admin's allow-list of vaults per
	// namespace (internal/tenancy); empty allows everything.
	TenancyPolicy string
}

// DefaultConfig is the flag defaults.
func DefaultConfig() Config {
	return Config{
		Manager:       DefaultManagerOptions(),
		AuthMode:      string(keyvault.ModeAzureCloudConfig),
		AzureJSONPath: keyvault.DefaultAzureJSONPath,
		Log:           logging.Options{Level: "info", Format: "json"},
	}
}

// BindFlags registers the controller's flags, kebab-case, on fs.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	m := &c.Manager
	fs.StringVar(&c.AuthMode, "keyvault-auth", c.AuthMode, "Key Vault authentication: "+modeList())
	fs.StringVar(&c.AzureJSONPath, "cloud-config", c.AzureJSONPath, "AKS cloud config file for --keyvault-auth=azureCloudConfig")
	fs.DurationVar(&m.Controller.RefreshInterval, "refresh-interval", m.Controller.RefreshInterval, "how often an unpinned object is read again (per object: spec.refreshInterval)")
	fs.Float64Var(&m.Controller.Jitter, "refresh-jitter", m.Controller.Jitter, "spread refreshes over this fraction of the interval")
	fs.IntVar(&m.Workers, "workers", m.Workers, "AzureKeyVaultSecrets reconciled at once")
	fs.Func("kube-api-qps", fmt.Sprintf("requests per second to the API server (default %v)", m.QPS), func(s string) error {
		var f float64
		_, err := fmt.Sscanf(s, "%g", &f)
		m.QPS = float32(f)
		return err
	})
	fs.IntVar(&m.Burst, "kube-api-burst", m.Burst, "burst of requests to the API server")
	fs.Func("namespaces", "comma-separated namespaces to watch (default: all)", func(s string) error {
		m.Namespaces = splitList(s)
		return nil
	})
	fs.StringVar(&m.Selector, "selector", m.Selector, "label selector of the AzureKeyVaultSecrets this controller syncs (sharding); default: akv2k8s's OBJECT_LABELS variable")
	fs.BoolVar(&m.LeaderElection, "leader-elect", m.LeaderElection, "elect a leader among replicas")
	fs.StringVar(&m.LeaderElectionNamespace, "leader-election-namespace", m.LeaderElectionNamespace, "namespace of the leader election Lease")
	m.BindFlags(fs) // MetricsOptions: --metrics-bind-address, --metrics-auth
	fs.StringVar(&m.HealthAddr, "health-probe-bind-address", m.HealthAddr, "address of /healthz and /readyz (0 disables)")
	fs.StringVar(&c.TenancyPolicy, "tenancy-policy", c.TenancyPolicy, "file of the allow-list of vaults per namespace; empty allows every vault")
	fs.StringVar(&c.Log.Level, "log-level", c.Log.Level, "debug, info, warn or error")
	fs.StringVar(&c.Log.Format, "log-format", c.Log.Format, "json or text")
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
	errs := []error{c.Manager.Validate()}
	if _, err := logging.New(os.Stderr, c.Log); err != nil {
		errs = append(errs, err)
	}
	if err := c.authConfig().Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c Config) authConfig() keyvault.AuthConfig {
	a := keyvault.AuthConfigFromEnv(keyvault.Mode(c.AuthMode), os.Getenv)
	a.AzureJSONPath = c.AzureJSONPath
	return a
}

// Setup builds the controller: the Key Vault credential, reader and shared
// cache, the manager and its controllers. The caller starts the manager.
func Setup(restCfg *rest.Config, c Config, log logr.Logger) (ctrl.Manager, error) {
	c, err := c.withEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	reg := c.Registry
	if reg == nil {
		reg = metrics.Registry
	}
	kvm, err := kvmetrics.New(reg)
	if err != nil {
		return nil, err
	}
	cache, identity, err := backends.Open(c.authConfig(), keyvault.ProcessOptions{
		Transport: c.Transport, Metrics: kvm,
		Logger: slog.New(logr.ToSlogHandler(log.WithName("keyvault"))),
	})
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
	policy, err := tenancy.Load(c.TenancyPolicy)
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(tenancy.Watcher{Source: policy, Interval: tenancy.DefaultPoll}); err != nil {
		return nil, err
	}
	policy.OnError = func(err error) { log.Error(err, "tenancy policy unreadable; the last good one stays in force") }
	r := &Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Source:    cache,
		Recorder:  mgr.GetEventRecorder("latchkey-controller"),
		Metrics:   NewMetrics(reg),
		Options:   c.Manager.Controller,
		Tenancy:   policy,
	}
	if err := r.SetupWithManager(mgr, c.Manager.Workers); err != nil {
		return nil, err
	}
	log.Info("controller configured", "identity", identity, "refreshInterval", c.Manager.Controller.RefreshInterval.String(),
		"namespaces", c.Manager.Namespaces, "selector", c.Manager.Selector)
	return mgr, nil
}

func modeList() string {
	var s []string
	for _, m := range keyvault.Modes() {
		s = append(s, string(m))
	}
	return strings.Join(s, ", ")
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
