package controller_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
)

// TestStatusReportsWhatWasWritten checks every status field after a sync
// to a Secret and a ConfigMap: Ready, observedGeneration, the Key Vault
// version, the time of the last change and akv2k8s's fields; and that a
// spec change moves observedGeneration.
func TestStatusReportsWhatWasWritten(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	v := newVault(t)
	version := v.setSecret(t, "status-object", "status-s3cr3t-value", "")
	a := akvs(ns, "reported", "status-object", inVault(v), func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Output.ConfigMap = &v2beta1.AzureKeyVaultOutputConfigMap{Name: "reported-cm", DataKey: "value"}
	})
	create(t, a)
	got := waitForReady(t, ns, "reported", metav1.ConditionTrue, controller.ReasonSynced)
	st := got.Status
	switch {
	case st.ObservedGeneration != got.Generation:
		t.Errorf("observedGeneration %d, want %d", st.ObservedGeneration, got.Generation)
	case st.ObjectVersion != version:
		t.Errorf("objectVersion %q, want %q", st.ObjectVersion, version)
	case st.SecretName != "reported" || st.ConfigMapName != "reported-cm":
		t.Errorf("secretName %q, configMapName %q", st.SecretName, st.ConfigMapName)
	case st.SecretHash == "" || st.ConfigMapHash == "" || st.SecretHash == st.ConfigMapHash:
		t.Errorf("secretHash %q, configMapHash %q: want two distinct hashes", st.SecretHash, st.ConfigMapHash)
	case st.LastOutputChange == nil || st.LastAzureUpdate == nil || !st.LastAzureUpdate.Equal(st.LastOutputChange):
		t.Errorf("lastOutputChange %v, lastAzureUpdate %v: want both, equal", st.LastOutputChange, st.LastAzureUpdate)
	case !strings.Contains(readyCondition(got).Message, version):
		t.Errorf("Ready message %q does not name the version", readyCondition(got).Message)
	}

	update(t, a, func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Output.Secret.DataKey = "renamed" })
	got = waitForReady(t, ns, "reported", metav1.ConditionTrue, controller.ReasonSynced)
	if got.Generation < 2 || got.Status.ObservedGeneration != got.Generation {
		t.Errorf("observedGeneration %d after a spec change, generation %d", got.Status.ObservedGeneration, got.Generation)
	}
	if got.Status.SecretHash == st.SecretHash {
		t.Error("secretHash did not change with the Secret's keys")
	}
	waitForSecret(t, ns, "reported", hasData(data("renamed", "status-s3cr3t-value")))
}

// TestKeyVaultChangeUpdatesSecretAndStatus: a new version in Key Vault is
// written to the Secret within the refresh interval (1s in the fast shard,
// the suite's default being an hour), the status follows
// (version, hash, time of change) and one Normal event says so.
func TestKeyVaultChangeUpdatesSecretAndStatus(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	v := newVault(t)
	one := v.setSecret(t, "rotating", "rotate-one-s3cr3t-value", "")
	create(t, akvs(ns, "rotating", "rotating", inVault(v), everySecond))
	waitForSecret(t, ns, "rotating", hasData(data("value", "rotate-one-s3cr3t-value")))
	before := waitForReady(t, ns, "rotating", metav1.ConditionTrue, controller.ReasonSynced).Status
	if before.ObjectVersion != one {
		t.Fatalf("objectVersion %q, want %q", before.ObjectVersion, one)
	}

	two := v.setSecret(t, "rotating", "rotate-two-s3cr3t-value", "")
	waitForSecret(t, ns, "rotating", hasData(data("value", "rotate-two-s3cr3t-value")))
	var after v2beta1.AzureKeyVaultSecretStatus
	eventually(t, func() error {
		after = getAKVS(t, ns, "rotating").Status
		if after.ObjectVersion != two {
			return errorf("objectVersion %q, want %q", after.ObjectVersion, two)
		}
		return nil
	})
	if after.SecretHash == before.SecretHash {
		t.Error("secretHash did not change with the version")
	}
	if after.LastOutputChange.Before(before.LastOutputChange) || !after.LastAzureUpdate.Equal(after.LastOutputChange) {
		t.Errorf("lastOutputChange %v → %v, lastAzureUpdate %v", before.LastOutputChange, after.LastOutputChange, after.LastAzureUpdate)
	}
	eventually(t, func() error {
		for _, e := range eventsFor(t, ns, "rotating") {
			if strings.Contains(e, "Normal Updated") && strings.Contains(e, two) {
				return nil
			}
		}
		return errorf("no Updated event for version %s: %v", two, eventsFor(t, ns, "rotating"))
	})
}

// TestReadyReasonsForKeyVaultAnswers: what Key Vault answers becomes the
// Ready reason, with a message naming the object.
func TestReadyReasonsForKeyVaultAnswers(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	forbidden := newVault(t, func(s *akvemu.VaultSeed) { s.AllowedPrincipals = []string{"someone-else"} })
	tests := []struct {
		name, reason, message string
		mutate                func(*v2beta1.AzureKeyVaultSecret)
	}{
		{"missing-object", controller.ReasonObjectNotFound, "no-such-object", nil},
		{"missing-version", controller.ReasonObjectNotFound, "no-such-object", func(a *v2beta1.AzureKeyVaultSecret) {
			a.Spec.Vault.Object.Version = "0123456789abcdef0123456789abcdef"
		}},
		{"forbidden", controller.ReasonForbidden, "no-such-object", inVault(forbidden)},
	}
	for _, tc := range tests {
		mutate := []func(*v2beta1.AzureKeyVaultSecret){}
		if tc.mutate != nil {
			mutate = append(mutate, tc.mutate)
		}
		create(t, akvs(ns, tc.name, "no-such-object", mutate...))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := waitForReady(t, ns, tc.name, metav1.ConditionFalse, tc.reason)
			if msg := readyCondition(a).Message; !strings.Contains(msg, tc.message) {
				t.Errorf("message %q does not name %q", msg, tc.message)
			}
			eventually(t, func() error {
				if events := eventsFor(t, ns, tc.name); !slices.ContainsFunc(events, func(e string) bool { return strings.Contains(e, "Warning "+tc.reason) }) {
					return errorf("no Warning %s event: %v", tc.reason, events)
				}
				return nil
			})
		})
	}
}

// TestNoWritesOrEventsWhenNothingChanges lets an AzureKeyVaultSecret with a
// Secret and a ConfigMap, and a failing one, refresh several times
// (every second, in the fast shard) with nothing changed in Key Vault: neither the
// outputs nor the status are written, and no event is recorded, while Key
// Vault is read (so refreshes did happen).
func TestNoWritesOrEventsWhenNothingChanges(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	v := newVault(t)
	v.setSecret(t, "steady", "steady-s3cr3t-value", "")
	v.setSecret(t, "steady-bad", "steady-no-colon-s3cr3t-value", "")
	create(t, akvs(ns, "steady", "steady", inVault(v), everySecond, func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Output.ConfigMap = &v2beta1.AzureKeyVaultOutputConfigMap{Name: "steady", DataKey: "value"}
	}))
	create(t, akvs(ns, "failing", "steady-bad", inVault(v), everySecond, withSecretType("kubernetes.io/basic-auth")))
	waitForSecret(t, ns, "steady", nil)
	waitForReady(t, ns, "steady", metav1.ConditionTrue, controller.ReasonSynced)
	waitForReady(t, ns, "failing", metav1.ConditionFalse, controller.ReasonInvalidOutput)

	type snapshot struct {
		versions []string
		events   []string
		reads    int64
	}
	take := func() snapshot {
		cm := &corev1.ConfigMap{}
		if err := suite.client.Get(context.Background(), key(ns, "steady"), cm); err != nil {
			t.Fatal(err)
		}
		return snapshot{
			versions: []string{getSecret(t, ns, "steady").ResourceVersion, cm.ResourceVersion,
				getAKVS(t, ns, "steady").ResourceVersion, getAKVS(t, ns, "failing").ResourceVersion},
			events: append(eventsFor(t, ns, "steady"), eventsFor(t, ns, "failing")...),
			reads:  v.reads(),
		}
	}
	// Let the first pass's follow-ups (our own writes wake us once) settle.
	window(time.Second)
	before := take()
	window(4 * time.Second) // four refresh intervals
	after := take()
	if !slices.Equal(before.versions, after.versions) {
		t.Errorf("resourceVersions of Secret, ConfigMap and AzureKeyVaultSecrets moved %v → %v with nothing changed", before.versions, after.versions)
	}
	if !slices.Equal(before.events, after.events) {
		t.Errorf("events recorded with nothing changed:\nbefore %v\nafter  %v", before.events, after.events)
	}
	if after.reads-before.reads < 2 {
		t.Errorf("%d reads in the window: the refreshes the test relies on did not happen", after.reads-before.reads)
	}
	if len(before.events) == 0 {
		t.Error("no events at all: the creation and the failure should each have one")
	}
}

// TestOneWritePerChange creates AzureKeyVaultSecrets in pairs that share a
// Secret (each pair racing to create it) and watches them: each gets
// exactly one status write, and no failure is ever reported (no Warning
// event): losing the race to create or update an output is not a failure
// users should see, nor is the controller's cache lagging behind its own
// writes.
func TestOneWritePerChange(t *testing.T) {
	t.Parallel()
	const pairs = 10
	ns := namespace(t)
	v := newVault(t)
	v.setSecret(t, "pair-left", "pair-left-s3cr3t-value", "")
	v.setSecret(t, "pair-right", "pair-right-s3cr3t-value", "")
	w, err := suite.watcher.Watch(context.Background(), &v2beta1.AzureKeyVaultSecretList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	writes := map[string]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range w.ResultChan() {
			if a, ok := e.Object.(*v2beta1.AzureKeyVaultSecret); ok && e.Type == watch.Modified {
				writes[a.Name]++
			}
		}
	}()
	for i := range pairs {
		for _, side := range []string{"left", "right"} {
			create(t, akvs(ns, fmt.Sprintf("pair-%d-%s", i, side), "pair-"+side, inVault(v), func(a *v2beta1.AzureKeyVaultSecret) {
				a.Spec.Output.Secret.Name, a.Spec.Output.Secret.DataKey = fmt.Sprintf("pair-%d", i), side
			}))
		}
	}
	for i := range pairs {
		waitForSecret(t, ns, fmt.Sprintf("pair-%d", i), hasData(data("left", "pair-left-s3cr3t-value", "right", "pair-right-s3cr3t-value")))
	}
	window(2 * time.Second) // any late second write
	w.Stop()
	<-done
	for i := range pairs {
		for _, side := range []string{"left", "right"} {
			if n := writes[fmt.Sprintf("pair-%d-%s", i, side)]; n != 1 {
				t.Errorf("pair-%d-%s: %d status writes, want 1", i, side, n)
			}
		}
	}
	list := &corev1.EventList{}
	if err := suite.client.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range list.Items {
		if e.Type == corev1.EventTypeWarning {
			t.Errorf("Warning event %s on %s: %s", e.Reason, e.InvolvedObject.Name, e.Message)
		}
	}
}
