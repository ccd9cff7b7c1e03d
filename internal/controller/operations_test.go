package controller_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/devtools/metricstest"
)

// TestCacheHoldsOnlyManagedOutputs creates many Secrets and ConfigMaps that
// are none of latchkey's, then one AzureKeyVaultSecret writing one of each:
// the suite controller's cache holds the two outputs and nothing else, and
// every Secret and ConfigMap it holds anywhere carries the managed label.
func TestCacheHoldsOnlyManagedOutputs(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	for i := range 25 {
		create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("unrelated-%02d", i)}, StringData: map[string]string{"k": "v"}})
		create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("unrelated-%02d", i)}, Data: map[string]string{"k": "v"}})
	}
	v := newVault(t)
	v.setSecret(t, "cache-object", "cache-s3cr3t-value", "")
	create(t, akvs(ns, "managed", "cache-object", inVault(v), func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Output.ConfigMap = &v2beta1.AzureKeyVaultOutputConfigMap{Name: "managed", DataKey: "value"}
	}))
	waitForReady(t, ns, "managed", metav1.ConditionTrue, controller.ReasonSynced)

	// The unrelated objects were created before the outputs, and a watch
	// delivers in order: once the cache holds the outputs, it would hold
	// any unrelated object it was going to.
	cache := suite.mgr.GetCache()
	for _, list := range []client.ObjectList{&corev1.SecretList{}, &corev1.ConfigMapList{}} {
		eventually(t, func() error {
			if err := cache.List(context.Background(), list, client.InNamespace(ns)); err != nil {
				return err
			}
			if names := objectNames(list); !slices.Equal(names, []string{"managed"}) {
				return fmt.Errorf("%T in the cache: %v, want only the output", list, names)
			}
			return nil
		})
		if err := cache.List(context.Background(), list); err != nil {
			t.Fatal(err)
		}
		for _, obj := range items(list) {
			if obj.GetLabels()[controller.ManagedLabel] != "true" {
				t.Errorf("%s/%s is in the cache without the managed label", obj.GetNamespace(), obj.GetName())
			}
		}
	}
}

// TestNamespaceScoping: a controller limited to one namespace syncs the
// AzureKeyVaultSecrets there and ignores those of another namespace.
func TestNamespaceScoping(t *testing.T) {
	t.Parallel()
	inside, outside := namespace(t), namespace(t)
	startTestController(t, "scoped", []string{inside})
	v := newVault(t)
	v.setSecret(t, "scoped-object", "scoped-s3cr3t-value", "")
	create(t, akvs(outside, "ignored", "scoped-object", inVault(v), shard("scoped")))
	create(t, akvs(inside, "synced", "scoped-object", inVault(v), shard("scoped")))

	waitForSecret(t, inside, "synced", hasData(data("value", "scoped-s3cr3t-value")))
	window(2 * time.Second) // the other namespace's object was created first; give it time anyway
	assertUntouched(t, outside, "ignored")
}

// TestLabelSelectorSharding: a controller syncs only the
// AzureKeyVaultSecrets its selector matches; another shard waits for its
// own controller, and a controller does not touch the other shard's
// objects when their outputs appear in its cache.
func TestLabelSelectorSharding(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	v := newVault(t)
	v.setSecret(t, "shard-object", "shard-s3cr3t-value", "")
	shardA := startTestController(t, "shard-a", nil)
	create(t, akvs(ns, "in-a", "shard-object", inVault(v), shard("shard-a")))
	create(t, akvs(ns, "in-b", "shard-object", inVault(v), shard("shard-b")))
	waitForSecret(t, ns, "in-a", nil)
	waitForReady(t, ns, "in-a", metav1.ConditionTrue, controller.ReasonSynced)
	window(2 * time.Second) // in-b was created with in-a; give shard-a time to (wrongly) take it
	assertUntouched(t, ns, "in-b")

	syncsA := metricValue(t, shardA.registry, "latchkey_syncs_total", nil)
	startTestController(t, "shard-b", nil)
	waitForSecret(t, ns, "in-b", hasData(data("value", "shard-s3cr3t-value")))
	waitForReady(t, ns, "in-b", metav1.ConditionTrue, controller.ReasonSynced)
	window(time.Second) // shard-a sees in-b's Secret appear in its cache
	if got := metricValue(t, shardA.registry, "latchkey_syncs_total", nil); got != syncsA {
		t.Errorf("shard-a synced %v more times after shard-b's object got its output", got-syncsA)
	}
}

// TestMetricsAreRegistered: a controller registers its own metrics and
// akv2k8s's in the registry it is given, counting successes, failures and
// Key Vault requests.
func TestMetricsAreRegistered(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	v := newVault(t)
	v.setSecret(t, "metrics-object", "metrics-s3cr3t-value", "")
	started := time.Now()
	c := startTestController(t, "metrics", []string{ns})
	create(t, akvs(ns, "good", "metrics-object", inVault(v), shard("metrics")))
	create(t, akvs(ns, "missing", "no-such-object", inVault(v), shard("metrics")))
	waitForReady(t, ns, "good", metav1.ConditionTrue, controller.ReasonSynced)
	waitForReady(t, ns, "missing", metav1.ConditionFalse, controller.ReasonObjectNotFound)

	tests := []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"latchkey_syncs_total", map[string]string{"result": "success", "reason": controller.ReasonSynced}, 1},
		{"latchkey_syncs_total", map[string]string{"result": "failure", "reason": controller.ReasonObjectNotFound}, 1},
		// akv2k8s's counters, labelled as akv2k8s labelled them: both
		// objects added, the missing one failing to sync from Key Vault
		// and retried (an update of the AzureKeyVault, akv2k8s's check).
		{"akv2k8s_syncs_total", map[string]string{"operation": "add", "object": "AzureKeyVaultSecret"}, 2},
		{"akv2k8s_syncs_total", map[string]string{"operation": "update", "object": "AzureKeyVault"}, 1},
		{"akv2k8s_syncs_failed_total", map[string]string{"operation": "sync", "object": "AzureKeyVault"}, 2},
		{"latchkey_keyvault_requests_total", map[string]string{"vault": v.name, "result": "ok"}, 1},
		{"latchkey_keyvault_requests_total", map[string]string{"vault": v.name, "result": "not_found"}, 1},
	}
	// A sync is counted just after its status is written.
	eventually(t, func() error {
		for _, tc := range tests {
			if got := metricValue(t, c.registry, tc.name, tc.labels); got < tc.min {
				return errorf("%s%v = %v, want at least %v", tc.name, tc.labels, got, tc.min)
			}
		}
		return nil
	})
	// Staleness: when each resource was last Ready; never for one that has
	// not been; its series goes with it.
	last := map[string]string{"namespace": ns, "name": "good"}
	if got := metricValue(t, c.registry, "latchkey_akvs_last_success_timestamp_seconds", last); got < float64(started.Unix()) || got > float64(time.Now().Unix()+1) {
		t.Errorf("last success of the synced resource = %v, want between %d and now", got, started.Unix())
	}
	if got := metricValue(t, c.registry, "latchkey_akvs_last_success_timestamp_seconds", map[string]string{"namespace": ns, "name": "missing"}); got != -1 {
		t.Errorf("a resource never Ready has a last success time: %v", got)
	}
	if got := metricValue(t, c.registry, "akv2k8s_syncs_total", map[string]string{"operation": "update", "object": "AzureKeyVaultSecret"}); got != -1 {
		t.Errorf("an update of an AzureKeyVaultSecret counted before any: %v", got)
	}
	// A change of the resource is an update of the AzureKeyVaultSecret.
	good := getAKVS(t, ns, "good")
	good.Annotations = map[string]string{"team": "payments"}
	if err := suite.client.Update(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if got := metricValue(t, c.registry, "akv2k8s_syncs_total", map[string]string{"operation": "update", "object": "AzureKeyVaultSecret"}); got != 1 {
			return errorf("update of the AzureKeyVaultSecret counted %v times, want 1", got)
		}
		return nil
	})
	if err := suite.client.Delete(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if got := metricValue(t, c.registry, "latchkey_akvs_last_success_timestamp_seconds", last); got != -1 {
			return errorf("the deleted resource's series is still there: %v", got)
		}
		if got := metricValue(t, c.registry, "akv2k8s_syncs_total", map[string]string{"operation": "delete", "object": "AzureKeyVaultSecret"}); got != 1 {
			return errorf("the deletion counted %v times, want 1", got)
		}
		return nil
	})
	// Names, help, labels and label values are akv2k8s 1.8.4's.
	metricstest.Check(t, c.registry, "controller")
}

// TestLeaderElection: two replicas on one Lease; only one leads and syncs,
// and the other takes over when the leader stops.
func TestLeaderElection(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	elect := func(c *controller.Config) {
		c.Manager.LeaderElection = true
		c.Manager.LeaderElectionNamespace, c.Manager.LeaderElectionID = ns, "latchkey-test"
	}
	first := startTestController(t, "leader", []string{ns}, elect)
	waitClosed(t, first.mgr.Elected(), "the first replica never led")
	second := startTestController(t, "leader", []string{ns}, elect)
	v := newVault(t)
	v.setSecret(t, "leader-object", "leader-s3cr3t-value", "")
	create(t, akvs(ns, "led", "leader-object", inVault(v), shard("leader")))
	waitForSecret(t, ns, "led", nil)
	select {
	case <-second.mgr.Elected():
		t.Fatal("two replicas lead at once")
	default:
	}

	first.stop()
	waitClosed(t, second.mgr.Elected(), "the second replica never took over")
	v.setSecret(t, "leader-object-2", "leader-2-s3cr3t-value", "")
	create(t, akvs(ns, "led-later", "leader-object-2", inVault(v), shard("leader")))
	waitForSecret(t, ns, "led-later", hasData(data("value", "leader-2-s3cr3t-value")))
}

// assertUntouched checks that no controller synced an AzureKeyVaultSecret:
// no status, no output.
func assertUntouched(t *testing.T, ns, name string) {
	t.Helper()
	if a := getAKVS(t, ns, name); len(a.Status.Conditions) != 0 {
		t.Errorf("%s/%s was synced: %+v", ns, name, a.Status.Conditions)
	}
	if err := suite.client.Get(context.Background(), key(ns, name), &corev1.Secret{}); err == nil {
		t.Errorf("%s/%s got an output", ns, name)
	}
}

// waitClosed waits for a channel to close (eventually's deadline).
func waitClosed(t *testing.T, ch <-chan struct{}, msg string) {
	t.Helper()
	eventually(t, func() error {
		select {
		case <-ch:
			return nil
		default:
			return fmt.Errorf("%s", msg)
		}
	})
}

func objectNames(list client.ObjectList) []string {
	var names []string
	for _, obj := range items(list) {
		names = append(names, obj.GetName())
	}
	slices.Sort(names)
	return names
}

func items(list client.ObjectList) []client.Object {
	var out []client.Object
	switch l := list.(type) {
	case *corev1.SecretList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.ConfigMapList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	}
	return out
}
