//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/rollout"
	"github.com/latchkey-dev/latchkey/internal/scheme"
)

// TestRollout on the real node, with the main install's rollouts on (5 s
// window): a Deployment with an env placeholder and one mounting an output
// Secret, both opted in, and one holding the placeholder that is not; the
// value changes in the emulator; the opted-in ones roll out and their new
// pods see the new value, the other keeps its pod and is never written; a
// refresh that reads no change writes nothing. It logs, per rollout, the
// time from the change in the emulator to the new pod ready and the writes
// latchkey made to the Deployment, as
// `rollout: deployment=<name> change_to_ready=<duration> writes=<n>`.
func TestRollout(t *testing.T) {
	const refresh = 30 * time.Second // the AzureKeyVaultSecrets' refreshInterval, the minimum
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	f := newInjectorFixture(ctx, t, "rollout")
	cl, err := client.New(env.cluster.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := vaultSecrets("my-kv")
	if err != nil {
		t.Fatal(err)
	}
	object := "rollout-" + strings.ToLower(rand.Text()[:8])
	setSecret := func(value string) {
		t.Helper()
		env.leaks.Add(object, value)
		if _, err := kv.SetSecret(ctx, object, azsecrets.SetSecretParameters{Value: &value}, nil); err != nil {
			t.Fatal(err)
		}
	}
	hash := func(v string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(v))) }
	v1, v2 := "rollout-v1-"+rand.Text(), "rollout-v2-"+rand.Text()
	setSecret(v1)
	obj := v2beta1.AzureKeyVaultObject{Name: object, Type: v2beta1.ObjectTypeSecret}
	every := &metav1.Duration{Duration: refresh}
	for _, a := range []*v2beta1.AzureKeyVaultSecret{
		{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "rotating"},
			Spec: v2beta1.AzureKeyVaultSecretSpec{Vault: v2beta1.AzureKeyVault{Name: "my-kv", Object: obj}, RefreshInterval: every}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "rotating-out"},
			Spec: v2beta1.AzureKeyVaultSecretSpec{Vault: v2beta1.AzureKeyVault{Name: "my-kv", Object: obj}, RefreshInterval: every,
				Output: &v2beta1.AzureKeyVaultOutput{Secret: &v2beta1.AzureKeyVaultOutputSecret{Name: "rotating-out", DataKey: "value"}}}},
	} {
		if err := cl.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	aliases := mainRelease.resolverAliases(ctx, t, f.cs)
	deployment := func(name string, optIn bool, c corev1.Container, volumes ...corev1.Volume) *appsv1.Deployment {
		labels := map[string]string{"app": name}
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				DNSPolicy: corev1.DNSDefault, AutomountServiceAccountToken: ptr.To(false), HostAliases: aliases,
				TerminationGracePeriodSeconds: ptr.To[int64](1),
				Containers:                    []corev1.Container{c}, Volumes: volumes,
			}},
		}}
		if optIn {
			d.Annotations = map[string]string{rollout.OptInAnnotation: "true"}
		}
		return d
	}
	envApp := corev1.Container{Name: "app", Image: env.app, Env: []corev1.EnvVar{{Name: "INJECTED_VALUE", Value: "rotating@azurekeyvault"}}}
	mountApp := corev1.Container{Name: "app", Image: env.toolbox, Args: []string{"file-hashes", "/etc/out", "--watch"},
		VolumeMounts: []corev1.VolumeMount{{Name: "out", MountPath: "/etc/out", ReadOnly: true}}}
	outVolume := corev1.Volume{Name: "out", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "rotating-out"}}}
	writes := countLatchkeyWrites(ctx, t, f.ns)
	for _, d := range []*appsv1.Deployment{deployment("env", true, envApp), deployment("mounted", true, mountApp, outVolume), deployment("plain", false, envApp)} {
		if _, err := f.cs.AppsV1().Deployments(f.ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The first pods, with the first value; the baselines recorded.
	sees := map[string]func(string) string{
		"env":     func(v string) string { return "INJECTED_VALUE=" + hash(v) },
		"mounted": func(v string) string { return "file value=" + hash(v) },
		"plain":   func(v string) string { return "INJECTED_VALUE=" + hash(v) },
	}
	first := map[string]string{}
	for name, line := range sees {
		first[name] = waitForPodSeeing(ctx, t, f, name, line(v1), nil).Name
	}
	for _, name := range []string{"env", "mounted"} {
		eventually(ctx, t, func() error {
			d, err := f.cs.AppsV1().Deployments(f.ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if d.Annotations[rollout.BaselineAnnotation] == "" {
				return fmt.Errorf("%s: no baseline recorded", name)
			}
			return nil
		})
	}
	plainGen := generation(ctx, t, f, "plain")

	// The change; each opted-in Deployment gets a new pod with the new value.
	changed := time.Now()
	setSecret(v2)
	for _, name := range []string{"env", "mounted"} {
		// The pod's own Ready time: waiting for one after the other
		// measures both alike.
		pod := waitForPodSeeing(ctx, t, f, name, sees[name](v2), map[string]bool{first[name]: true})
		t.Logf("rollout: deployment=%s change_to_ready=%s writes=%d", name, podReadyTime(pod).Sub(changed).Round(time.Second), writes.count(name)-1)
	}
	for _, name := range []string{"env", "mounted"} {
		if n := writes.count(name); n != 2 {
			t.Errorf("%s: latchkey wrote it %d times, want 2 (the baseline, the rollout)", name, n)
		}
	}

	// A refresh with no change, and a window beyond it: nothing.
	gens := map[string]int64{"env": generation(ctx, t, f, "env"), "mounted": generation(ctx, t, f, "mounted")}
	time.Sleep(refresh + 10*time.Second)
	for name, g := range gens {
		if now := generation(ctx, t, f, name); now != g {
			t.Errorf("%s: rolled again (generation %d → %d) with no change", name, g, now)
		}
		if n := writes.count(name); n != 2 {
			t.Errorf("%s: latchkey wrote it %d times after an unchanged refresh, want still 2", name, n)
		}
	}
	if g := generation(ctx, t, f, "plain"); g != plainGen || writes.count("plain") != 0 {
		t.Errorf("plain, not opted in: generation %d → %d, %d latchkey writes", plainGen, g, writes.count("plain"))
	}
	pods, err := f.cs.CoreV1().Pods(f.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=plain"})
	if err != nil || len(pods.Items) != 1 || pods.Items[0].Name != first["plain"] {
		t.Errorf("plain, not opted in: its pod changed (%v)", err)
	}
	a := &v2beta1.AzureKeyVaultSecret{}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "rotating"}, a); err != nil {
		t.Fatal(err)
	}
	if len(a.Status.Rollouts) != 1 || a.Status.Rollouts[0].Name != "env" {
		t.Errorf("rotating: status.rollouts %+v, want the env Deployment", a.Status.Rollouts)
	}
	f.checkNoLeaks(ctx, t)
}

// latchkeyWrites counts, per Deployment, the writes that changed a
// latchkey.dev/ annotation of the Deployment or of its pod template: the
// writes of the rollouts (the Deployment controller writes status and its
// revision annotation only).
type latchkeyWrites struct {
	mu sync.Mutex
	n  map[string]int
}

func (w *latchkeyWrites) count(name string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n[name]
}

func countLatchkeyWrites(ctx context.Context, t *testing.T, ns string) *latchkeyWrites {
	t.Helper()
	w, err := env.cluster.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	watcher, err := w.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(watcher.Stop)
	lw := &latchkeyWrites{n: map[string]int{}}
	last := map[string]string{}
	go func() {
		for e := range watcher.ResultChan() {
			d, ok := e.Object.(*appsv1.Deployment)
			if !ok || (e.Type != watch.Added && e.Type != watch.Modified) {
				continue
			}
			mark := latchkeyMarks(d)
			lw.mu.Lock()
			if prev, seen := last[d.Name]; seen && prev != mark {
				lw.n[d.Name]++
			}
			last[d.Name] = mark
			lw.mu.Unlock()
		}
	}()
	return lw
}

// latchkeyMarks is the latchkey.dev/ annotations latchkey writes, as text.
func latchkeyMarks(d *appsv1.Deployment) string {
	var b strings.Builder
	for _, k := range []string{rollout.BaselineAnnotation, rollout.RolledAtAnnotation} {
		fmt.Fprintf(&b, "%s=%s\n", k, d.Annotations[k])
	}
	fmt.Fprintf(&b, "template %s=%s\n", rollout.VersionsAnnotation, d.Spec.Template.Annotations[rollout.VersionsAnnotation])
	return b.String()
}

// waitForPodSeeing waits for a ready pod of the Deployment, not among
// except, whose app container printed line, and returns it.
func waitForPodSeeing(ctx context.Context, t *testing.T, f *injectorFixture, deployment, line string, except map[string]bool) *corev1.Pod {
	t.Helper()
	var found *corev1.Pod
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := f.cs.CoreV1().Pods(f.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + deployment})
		if err != nil {
			return false, nil
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if except[p.Name] || p.DeletionTimestamp != nil || podReadyTime(p).IsZero() {
				continue
			}
			logs, err := f.cs.CoreV1().Pods(f.ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: "app"}).DoRaw(ctx)
			if err == nil && hasLine(string(logs), line) {
				found = p
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("%s: no new ready pod printing %q: %v", deployment, line, err)
	}
	return found
}

// podReadyTime is when the pod became Ready; zero while it is not.
func podReadyTime(p *corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

func generation(ctx context.Context, t *testing.T, f *injectorFixture, name string) int64 {
	t.Helper()
	d, err := f.cs.AppsV1().Deployments(f.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Generation
}

// eventually polls check until it returns nil, or fails with its last error.
func eventually(ctx context.Context, t *testing.T, check func() error) {
	t.Helper()
	var last error
	if err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(context.Context) (bool, error) {
		last = check()
		return last == nil, nil
	}); err != nil {
		t.Fatalf("%v: %v", err, last)
	}
}
