package devenv

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/devtools/devcluster"
	"github.com/latchkey-dev/latchkey/internal/devtools/ociimage"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// The injection demo: a namespace opted in to injection, the akv2k8s
// README's env-injector AzureKeyVaultSecret in it, and a pod naming it.
const (
	demoNamespace = "injection-demo"
	demoAKVS      = "my-azure-keyvault-secret"
	demoVar       = "MY_SECRET"
	demoPod       = "injection-demo"
	// demoImageTag is the demo program's image (./internal/devtools/devenv/demoapp):
	// pushed to the node's registry with a node, only named without one.
	demoImageTag = "latchkey/demoapp:dev"
	demoProgram  = "/demoapp"
)

// demoObjects opts demoNamespace in to injection and creates the
// AzureKeyVaultSecret the demo pod names: test-secret of the emulator's
// vault, without output (it exists for the injector only).
func demoObjects() []client.Object {
	return []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: demoNamespace, Labels: map[string]string{podcontract.DefaultNamespaceLabel: "enabled"}}},
		&v2beta1.AzureKeyVaultSecret{
			ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: demoAKVS},
			Spec: v2beta1.AzureKeyVaultSecretSpec{Vault: v2beta1.AzureKeyVault{
				Name: "my-kv", Object: v2beta1.AzureKeyVaultObject{Name: "test-secret", Type: v2beta1.ObjectTypeSecret},
			}},
		},
	}
}

// demoPodSpec is the pod a newcomer would write: a placeholder in env and
// an explicit command, so the webhook needs no registry lookup. It mounts
// no API token: in resolver mode the app needs no API access. DNSPolicy
// Default: the dev node runs no cluster DNS, and the resolver is reached
// by IP anyway.
func demoPodSpec(image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: demoPod},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			DNSPolicy:                    corev1.DNSDefault,
			Containers: []corev1.Container{{
				Name: "app", Image: image,
				Command: []string{demoProgram, demoVar},
				Env:     []corev1.EnvVar{{Name: demoVar, Value: demoAKVS + "@azurekeyvault"}},
			}},
		},
	}
}

// demoImage is the demo pod's image. Without a node no pod runs, so the
// tag is only shown; with one, the demo program is built from this tree
// and pushed to the node's registry: no internet needed to pull it.
func demoImage(ctx context.Context, c *devcluster.Cluster, moduleDir string) (string, error) {
	if c.Node == nil {
		return demoImageTag, nil
	}
	bin, err := ociimage.GoBinary(ctx, moduleDir, "./internal/devtools/devenv/demoapp", runtime.GOARCH)
	if err != nil {
		return "", err
	}
	img, err := ociimage.Build(ociimage.Spec{
		Files:      []ociimage.File{{Path: demoProgram, Mode: 0o755, Data: bin}},
		Entrypoint: []string{demoProgram}, User: "65532:65532",
		OS: "linux", Architecture: runtime.GOARCH,
	})
	if err != nil {
		return "", err
	}
	return c.Node.Registry.Push(ctx, demoImageTag, img)
}

// injectDemo sets up the demo objects and submits the demo pod as a
// server-side dry run: the API server runs every admission step, the
// webhook included, and returns the pod it would store, storing nothing.
// It retries for a while: the namespace's default ServiceAccount (which
// admission requires) and the webhook's view of the new
// AzureKeyVaultSecret appear moments after they are created.
func injectDemo(ctx context.Context, cl client.Client, image string) (*corev1.Pod, error) {
	for _, obj := range demoObjects() {
		if err := applyObject(ctx, cl, obj); err != nil {
			return nil, err
		}
	}
	var pod *corev1.Pod
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		pod = demoPodSpec(image)
		last = cl.Create(ctx, pod, client.DryRunAll)
		return last == nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("dry-run create of the demo pod: %w (last: %w)", err, last)
	}
	return pod, nil
}

// containerView is the part of a container injection changes.
type containerView struct {
	Name         string               `json:"name"`
	Image        string               `json:"image,omitempty"`
	Command      []string             `json:"command,omitempty"`
	Args         []string             `json:"args,omitempty"`
	Env          []corev1.EnvVar      `json:"env,omitempty"`
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts,omitempty"`
}

func viewOf(cs []corev1.Container) []containerView {
	out := make([]containerView, 0, len(cs))
	for _, c := range cs {
		out = append(out, containerView{Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args, Env: c.Env, VolumeMounts: c.VolumeMounts})
	}
	return out
}

// renderInjected is the YAML of what the webhook changed: containers'
// command, env and mounts, the install init container and the volumes.
// Only names and placeholders: the pod spec never holds a value.
func renderInjected(p *corev1.Pod) (string, error) {
	view := map[string]any{"spec": map[string]any{
		"initContainers": viewOf(p.Spec.InitContainers),
		"containers":     viewOf(p.Spec.Containers),
		"volumes":        p.Spec.Volumes,
	}}
	raw, err := yaml.Marshal(view)
	return string(raw), err
}

// printDemo shows the mutated demo pod and what a real node would make of
// it.
func printDemo(w io.Writer, pod *corev1.Pod, resolverURL, caConfigMap, kubectl string) error {
	spec, err := renderInjected(pod)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, `
Env injection. Namespace %s is labelled %s=enabled
and holds AzureKeyVaultSecret %s (vault my-kv, secret test-secret).
A pod there whose container "app" runs %s %s with

  env: %s=%s@azurekeyvault

submitted as a server-side dry run (nothing stored) comes back from the webhook,
in resolver mode (resolver: %s), as:

%s
On a real node (make dev NODE=1), latchkey-env runs first, presents a token bound
to the resolver's audience and starts %s with %s set to the secret's value;
the value never enters the pod spec. The resolver's CA, as published in the namespace:

  %s -n %s get configmap %s -o yaml
`, demoNamespace, podcontract.DefaultNamespaceLabel, demoAKVS, demoProgram, demoVar, demoVar, demoAKVS, resolverURL, indent(spec, "  "), demoProgram, demoVar, kubectl, demoNamespace, caConfigMap)
	return nil
}

// indent prefixes every line of s.
func indent(s, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString(prefix + line)
	}
	return b.String()
}
