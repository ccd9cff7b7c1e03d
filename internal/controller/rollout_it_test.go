package controller_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/rollout"
)

// deployment builds a Deployment whose only container has env and whose
// pod has volumes; optIn annotates it for rollouts on change.
func deployment(ns, name string, optIn bool, env []corev1.EnvVar, volumes ...corev1.Volume) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1", Env: env}},
					Volumes:    volumes,
				},
			},
		},
	}
	if optIn {
		d.Annotations = map[string]string{rollout.OptInAnnotation: "true"}
	}
	return d
}

func placeholderEnv(akvs string) []corev1.EnvVar {
	return []corev1.EnvVar{{Name: "VALUE", Value: akvs + "@azurekeyvault"}}
}

func secretVolume(secret string) corev1.Volume {
	return corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}}
}

func injectorOnly(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Output = nil }

// deploymentWrites counts the writes to the Deployments of namespaces
// (MODIFIED events), by namespace/name.
type deploymentWrites struct {
	mu     sync.Mutex
	writes map[string]int
}

func watchDeployments(t *testing.T, namespaces ...string) *deploymentWrites {
	t.Helper()
	dw := &deploymentWrites{writes: map[string]int{}}
	for _, ns := range namespaces {
		w, err := suite.watcher.Watch(context.Background(), &appsv1.DeploymentList{}, client.InNamespace(ns))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
		go func() {
			for e := range w.ResultChan() {
				if d, ok := e.Object.(*appsv1.Deployment); ok && e.Type == watch.Modified {
					dw.mu.Lock()
					dw.writes[d.Namespace+"/"+d.Name]++
					dw.mu.Unlock()
				}
			}
		}()
	}
	return dw
}

func (dw *deploymentWrites) count(ns, name string) int {
	dw.mu.Lock()
	defer dw.mu.Unlock()
	return dw.writes[ns+"/"+name]
}

func getDeployment(t *testing.T, ns, name string) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := suite.client.Get(context.Background(), key(ns, name), d); err != nil {
		t.Fatal(err)
	}
	return d
}

// waitForBaseline waits until a Deployment records want as its baseline.
func waitForBaseline(t *testing.T, ns, name string, want rollout.Versions) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	eventually(t, func() error {
		d = getDeployment(t, ns, name)
		if got, ok := d.Annotations[rollout.BaselineAnnotation]; !ok || got != want.String() {
			return errorf("%s/%s: baseline %q, want %q", ns, name, got, want.String())
		}
		return nil
	})
	return d
}

// TestRolloutOnChange runs a controller with rollouts on (2s window, 1s
// refresh) over two namespaces: opting in rolls nothing; an unchanged
// refresh writes nothing; two changes of an injector-only object's version
// within the window roll the Deployment that holds its placeholder once;
// a change of an output's version rolls the Deployment that mounts the
// output; a Deployment not opted in and one in another namespace whose
// same-named AzureKeyVaultSecret did not change are never written; the
// rollout is in an event, a metric and the AzureKeyVaultSecret's status; a
// controller restarted inside the window does not roll again before the
// window ends.
func TestRolloutOnChange(t *testing.T) {
	t.Parallel()
	const (
		shardName = "rollouts"
		rollWin   = 4 * time.Second
	)
	ns, other := namespace(t), namespace(t)
	v := newVault(t)
	db1 := v.setSecret(t, "db", "rollout-db-one-s3cr3t", "")
	api1 := v.setSecret(t, "api", "rollout-api-one-s3cr3t", "")
	otherDB := v.setSecret(t, "other-db", "rollout-other-db-s3cr3t", "")
	writes := watchDeployments(t, ns, other)
	withRollouts := func(c *controller.Config) {
		c.Manager.Controller.Rollouts = true
		c.Manager.Controller.RolloutWindow = rollWin
		c.Manager.Controller.RefreshInterval = time.Second
	}
	tc := startTestController(t, shardName, []string{ns, other}, withRollouts)

	create(t, akvs(ns, "db", "db", inVault(v), shard(shardName), injectorOnly))
	create(t, akvs(ns, "api", "api", inVault(v), shard(shardName)))
	// Same name, another namespace, another object.
	create(t, akvs(other, "db", "other-db", inVault(v), shard(shardName), injectorOnly))
	create(t, deployment(ns, "env", true, placeholderEnv("db")))
	create(t, deployment(ns, "mounted", true, nil, secretVolume("api")))
	create(t, deployment(ns, "plain", false, placeholderEnv("db"), secretVolume("api")))
	create(t, deployment(other, "env", true, placeholderEnv("db")))

	// Opting in records the baseline and rolls nothing.
	waitForBaseline(t, ns, "env", rollout.Versions{"db": db1})
	waitForBaseline(t, ns, "mounted", rollout.Versions{"api": api1})
	waitForBaseline(t, other, "env", rollout.Versions{"db": otherDB})
	if a := getAKVS(t, ns, "db"); a.Status.ObjectVersion != db1 || readyCondition(a).Reason != controller.ReasonInjectorOnly {
		t.Errorf("injector-only db: version %q, reason %s; want %s, %s", a.Status.ObjectVersion, readyCondition(a).Reason, db1, controller.ReasonInjectorOnly)
	}
	// Unchanged refreshes write nothing.
	window(3 * time.Second)
	for _, d := range []struct{ ns, name string }{{ns, "env"}, {ns, "mounted"}, {other, "env"}} {
		got := getDeployment(t, d.ns, d.name)
		if _, ok := got.Spec.Template.Annotations[rollout.VersionsAnnotation]; ok {
			t.Errorf("%s/%s: opting in rolled it out", d.ns, d.name)
		}
		if n := writes.count(d.ns, d.name); n != 1 {
			t.Errorf("%s/%s: %d writes after opting in and unchanged refreshes, want 1 (the baseline)", d.ns, d.name, n)
		}
	}

	// Two changes within the window, one rollout.
	v.setSecret(t, "db", "rollout-db-two-s3cr3t", "")
	waitForVersionChange(t, ns, "db", db1)
	db3 := v.setSecret(t, "db", "rollout-db-three-s3cr3t", "")
	api2 := v.setSecret(t, "api", "rollout-api-two-s3cr3t", "")
	env := waitForBaseline(t, ns, "env", rollout.Versions{"db": db3})
	waitForBaseline(t, ns, "mounted", rollout.Versions{"api": api2})
	if got, want := env.Spec.Template.Annotations[rollout.VersionsAnnotation], (rollout.Versions{"db": db3}).Digest(); got != want {
		t.Errorf("env: template annotation %q, want %q", got, want)
	}
	firstRoll := rollout.StateOf(env.Annotations).RolledAt
	window(3 * time.Second)
	for _, d := range []struct {
		ns, name string
		want     int
	}{{ns, "env", 2}, {ns, "mounted", 2}, {ns, "plain", 0}, {other, "env", 1}} {
		if n := writes.count(d.ns, d.name); n != d.want {
			t.Errorf("%s/%s: %d writes, want %d", d.ns, d.name, n, d.want)
		}
	}
	plain := getDeployment(t, ns, "plain")
	for k := range plain.Annotations {
		if strings.HasPrefix(k, "latchkey.dev/") && k != rollout.OptInAnnotation {
			t.Errorf("plain: not opted in, yet annotated %s", k)
		}
	}
	if got := getDeployment(t, other, "env").Annotations[rollout.BaselineAnnotation]; got != (rollout.Versions{"db": otherDB}).String() {
		t.Errorf("other namespace's env: baseline %q changed", got)
	}

	// Observability: event, status, metric.
	events := strings.Join(eventsFor(t, ns, "env"), "\n")
	if !strings.Contains(events, controller.ReasonRolledOut) || !strings.Contains(events, "AzureKeyVaultSecret db (version "+db1) || !strings.Contains(events, db3) {
		t.Errorf("env: events %q, want a %s naming db and its versions", events, controller.ReasonRolledOut)
	}
	st := getAKVS(t, ns, "db").Status.Rollouts
	if len(st) != 1 || st[0].Kind != "Deployment" || st[0].Name != "env" || st[0].Version != db3 {
		t.Errorf("db: status.rollouts %+v, want Deployment env at %s", st, db3)
	}
	if n := metricValue(t, tc.registry, "latchkey_rollouts_total", map[string]string{"kind": "Deployment"}); n != 2 {
		t.Errorf("latchkey_rollouts_total{kind=Deployment} = %v, want 2", n)
	}

	// A restart inside the window: nothing rolls again without a change,
	// and a change rolls no sooner than a window after the last rollout.
	tc.stop()
	db4 := v.setSecret(t, "db", "rollout-db-four-s3cr3t", "")
	startTestController(t, shardName, []string{ns, other}, withRollouts)
	env = waitForBaseline(t, ns, "env", rollout.Versions{"db": db4})
	if gap := rollout.StateOf(env.Annotations).RolledAt.Sub(firstRoll); gap < rollWin {
		t.Errorf("rolled again %s after the last rollout, across a restart; want at least the window, %s", gap, rollWin)
	}
	window(2 * time.Second)
	if n := writes.count(ns, "env"); n != 3 {
		t.Errorf("env: %d writes, want 3 (baseline, two rollouts)", n)
	}
	if n := writes.count(ns, "mounted"); n != 2 {
		t.Errorf("mounted: %d writes after the restart with no change, want still 2", n)
	}
}

// waitForVersionChange waits until an AzureKeyVaultSecret's status names a
// version other than old.
func waitForVersionChange(t *testing.T, ns, name, old string) {
	t.Helper()
	eventually(t, func() error {
		if v := getAKVS(t, ns, name).Status.ObjectVersion; v == old || v == "" {
			return errorf("%s: version still %q", name, v)
		}
		return nil
	})
}
