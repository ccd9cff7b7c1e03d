package controller_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
	"github.com/latchkey-dev/latchkey/internal/devtools/kubetest"
	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
	"github.com/latchkey-dev/latchkey/internal/logging"
)

// The identities and vaults every integration test shares. Each test works in
// a namespace and on Key Vault objects of its own, so tests run in parallel.
const (
	tenantID     = "00000000-0000-4000-8000-00000000a11c"
	clientID     = "00000000-0000-4000-8000-0000000c11e7"
	clientSecret = "local-dev-client-secret"
	vault        = "kv-tests"
	otherVault   = "kv-tests-other"
)

// fastShard is the shard of the suite's second controller, whose refresh
// interval (its --refresh-interval, which the admin sets and no minimum
// bounds) is fastInterval.
const (
	fastShard    = "fast"
	fastInterval = time.Second
)

// testControllerLabel shards AzureKeyVaultSecrets between the suite's
// controller and the controllers tests start themselves: the suite's syncs
// only objects without it, a test's controller only those with its value.
// Two controllers on one object would fight over it.
const testControllerLabel = "latchkey.dev/test-controller"

// suite is the shared test environment: a real API server and etcd, the Key
// Vault emulator, and the controller running against both.
var suite struct {
	cfg    *rest.Config
	client client.Client
	// watcher watches objects, to count writes.
	watcher client.WithWatch
	emu     *akvemu.Server
	// cred is the operator's credential tests use to put objects in vaults.
	cred azcore.TokenCredential
	// vault is the default vault (see const vault).
	vault *testVault
	// mgr and registry are the suite controller's manager and metrics.
	mgr      ctrl.Manager
	registry *prometheus.Registry
	logs     *leakcheck.Buffer
}

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	env, cfg, err := kubetest.New(kubetest.Options{CRDDirectoryPaths: []string{"../../config/crd"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	suite.cfg = cfg

	// The README examples' vault (my-kv) and identity, plus two vaults for
	// the tests' own objects.
	seed, err := akvemu.LoadSeedFile("../../config/samples/emulator-seed.yaml")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	seed.Vaults = append(seed.Vaults, akvemu.VaultSeed{Name: vault, TenantID: tenantID}, akvemu.VaultSeed{Name: otherVault, TenantID: tenantID})
	emu, err := akvemu.New(akvemu.Options{Seed: seed})
	if err == nil {
		err = emu.Start(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "emulator:", err)
		return 1
	}
	defer func() { _ = emu.Close() }()
	suite.emu = emu
	if err := sdkClients(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := rememberSeed(seed); err != nil {
		fmt.Fprintln(os.Stderr, "reading the seeded objects:", err)
		return 1
	}

	// The controller authenticates as akv2k8s's `environment` mode would.
	for k, v := range map[string]string{"AZURE_TENANT_ID": tenantID, "AZURE_CLIENT_ID": clientID, "AZURE_CLIENT_SECRET": clientSecret} {
		_ = os.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	suite.logs = newLogBuffer()
	c := controllerConfig()
	c.Manager.Selector = "!" + testControllerLabel
	suite.registry = c.Registry.(*prometheus.Registry)
	mgr, stop, err := startController(ctx, c, suite.logs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "controller:", err)
		return 1
	}
	defer stop()
	suite.mgr = mgr
	// The fast shard: tests that watch refreshes happen label their objects
	// for it (everySecond), since spec.refreshInterval may not ask for less
	// than v2beta1.MinRefreshInterval.
	fast := controllerConfig()
	fast.Manager.Selector = testControllerLabel + "=" + fastShard
	fast.Manager.Controller.RefreshInterval = fastInterval
	_, stopFast, err := startController(ctx, fast, newLogBuffer())
	if err != nil {
		fmt.Fprintln(os.Stderr, "fast controller:", err)
		return 1
	}
	defer stopFast()
	if suite.watcher, err = client.NewWithWatch(cfg, client.Options{Scheme: controller.Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	suite.client = suite.watcher
	code := m.Run()
	if path := os.Getenv("LATCHKEY_TEST_LOG"); path != "" {
		// The suite controller's log, for debugging a failure.
		_ = os.WriteFile(path, []byte(suite.logs.String()), 0o600)
	}
	// The last sweep for values in logs, events and status, once every
	// test's objects have been synced (TestNoValueLeaks sweeps as it runs,
	// but tests running beside it may add values later).
	if leaks := findLeaks(context.Background()); len(leaks) > 0 {
		fmt.Fprintln(os.Stderr, "FAIL: Key Vault values leaked:\n"+strings.Join(leaks, "\n"))
		code = 1
	}
	return code
}

// controllerConfig is the configuration of the suite's controller: the
// production defaults, with the emulator's transport and no listeners.
func controllerConfig() controller.Config {
	c := controller.DefaultConfig()
	c.AuthMode = "environment"
	c.Transport = suite.emu.HTTPClient()
	c.Registry = prometheus.NewRegistry()
	c.Manager.LeaderElection = false
	c.Manager.MetricsAddr, c.Manager.HealthAddr = "0", "0"
	c.Manager.SkipNameValidation = true // tests start controllers of their own
	c.Manager.Controller.RefreshInterval = time.Hour
	c.Log.Level = "debug"
	return c
}

// startController runs a controller against the suite's API server until
// the returned function is called.
func startController(ctx context.Context, c controller.Config, logs *leakcheck.Buffer) (mgr ctrl.Manager, stop func(), err error) {
	return startControllerOn(ctx, suite.cfg, c, logs)
}

// startControllerOn runs a controller against the API server of cfg.
func startControllerOn(ctx context.Context, cfg *rest.Config, c controller.Config, logs *leakcheck.Buffer) (mgr ctrl.Manager, stop func(), err error) {
	log, err := logging.New(logs, c.Log)
	if err != nil {
		return nil, nil, err
	}
	mgr, err = controller.Setup(cfg, c, log)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		cancel()
		return nil, nil, fmt.Errorf("cache did not sync: %w", <-done)
	}
	return mgr, func() { cancel(); <-done }, nil
}

// sdkClients builds the credential tests use to put objects in the
// emulator, as an operator would with the Azure CLI, and the default vault's
// clients.
func sdkClients() error {
	opts := suite.emu.ClientOptions()
	cred, err := azidentity.NewClientSecretCredential(tenantID, clientID, clientSecret, &azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
	if err != nil {
		return err
	}
	suite.cred = cred
	suite.vault, err = openVault(vault)
	return err
}

// rememberSeed remembers, for the leak checks, the identity's secret and
// every object the seed put in Key Vault: the README examples' secret, JSON
// and YAML documents, and the backing secret of each certificate, which
// holds its private key.
func rememberSeed(seed *akvemu.Seed) error {
	remember(clientSecret)
	for _, vs := range seed.Vaults {
		v, err := openVault(vs.Name)
		if err != nil {
			return err
		}
		for _, s := range vs.Secrets {
			if s.Value != nil {
				remember(*s.Value)
			}
			for _, version := range s.Versions {
				remember(version.Value)
			}
		}
		for _, c := range vs.Certificates {
			resp, err := v.secrets.GetSecret(context.Background(), c.Name, "", nil)
			if err != nil {
				return err
			}
			remember(*resp.Value)
		}
	}
	return nil
}

// setSecret stores a secret version in the suite's vault and returns its version.
func setSecret(t *testing.T, name, value, contentType string) string {
	t.Helper()
	return suite.vault.setSecret(t, name, value, contentType)
}

// namespace creates a namespace for one test, named after it.
func namespace(t *testing.T) string {
	t.Helper()
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	name = strings.Trim(name[:min(40, len(name))], "-")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: name + "-"}}
	if err := suite.client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// akvs builds an AzureKeyVaultSecret reading a secret of the suite's vault
// into a Secret.
func akvs(ns, name, object string, mutate ...func(*v2beta1.AzureKeyVaultSecret)) *v2beta1.AzureKeyVaultSecret {
	a := &v2beta1.AzureKeyVaultSecret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v2beta1.AzureKeyVaultSecretSpec{
			Vault:  v2beta1.AzureKeyVault{Name: vault, Object: v2beta1.AzureKeyVaultObject{Name: object, Type: v2beta1.ObjectTypeSecret}},
			Output: &v2beta1.AzureKeyVaultOutput{Secret: &v2beta1.AzureKeyVaultOutputSecret{Name: name, DataKey: "value"}},
		},
	}
	for _, m := range mutate {
		m(a)
	}
	return a
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := suite.client.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %s: %v", obj.GetName(), err)
	}
}

// eventually polls check until it returns nil; on timeout it fails with the
// last error. The deadline bounds a hang, it asserts no speed.
func eventually(t *testing.T, check func() error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		last = check()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("condition not met: %v", last)
	}
}

// secretData waits for a Secret to exist and returns it.
func waitForSecret(t *testing.T, ns, name string, check func(*corev1.Secret) error) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	eventually(t, func() error {
		if err := suite.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
			return err
		}
		if check != nil {
			return check(s)
		}
		return nil
	})
	return s
}

// waitForReady waits until the AzureKeyVaultSecret's Ready condition has the
// given status and reason, and returns the object.
func waitForReady(t *testing.T, ns, name string, status metav1.ConditionStatus, reason string) *v2beta1.AzureKeyVaultSecret {
	t.Helper()
	a := &v2beta1.AzureKeyVaultSecret{}
	eventually(t, func() error {
		if err := suite.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, a); err != nil {
			return err
		}
		for _, c := range a.Status.Conditions {
			if c.Type == controller.ConditionReady && c.Status == status && c.Reason == reason && c.ObservedGeneration == a.Generation {
				return nil
			}
		}
		return fmt.Errorf("conditions %+v, want Ready=%s/%s", a.Status.Conditions, status, reason)
	})
	return a
}

// assertGone waits until the object no longer exists.
func assertGone(t *testing.T, obj client.Object) {
	t.Helper()
	eventually(t, func() error {
		err := suite.client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil:
			return err
		}
		return fmt.Errorf("%s still exists", obj.GetName())
	})
}
