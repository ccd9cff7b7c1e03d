package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
	"github.com/latchkey-dev/latchkey/internal/devtools/kubetest"
	"github.com/latchkey-dev/latchkey/internal/webhook"
)

// The identity the controller authenticates as (keyVaultAuth=environment),
// an app of the emulator's seed.
const (
	tenantID     = "00000000-0000-4000-8000-00000000a11c"
	clientID     = "00000000-0000-4000-8000-0000000be7c4"
	clientSecret = "bench-client-secret" //nolint:gosec // the emulator's sample credential
)

// The vaults the benchmarks read, each with objectsPerVault secrets named
// objectName(i) holding objectValue(vault, i), except the refresh vaults,
// which hold one each: the emulator counts requests per vault, so a vault
// per object tells each object's reads apart.
const (
	refreshVaults   = 10
	burstVault      = "bench-burst"
	steadyVault     = "bench-steady"
	steadyObjects   = 200
	memoryVaults    = 10
	objectsPerVault = 1000
)

func refreshVault(i int) string { return fmt.Sprintf("bench-refresh-%d", i) }

func memoryVault(i int) string { return fmt.Sprintf("bench-mem-%d", i) }

func objectName(i int) string { return fmt.Sprintf("s-%d", i) }

func objectValue(vault string, i int) string {
	return fmt.Sprintf("value of %s/%s", vault, objectName(i))
}

// Clients of the benchmark itself (setup and observation, never the
// controller's): fast enough that creating 60,000 objects is limited by the
// API server, not by client-side throttling.
const (
	setupQPS   = 5000
	setupBurst = 10000
)

// benchEnv is what every benchmark shares: one API server and etcd, the Key
// Vault emulator, the proxy to it, and the controller binary.
type benchEnv struct {
	dir     string
	testEnv *envtest.Environment
	// cfg is the admin configuration; client and kube use it with setupQPS.
	cfg    *rest.Config
	client client.Client
	kube   kubernetes.Interface // protobuf, for bulk Secrets
	// kubeconfig is an admin kubeconfig file for the controller process.
	kubeconfig string
	emu        *akvemu.Server
	caFile     string
	proxy      *akvemu.ConnectProxy
	// controllerBin is cmd/latchkey-controller, built by go build.
	controllerBin string
	version       string // the code it was built from
	seededObjects int
}

func startEnv() (_ *benchEnv, err error) {
	e := &benchEnv{}
	defer func() {
		if err != nil {
			err = errors.Join(err, e.stop())
		}
	}()
	if e.dir, err = os.MkdirTemp("", "latchkey-bench-"); err != nil {
		return nil, err
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		return nil, err
	}
	// Build while the API server starts.
	built := make(chan error, 1)
	go func() { built <- e.buildController(root) }()

	// The env injector's webhook is registered as the chart registers it; it
	// is called only for pods of labelled namespaces (BenchmarkAdmission's).
	e.testEnv, e.cfg, err = kubetest.New(kubetest.Options{
		CRDDirectoryPaths: []string{filepath.Join(root, "config", "crd")},
		WebhookInstallOptions: envtest.WebhookInstallOptions{MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{
			webhook.Configuration(webhook.ConfigOptions{Name: "latchkey-bench", ServiceNamespace: "latchkey-system", ServiceName: "latchkey-webhook",
				ExcludeNamespaces: []string{"kube-system", "latchkey-system"}, TimeoutSeconds: 10}),
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("envtest: %w", err)
	}
	if err := e.clients(); err != nil {
		return nil, err
	}
	if err := e.startEmulator(); err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	if e.proxy, err = akvemu.StartConnectProxy(e.emu.Addr()); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	if err := <-built; err != nil {
		return nil, fmt.Errorf("building the controller: %w", err)
	}
	return e, nil
}

func (e *benchEnv) clients() error {
	cfg := rest.CopyConfig(e.cfg)
	cfg.QPS, cfg.Burst = setupQPS, setupBurst
	var err error
	if e.client, err = client.New(cfg, client.Options{Scheme: controller.Scheme()}); err != nil {
		return err
	}
	pcfg := rest.CopyConfig(cfg)
	pcfg.ContentType = "application/vnd.kubernetes.protobuf"
	if e.kube, err = kubernetes.NewForConfig(pcfg); err != nil {
		return err
	}
	e.kubeconfig = filepath.Join(e.dir, "kubeconfig")
	return os.WriteFile(e.kubeconfig, e.testEnv.KubeConfig, 0o600)
}

// startEmulator seeds the vaults every benchmark reads and writes the CA the
// controller trusts.
func (e *benchEnv) startEmulator() error {
	seed := &akvemu.Seed{
		Tenants: []akvemu.TenantSeed{{ID: tenantID}},
		Apps:    []akvemu.AppSeed{{ClientID: clientID, TenantID: tenantID, Secrets: []string{clientSecret}}},
	}
	objects := map[string]int{burstVault: objectsPerVault, steadyVault: steadyObjects}
	for i := range refreshVaults {
		objects[refreshVault(i)] = 1
	}
	for i := range memoryVaults {
		objects[memoryVault(i)] = objectsPerVault
	}
	for v, n := range objects {
		vs := akvemu.VaultSeed{Name: v, TenantID: tenantID}
		for i := range n {
			val := objectValue(v, i)
			vs.Secrets = append(vs.Secrets, akvemu.SecretSeed{Name: objectName(i), Value: &val})
		}
		seed.Vaults = append(seed.Vaults, vs)
		e.seededObjects += n
	}
	emu, err := akvemu.New(akvemu.Options{Seed: seed})
	if err != nil {
		return err
	}
	e.emu = emu
	if err := emu.Start(context.Background()); err != nil {
		return err
	}
	e.caFile = filepath.Join(e.dir, "emulator-ca.pem")
	return os.WriteFile(e.caFile, emu.CACertPEM(), 0o600)
}

// buildController builds the controller command as users get it.
func (e *benchEnv) buildController(root string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return err
	}
	out := filepath.Join(e.dir, "latchkey-controller")
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", out, "./cmd/latchkey-controller") //nolint:gosec // the go command and a path of ours
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s", err, msg)
	}
	e.controllerBin = out
	e.version = controllerVersion(root)
	return nil
}

// controllerVersion says which code the controller was built from: the
// commit, and the files under api/, cmd/ and internal/ that differed from it
// (go build may not record it: GOFLAGS=-buildvcs=false is common).
func controllerVersion(root string) string {
	git := func(args ...string) (string, error) {
		out, err := exec.Command("git", append([]string{"-C", root}, args...)...).Output() //nolint:gosec // fixed git commands
		return strings.TrimSpace(string(out)), err
	}
	rev, err := git("rev-parse", "--short=12", "HEAD")
	if err != nil {
		return "an unknown commit (no git)"
	}
	dirty, err := git("status", "--porcelain", "--", "api", "cmd", "internal")
	switch {
	case err != nil:
		return rev
	case dirty == "":
		return rev + " (clean)"
	}
	return fmt.Sprintf("%s with %d uncommitted files under api/, cmd/, internal/", rev, len(strings.Split(dirty, "\n")))
}

// stop tears down what was started; it is safe on a partial environment.
func (e *benchEnv) stop() error {
	var errs []error
	if e.proxy != nil {
		errs = append(errs, e.proxy.Close())
	}
	if e.emu != nil {
		errs = append(errs, e.emu.Close())
	}
	if e.testEnv != nil {
		errs = append(errs, e.testEnv.Stop())
	}
	if e.dir != "" && os.Getenv("LATCHKEY_BENCH_KEEP") == "" {
		errs = append(errs, os.RemoveAll(e.dir))
	}
	return errors.Join(errs...)
}
