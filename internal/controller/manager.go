package controller

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/runner"
	"github.com/latchkey-dev/latchkey/internal/scheme"
)

// ManagerOptions configure the controller process.
type ManagerOptions struct {
	// Namespaces limits the controller to these namespaces; empty watches all.
	Namespaces []string
	// Selector shards AzureKeyVaultSecrets between controllers by label
	// (akv2k8s's OBJECT_LABELS); empty takes all.
	Selector string
	// Workers is how many AzureKeyVaultSecrets are reconciled at once.
	Workers int
	// APIClientOptions bound this client's requests to the API server.
	runner.APIClientOptions
	runner.LeaderElectionOptions
	// ServingOptions are /metrics (authenticated by default) and the probes.
	runner.ServingOptions

	// SkipNameValidation lets several managers run in one process (tests
	// running shards side by side). controller-runtime otherwise refuses a
	// second controller of the same name, whose workqueue metrics would mix
	// with the first's; a deployed controller leaves it false.
	SkipNameValidation bool

	Controller Options
}

// DefaultManagerOptions are the flag defaults.
func DefaultManagerOptions() ManagerOptions {
	return ManagerOptions{
		// Enough to sync 1,000 new objects in seconds: each worker mostly
		// waits on Key Vault, and the API server's priority and fairness
		// protects it from a burst.
		Workers:               32,
		APIClientOptions:      runner.APIClientOptions{QPS: 300, Burst: 1000},
		LeaderElectionOptions: runner.LeaderElectionOptions{LeaderElection: true, LeaderElectionID: "latchkey-controller"},
		ServingOptions:        runner.DefaultServingOptions(),
		Controller:            Options{RefreshInterval: 10 * time.Minute, Jitter: 1, RolloutWindow: time.Minute},
	}
}

// Validate checks the options.
func (o ManagerOptions) Validate() error {
	var errs []error
	if o.Workers < 1 {
		errs = append(errs, errors.New("workers must be at least 1"))
	}
	if err := o.APIClientOptions.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.Controller.RefreshInterval < time.Second {
		errs = append(errs, errors.New("refresh interval must be at least 1s"))
	}
	if o.Controller.Rollouts && o.Controller.RolloutWindow < 0 {
		errs = append(errs, errors.New("rollout window must not be negative"))
	}
	if o.Controller.Jitter < 0 || o.Controller.Jitter > 1 {
		errs = append(errs, errors.New("jitter must be between 0 and 1"))
	}
	if _, err := labels.Parse(o.Selector); err != nil {
		errs = append(errs, fmt.Errorf("selector: %w", err))
	}
	return errors.Join(errs...)
}

// Scheme is the scheme the controller's clients use: core types and ours.
func Scheme() *runtime.Scheme { return scheme.New() }

// NewManager builds a manager whose cache holds AzureKeyVaultSecrets (of the
// configured namespaces and shard) and only the Secrets and ConfigMaps
// labelled as ours: a cluster's other Secrets never enter memory. The
// manager, its controllers and its event recorder log to log, not to
// controller-runtime's process-wide logger, so two managers in one process
// (tests, `make dev`) keep their logs apart.
func NewManager(cfg *rest.Config, opts ManagerOptions, log logr.Logger) (ctrl.Manager, error) {
	managed := labels.SelectorFromSet(labels.Set{ManagedLabel: "true"})
	akvsSelector, err := labels.Parse(opts.Selector)
	if err != nil {
		return nil, err
	}
	cacheOpts := cache.Options{
		// managedFields are a large part of every object and never read here.
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:               {Label: managed},
			&corev1.ConfigMap{}:            {Label: managed},
			&v2beta1.AzureKeyVaultSecret{}: {Label: akvsSelector, Transform: scheme.Slim},
		},
	}
	if opts.Controller.Rollouts {
		// Workloads, slimmed to what rollouts read (rollouts.go).
		for _, k := range workloadKinds {
			cacheOpts.ByObject[k.newObject()] = cache.ByObject{Transform: SlimWorkload}
		}
	}
	if len(opts.Namespaces) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range opts.Namespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	mo := ctrl.Options{
		Scheme:                  Scheme(),
		Logger:                  log,
		Cache:                   cacheOpts,
		Controller:              config.Controller{SkipNameValidation: ptr.To(opts.SkipNameValidation)},
		GracefulShutdownTimeout: ptr.To(30 * time.Second),
	}
	opts.ServingOptions.Apply(&mo)
	opts.LeaderElectionOptions.Apply(&mo)
	mgr, err := ctrl.NewManager(opts.RESTConfig(cfg), mo)
	if err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("cache", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return errors.New("cache not synced")
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return mgr, nil
}
