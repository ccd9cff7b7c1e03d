// Package kubetest starts a real kube-apiserver and etcd for integration tests
// (controller-runtime's envtest), using the binaries `make` builds from source
// and exports as TEST_ASSET_KUBE_APISERVER and TEST_ASSET_ETCD.
package kubetest

import (
	"errors"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Options tune the test API server.
type Options struct {
	// CRDDirectoryPaths are installed before Start returns.
	CRDDirectoryPaths []string
	// WebhookInstallOptions make the API server call webhooks served by the test.
	WebhookInstallOptions envtest.WebhookInstallOptions
	// CertDir, when set, holds the API server's certificates and
	// service-account keys and outlives its stops: a test can restart it
	// (env.ControlPlane.GetAPIServer()) with other flags, such as a new
	// service-account signing key.
	CertDir string
	// APIServerArgs are API server flags set in place of envtest's, e.g.
	// service-account-issuer for the Vault tests (HashiCorp Vault v1.1
	// accepts only the issuer kubernetes/serviceaccount).
	APIServerArgs map[string][]string
}

// Start runs an API server and etcd for the duration of t and returns the environment; stopping is registered with
// t.Cleanup. Without the binaries the test fails and says how to get them:
// an integration test that skips itself proves nothing.
func Start(t testing.TB, opts Options) (*envtest.Environment, *rest.Config) {
	t.Helper()
	env, cfg, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	return env, cfg
}

// New starts an API server and etcd for a TestMain; the caller stops the
// environment.
func New(opts Options) (*envtest.Environment, *rest.Config, error) {
	if os.Getenv("TEST_ASSET_KUBE_APISERVER") == "" || os.Getenv("TEST_ASSET_ETCD") == "" {
		return nil, nil, errMissingAssets
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     opts.CRDDirectoryPaths,
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: opts.WebhookInstallOptions,
		// envtest's 20 s for etcd, the API server and its default
		// namespace is short on a 2-core machine running a package per
		// core: it failed there. A start that never comes still fails.
		ControlPlaneStartTimeout: 2 * time.Minute,
	}
	if opts.CertDir != "" || len(opts.APIServerArgs) > 0 {
		env.ControlPlane.APIServer = &envtest.APIServer{CertDir: opts.CertDir}
		for flag, values := range opts.APIServerArgs {
			env.ControlPlane.APIServer.Configure().Set(flag, values...)
		}
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, err
	}
	return env, cfg, nil
}

// errMissingAssets says how to get the binaries.
var errMissingAssets = errors.New("kubetest: TEST_ASSET_KUBE_APISERVER and TEST_ASSET_ETCD are not set; " +
	"run `make test`, which builds kube-apiserver and etcd from source and sets them")
