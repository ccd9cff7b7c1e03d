package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/akvsplan"
	"github.com/latchkey-dev/latchkey/internal/output"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/rollout"
)

// Rollouts on change (docs/rollouts.md): a Deployment, StatefulSet or
// DaemonSet annotated rollout.OptInAnnotation is rolled out when the
// version of an AzureKeyVaultSecret its pod template consumes changes. The
// controller does it because it is the component that knows the versions:
// it writes them to status.objectVersion (reading those of injector-only
// AzureKeyVaultSecrets a workload consumes for that alone). Decisions are
// internal/rollout's pure functions; this file reads and writes.
//
// Writes: one JSON merge patch per decision, of latchkey.dev/ annotations
// only (the baseline and rollout time on the workload's metadata, the
// versions digest on its pod template when it rolls), conditional on the
// resourceVersion read, so a decision made from a stale cache (just after
// our own patch) is refused instead of rolling twice.

// rolloutFieldOwner is the field manager of the rollout patches.
const rolloutFieldOwner = "latchkey-rollouts"

// Actions and reasons of the rollout events.
const (
	actionRollout = "Rollout"
	// ReasonRolledOut is the reason of the event on a workload latchkey
	// rolled out.
	ReasonRolledOut = "RolledOut"
)

// maxEventNote bounds an event's note (events.k8s.io refuses over 1 kB).
const maxEventNote = 1000

// workloadKind is one kind of workload that can be rolled out.
type workloadKind struct {
	name      string
	newObject func() client.Object
	newList   func() client.ObjectList
	items     func(client.ObjectList) []client.Object
	template  func(client.Object) *corev1.PodTemplateSpec
}

var workloadKinds = []workloadKind{
	{
		name:      "Deployment",
		newObject: func() client.Object { return &appsv1.Deployment{} },
		newList:   func() client.ObjectList { return &appsv1.DeploymentList{} },
		items:     func(l client.ObjectList) []client.Object { return itemsOf(l.(*appsv1.DeploymentList).Items) },
		template:  func(o client.Object) *corev1.PodTemplateSpec { return &o.(*appsv1.Deployment).Spec.Template },
	},
	{
		name:      "StatefulSet",
		newObject: func() client.Object { return &appsv1.StatefulSet{} },
		newList:   func() client.ObjectList { return &appsv1.StatefulSetList{} },
		items:     func(l client.ObjectList) []client.Object { return itemsOf(l.(*appsv1.StatefulSetList).Items) },
		template:  func(o client.Object) *corev1.PodTemplateSpec { return &o.(*appsv1.StatefulSet).Spec.Template },
	},
	{
		name:      "DaemonSet",
		newObject: func() client.Object { return &appsv1.DaemonSet{} },
		newList:   func() client.ObjectList { return &appsv1.DaemonSetList{} },
		items:     func(l client.ObjectList) []client.Object { return itemsOf(l.(*appsv1.DaemonSetList).Items) },
		template:  func(o client.Object) *corev1.PodTemplateSpec { return &o.(*appsv1.DaemonSet).Spec.Template },
	},
}

func itemsOf[T any, PT interface {
	*T
	client.Object
}](items []T) []client.Object {
	out := make([]client.Object, len(items))
	for i := range items {
		out[i] = PT(&items[i])
	}
	return out
}

// optedIn reports whether a workload asks to be rolled out on change.
func optedIn(obj client.Object) bool {
	return strings.EqualFold(strings.TrimSpace(obj.GetAnnotations()[rollout.OptInAnnotation]), "true")
}

// SlimWorkload is the cache transform of the workloads: it keeps what
// rollout.Consumed and rollout.Decide read and drops the rest (status,
// labels, managed fields, images, probes, resources, env values that are
// not placeholders…). A workload not opted in keeps only its identity and
// latchkey's annotations.
func SlimWorkload(in any) (any, error) {
	obj, ok := in.(client.Object)
	if !ok {
		return in, nil
	}
	meta := metav1.ObjectMeta{Name: obj.GetName(), Namespace: obj.GetNamespace(), UID: obj.GetUID(),
		ResourceVersion: obj.GetResourceVersion(), Generation: obj.GetGeneration(), Annotations: latchkeyAnnotations(obj.GetAnnotations())}
	opted := optedIn(obj)
	slimTemplate := func(t *corev1.PodTemplateSpec) corev1.PodTemplateSpec {
		if !opted {
			return corev1.PodTemplateSpec{}
		}
		return corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Annotations: latchkeyAnnotations(t.Annotations)},
			Spec: corev1.PodSpec{InitContainers: slimContainers(t.Spec.InitContainers), Containers: slimContainers(t.Spec.Containers),
				Volumes: slimVolumes(t.Spec.Volumes)},
		}
	}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &appsv1.Deployment{TypeMeta: o.TypeMeta, ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Template: slimTemplate(&o.Spec.Template)}}, nil
	case *appsv1.StatefulSet:
		return &appsv1.StatefulSet{TypeMeta: o.TypeMeta, ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Template: slimTemplate(&o.Spec.Template)}}, nil
	case *appsv1.DaemonSet:
		return &appsv1.DaemonSet{TypeMeta: o.TypeMeta, ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Template: slimTemplate(&o.Spec.Template)}}, nil
	}
	return in, nil
}

func latchkeyAnnotations(a map[string]string) map[string]string {
	var out map[string]string
	for k, v := range a {
		if strings.HasPrefix(k, "latchkey.dev/") {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

func slimContainers(cs []corev1.Container) []corev1.Container {
	if len(cs) == 0 {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i, c := range cs {
		for _, e := range c.Env {
			se := corev1.EnvVar{Name: e.Name}
			if _, ok := podcontract.ParsePlaceholder(e.Value); ok {
				se.Value = e.Value
			}
			if f := e.ValueFrom; f != nil && (f.SecretKeyRef != nil || f.ConfigMapKeyRef != nil) {
				se.ValueFrom = &corev1.EnvVarSource{SecretKeyRef: f.SecretKeyRef, ConfigMapKeyRef: f.ConfigMapKeyRef}
			}
			if se.Value != "" || se.ValueFrom != nil {
				out[i].Env = append(out[i].Env, se)
			}
		}
		out[i].Name, out[i].EnvFrom = c.Name, c.EnvFrom
	}
	return out
}

func slimVolumes(vs []corev1.Volume) []corev1.Volume {
	var out []corev1.Volume
	for _, v := range vs {
		s := corev1.VolumeSource{Secret: v.Secret, ConfigMap: v.ConfigMap}
		if p := v.Projected; p != nil {
			s.Projected = &corev1.ProjectedVolumeSource{}
			for _, src := range p.Sources {
				if src.Secret != nil || src.ConfigMap != nil {
					s.Projected.Sources = append(s.Projected.Sources, corev1.VolumeProjection{Secret: src.Secret, ConfigMap: src.ConfigMap})
				}
			}
		}
		if s.Secret != nil || s.ConfigMap != nil || (s.Projected != nil && len(s.Projected.Sources) > 0) {
			out = append(out, corev1.Volume{Name: v.Name, VolumeSource: s})
		}
	}
	return out
}

// Rollouts rolls out the opted-in workloads of the cache when a version they
// consume changes. Its zero value is not ready: SetupWithManager fills it.
type Rollouts struct {
	// Client reads from the manager's cache (workloads, slimmed, and
	// AzureKeyVaultSecrets) and writes.
	Client client.Client
	// APIReader reads an AzureKeyVaultSecret fresh to record a rollout.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Metrics   *Metrics
	// Window: changes within it make one rollout; a workload is rolled at
	// most once per window.
	Window time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu sync.Mutex
	// pending is when a change not yet rolled was first seen, per workload.
	// Lost on restart, which only restarts the window (RolledAtAnnotation
	// keeps the at-most-once-a-window promise).
	pending map[workloadKey]time.Time
}

type workloadKey struct {
	kind string
	types.NamespacedName
}

func (r *Rollouts) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// SetupWithManager registers one controller per workload kind.
func (r *Rollouts) SetupWithManager(mgr ctrl.Manager) error {
	r.pending = map[workloadKey]time.Time{}
	for _, k := range workloadKinds {
		wr := &workloadReconciler{Rollouts: r, kind: k}
		err := ctrl.NewControllerManagedBy(mgr).
			Named("rollout-"+strings.ToLower(k.name)).
			// Status changes (a rollout in progress) are not ours to see.
			For(k.newObject(), builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
			Watches(&v2beta1.AzureKeyVaultSecret{}, handler.EnqueueRequestsFromMapFunc(wr.consumersOf), builder.WithPredicates(versionChanged())).
			Complete(wr)
		if err != nil {
			return err
		}
	}
	return nil
}

// versionChanged passes the updates of an AzureKeyVaultSecret that change
// its status.objectVersion: what a rollout follows.
func versionChanged() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*v2beta1.AzureKeyVaultSecret)
			n, ok2 := e.ObjectNew.(*v2beta1.AzureKeyVaultSecret)
			return ok1 && ok2 && o.Status.ObjectVersion != n.Status.ObjectVersion
		},
	}
}

// sourcesIn lists the AzureKeyVaultSecrets of a namespace as consumption
// sources: only the workload's own namespace counts.
func sourcesIn(ctx context.Context, c client.Reader, ns string) ([]rollout.Source, map[string]string, error) {
	list := &v2beta1.AzureKeyVaultSecretList{}
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, nil, err
	}
	sources := make([]rollout.Source, 0, len(list.Items))
	versions := map[string]string{}
	for i := range list.Items {
		sources = append(sources, sourceOf(&list.Items[i]))
		versions[list.Items[i].Name] = list.Items[i].Status.ObjectVersion
	}
	return sources, versions, nil
}

func sourceOf(akvs *v2beta1.AzureKeyVaultSecret) rollout.Source {
	s := rollout.Source{Name: akvs.Name}
	for _, o := range akvsplan.Of(akvs).Outputs {
		if o.Spec.Target == output.TargetSecret {
			s.Secret = o.Name
		} else {
			s.ConfigMap = o.Name
		}
	}
	return s
}

// workloadReconciler decides for the workloads of one kind.
type workloadReconciler struct {
	*Rollouts
	kind workloadKind
}

// consumersOf maps an AzureKeyVaultSecret to the opted-in workloads of the
// kind in its namespace that consume it.
func (r *workloadReconciler) consumersOf(ctx context.Context, obj client.Object) []reconcile.Request {
	akvs, ok := obj.(*v2beta1.AzureKeyVaultSecret)
	if !ok {
		return nil
	}
	list := r.kind.newList()
	if err := r.Client.List(ctx, list, client.InNamespace(akvs.Namespace)); err != nil {
		log.FromContext(ctx).Error(err, "listing workloads", "kind", r.kind.name)
		return nil
	}
	var reqs []reconcile.Request
	src := []rollout.Source{sourceOf(akvs)}
	for _, w := range r.kind.items(list) {
		if optedIn(w) && len(rollout.Consumed(r.kind.template(w), src)) > 0 {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(w)})
		}
	}
	return reqs
}

func (r *workloadReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	key := workloadKey{r.kind.name, req.NamespacedName}
	w := r.kind.newObject()
	if err := r.Client.Get(ctx, req.NamespacedName, w); err != nil || !optedIn(w) {
		r.setPending(key, time.Time{})
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	sources, all, err := sourcesIn(ctx, r.Client, req.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	current := rollout.Versions{}
	for _, name := range rollout.Consumed(r.kind.template(w), sources) {
		if v := all[name]; v != "" {
			current[name] = v
		}
	}
	st := rollout.StateOf(w.GetAnnotations())
	now := r.now()
	d := rollout.Decide(st, current, r.getPending(key), now, r.Window)
	if !d.Write {
		if d.Wait > 0 {
			if r.getPending(key).IsZero() {
				r.setPending(key, now)
			}
			return ctrl.Result{RequeueAfter: d.Wait}, nil
		}
		r.setPending(key, time.Time{})
		return ctrl.Result{}, nil
	}
	if err := r.patch(ctx, w, d, now); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			// Changed since the cache saw it (our own last patch, most
			// often): decided again on the next version.
			return ctrl.Result{RequeueAfter: raceRetryDelay}, nil
		}
		return ctrl.Result{}, err
	}
	r.Metrics.observeWorkloadPatch(r.kind.name, d.Roll)
	if !d.Roll {
		log.FromContext(ctx).V(1).Info("rollout baseline recorded", "versions", d.Baseline.String())
		return ctrl.Result{}, nil
	}
	r.setPending(key, time.Time{})
	changes := make([]string, len(d.Changed))
	for i, name := range d.Changed {
		changes[i] = fmt.Sprintf("%s (version %s → %s)", name, st.Baseline[name], current[name])
	}
	log.FromContext(ctx).Info("rolled out", "changed", d.Changed)
	r.Recorder.Eventf(w, nil, corev1.EventTypeNormal, ReasonRolledOut, actionRollout, "%s",
		boundNote("rolled out: AzureKeyVaultSecret "+strings.Join(changes, ", ")+" changed"))
	for _, name := range d.Changed {
		if err := r.recordRollout(ctx, types.NamespacedName{Namespace: req.Namespace, Name: name}, v2beta1.WorkloadRollout{
			Kind: r.kind.name, Name: req.Name, Version: current[name], Time: metav1.NewTime(now.Truncate(time.Second)),
		}); err != nil {
			// The rollout is done; only its record in the status is lost.
			log.FromContext(ctx).Error(err, "recording the rollout in the status", "azureKeyVaultSecret", name)
		}
	}
	return ctrl.Result{}, nil
}

// patch writes a decision: one JSON merge patch of latchkey's annotations,
// conditional on the resourceVersion read.
func (r *workloadReconciler) patch(ctx context.Context, w client.Object, d rollout.Decision, now time.Time) error {
	meta := map[string]any{
		"resourceVersion": w.GetResourceVersion(),
		"annotations":     map[string]any{rollout.BaselineAnnotation: d.Baseline.String()},
	}
	body := map[string]any{"metadata": meta}
	if d.Roll {
		meta["annotations"].(map[string]any)[rollout.RolledAtAnnotation] = now.UTC().Format(time.RFC3339Nano)
		body["spec"] = map[string]any{"template": map[string]any{"metadata": map[string]any{
			"annotations": map[string]any{rollout.VersionsAnnotation: d.Baseline.Digest()}}}}
	}
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return r.Client.Patch(ctx, w, client.RawPatch(types.MergePatchType, data), client.FieldOwner(rolloutFieldOwner))
}

// recordRollout adds a rollout to an AzureKeyVaultSecret's status.rollouts
// (newest first, one per workload, bounded), retrying on conflicts with the
// status writes of the sync.
func (r *Rollouts) recordRollout(ctx context.Context, key types.NamespacedName, rec v2beta1.WorkloadRollout) error {
	var err error
	for range 5 {
		akvs := &v2beta1.AzureKeyVaultSecret{}
		if err = r.APIReader.Get(ctx, key, akvs); err != nil {
			return client.IgnoreNotFound(err)
		}
		orig := akvs.DeepCopy()
		akvs.Status.Rollouts = withRollout(akvs.Status.Rollouts, rec)
		err = r.Client.Status().Patch(ctx, akvs, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
		if !apierrors.IsConflict(err) {
			return err
		}
	}
	return err
}

// withRollout puts rec first in list, replacing the same workload's entry,
// and keeps at most v2beta1.MaxStatusRollouts.
func withRollout(list []v2beta1.WorkloadRollout, rec v2beta1.WorkloadRollout) []v2beta1.WorkloadRollout {
	out := []v2beta1.WorkloadRollout{rec}
	for _, e := range list {
		if e.Kind != rec.Kind || e.Name != rec.Name {
			out = append(out, e)
		}
	}
	return out[:min(len(out), v2beta1.MaxStatusRollouts)]
}

// boundNote cuts an event note to what events.k8s.io accepts.
func boundNote(s string) string {
	if len(s) <= maxEventNote {
		return s
	}
	return strings.ToValidUTF8(s[:maxEventNote-1], "") + "…"
}

func (r *Rollouts) getPending(k workloadKey) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending[k]
}

func (r *Rollouts) setPending(k workloadKey, t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t.IsZero() {
		delete(r.pending, k)
	} else {
		r.pending[k] = t
	}
}

// consumesInjectorOnly reports whether an opted-in workload of akvs's
// namespace consumes it: then the controller reads an injector-only
// AzureKeyVaultSecret's version on its refresh schedule. A nil *Rollouts
// (the feature off) never does.
func (r *Rollouts) consumesInjectorOnly(ctx context.Context, akvs *v2beta1.AzureKeyVaultSecret) (bool, error) {
	if r == nil {
		return false, nil
	}
	src := []rollout.Source{{Name: akvs.Name}}
	for _, k := range workloadKinds {
		list := k.newList()
		if err := r.Client.List(ctx, list, client.InNamespace(akvs.Namespace)); err != nil {
			return false, err
		}
		for _, w := range k.items(list) {
			if optedIn(w) && len(rollout.Consumed(k.template(w), src)) > 0 {
				return true, nil
			}
		}
	}
	return false, nil
}

// injectorOnlyConsumed maps an opted-in workload to the injector-only
// AzureKeyVaultSecrets it consumes, so their versions start being read
// when a workload starts consuming them.
func (r *Rollouts) injectorOnlyConsumed(k workloadKind) handler.MapFunc {
	return func(ctx context.Context, w client.Object) []reconcile.Request {
		if !optedIn(w) {
			return nil
		}
		sources, _, err := sourcesIn(ctx, r.Client, w.GetNamespace())
		if err != nil {
			return nil
		}
		sources = slices.DeleteFunc(sources, func(s rollout.Source) bool { return s.Secret != "" || s.ConfigMap != "" })
		var reqs []reconcile.Request
		for _, name := range rollout.Consumed(k.template(w), sources) {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: w.GetNamespace(), Name: name}})
		}
		return reqs
	}
}
