// Package controller syncs AzureKeyVaultSecrets into Secrets and ConfigMaps.
//
// Each pass gathers its inputs (the AzureKeyVaultSecret, the Key Vault object
// through a shared cache, the existing output and its other owners), decides
// with pure functions (internal/output renders the data, ownership.go applies
// the ownership rules, status.go computes the status), then writes: the output
// only when its content differs, the status once and only when it differs.
package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/akvsplan"
	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/tenancy"
)

// ObjectSource reads objects from whichever backend their Ref names.
// Implementations share reads: a read younger than maxAge is served again
// instead of asking the store. backend.Sources over the shared caches is one.
type ObjectSource = backend.Source

// Options tune the controller.
type Options struct {
	// RefreshInterval is how often an unpinned object is read again, unless
	// its AzureKeyVaultSecret sets spec.refreshInterval.
	RefreshInterval time.Duration
	// Jitter spreads objects' due times over this fraction of the interval
	// (1 = all of it), so objects created together do not refresh together.
	// It never lengthens the interval (schedule.go).
	Jitter float64
	// Rollouts turns on rollouts on change (rollouts.go, docs/rollouts.md);
	// RolloutWindow is their debounce window.
	Rollouts      bool
	RolloutWindow time.Duration
}

// Actions of the events the reconciler records (events.k8s.io's "action":
// what the controller did, beside the reason: why).
const (
	actionWrite = "WriteOutput"
	actionSync  = "Sync"
)

// Reconciler syncs one AzureKeyVaultSecret per call.
type Reconciler struct {
	// Client reads from the manager's cache, which holds AzureKeyVaultSecrets
	// and only the Secrets and ConfigMaps latchkey manages.
	Client client.Client
	// APIReader reads around the cache: outputs that exist but are not ours
	// yet (foreign, or created by akv2k8s) and owners in other shards.
	APIReader client.Reader
	Source    ObjectSource
	Recorder  events.EventRecorder
	Metrics   *Metrics
	Options   Options
	// Tenancy is the admin's allow-list of vaults per namespace; nil allows
	// everything.
	Tenancy *tenancy.Source
	// Rollouts, when set (the feature on), is asked whether an opted-in
	// workload consumes an injector-only AzureKeyVaultSecret, whose version
	// is then read on its refresh schedule.
	Rollouts *Rollouts
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	ownWrites   ownWrites
	firstPasses firstPasses
	// started is when this controller made its first pass (takeover.go).
	started     time.Time
	startedOnce sync.Once
}

// Reconcile reads the AzureKeyVaultSecret's object, writes its outputs and
// status, and says when to look again.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	r.startedOnce.Do(func() { r.started = r.now() })
	akvs := &v2beta1.AzureKeyVaultSecret{}
	if err := r.Client.Get(ctx, req.NamespacedName, akvs); err != nil {
		// Deleted: the outputs controller removes its keys.
		if apierrors.IsNotFound(err) {
			r.Metrics.forget(req.NamespacedName)
			r.firstPasses.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	targets := targetsOf(akvs)
	if r.takeOver(ctx, akvs, targets) {
		// Synced by the controller before this one: read at its next due time.
		log.FromContext(ctx).V(1).Info("synced by the previous controller; not read before its next due time")
		r.Metrics.observeTakeOver()
		return r.next(akvs, outcome{ready: true}, false)
	}
	var o outcome
	switch problems := v2beta1.Check(akvs); {
	case len(problems) > 0:
		// Retried when the spec changes; its outputs keep what they hold.
		o = outcome{reason: ReasonInvalidSpec, message: problems.String(), permanent: true}
	case len(targets) == 0:
		o = r.injectorOnly(ctx, akvs)
	default:
		o = r.sync(ctx, akvs, targets)
	}
	var statusErr error
	if !o.raced {
		statusErr = r.writeStatus(ctx, akvs, o)
	}
	if o.raced || lostRace(statusErr) {
		// Someone wrote first (another AzureKeyVaultSecret sharing the
		// output, or our own last write that the cache has not seen yet):
		// not a failure to report, just a pass to redo with fresh objects.
		log.FromContext(ctx).V(1).Info("an output or the status changed while being written; syncing again")
		return ctrl.Result{RequeueAfter: raceRetryDelay}, nil
	}
	if statusErr != nil {
		return ctrl.Result{}, statusErr
	}
	r.Metrics.observeSync(akvs, o, time.Now())
	// An injector-only object is read again only while a rollout follows
	// its version.
	return r.next(akvs, o, o.reason == ReasonInjectorOnly && o.version == "")
}

// injectorOnly is the pass of an AzureKeyVaultSecret without output. Such
// an object is not read, unless an opted-in workload consumes it
// (rollouts.go): then its version is read on its refresh schedule, for the
// status and the rollouts; the value is discarded at once.
func (r *Reconciler) injectorOnly(ctx context.Context, akvs *v2beta1.AzureKeyVaultSecret) outcome {
	o := outcome{ready: true, reason: ReasonInjectorOnly, message: "no output: served to pods by the env injector only"}
	consumed, err := r.Rollouts.consumesInjectorOnly(ctx, akvs)
	if err != nil {
		// The cache cannot list (not synced yet): the workloads' watch
		// brings it back once it can.
		log.FromContext(ctx).Error(err, "listing the workloads that may consume it")
	}
	if !consumed {
		return o
	}
	obj, failed := r.read(ctx, akvs)
	if failed != nil {
		return *failed
	}
	o.version = obj.Version
	return o
}

// read reads the AzureKeyVaultSecret's object, from the shared cache when
// read since its latest due time; a failure is the outcome to report.
func (r *Reconciler) read(ctx context.Context, akvs *v2beta1.AzureKeyVaultSecret) (backend.Object, *outcome) {
	plan := akvsplan.Of(akvs)
	ref := plan.Object()
	if r.Tenancy != nil && !r.Tenancy.Allows(akvs.Namespace, ref.Store, ref.Name) {
		// Retried when the policy changes (watches.go requeues everything).
		return backend.Object{}, &outcome{reason: ReasonVaultNotAllowed, permanent: true,
			message: fmt.Sprintf("namespace %s may not read %s: not in latchkey's tenancy policy; ask your cluster admin", akvs.Namespace, ref)}
	}
	maxAge := plan.MaxAge(r.Options.RefreshInterval) // pinned: any stored read
	if !plan.Pinned() {
		maxAge = r.schedule(plan).maxAge(r.now())
	}
	obj, err := r.Source.Get(ctx, ref, maxAge)
	if err != nil {
		o := storeFailure(err)
		return backend.Object{}, &o
	}
	return obj, nil
}

// raceRetryDelay is how long a pass that lost a race waits: about the time
// the cache takes to see the write that won.
const raceRetryDelay = 500 * time.Millisecond

// lostRace reports whether a write failed only because the object changed
// since it was read: created by someone else meanwhile, or updated (the
// resourceVersion we read is no longer current).
func lostRace(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
}

// sync reads the object once and writes every output from that one read.
// Nothing is written unless every output renders: a bad object never
// replaces a good one.
func (r *Reconciler) sync(ctx context.Context, akvs *v2beta1.AzureKeyVaultSecret, targets []target) outcome {
	for _, t := range targets {
		// Stored before the CRD refused the type: refused again here,
		// before anything is read or written.
		if why := v2beta1.SecretTypeRefused(corev1.SecretType(t.createType)); why != "" {
			return outcome{reason: ReasonSecretTypeNotAllowed, permanent: true, message: "spec.output.secret." + why}
		}
	}
	obj, failed := r.read(ctx, akvs)
	if failed != nil {
		return *failed
	}
	var err error
	rendered := make([]map[string][]byte, len(targets))
	for i, t := range targets {
		if rendered[i], err = t.render(obj); err != nil {
			return renderFailure(t, err)
		}
	}
	o := outcome{ready: true, reason: ReasonSynced, version: obj.Version, message: fmt.Sprintf("synced version %s", obj.Version)}
	for i, t := range targets {
		res, p, err := r.write(ctx, akvs, t, rendered[i])
		if lostRace(err) {
			return outcome{raced: true}
		}
		if err != nil {
			return outcome{reason: ReasonOutputWriteFailed, message: fmt.Sprintf("%s %s: %v", t.kind.name(), t.name, err)}
		}
		if !p.Write {
			// A type mismatch or a refused type needs a spec change; ownership refusals clear
			// when the other party goes, which the output watch sees.
			return outcome{reason: p.Reason, message: fmt.Sprintf("%s %s: %s", t.kind.name(), t.name, p.Message),
				permanent: p.Reason == ReasonInvalidOutput || p.Reason == ReasonSecretTypeNotAllowed}
		}
		if p.Reason == ReasonMergedIntoExisting {
			o.reason, o.message = ReasonMergedIntoExisting, fmt.Sprintf("synced version %s into the existing %s %s", obj.Version, t.kind.name(), t.name)
		}
		o.outputs = append(o.outputs, res)
		// An output's first creation is in the status; events mark changes
		// to outputs that existed (a rotation), which users watch for.
		if res.changed && !res.created {
			r.Recorder.Eventf(akvs, nil, corev1.EventTypeNormal, "Updated", actionWrite, "%s %s updated from Key Vault version %s", t.kind.name(), t.name, obj.Version)
		}
	}
	return o
}

// write applies the ownership rules to one output and writes it if anything
// differs. The output is read from the cache, which holds only outputs
// labelled as ours; when the cache has none, write assumes there is none and
// creates it, and only if that fails because one exists (a foreign Secret,
// one akv2k8s made, or one the cache has not seen yet) reads it from the API
// server and decides again. A new output thus costs one request, not two.
func (r *Reconciler) write(ctx context.Context, akvs *v2beta1.AzureKeyVaultSecret, t target, data map[string][]byte) (outputResult, plan, error) {
	key := types.NamespacedName{Namespace: akvs.Namespace, Name: t.name}
	cur := t.kind.newObject()
	if err := r.Client.Get(ctx, key, cur); apierrorsIsNotFound(err) {
		cur = nil
	} else if err != nil {
		return outputResult{}, plan{}, err
	}
	res, p, err := r.writeOver(ctx, akvs, t, data, cur)
	if cur == nil && apierrors.IsAlreadyExists(err) {
		cur = t.kind.newObject()
		if err := r.APIReader.Get(ctx, key, cur); err != nil {
			return res, p, err
		}
		return r.writeOver(ctx, akvs, t, data, cur)
	}
	return res, p, err
}

// writeOver plans and makes the write of data over cur (nil: no output yet).
func (r *Reconciler) writeOver(ctx context.Context, akvs *v2beta1.AzureKeyVaultSecret, t target, data map[string][]byte, cur client.Object) (outputResult, plan, error) {
	res := outputResult{kind: t.kind.name(), name: t.name, keys: sortedKeys(data)}
	var state outputState
	if cur != nil {
		state = t.kind.state(cur)
	}
	others, err := r.livingOwners(ctx, akvs.Namespace, t, state.Owners, akvs.Name)
	if err != nil {
		return res, plan{}, err
	}
	p := planWrite(claimantOf(akvs), others, state, desiredOutput{
		Type: t.createType, Data: data,
		Labels: copiedMetadata(akvs.Labels), Annotations: copiedMetadata(akvs.Annotations),
	})
	if !p.Write {
		return res, p, nil
	}
	res.changed, res.created = !sameData(state.Data, p.Data), p.Create
	obj := cur
	if obj == nil {
		obj = t.kind.newObject()
		obj.SetNamespace(akvs.Namespace)
		obj.SetName(t.name)
	}
	before := obj.DeepCopyObject()
	t.kind.apply(obj, p)
	if p.Adopt {
		if err := setOwnerRef(r.Client, akvs, obj); err != nil {
			return res, p, err
		}
	}
	switch {
	case p.Create:
		err = r.Client.Create(ctx, obj)
	case !semanticEqual(before, obj):
		err = r.Client.Update(ctx, obj)
	default:
		return res, p, nil
	}
	if err == nil {
		r.ownWrites.record(t.kind.name(), obj)
	}
	return res, p, err
}

// livingOwners returns the other AzureKeyVaultSecrets recorded in an output
// that still exist and still target it. A record of one that is gone or points
// elsewhere is stale: its keys are free.
func (r *Reconciler) livingOwners(ctx context.Context, ns string, t target, o owners, me string) (map[string]claimant, error) {
	alive := map[string]claimant{}
	for name := range o {
		if name == me {
			continue
		}
		other, err := getAKVS(ctx, r.Client, r.APIReader, types.NamespacedName{Namespace: ns, Name: name})
		if err != nil {
			return nil, err
		}
		if other != nil && writesTo(other, t.kind.name(), t.name) {
			alive[name] = claimantOf(other)
		}
	}
	return alive, nil
}

// getAKVS returns an AzureKeyVaultSecret, or nil when it does not exist. One
// missing from the cache may belong to another shard's label selector.
func getAKVS(ctx context.Context, cached client.Client, apiReader client.Reader, key types.NamespacedName) (*v2beta1.AzureKeyVaultSecret, error) {
	akvs := &v2beta1.AzureKeyVaultSecret{}
	err := cached.Get(ctx, key, akvs)
	if apierrorsIsNotFound(err) {
		err = apiReader.Get(ctx, key, akvs)
	}
	if apierrorsIsNotFound(err) {
		return nil, nil
	}
	return akvs, err
}

// writeStatus patches the status when it differs, then records a Warning
// event when the AzureKeyVaultSecret becomes (or stays, for a new reason)
// not ready, and a Normal one when it recovers: events mark changes, not
// every retry. The patch is conditional on the resourceVersion read, so a
// status computed from a stale cache is refused (a conflict) rather than
// written, and its events are not recorded.
func (r *Reconciler) writeStatus(ctx context.Context, akvs *v2beta1.AzureKeyVaultSecret, o outcome) error {
	prev := readyCondition(akvs.Status)
	next := nextStatus(akvs, o, r.now())
	if statusChanged(akvs.Status, next) {
		orig := akvs.DeepCopy()
		akvs.Status = next
		if err := r.Client.Status().Patch(ctx, akvs, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
	}
	if !o.ready && (prev == nil || prev.Status != metav1.ConditionFalse || prev.Reason != o.reason) {
		r.Recorder.Eventf(akvs, nil, corev1.EventTypeWarning, o.reason, actionSync, "%s", o.message)
	}
	if o.ready && prev != nil && prev.Status == metav1.ConditionFalse {
		r.Recorder.Eventf(akvs, nil, corev1.EventTypeNormal, "Recovered", actionSync, "%s", o.message)
	}
	return nil
}

// next says when to reconcile again: at the object's next due time after a
// success (schedule.go), never for a pinned version or an output-less
// object, and with backoff after a failure, honouring Key Vault's
// Retry-After.
func (r *Reconciler) next(akvs *v2beta1.AzureKeyVaultSecret, o outcome, injectorOnly bool) (ctrl.Result, error) {
	plan := akvsplan.Of(akvs)
	switch {
	case injectorOnly:
		return ctrl.Result{}, nil
	case o.ready && plan.Pinned():
		return ctrl.Result{}, nil
	case o.ready:
		now := r.now()
		return ctrl.Result{RequeueAfter: r.schedule(plan).next(now).Sub(now)}, nil
	case o.retryAfter > 0:
		return ctrl.Result{RequeueAfter: o.retryAfter}, nil
	case o.permanent:
		// A spec problem: retried when the AzureKeyVaultSecret changes.
		return ctrl.Result{}, reconcile.TerminalError(errors.New(o.message))
	default:
		// The workqueue's per-object exponential backoff.
		return ctrl.Result{}, errors.New(o.message)
	}
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// schedule is the refresh schedule of an unpinned plan's object.
func (r *Reconciler) schedule(plan akvsplan.Plan) schedule {
	return scheduleOf(plan.Object(), plan.Interval(r.Options.RefreshInterval), r.Options.Jitter)
}
