package controller

import (
	"context"
	"maps"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/akvsplan"
)

// Taking over from a previous controller.
//
// A controller that starts (a restart, a new leader after a failover) is
// handed every AzureKeyVaultSecret at once, with an empty Key Vault cache.
// Reading them all would spend, for 10,000 objects, 10,000 reads in the
// first minute of a budget of 4,000 per 10 s per vault, for values read
// moments before. Instead the first pass of each object in this process
// trusts what the previous controller left when it shows the object synced
// for its current spec: the status Ready for this generation, the outputs
// holding the keys the status's hashes name, the labels and annotations
// copied, the vault still allowed, and no due time passed since this
// controller started (10,000 first passes take a while). The object is
// then not read until its next due time (schedule.go), which needs no
// state to know.
//
// What this cannot see without reading Key Vault: a value changed in an
// output while no controller ran (a write the watch would have repaired),
// and a due time that passed while no controller ran (between the last
// pass of the previous one and the first of this one: seconds in a
// failover). Both wait for the next due time: at most one interval more. Recording the time of every
// read in the status would tell the second, at the cost of one status
// write per read, while nothing changed (product.md: no writes then).

// firstPasses remembers which AzureKeyVaultSecrets (by UID) this process has
// reconciled. The zero value is ready to use; an entry is a key and a UID.
type firstPasses struct {
	mu   sync.Mutex
	seen map[types.NamespacedName]types.UID
}

// first reports whether this is the process's first pass of akvs (a new UID
// under an old name counts as new) and records it.
func (f *firstPasses) first(akvs *v2beta1.AzureKeyVaultSecret) bool {
	key := types.NamespacedName{Namespace: akvs.Namespace, Name: akvs.Name}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen == nil {
		f.seen = map[types.NamespacedName]types.UID{}
	}
	if uid, ok := f.seen[key]; ok && uid == akvs.UID {
		return false
	}
	f.seen[key] = akvs.UID
	return true
}

func (f *firstPasses) forget(key types.NamespacedName) {
	f.mu.Lock()
	delete(f.seen, key)
	f.mu.Unlock()
}

// syncedBefore reports whether the status says akvs was synced, for its
// current generation, into outputs that still hold what the status names.
// It is the pure half of the takeover decision; outputsIntact reads the
// outputs.
func syncedBefore(akvs *v2beta1.AzureKeyVaultSecret, targets []target) bool {
	st := akvs.Status
	c := meta.FindStatusCondition(st.Conditions, ConditionReady)
	if len(targets) == 0 || len(v2beta1.Check(akvs)) > 0 || st.ObservedGeneration != akvs.Generation ||
		c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != akvs.Generation ||
		(c.Reason != ReasonSynced && c.Reason != ReasonMergedIntoExisting) || st.ObjectVersion == "" {
		return false
	}
	for _, t := range targets {
		if v2beta1.SecretTypeRefused(corev1.SecretType(t.createType)) != "" {
			return false
		}
		if name, hash := statusOutput(st, t.kind.name()); name != t.name || hash == "" {
			return false
		}
	}
	return true
}

// outputIntact reports whether one output, as cached, still holds what the
// status says akvs wrote there: akvs's owner record with the keys the
// status hash covers, each key present, and akvs's copied labels and
// annotations. Values cannot be checked without reading Key Vault.
func outputIntact(akvs *v2beta1.AzureKeyVaultSecret, t target, state outputState) bool {
	rec, ok := state.Owners[akvs.Name]
	if !state.Exists || !ok || len(rec.Keys) == 0 {
		return false
	}
	keys := slices.Sorted(slices.Values(rec.Keys))
	for _, k := range keys {
		if _, ok := state.Data[k]; !ok {
			return false
		}
	}
	if _, want := statusOutput(akvs.Status, t.kind.name()); outputHash(akvs.Status.ObjectVersion, outputResult{kind: t.kind.name(), name: t.name, keys: keys}) != want {
		return false
	}
	return holds(state.Labels, copiedMetadata(akvs.Labels), rec.Labels) &&
		holds(state.Annotations, copiedMetadata(akvs.Annotations), rec.Annotations)
}

// statusOutput is the output of one kind the status names, and its hash.
func statusOutput(st v2beta1.AzureKeyVaultSecretStatus, kind string) (name, hash string) {
	if kind == (configMapKind{}).name() {
		return st.ConfigMapName, st.ConfigMapHash
	}
	return st.SecretName, st.SecretHash
}

// holds reports whether have carries every wanted entry, and the owner
// record names exactly the wanted keys (one copied before and since removed
// from the AzureKeyVaultSecret needs a pass to remove).
func holds(have, want map[string]string, recorded []string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return slices.Equal(slices.Sorted(maps.Keys(want)), slices.Sorted(slices.Values(recorded)))
}

// takeOver reports whether this first pass of akvs in this process can
// leave it as the previous controller did, without reading Key Vault: see
// the comment at the top of this file.
func (r *Reconciler) takeOver(ctx context.Context, akvs *v2beta1.AzureKeyVaultSecret, targets []target) bool {
	if !r.firstPasses.first(akvs) || !syncedBefore(akvs, targets) {
		return false
	}
	plan := akvsplan.Of(akvs)
	if !plan.Pinned() && r.schedule(plan).due(r.now()).After(r.started) {
		return false
	}
	ref := plan.Object()
	if r.Tenancy != nil && !r.Tenancy.Allows(akvs.Namespace, ref.Store, ref.Name) {
		return false
	}
	for _, t := range targets {
		cur := t.kind.newObject()
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: akvs.Namespace, Name: t.name}, cur); err != nil {
			return false
		}
		if !outputIntact(akvs, t, t.kind.state(cur)) {
			return false
		}
	}
	return true
}
