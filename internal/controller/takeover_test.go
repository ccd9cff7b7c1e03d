package controller

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
)

// synced is an AzureKeyVaultSecret as a controller leaves it after syncing
// version v1 into its Secret, and that Secret's state.
func synced() (*v2beta1.AzureKeyVaultSecret, target, outputState) {
	a := &v2beta1.AzureKeyVaultSecret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db", Generation: 2,
			Labels: map[string]string{"team": "a"}, Annotations: map[string]string{"reloader.stakater.com/match": "true"}},
		Spec: v2beta1.AzureKeyVaultSecretSpec{
			Vault:  v2beta1.AzureKeyVault{Name: "kv", Object: v2beta1.AzureKeyVaultObject{Name: "db", Type: v2beta1.ObjectTypeSecret}},
			Output: &v2beta1.AzureKeyVaultOutput{Secret: &v2beta1.AzureKeyVaultOutputSecret{Name: "db", DataKey: "password"}},
		},
	}
	ts := targetsOf(a)
	a.Status = nextStatus(a, outcome{ready: true, reason: ReasonSynced, version: "v1",
		outputs: []outputResult{{kind: "Secret", name: "db", keys: []string{"password"}, changed: true, created: true}}}, t0)
	st := outputState{
		Exists: true, Data: map[string][]byte{"password": []byte("x")},
		Owners:      owners{"db": {Keys: []string{"password"}, Labels: []string{"team"}, Annotations: []string{"reloader.stakater.com/match"}}},
		Labels:      map[string]string{"team": "a"},
		Annotations: map[string]string{"reloader.stakater.com/match": "true"},
	}
	return a, ts[0], st
}

// TestTakeOverDecision: a starting controller leaves an object unread only
// when the status says it was synced for the current spec and its output
// still holds what the status names; anything else is acted on at once.
func TestTakeOverDecision(t *testing.T) {
	a, tg, st := synced()
	if !syncedBefore(a, []target{tg}) || !outputIntact(a, tg, st) {
		t.Fatal("a synced object with its output intact is not taken over")
	}
	for _, c := range []struct {
		name   string
		mutate func(*v2beta1.AzureKeyVaultSecret, *outputState)
	}{
		{"spec changed", func(a *v2beta1.AzureKeyVaultSecret, _ *outputState) { a.Generation++ }},
		{"not ready", func(a *v2beta1.AzureKeyVaultSecret, _ *outputState) {
			a.Status.Conditions[0].Status, a.Status.Conditions[0].Reason = metav1.ConditionFalse, ReasonKeyVaultUnavailable
		}},
		{"ready for an older generation", func(a *v2beta1.AzureKeyVaultSecret, _ *outputState) { a.Status.Conditions[0].ObservedGeneration-- }},
		{"output renamed in the spec", func(a *v2beta1.AzureKeyVaultSecret, _ *outputState) { a.Status.SecretName = "old" }},
		{"output gone", func(_ *v2beta1.AzureKeyVaultSecret, s *outputState) { *s = outputState{} }},
		{"key removed from the output", func(_ *v2beta1.AzureKeyVaultSecret, s *outputState) { delete(s.Data, "password") }},
		{"owner record removed", func(_ *v2beta1.AzureKeyVaultSecret, s *outputState) { s.Owners = owners{} }},
		{"owner record names other keys", func(_ *v2beta1.AzureKeyVaultSecret, s *outputState) {
			s.Owners["db"] = ownerRecord{Keys: []string{"other"}, Labels: []string{"team"}, Annotations: []string{"reloader.stakater.com/match"}}
			s.Data["other"] = []byte("x")
		}},
		{"label added while no controller ran", func(a *v2beta1.AzureKeyVaultSecret, _ *outputState) { a.Labels["env"] = "prod" }},
		{"label removed while no controller ran", func(a *v2beta1.AzureKeyVaultSecret, _ *outputState) { delete(a.Labels, "team") }},
		{"annotation changed", func(a *v2beta1.AzureKeyVaultSecret, _ *outputState) {
			a.Annotations["reloader.stakater.com/match"] = "false"
		}},
	} {
		a, tg, st := synced()
		c.mutate(a, &st)
		if syncedBefore(a, []target{tg}) && outputIntact(a, tg, st) {
			t.Errorf("%s: taken over unread", c.name)
		}
	}
}

// TestFirstPasses: only the first pass of an object in a process may take it
// over; a new object under the same name is a first pass again.
func TestFirstPasses(t *testing.T) {
	var f firstPasses
	a, _, _ := synced()
	a.UID = "one"
	if !f.first(a) || f.first(a) {
		t.Fatal("first pass not recognised once")
	}
	a.UID = "two"
	if !f.first(a) {
		t.Error("a recreated object is not a first pass")
	}
	f.forget(types.NamespacedName{Namespace: a.Namespace, Name: a.Name})
	if !f.first(a) {
		t.Error("a forgotten object is not a first pass")
	}
}
