//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
	"github.com/latchkey-dev/latchkey/internal/devtools/ociimage"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// Where the suite installs latchkey, and the Key Vault and Entra ID host
// names the emulator answers for: pods resolve them to the node through the
// chart's hostAliases, as they would a private endpoint.
const (
	releaseNamespace = "latchkey-system"
	imageTag         = "e2e"
)

var emulatedHosts = []string{"my-kv.vault.azure.net", "login.microsoftonline.com"}

// release is a Helm release of latchkey: its name (the prefix of the
// objects it makes), its namespace, and the namespace label that opts a
// namespace into its webhook.
type release struct{ name, namespace, label string }

// mainRelease is the install setup makes, which most tests use.
var mainRelease = release{name: "latchkey", namespace: releaseNamespace, label: podcontract.DefaultNamespaceLabel}

// setup builds and pushes the images, starts the Key Vault emulator on the
// node's address, and installs latchkey with its Helm chart.
func setup(ctx context.Context, moduleDir string) error {
	start := time.Now()
	if err := pushImages(ctx, moduleDir); err != nil {
		return err
	}
	if err := startEmulator(ctx, moduleDir); err != nil {
		return err
	}
	if err := installChart(ctx, moduleDir); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "e2e: latchkey installed in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// pushImages builds the test toolbox image and latchkey's own images in Go
// and pushes them to the node's registry.
func pushImages(ctx context.Context, moduleDir string) error {
	reg := env.cluster.Node.Registry
	tool, err := ociimage.GoBinary(ctx, moduleDir, "./test/e2e/toolbox", runtime.GOARCH)
	if err != nil {
		return err
	}
	img, err := ociimage.Build(ociimage.Spec{
		Files: []ociimage.File{
			{Path: "/toolbox", Mode: 0o755, Data: tool},
			{Path: "/etc/greeting", Mode: 0o644, Data: []byte("hello from the image\n")},
		},
		Entrypoint: []string{"/toolbox"}, OS: "linux", Architecture: runtime.GOARCH,
	})
	if err != nil {
		return err
	}
	if env.toolbox, err = reg.Push(ctx, "e2e/toolbox:1", img); err != nil {
		return err
	}
	// The app of the injector tests: no command in the pod spec, so the
	// webhook must read ENTRYPOINT and CMD from the registry.
	app, err := ociimage.Build(ociimage.Spec{
		Files:      []ociimage.File{{Path: "/toolbox", Mode: 0o755, Data: tool}},
		Entrypoint: []string{"/toolbox"}, Cmd: []string{"env-hashes", "--wait"},
		User: "65532:65532", OS: "linux", Architecture: runtime.GOARCH,
	})
	if err != nil {
		return err
	}
	if env.app, err = reg.Push(ctx, "e2e/app:1", app); err != nil {
		return err
	}
	for _, name := range []string{"latchkey-controller", "latchkey-webhook", "latchkey-resolver", "latchkey-env"} {
		bin, err := ociimage.GoBinary(ctx, moduleDir, "./cmd/"+name, runtime.GOARCH)
		if err != nil {
			return err
		}
		img, err := ociimage.Build(ociimage.Spec{
			Files:      []ociimage.File{{Path: "/" + name, Mode: 0o755, Data: bin}},
			Entrypoint: []string{"/" + name}, User: "65532:65532",
			OS: "linux", Architecture: runtime.GOARCH,
		})
		if err != nil {
			return err
		}
		if _, err := reg.Push(ctx, "latchkey/"+name+":"+imageTag, img); err != nil {
			return err
		}
	}
	return nil
}

// startEmulator serves the README's vault on the node's address, port 443,
// where pods reach it under the real Key Vault and Entra ID names.
func startEmulator(ctx context.Context, moduleDir string) error {
	seed, err := akvemu.LoadSeedFile(filepath.Join(moduleDir, "config/samples/emulator-seed.yaml"))
	if err != nil {
		return err
	}
	emu, err := akvemu.New(akvemu.Options{
		Listen: net.JoinHostPort(env.cluster.Node.IP, "443"), Seed: seed,
		ExtraNames: []string{env.cluster.Node.IP},
	})
	if err == nil {
		err = emu.Start(ctx)
	}
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	env.emu = emu
	if env.leaks, env.seeded, err = seededValues(ctx, seed); err != nil {
		return fmt.Errorf("reading the seeded objects: %w", err)
	}
	return nil
}

// installChart installs charts/latchkey the way a user would, with values
// that point latchkey at the emulator: credentials from a Secret
// (keyVaultAuth=environment), the emulator's CA as the trusted roots, and
// host aliases for the Key Vault and Entra ID names. The cluster's first
// service-account issuer is not a URL (for HashiCorp Vault v1.1), so the
// resolver is given its public key; the HashiCorp Vault backend is on,
// its default address where TestHashiCorpVault starts one.
func installChart(ctx context.Context, moduleDir string) error {
	if err := prepareReleaseNamespace(ctx, releaseNamespace); err != nil {
		return err
	}
	keys, err := os.ReadFile(env.cluster.ServiceAccountKeyFile)
	if err != nil {
		return err
	}
	if env.vaultListen, err = freeAddress(env.cluster.Node.IP); err != nil {
		return err
	}
	values := fmt.Sprintf(`keyVaultAuth: environment
envFromSecret: azure-credentials
env:
  SSL_CERT_FILE: /etc/latchkey-ca/ca.crt
image:
  registry: %s/latchkey
  tag: %s
hostAliases:
  - ip: %s
    hostnames: [%s]
extraVolumes:
  - name: emulator-ca
    configMap: {name: emulator-ca}
extraVolumeMounts:
  - name: emulator-ca
    mountPath: /etc/latchkey-ca
    readOnly: true
controller:
  replicas: 2
  logLevel: debug
env_injector:
  logLevel: debug
  insecureRegistries: [%s]
resolver:
  logLevel: debug
  serviceAccountIssuer: %s
  serviceAccountKeys: |
%s
hashicorpVault:
  enabled: true
  address: http://%s
  serviceAccountName: %s
  audience: %s
# TestRollout: a short window keeps it short.
rollouts:
  enabled: true
  window: 5s
`, env.cluster.Node.Registry.Host, imageTag, env.cluster.Node.IP, strings.Join(emulatedHosts, ", "), env.cluster.Node.Registry.Host,
		env.cluster.ServiceAccountIssuer, indent(string(keys), "    "), env.vaultListen, vaultServiceAccount, vaultAudience)
	valuesFile := filepath.Join(env.cluster.LogDir(), "..", "values.yaml")
	if err := os.WriteFile(valuesFile, []byte(values), 0o600); err != nil {
		return err
	}
	env.chart, env.values = filepath.Join(moduleDir, "charts/latchkey"), valuesFile
	return runHelm(ctx, "upgrade", "--install", "latchkey", env.chart,
		"--namespace", releaseNamespace, "--values", valuesFile, "--wait", "--timeout", "3m")
}

// The install's HashiCorp Vault defaults: the ServiceAccount of each
// namespace that logs in, and the audience of its tokens: Vault v1.1's
// roles name none, so its TokenReview checks the API server's own, the
// first issuer.
const (
	vaultServiceAccount = "vault-app"
	vaultAudience       = "kubernetes/serviceaccount"
)

// indent prefixes every line of s.
func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix)
}

// freeAddress is host:port with a port of host that was free a moment ago.
func freeAddress(host string) (string, error) {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// prepareReleaseNamespace creates namespace ns with what the values file
// of installChart refers to: the emulator's CA and the credentials Secret.
func prepareReleaseNamespace(ctx context.Context, ns string) error {
	cs, err := env.cluster.Clientset()
	if err != nil {
		return err
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "emulator-ca"},
		Data:       map[string]string{"ca.crt": string(env.emu.CACertPEM())},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	_, err = cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "azure-credentials"},
		StringData: map[string]string{
			"AZURE_TENANT_ID":     "00000000-0000-4000-8000-00000000a11c",
			"AZURE_CLIENT_ID":     "00000000-0000-4000-8000-0000000c11e7",
			"AZURE_CLIENT_SECRET": "local-dev-client-secret",
		},
	}, metav1.CreateOptions{})
	return err
}

// runHelm runs the helm built from source against the cluster.
func runHelm(ctx context.Context, args ...string) error {
	if out, err := helmOutput(ctx, args...); err != nil {
		return fmt.Errorf("helm %s: %w\n%s", args[0], err, out)
	}
	return nil
}

// helmOutput runs the helm built from source against the cluster and
// returns its combined output.
func helmOutput(ctx context.Context, args ...string) (string, error) {
	helm := os.Getenv("LATCHKEY_HELM")
	if helm == "" {
		return "", fmt.Errorf("LATCHKEY_HELM not set; run through make test-e2e")
	}
	home := filepath.Join(env.cluster.LogDir(), "..", "helm")
	cmd := exec.CommandContext(ctx, helm, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+env.cluster.Kubeconfig, "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
