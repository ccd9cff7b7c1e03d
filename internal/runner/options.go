package runner

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/backends"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/keyvault/kvmetrics"
	"github.com/latchkey-dev/latchkey/internal/tenancy"
)

// The options below are the ones more than one server command takes. Each
// is defined here once, flags, defaults and checks; a component's Config
// embeds the ones it takes, so their fields read as its own
// (cfg.QPS, cfg.LeaderElection, cfg.AuthMode).

// APIClientOptions bound a server's requests to the API server.
type APIClientOptions struct {
	QPS   float32
	Burst int
}

// BindFlags registers --kube-api-qps and --kube-api-burst on fs.
func (o *APIClientOptions) BindFlags(fs *flag.FlagSet) {
	// A Func flag, since the flag package has no float32: the help text
	// states the default itself.
	fs.Func("kube-api-qps", fmt.Sprintf("requests per second to the API server (default %v)", o.QPS), func(s string) error {
		f, err := strconv.ParseFloat(s, 32)
		if err != nil {
			return err
		}
		o.QPS = float32(f)
		return nil
	})
	fs.IntVar(&o.Burst, "kube-api-burst", o.Burst, "burst of requests to the API server")
}

// Validate checks that both bounds are positive.
func (o APIClientOptions) Validate() error {
	if o.QPS <= 0 || o.Burst < 1 {
		return errors.New("kube-api-qps and kube-api-burst must be positive")
	}
	return nil
}

// RESTConfig is a copy of cfg with these bounds.
func (o APIClientOptions) RESTConfig(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	return cfg
}

// LeaderElectionOptions elect one replica to do what only one may do.
type LeaderElectionOptions struct {
	LeaderElection          bool
	LeaderElectionNamespace string
	// LeaderElectionID names the Lease; not a flag (each component has its
	// own).
	LeaderElectionID string
}

// BindFlags registers --leader-elect and --leader-election-namespace on fs;
// what completes --leader-elect's help text with what the leader does.
func (o *LeaderElectionOptions) BindFlags(fs *flag.FlagSet, what string) {
	fs.BoolVar(&o.LeaderElection, "leader-elect", o.LeaderElection, "elect a leader among replicas"+what)
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", o.LeaderElectionNamespace, "namespace of the leader election Lease")
}

// Apply sets the manager's leader election. A leader gives up its Lease on
// shutdown, so a successor starts at once.
func (o LeaderElectionOptions) Apply(m *ctrl.Options) {
	m.LeaderElection = o.LeaderElection
	m.LeaderElectionID = o.LeaderElectionID
	m.LeaderElectionNamespace = o.LeaderElectionNamespace
	m.LeaderElectionReleaseOnCancel = true
}

// ServingOptions are a server's metrics endpoint and its health probes.
type ServingOptions struct {
	// MetricsOptions say how /metrics is served (authenticated by default).
	MetricsOptions
	// HealthAddr is the address of /healthz and /readyz; "0" disables them.
	HealthAddr string
	// PprofAddr is the address of Go's /debug/pprof; empty (the default)
	// disables it. It is off because profiles show memory, which may hold
	// values: it is for an operator chasing a memory or CPU figure (the
	// benchmarks take heap profiles through it), bound to loopback.
	PprofAddr string
}

// DefaultServingOptions are the flag defaults: metrics on :8080
// (authenticated), probes on :8081.
func DefaultServingOptions() ServingOptions {
	return ServingOptions{MetricsOptions: DefaultMetricsOptions(), HealthAddr: ":8081"}
}

// BindFlags registers --metrics-bind-address, --metrics-auth,
// --health-probe-bind-address and --pprof-bind-address on fs.
func (o *ServingOptions) BindFlags(fs *flag.FlagSet) {
	o.MetricsOptions.BindFlags(fs)
	fs.StringVar(&o.HealthAddr, "health-probe-bind-address", o.HealthAddr, "address of /healthz and /readyz (0 disables)")
	fs.StringVar(&o.PprofAddr, "pprof-bind-address", o.PprofAddr, "address of Go's /debug/pprof, unauthenticated: use loopback (empty disables)")
}

// Apply sets the manager's metrics server and probe address.
func (o ServingOptions) Apply(m *ctrl.Options) {
	m.Metrics = o.MetricsServer()
	m.HealthProbeBindAddress = o.HealthAddr
	m.PprofBindAddress = o.PprofAddr
}

// MetricsRegistry is r, or controller-runtime's registry (the one the
// metrics endpoint serves) when r is nil.
func MetricsRegistry(r prometheus.Registerer) prometheus.Registerer {
	if r == nil {
		return metrics.Registry
	}
	return r
}

// KeyVaultOptions select the Key Vault identity. The rest of its settings
// come from the environment (AZURE_*) and the cloud config file.
type KeyVaultOptions struct {
	// AuthMode is a keyvault.Mode.
	AuthMode      string
	AzureJSONPath string
}

// DefaultKeyVaultOptions are the flag defaults: AKS's cloud config.
func DefaultKeyVaultOptions() KeyVaultOptions {
	return KeyVaultOptions{AuthMode: string(keyvault.ModeAzureCloudConfig), AzureJSONPath: keyvault.DefaultAzureJSONPath}
}

// BindFlags registers --keyvault-auth and --cloud-config on fs.
func (o *KeyVaultOptions) BindFlags(fs *flag.FlagSet) {
	modes := make([]string, 0, len(keyvault.Modes()))
	for _, m := range keyvault.Modes() {
		modes = append(modes, string(m))
	}
	fs.StringVar(&o.AuthMode, "keyvault-auth", o.AuthMode, "Key Vault authentication: "+strings.Join(modes, ", "))
	fs.StringVar(&o.AzureJSONPath, "cloud-config", o.AzureJSONPath, "AKS cloud config file for --keyvault-auth=azureCloudConfig")
}

// AuthConfig is the credential's configuration: these options and the
// process's environment.
func (o KeyVaultOptions) AuthConfig() keyvault.AuthConfig {
	a := keyvault.AuthConfigFromEnv(keyvault.Mode(o.AuthMode), os.Getenv)
	a.AzureJSONPath = o.AzureJSONPath
	return a
}

// Validate checks the credentials the options name.
func (o KeyVaultOptions) Validate() error { return o.AuthConfig().Validate() }

// Open is the process's access to its stores (backends.Open), its
// figures registered in reg, its log under log's "keyvault". transport is
// nil in production; now is nil for time.Now.
func (o KeyVaultOptions) Open(reg prometheus.Registerer, transport policy.Transporter, now func() time.Time, log logr.Logger) (backend.Sources, string, error) {
	kvm, err := kvmetrics.New(reg)
	if err != nil {
		return nil, "", err
	}
	return backends.Open(o.AuthConfig(), keyvault.ProcessOptions{
		Transport: transport, Metrics: kvm, Now: now,
		Logger: slog.New(logr.ToSlogHandler(log.WithName("keyvault"))),
	})
}

// TenancyOptions name the admin's allow-list of vaults per namespace
// (internal/tenancy).
type TenancyOptions struct {
	// TenancyPolicy is the policy file; empty allows every vault.
	TenancyPolicy string
	// TenancyPoll is how often the file is re-read; not a flag.
	TenancyPoll time.Duration
}

// DefaultTenancyOptions are the defaults: no policy, polled every
// tenancy.DefaultPoll once given.
func DefaultTenancyOptions() TenancyOptions {
	return TenancyOptions{TenancyPoll: tenancy.DefaultPoll}
}

// BindFlags registers --tenancy-policy on fs.
func (o *TenancyOptions) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.TenancyPolicy, "tenancy-policy", o.TenancyPolicy, "file of the allow-list of vaults per namespace; empty allows every vault")
}

// Validate checks the poll interval.
func (o TenancyOptions) Validate() error {
	if o.TenancyPoll <= 0 {
		return errors.New("the tenancy policy's poll interval must be positive")
	}
	return nil
}

// Open loads the policy and has mgr follow its file on every replica (a
// replica that is not the leader serves, or will, by the policy in force).
// A file that stops parsing is logged; the last good policy stays.
func (o TenancyOptions) Open(mgr ctrl.Manager, log logr.Logger) (*tenancy.Source, error) {
	policy, err := tenancy.Load(o.TenancyPolicy)
	if err != nil {
		return nil, err
	}
	policy.OnError = func(err error) { log.Error(err, "tenancy policy unreadable; the last good one stays in force") }
	if err := mgr.Add(tenancy.Watcher{Source: policy, Interval: o.TenancyPoll}); err != nil {
		return nil, err
	}
	return policy, nil
}
