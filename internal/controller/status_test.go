package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
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

func TestJittered(t *testing.T) {
	for range 100 {
		if d := jittered(time.Minute, 0.1); d < time.Minute || d > 66*time.Second {
			t.Fatalf("jittered(1m, 0.1) = %v", d)
		}
	}
	if d := jittered(time.Minute, 0); d != time.Minute {
		t.Errorf("no jitter gave %v", d)
	}
}
