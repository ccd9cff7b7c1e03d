//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/scheme"
)

// injected is one variable the tests inject: its placeholder and the
// AzureKeyVaultSecret spec it names.
type injected struct {
	name, placeholder string
}

// TestInjectorDeliversValuesToRealPods (direct mode): in a labelled
// namespace, a Deployment whose image (pulled from the node's registry) has
// no command in the pod spec starts; the webhook read ENTRYPOINT/CMD from
// the registry, the init container installed the binary, and the program —
// still PID 1 — sees every value: a secret, a certificate's tls.crt and
// tls.key, a key of a JSON and of a YAML multi-key secret, a placeholder
// reached through envFrom, and the same in an init container. It prints
// hashes; the test compares them with values read from Key Vault itself
// with the Azure SDK (expectedHashes).
// The containers authenticate themselves (ENV_INJECTOR_DISABLE_AUTH_SERVICE
// =true and AZURE_* credentials). The pod
// spec, events, its own logs and every component's logs hold none of the
// values (checkNoLeaks).
func TestInjectorDeliversValuesToRealPods(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	f := newInjectorFixture(ctx, t, "inject")
	if _, err := f.cs.CoreV1().Secrets(f.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "azure"}, StringData: map[string]string{
		"AZURE_TENANT_ID": "00000000-0000-4000-8000-00000000a11c", "AZURE_CLIENT_ID": "00000000-0000-4000-8000-0000000c11e7", "AZURE_CLIENT_SECRET": "local-dev-client-secret",
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cs.CoreV1().ConfigMaps(f.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "emulator-ca"},
		Data: map[string]string{"ca.crt": string(env.emu.CACertPEM())}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	directEnv := []corev1.EnvVar{
		{Name: "ENV_INJECTOR_DISABLE_AUTH_SERVICE", Value: "true"},
		{Name: "SSL_CERT_FILE", Value: "/etc/emulator-ca/ca.crt"},
	}
	for _, k := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"} {
		directEnv = append(directEnv, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "azure"}, Key: k}}})
	}
	dep := f.deployment("injected", directEnv, []corev1.HostAlias{{IP: env.cluster.Node.IP, Hostnames: emulatedHosts}})
	for _, c := range []*corev1.Container{&dep.Spec.Template.Spec.InitContainers[0], &dep.Spec.Template.Spec.Containers[0]} {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "emulator-ca", MountPath: "/etc/emulator-ca", ReadOnly: true})
	}
	dep.Spec.Template.Spec.Volumes = append(dep.Spec.Template.Spec.Volumes, corev1.Volume{Name: "emulator-ca", VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "emulator-ca"}}}})
	pod := f.start(ctx, t, dep)
	f.checkOutput(ctx, t, pod, "sa_token=absent")
	f.checkNoLeaks(ctx, t)
}

// injectorFixture is a namespace labelled for injection holding the
// AzureKeyVaultSecrets the injector tests name, the ConfigMap a placeholder
// is reached through (envFrom), and what the programs must print.
type injectorFixture struct {
	cs kubernetes.Interface
	ns string
	// rel is the install whose webhook the namespace is labelled for.
	rel release
	// vars are the variables every container of the tests sets.
	vars []injected
	// want are the lines the program prints for vars and then the envFrom
	// placeholder.
	want []string
}

func newInjectorFixture(ctx context.Context, t *testing.T, prefix string) *injectorFixture {
	t.Helper()
	return mainRelease.injectorFixture(ctx, t, prefix)
}

// injectorFixture is newInjectorFixture for the webhook of release r.
func (r release) injectorFixture(ctx context.Context, t *testing.T, prefix string) *injectorFixture {
	t.Helper()
	cs, err := env.cluster.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(env.cluster.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	ns := createNamespace(ctx, t, prefix)
	labelForInjection(ctx, t, cs, ns, r.label)
	specs := map[string]v2beta1.AzureKeyVaultObject{
		"app-secret": {Name: "test-secret", Type: v2beta1.ObjectTypeSecret},
		"app-cert":   {Name: "test-cert", Type: v2beta1.ObjectTypeCertificate},
		"app-multi":  {Name: "test-multi", Type: v2beta1.ObjectTypeMultiKeyValueSecret, ContentType: v2beta1.ContentTypeJSON},
		"app-yaml":   {Name: "test-multi-yaml", Type: v2beta1.ObjectTypeMultiKeyValueSecret, ContentType: v2beta1.ContentTypeYAML},
	}
	for name, obj := range specs {
		a := &v2beta1.AzureKeyVaultSecret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: v2beta1.AzureKeyVaultSecretSpec{Vault: v2beta1.AzureKeyVault{Name: "my-kv", Object: obj}}}
		if err := cl.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	f := &injectorFixture{cs: cs, ns: ns, rel: r, vars: []injected{
		{"INJECTED_SECRET", "app-secret@azurekeyvault"},
		{"INJECTED_TLS_CRT", "app-cert@azurekeyvault?tls.crt"},
		{"INJECTED_TLS_KEY", "app-cert@azurekeyvault?tls.key"},
		{"INJECTED_KEY2", "app-multi@azurekeyvault?key2"},
		{"INJECTED_YAML_KEY2", "app-yaml@azurekeyvault?key2"},
	}}
	f.want = expectedHashes(ctx, t, specs, append(f.vars, injected{"INJECTED_FROM_CONFIGMAP", "app-secret@azurekeyvault"}))
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"},
		Data: map[string]string{"INJECTED_FROM_CONFIGMAP": "app-secret@azurekeyvault", "MODE": "test"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return f
}

// labelForInjection opts namespace ns into injection by the webhook that
// selects namespaces by label.
func labelForInjection(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, label string) {
	t.Helper()
	nsObj, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if nsObj.Labels == nil {
		nsObj.Labels = map[string]string{}
	}
	nsObj.Labels[label] = "enabled"
	if _, err := cs.CoreV1().Namespaces().Update(ctx, nsObj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// deployment is the app of the injector tests: an init container running
// `toolbox env-hashes` and a container running the image's own
// ENTRYPOINT/CMD (no command in the spec) with the envFrom ConfigMap, both
// with f.vars plus extra, no service-account token.
func (f *injectorFixture) deployment(name string, extra []corev1.EnvVar, aliases []corev1.HostAlias) *appsv1.Deployment {
	envVars := slices.Clone(extra)
	for _, v := range f.vars {
		envVars = append(envVars, corev1.EnvVar{Name: v.name, Value: v.placeholder})
	}
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					DNSPolicy:                    corev1.DNSDefault,
					AutomountServiceAccountToken: ptr.To(false),
					HostAliases:                  aliases,
					InitContainers: []corev1.Container{{
						Name: "init", Image: env.app, Args: []string{"env-hashes"}, Env: slices.Clone(envVars),
					}},
					Containers: []corev1.Container{{
						Name: "app", Image: env.app, Env: envVars,
						EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}},
					}},
				},
			},
		},
	}
}

// start creates dep and waits for its pod to run.
func (f *injectorFixture) start(ctx context.Context, t *testing.T, dep *appsv1.Deployment) *corev1.Pod {
	t.Helper()
	if _, err := f.cs.AppsV1().Deployments(f.ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return waitForRunningPod(ctx, t, f.cs, f.ns, "app="+dep.Name)
}

// checkOutput checks what the init container and the app printed: PID 1,
// their hashes, no LATCHKEY_* variable left, and the extra lines.
func (f *injectorFixture) checkOutput(ctx context.Context, t *testing.T, pod *corev1.Pod, extra ...string) {
	t.Helper()
	for _, c := range []struct {
		name string
		want []string
	}{
		{"init", f.want[:len(f.vars)]},
		{"app", f.want},
	} {
		logs := waitForOutput(ctx, t, f.cs, pod, c.name, false)
		for _, line := range append(append([]string{"pid=1", "latchkey_vars=0"}, c.want...), extra...) {
			if !hasLine(logs, line) {
				t.Errorf("%s: output lacks the line %q:\n%s", c.name, line, logs)
			}
		}
	}
}

// waitForOutput waits until container of pod has printed its hashes (its
// previous run's output when previous is set) and returns the output.
func waitForOutput(ctx context.Context, t *testing.T, cs kubernetes.Interface, pod *corev1.Pod, container string, previous bool) string {
	t.Helper()
	var logs []byte
	var err error
	// The program prints once its values are in; Running comes earlier.
	_ = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		logs, err = cs.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: container, Previous: previous}).DoRaw(ctx)
		return err == nil && strings.Contains(string(logs), "latchkey_vars="), nil
	})
	return string(logs)
}

// waitForRunningPod waits for a Running pod of the selector, all containers started.
func waitForRunningPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, selector string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	var last string
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil || len(pods.Items) == 0 {
			return false, nil
		}
		pod = &pods.Items[0]
		last = fmt.Sprintf("%s %+v", pod.Status.Phase, pod.Status.ContainerStatuses)
		return pod.Status.Phase == corev1.PodRunning && len(pod.Status.ContainerStatuses) > 0 && pod.Status.ContainerStatuses[0].Ready, nil
	})
	if err != nil {
		events, _ := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		var msgs []string
		for _, e := range events.Items {
			msgs = append(msgs, e.Reason+": "+e.Message)
		}
		t.Fatalf("no running pod for %s: %v; last status %s; events:\n%s", selector, err, last, strings.Join(msgs, "\n"))
	}
	return pod
}
