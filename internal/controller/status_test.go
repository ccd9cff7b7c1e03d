package controller

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/akvsplan"
)

func TestNextStatus(t *testing.T) {
	akvs := &v2beta1.AzureKeyVaultSecret{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
	synced := outcome{ready: true, reason: ReasonSynced, message: "synced version v1", version: "v1",
		outputs: []outputResult{{kind: "Secret", name: "s", keys: []string{"k"}, changed: true}}}

	first := nextStatus(akvs, synced, t0)
	if first.ObservedGeneration != 3 || first.ObjectVersion != "v1" || first.SecretName != "s" || first.SecretHash == "" {
		t.Fatalf("first sync status = %+v", first)
	}
	if first.LastOutputChange == nil || !first.LastOutputChange.Time.Equal(t0) || first.LastAzureUpdate == nil {
		t.Fatalf("output change time = %v", first.LastOutputChange)
	}
	if c := readyCondition(first); c == nil || c.Status != metav1.ConditionTrue || c.Reason != ReasonSynced || c.ObservedGeneration != 3 {
		t.Fatalf("Ready = %+v", c)
	}

	// A refresh that changes nothing produces the same status: no write.
	akvs.Status = first
	unchanged := synced
	unchanged.outputs = []outputResult{{kind: "Secret", name: "s", keys: []string{"k"}}}
	if again := nextStatus(akvs, unchanged, t0.Add(time.Hour)); statusChanged(akvs.Status, again) {
		t.Errorf("nothing changed but status differs:\n%+v\n%+v", akvs.Status, again)
	}

	// A failure keeps what status said of the last good output.
	failed := nextStatus(akvs, outcome{reason: ReasonObjectNotFound, message: "gone"}, t0.Add(2*time.Hour))
	if failed.ObjectVersion != "v1" || failed.SecretHash != first.SecretHash || !failed.LastOutputChange.Equal(first.LastOutputChange) {
		t.Errorf("failure rewrote the last good output's status: %+v", failed)
	}
	if c := readyCondition(failed); c.Status != metav1.ConditionFalse || c.Reason != ReasonObjectNotFound || !c.LastTransitionTime.Time.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("Ready after failure = %+v", c)
	}

	// A new version moves the hash and the change time.
	akvs.Status = failed
	v2 := synced
	v2.version = "v2"
	next := nextStatus(akvs, v2, t0.Add(3*time.Hour))
	if next.SecretHash == first.SecretHash || !next.LastOutputChange.Time.Equal(t0.Add(3*time.Hour)) || next.ObjectVersion != "v2" {
		t.Errorf("new version status = %+v", next)
	}

	// An output the spec dropped is no longer named.
	akvs.Status = next
	injectorOnly := nextStatus(akvs, outcome{ready: true, reason: ReasonInjectorOnly, message: "no output"}, t0.Add(4*time.Hour))
	if injectorOnly.SecretName != "" || injectorOnly.SecretHash != "" {
		t.Errorf("status still names the dropped output: %+v", injectorOnly)
	}
}

// TestRefreshIntervalBelowMinimum: an interval below the minimum (stored
// before the CRD refused it) is raised to it, and a condition says so
// without making the object un-Ready; it goes when the spec is fixed.
func TestRefreshIntervalBelowMinimum(t *testing.T) {
	akvs := &v2beta1.AzureKeyVaultSecret{ObjectMeta: metav1.ObjectMeta{Generation: 1}}
	akvs.Spec.RefreshInterval = &metav1.Duration{Duration: time.Millisecond}
	r := &Reconciler{Options: Options{RefreshInterval: time.Hour}}
	if got := akvsplan.Of(akvs).Interval(r.Options.RefreshInterval); got != v2beta1.MinRefreshInterval {
		t.Errorf("interval %v, want the minimum %v", got, v2beta1.MinRefreshInterval)
	}
	st := nextStatus(akvs, outcome{ready: true, reason: ReasonSynced}, t0)
	c := meta.FindStatusCondition(st.Conditions, ConditionRefreshInterval)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != ReasonBelowMinimum || !strings.Contains(c.Message, "1ms") || !strings.Contains(c.Message, "30s") {
		t.Fatalf("RefreshInterval condition %+v", c)
	}
	if ready := readyCondition(st); ready.Status != metav1.ConditionTrue {
		t.Errorf("Ready %+v: a raised interval is no failure", ready)
	}

	akvs.Status = st
	for _, fixed := range []*metav1.Duration{{Duration: time.Minute}, nil} {
		akvs.Spec.RefreshInterval = fixed
		if c := meta.FindStatusCondition(nextStatus(akvs, outcome{ready: true, reason: ReasonSynced}, t0).Conditions, ConditionRefreshInterval); c != nil {
			t.Errorf("refreshInterval %v: condition %+v kept", fixed, c)
		}
	}
	if got := akvsplan.Of(akvs).Interval(r.Options.RefreshInterval); got != time.Hour {
		t.Errorf("no spec interval: %v, want the controller's", got)
	}
	akvs.Spec.RefreshInterval = &metav1.Duration{Duration: v2beta1.MinRefreshInterval}
	if got := akvsplan.Of(akvs).Interval(r.Options.RefreshInterval); got != v2beta1.MinRefreshInterval {
		t.Errorf("the minimum itself: %v", got)
	}
}
