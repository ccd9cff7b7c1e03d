package controller

import (
	"context"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// OutputReconciler removes from a Secret or ConfigMap the keys of
// AzureKeyVaultSecrets that were deleted or now write elsewhere, and deletes
// an output latchkey created once nothing is left in it. It works from the
// owners annotation alone: no Key Vault, no finalizer on the
// AzureKeyVaultSecret (which would make namespace deletion wait for us).
type OutputReconciler struct {
	Client    client.Client
	APIReader client.Reader
	// Metrics counts a failed cleanup after a deletion; nil counts nothing.
	Metrics *Metrics
	kind    outputKind
}

// NewSecretOutputReconciler cleans up Secrets.
func NewSecretOutputReconciler(c client.Client, apiReader client.Reader) *OutputReconciler {
	return &OutputReconciler{Client: c, APIReader: apiReader, kind: secretKind{}}
}

// NewConfigMapOutputReconciler cleans up ConfigMaps.
func NewConfigMapOutputReconciler(c client.Client, apiReader client.Reader) *OutputReconciler {
	return &OutputReconciler{Client: c, APIReader: apiReader, kind: configMapKind{}}
}

// Reconcile releases what departed owners held in one output.
func (r *OutputReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := r.kind.newObject()
	if err := r.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	state := r.kind.state(obj)
	var gone []string
	deleted := false
	for name := range state.Owners {
		akvs, err := getAKVS(ctx, r.Client, r.APIReader, types.NamespacedName{Namespace: req.Namespace, Name: name})
		if err != nil {
			return ctrl.Result{}, err
		}
		if akvs == nil || !writesTo(akvs, r.kind.name(), req.Name) {
			gone = append(gone, name)
			deleted = deleted || akvs == nil
		}
	}
	if len(gone) == 0 {
		return ctrl.Result{}, nil
	}
	slices.Sort(gone)
	var p plan
	empty := false
	for _, name := range gone {
		p, empty = planRelease(name, state)
		state.Data, state.Owners, state.Labels, state.Annotations = p.Data, p.Owners, p.Labels, p.Annotations
	}
	created := len(state.OwnerUIDs) > 0
	var err error
	if empty && created && len(p.Owners) == 0 {
		// Preconditions: delete only the version we read, not one someone
		// just added keys to.
		err = client.IgnoreNotFound(r.Client.Delete(ctx, obj, client.Preconditions{UID: ptr.To(obj.GetUID()), ResourceVersion: ptr.To(obj.GetResourceVersion())}))
	} else {
		r.kind.apply(obj, p)
		refs := obj.GetOwnerReferences()
		obj.SetOwnerReferences(slices.DeleteFunc(refs, func(ref metav1.OwnerReference) bool {
			return isAKVSRef(ref.APIVersion, ref.Kind) && slices.Contains(gone, ref.Name)
		}))
		err = r.Client.Update(ctx, obj)
	}
	if lostRace(err) {
		// An owner wrote the output since the cache saw it: release again
		// from the current version.
		return ctrl.Result{RequeueAfter: raceRetryDelay}, nil
	}
	if err != nil && deleted {
		r.Metrics.observeCleanupFailure()
	}
	return ctrl.Result{}, err
}
