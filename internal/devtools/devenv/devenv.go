// Package devenv is what `make dev` runs: latchkey on a laptop with no Azure
// and no cluster. It starts a Kubernetes control plane built from source
// (internal/devtools/devcluster; a real node too when asked), the Key Vault emulator
// seeded with the vault the akv2k8s README's examples name, and latchkey's
// controller, resolver and mutating webhook against both, then applies those
// examples and shows what env injection does to a pod.
package devenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
	"github.com/latchkey-dev/latchkey/internal/devtools/devcluster"
	"github.com/latchkey-dev/latchkey/internal/logging"
)

// Options configure the environment.
type Options struct {
	StateDir  string
	ModuleDir string
	Node      bool
	Binaries  devcluster.Binaries
	Kubectl   string
	// Out receives the summary; progress goes to Progress.
	Out, Progress io.Writer
	// Ready, when set, is called once everything runs and the summary is
	// printed: what a caller (a test) waits for before looking.
	Ready func()
}

// The identity of config/samples/emulator-seed.yaml that latchkey runs as:
// sample data of the local emulator, not a credential of anything real.
var sampleCredentials = map[string]string{ //nolint:gosec // the emulator's sample identity
	"AZURE_TENANT_ID":     "00000000-0000-4000-8000-00000000a11c",
	"AZURE_CLIENT_ID":     "00000000-0000-4000-8000-0000000c11e7",
	"AZURE_CLIENT_SECRET": "local-dev-client-secret",
}

// Run brings everything up, prints what to look at, and tears it all down
// when ctx ends.
func Run(ctx context.Context, o Options) error {
	logf := func(format string, args ...any) { fmt.Fprintf(o.Progress, format+"\n", args...) }
	c, err := devcluster.Start(ctx, devcluster.Options{StateDir: o.StateDir, Binaries: o.Binaries, Node: o.Node, ModuleDir: o.ModuleDir, Logf: logf})
	if err != nil {
		return err
	}
	defer c.Stop()

	seed, err := akvemu.LoadSeedFile(filepath.Join(o.ModuleDir, "config/samples/emulator-seed.yaml"))
	if err != nil {
		return err
	}
	caFile := filepath.Join(o.StateDir, "emulator-ca.pem")
	emu, err := akvemu.New(akvemu.Options{Seed: seed, CAOut: caFile})
	if err == nil {
		err = emu.Start(ctx)
	}
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	defer func() { _ = emu.Close() }()
	if err := os.WriteFile(caFile, emu.CACertPEM(), 0o644); err != nil {
		return err
	}
	logf("devenv: Key Vault emulator on %s", emu.URL())

	cl, err := client.New(c.Config, client.Options{Scheme: controller.Scheme()})
	if err != nil {
		return err
	}
	if err := applyFile(ctx, cl, filepath.Join(o.ModuleDir, "config/crd/spv.no_azurekeyvaultsecrets.yaml")); err != nil {
		return fmt.Errorf("install the CRD: %w", err)
	}
	if err := waitForCRD(ctx, c); err != nil {
		return err
	}
	if err := setSampleCredentials(); err != nil {
		return err
	}
	stopController, err := startController(ctx, c, emu, filepath.Join(c.LogDir(), "latchkey-controller.log"))
	if err != nil {
		return err
	}
	defer stopController()
	pki, err := newServingPKI(o.StateDir, nodeIPs(c)...)
	if err != nil {
		return err
	}
	inj, err := startInjector(ctx, c, emu, cl, pki, o.ModuleDir)
	if err != nil {
		return err
	}
	defer inj.stop()
	logf("devenv: resolver on %s, webhook registered", inj.resolverURL)
	if err := applyFile(ctx, cl, filepath.Join(o.ModuleDir, "config/samples/seed-examples.yaml")); err != nil {
		return fmt.Errorf("apply the examples: %w", err)
	}
	image, err := demoImage(ctx, c, o.ModuleDir)
	if err != nil {
		return fmt.Errorf("demo image: %w", err)
	}
	pod, err := injectDemo(ctx, cl, image)
	if err != nil {
		return err
	}

	printSummary(o.Out, c, emu, caFile, o.Kubectl)
	if err := printDemo(o.Out, pod, inj.resolverURL, inj.caConfigMap, o.Kubectl); err != nil {
		return err
	}
	if c.Node != nil {
		if err := runDemo(ctx, c, image, inj.resolverURL, o.Out); err != nil {
			return err
		}
	}
	fmt.Fprintln(o.Out, "\nCtrl-C stops everything.")
	if o.Ready != nil {
		o.Ready()
	}
	<-ctx.Done()
	fmt.Fprintln(o.Progress, "devenv: stopping")
	return nil
}

// runDemo runs the demo pod on the node and prints its output.
func runDemo(ctx context.Context, c *devcluster.Cluster, image, resolverURL string, w io.Writer) error {
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	return runDemoPod(ctx, cs, image, resolverURL, w)
}

// printSummary says what runs and the commands to look at the controller's
// work.
func printSummary(w io.Writer, c *devcluster.Cluster, emu *akvemu.Server, caFile, kubectl string) {
	fmt.Fprintf(w, `
latchkey is running locally: a Kubernetes control plane, the Key Vault emulator
(vault my-kv, from config/samples/emulator-seed.yaml), the controller, the
resolver and the env injector's webhook, with the akv2k8s README's examples
applied (config/samples/seed-examples.yaml).

In another terminal:

  export KUBECONFIG=%s
  %s get akvs,secrets
  %s get secret keyvault-secret -o jsonpath='{.data.azuresecret}' | base64 -d; echo
  %s describe akvs my-first-azure-keyvault-certificate

Logs: %s (latchkey-controller.log, latchkey-webhook.log, latchkey-resolver.log).
Emulator: %s/_emulator/counters (CA: %s).
`, c.Kubeconfig, kubectl, kubectl, kubectl, c.LogDir(), emu.URL(), caFile)
}

// setSampleCredentials puts the sample identity where keyvault's
// `environment` auth mode reads it: the controller and the resolver, in this
// process, both authenticate with it.
func setSampleCredentials() error {
	for k, v := range sampleCredentials {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}

// nodeIPs is the node's address when there is a node: pods reach the
// resolver there, so its certificate must name it.
func nodeIPs(c *devcluster.Cluster) []net.IP {
	if c.Node == nil {
		return nil
	}
	return []net.IP{net.ParseIP(c.Node.IP)}
}

// startController runs latchkey's controller in this process, talking to the
// emulator through its transport, with the sample identity.
func startController(ctx context.Context, c *devcluster.Cluster, emu *akvemu.Server, logPath string) (func(), error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cfg := controller.DefaultConfig()
	cfg.AuthMode = "environment"
	cfg.Transport = emu.HTTPClient()
	cfg.Registry = prometheus.NewRegistry()
	cfg.Manager.LeaderElection = false
	cfg.Manager.MetricsAddr, cfg.Manager.HealthAddr = "0", "0"
	cfg.Log = logging.Options{Level: "debug", Format: "text"}
	log, err := logging.New(logFile, cfg.Log)
	if err != nil {
		return nil, err
	}
	logging.SetProcessLogger(log)
	mgr, err := controller.Setup(c.Config, cfg, log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "devenv: controller:", err)
		}
		_ = logFile.Close()
	}, nil
}

// waitForCRD waits until the API server serves AzureKeyVaultSecrets.
func waitForCRD(ctx context.Context, c *devcluster.Cluster) error {
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		cl, err := client.New(c.Config, client.Options{Scheme: controller.Scheme()})
		if err != nil {
			return false, nil
		}
		return cl.List(ctx, &v2beta1.AzureKeyVaultSecretList{}) == nil, nil
	})
}

// applyFile server-side applies every object of a YAML file.
func applyFile(ctx context.Context, cl client.Client, path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := apply(ctx, cl, u); err != nil {
			return err
		}
	}
}

// applyObject server-side applies a typed object, as applyFile applies the
// examples: the same field owner, and no failure if it already exists.
func applyObject(ctx context.Context, cl client.Client, obj client.Object) error {
	gvk, err := apiutil.GVKForObject(obj, cl.Scheme())
	if err != nil {
		return err
	}
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: raw}
	u.SetGroupVersionKind(gvk)
	return apply(ctx, cl, u)
}

// apply server-side applies one object as latchkey-dev.
func apply(ctx context.Context, cl client.Client, u *unstructured.Unstructured) error {
	if err := cl.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("latchkey-dev"), client.ForceOwnership); err != nil {
		return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return nil
}
