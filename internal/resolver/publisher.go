package resolver

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// ManagedByLabel marks the ConfigMaps the publisher writes.
const ManagedByLabel = "app.kubernetes.io/managed-by"

// Publisher keeps the resolver's CA bundle in a ConfigMap of every
// namespace labelled for injection: it creates it when a namespace gets the
// label, rewrites it when the bundle file changes or someone edits it. It
// runs on the leader only, and is idempotent: a second writer writes the
// same data. A namespace that loses the label keeps its ConfigMap (its
// pods may still mount it; the resolver refuses them anyway).
type Publisher struct {
	// Client reads namespaces and ConfigMaps from the manager's cache
	// (labelled namespaces; ConfigMaps of the one name) and writes.
	Client client.Client
	// Name of the ConfigMap.
	Name string
	// Label is the namespace label whose value "enabled" opts in.
	Label  string
	Bundle *CABundle
}

// Reconcile makes namespace req.Name's ConfigMap hold the bundle.
func (p *Publisher) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	ns := &corev1.Namespace{}
	if err := p.Client.Get(ctx, types.NamespacedName{Name: req.Name}, ns); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if ns.Labels[p.Label] != "enabled" || ns.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	bundle := string(p.Bundle.PEM())
	cm := &corev1.ConfigMap{}
	err := p.Client.Get(ctx, types.NamespacedName{Namespace: req.Name, Name: p.Name}, cm)
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: req.Name, Name: p.Name, Labels: map[string]string{ManagedByLabel: "latchkey"}},
			Data:       map[string]string{podcontract.CABundleKey: bundle},
		}
		if err := p.Client.Create(ctx, cm); err != nil {
			return reconcile.Result{}, fmt.Errorf("create ConfigMap %s/%s: %w", req.Name, p.Name, err)
		}
		ctrl.LoggerFrom(ctx).Info("CA bundle published", "configMap", client.ObjectKeyFromObject(cm))
		return reconcile.Result{}, nil
	case err != nil:
		return reconcile.Result{}, err
	}
	if cm.Data[podcontract.CABundleKey] == bundle && cm.Labels[ManagedByLabel] == "latchkey" {
		return reconcile.Result{}, nil
	}
	cm = cm.DeepCopy()
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	cm.Data[podcontract.CABundleKey], cm.Labels[ManagedByLabel] = bundle, "latchkey"
	if err := p.Client.Update(ctx, cm); err != nil {
		return reconcile.Result{}, fmt.Errorf("update ConfigMap %s/%s: %w", req.Name, p.Name, err)
	}
	ctrl.LoggerFrom(ctx).Info("CA bundle updated", "configMap", client.ObjectKeyFromObject(cm))
	return reconcile.Result{}, nil
}

// SetupWithManager registers the publisher: it watches labelled namespaces
// (the cache holds no others), the ConfigMaps of its name, and the bundle
// file, whose changes requeue every labelled namespace.
func (p *Publisher) SetupWithManager(mgr ctrl.Manager) error {
	changes := make(chan event.GenericEvent)
	p.Bundle.OnChange = func() {
		go func() {
			list := &corev1.NamespaceList{}
			if err := mgr.GetCache().List(context.Background(), list); err != nil {
				mgr.GetLogger().Error(err, "CA bundle changed, but the namespaces could not be listed")
				return
			}
			for i := range list.Items {
				changes <- event.GenericEvent{Object: &list.Items[i]}
			}
		}()
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("resolver-ca-bundle").
		For(&corev1.Namespace{}).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			if o.GetName() != p.Name {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: o.GetNamespace()}}}
		})).
		WatchesRawSource(source.Channel(changes, &handler.EnqueueRequestForObject{})).
		Complete(p)
}
