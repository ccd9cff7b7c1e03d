//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
)

// seededValues are what the leak checks look for: every object of the
// seed as Key Vault holds it (test-secret, the JSON and YAML documents,
// test-cert's backing secret with its private key), the certificates read
// with the Azure SDK (vaultSecrets), not latchkey's client, and the
// identities' secrets; and the objects' values by name.
func seededValues(ctx context.Context, seed *akvemu.Seed) (*leakcheck.Set, map[string]string, error) {
	values := &leakcheck.Set{}
	for _, app := range seed.Apps {
		for i, s := range app.Secrets {
			values.Add(fmt.Sprintf("secret #%d of app %s", i+1, app.ClientID), s)
		}
	}
	seeded := map[string]string{}
	for _, v := range seed.Vaults {
		for _, s := range v.Secrets {
			seeded[s.Name] = *s.Value
		}
		if len(v.Certificates) == 0 {
			continue
		}
		kv, err := vaultSecrets(v.Name)
		if err != nil {
			return nil, nil, err
		}
		for _, c := range v.Certificates {
			resp, err := kv.GetSecret(ctx, c.Name, "", nil)
			if err != nil {
				return nil, nil, fmt.Errorf("certificate %s's backing secret: %w", c.Name, err)
			}
			if resp.Value == nil {
				return nil, nil, fmt.Errorf("certificate %s's backing secret has no value", c.Name)
			}
			seeded[c.Name] = *resp.Value
		}
	}
	for _, name := range slices.Sorted(maps.Keys(seeded)) {
		values.Add(name, seeded[name])
	}
	return values, seeded, nil
}

// checkNoLeaks: nothing the cluster shows of f's namespace and of latchkey
// holds a value of Key Vault (env.leaks) in any form (see leakPlaces).
func (f *injectorFixture) checkNoLeaks(ctx context.Context, t *testing.T) {
	t.Helper()
	places, err := leakPlaces(ctx, f.cs, f.ns, mainRelease.namespace, f.rel.namespace)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range env.leaks.FindAll(places) {
		t.Error(l)
	}
}

// leakPlaces are what the cluster shows of namespace ns and of latchkey,
// by name: every pod of ns as JSON (spec, annotations, status), the
// events of ns, and the log of every container that has run (init
// containers too) of every pod of ns and of latchkey's namespaces, with
// its previous run's where it restarted.
func leakPlaces(ctx context.Context, cs kubernetes.Interface, ns string, latchkeyNamespaces ...string) (map[string]string, error) {
	places := map[string]string{}
	events, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(events)
	if err != nil {
		return nil, err
	}
	places["the events of "+ns] = string(b)
	namespaces := append([]string{ns}, latchkeyNamespaces...)
	slices.Sort(namespaces)
	for _, n := range slices.Compact(namespaces) {
		pods, err := cs.CoreV1().Pods(n).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if n == ns {
				b, err := json.Marshal(p)
				if err != nil {
					return nil, err
				}
				places["pod "+n+"/"+p.Name] = string(b)
			}
			if err := addLogs(ctx, cs, p, places); err != nil {
				return nil, err
			}
		}
	}
	return places, nil
}

// addLogs adds to places the log of each container of p that has run, and
// of its previous run where it restarted.
func addLogs(ctx context.Context, cs kubernetes.Interface, p *corev1.Pod, places map[string]string) error {
	for _, s := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
		// A container waiting to restart shows its last run as its log;
		// the kubelet may have removed the run before.
		waiting := s.State.Waiting != nil
		for _, previous := range []bool{false, true} {
			switch {
			case !previous && waiting && s.LastTerminationState.Terminated == nil:
				continue // not run yet
			case previous && s.RestartCount == 0:
				continue
			}
			logs, err := cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: s.Name, Previous: previous}).DoRaw(ctx)
			if err != nil {
				if p.DeletionTimestamp != nil || previous && waiting {
					continue // going away with its logs; no run before the last
				}
				return fmt.Errorf("%s: %w", logPlace(p, s.Name, previous), err)
			}
			places[logPlace(p, s.Name, previous)] = string(logs)
		}
	}
	return nil
}

// logPlace names the log of a container's current or previous run.
func logPlace(p *corev1.Pod, container string, previous bool) string {
	name := "the log of " + p.Namespace + "/" + p.Name + " container " + container
	if previous {
		name += " (previous run)"
	}
	return name
}

// TestLeakCheckFindsLeaks shows the e2e leak check can fail. Made-up
// secrets are planted, in each form a check for raw values misses (a
// JSON-escaped document, a line of a PEM key, base64, quoted…) and raw,
// in each place it reads: a pod's annotations, an event, the log of an init
// container and the previous run of a container that restarted; each is
// reported in each place. A line of test-cert's private key, planted the
// same way, is reported by the check's own values, which report every
// planted form of the seeded documents and certificate too.
func TestLeakCheckFindsLeaks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, err := env.cluster.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ns := createNamespace(ctx, t, "planted")
	plants := leakcheck.Plants(t)
	var seeded []leakcheck.Plant
	for _, name := range []string{"test-cert", "test-multi", "test-multi-yaml", "test-secret"} {
		seeded = append(seeded, leakcheck.PlantsOf(t, env.seeded[name])...)
	}
	for _, p := range seeded {
		if len(env.leaks.Find("text", p.Text)) == 0 {
			t.Errorf("the check's values miss %s", p.Form)
		}
	}
	keyLine := seeded[slices.IndexFunc(seeded, func(p leakcheck.Plant) bool { return strings.HasPrefix(p.Form, "a line of") })]

	var texts strings.Builder
	annotations := map[string]string{}
	for i, p := range append(plants, keyLine) {
		texts.WriteString(p.Text + "\n")
		annotations[fmt.Sprintf("leakcheck.test/plant-%d", i)] = p.Text
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "planted"},
		Data: map[string]string{"texts": texts.String()}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	event := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "planted"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "planted"},
		Reason:         "Planted",
		Message:        texts.String(),
		Type:           corev1.EventTypeWarning,
	}
	if _, err := cs.CoreV1().Events(ns).Create(ctx, event, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Both containers print the texts from a file (not from their spec);
	// main exits after its first run, and runs on after the second.
	mounts := []corev1.VolumeMount{{Name: "planted", MountPath: "/planted"}, {Name: "mark", MountPath: "/mark"}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "planted", Annotations: annotations},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: env.toolbox, Args: []string{"cat", "/planted/texts"}, VolumeMounts: mounts}},
			Containers:     []corev1.Container{{Name: "main", Image: env.toolbox, Args: []string{"cat", "/planted/texts", "/mark/ran"}, VolumeMounts: mounts}},
			Volumes: []corev1.Volume{
				{Name: "planted", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "planted"}}}},
				{Name: "mark", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}
	if pod, err = cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pod, err = cs.CoreV1().Pods(ns).Get(ctx, "planted", metav1.GetOptions{})
		if err != nil || len(pod.Status.ContainerStatuses) != 1 {
			return false, nil
		}
		s := pod.Status.ContainerStatuses[0]
		return s.RestartCount == 1 && s.State.Running != nil, nil
	})
	if err != nil {
		t.Fatalf("the container did not restart once and run: %v", err)
	}

	places, err := leakPlaces(ctx, cs, ns, mainRelease.namespace)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"pod " + ns + "/planted", "the events of " + ns, logPlace(pod, "init", false), logPlace(pod, "main", true)}
	found := func(set *leakcheck.Set, secret string) []string {
		var where []string
		for _, l := range set.FindAll(places) {
			if l.Secret == secret {
				where = append(where, l.Where)
			}
		}
		return where
	}
	for _, p := range plants {
		where := found(leakcheck.NewSet(p.Secret), "value #1")
		for _, w := range want {
			if !slices.Contains(where, w) {
				t.Errorf("%s in %s: not reported (reported in %q)", p.Form, w, where)
			}
		}
	}
	where := found(env.leaks, "test-cert")
	for _, w := range want {
		if !slices.Contains(where, w) {
			t.Errorf("test-cert's %s in %s: not reported by the check's values (reported in %q)", keyLine.Form, w, where)
		}
	}
}
