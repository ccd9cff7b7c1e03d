package controller

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
)

// SetupWithManager registers the AzureKeyVaultSecret controller and the two
// output cleanup controllers with mgr.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	// Failures back off per object from one second to five minutes; no
	// global bucket, so a burst of new objects is not slowed by old failures.
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Second, 5*time.Minute)
	b := ctrl.NewControllerManagedBy(mgr)
	if r.Rollouts != nil {
		// An opted-in workload that starts consuming an injector-only
		// AzureKeyVaultSecret has its version read (rollouts.go).
		for _, k := range workloadKinds {
			b = b.Watches(k.newObject(), handler.EnqueueRequestsFromMapFunc(r.Rollouts.injectorOnlyConsumed(k)),
				builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{})))
		}
	}
	err := b.
		Named("azurekeyvaultsecret").
		// Our own status writes change neither generation, labels nor
		// annotations, so they do not wake us.
		For(&v2beta1.AzureKeyVaultSecret{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// An output edited or deleted by someone else is repaired by its owners.
		Watches(&corev1.Secret{}, r.ownersOf(secretKind{}.name())).
		Watches(&corev1.ConfigMap{}, r.ownersOf(configMapKind{}.name())).
		// A new tenancy policy may allow or deny any of them.
		WatchesRawSource(r.policyChanges(mgr)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, RateLimiter: limiter}).
		Complete(r)
	if err != nil {
		return err
	}
	if r.Rollouts != nil {
		if err := r.Rollouts.SetupWithManager(mgr); err != nil {
			return err
		}
	}
	for _, out := range []struct {
		name string
		obj  client.Object
		r    *OutputReconciler
	}{
		{"secret-outputs", &corev1.Secret{}, NewSecretOutputReconciler(r.Client, r.APIReader)},
		{"configmap-outputs", &corev1.ConfigMap{}, NewConfigMapOutputReconciler(r.Client, r.APIReader)},
	} {
		out.r.Metrics = r.Metrics
		err := ctrl.NewControllerManagedBy(mgr).
			Named(out.name).
			For(out.obj).
			// A deleted or re-targeted AzureKeyVaultSecret releases its keys.
			Watches(&v2beta1.AzureKeyVaultSecret{}, handler.EnqueueRequestsFromMapFunc(outputsOf(out.r.kind.name()))).
			Complete(out.r)
		if err != nil {
			return err
		}
	}
	return nil
}

// policyChanges is the source that requeues every AzureKeyVaultSecret when
// the tenancy policy changes; nil Tenancy has no changes.
func (r *Reconciler) policyChanges(mgr ctrl.Manager) source.TypedSource[reconcile.Request] {
	p := &policyChanges{cache: mgr.GetCache(), log: mgr.GetLogger()}
	if r.Tenancy != nil {
		r.Tenancy.OnChange = p.changed
	}
	return p
}

// ownersOf enqueues the AzureKeyVaultSecrets recorded in an output when
// someone else created or changed it, and whenever it is deleted: events that
// only show the version this controller wrote need no reconcile.
func (r *Reconciler) ownersOf(kind string) handler.EventHandler {
	enqueue := func(q workqueue.TypedRateLimitingInterface[reconcile.Request], obj client.Object, always bool) {
		if !always && r.ownWrites.wrote(kind, obj) {
			return
		}
		for _, req := range ownerRequests(obj) {
			q.Add(req)
		}
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(q, e.Object, false)
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if r.ownWrites.wrote(kind, e.ObjectNew) {
				return
			}
			// Someone else's edit: the owners before it too (it may have
			// dropped our annotation).
			enqueue(q, e.ObjectOld, true)
			enqueue(q, e.ObjectNew, true)
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(q, e.Object, true)
		},
	}
}

// ownerRequests lists the AzureKeyVaultSecrets recorded in an output.
func ownerRequests(obj client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	for name := range parseOwners(obj.GetAnnotations()) {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}})
	}
	return reqs
}

// outputsOf maps an AzureKeyVaultSecret to the outputs of one kind it writes
// now and wrote last (its status names them), so a rename releases the old.
func outputsOf(kind string) handler.MapFunc {
	return func(_ context.Context, obj client.Object) []reconcile.Request {
		akvs, ok := obj.(*v2beta1.AzureKeyVaultSecret)
		if !ok {
			return nil
		}
		names := map[string]bool{}
		for _, t := range targetsOf(akvs) {
			if t.kind.name() == kind {
				names[t.name] = true
			}
		}
		switch kind {
		case "Secret":
			names[akvs.Status.SecretName] = true
		case "ConfigMap":
			names[akvs.Status.ConfigMapName] = true
		}
		var reqs []reconcile.Request
		for n := range names {
			if n != "" {
				reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: akvs.Namespace, Name: n}})
			}
		}
		return reqs
	}
}

// policyChanges is a source of the AzureKeyVaultSecret controller: when the
// tenancy policy changes it queues every cached AzureKeyVaultSecret, so
// grants and revocations take effect at once rather than at each object's
// next refresh. It queues only while the controller runs, on the leader.
// Every replica follows the policy file (tenancy.Watcher), but a
// follower's change has nothing to do: its controller, once it leads,
// starts by reconciling every object under the policy then in force.
type policyChanges struct {
	cache client.Reader
	log   logr.Logger

	mu    sync.Mutex
	queue workqueue.TypedRateLimitingInterface[reconcile.Request] // nil until the controller starts
}

// Start is called by the controller when it starts (source.TypedSource).
func (p *policyChanges) Start(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	p.mu.Lock()
	p.queue = q
	p.mu.Unlock()
	context.AfterFunc(ctx, func() {
		p.mu.Lock()
		p.queue = nil
		p.mu.Unlock()
	})
	return nil
}

// changed queues every cached AzureKeyVaultSecret, if the controller runs.
// It is the policy's OnChange: it lists the cache and adds to the queue,
// neither of which waits on anyone.
func (p *policyChanges) changed() {
	p.mu.Lock()
	q := p.queue
	p.mu.Unlock()
	if q == nil {
		return
	}
	list := &v2beta1.AzureKeyVaultSecretList{}
	if err := p.cache.List(context.Background(), list); err != nil {
		p.log.Error(err, "tenancy policy changed, but the AzureKeyVaultSecrets could not be listed")
		return
	}
	for i := range list.Items {
		q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
}
