package bench

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/controller"
)

// setupWorkers is how many create requests the benchmark has in flight.
const setupWorkers = 48

// akvsSpec is one AzureKeyVaultSecret of a benchmark: it reads a secret of
// vault into a Secret of its own name, under the key "value".
func akvsSpec(ns, name, vault string, object int) *v2beta1.AzureKeyVaultSecret {
	return &v2beta1.AzureKeyVaultSecret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v2beta1.AzureKeyVaultSecretSpec{
			Vault: v2beta1.AzureKeyVault{Name: vault, Object: v2beta1.AzureKeyVaultObject{
				Name: objectName(object), Type: v2beta1.ObjectTypeSecret,
			}},
			Output: &v2beta1.AzureKeyVaultOutput{Secret: &v2beta1.AzureKeyVaultOutputSecret{Name: name, DataKey: "value"}},
		},
	}
}

func (e *benchEnv) createNamespaces(b *testing.B, names ...string) {
	b.Helper()
	for _, n := range names {
		err := e.client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			b.Fatal(err)
		}
	}
}

// parallel calls fn(0..n-1) from workers goroutines and returns the first
// errors (at most a few).
func parallel(n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if len(errs) < 5 {
						errs = append(errs, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// createAll creates the objects concurrently.
func (e *benchEnv) createAll(b *testing.B, objs []*v2beta1.AzureKeyVaultSecret) {
	b.Helper()
	err := parallel(len(objs), setupWorkers, func(i int) error {
		return e.client.Create(context.Background(), objs[i])
	})
	if err != nil {
		b.Fatalf("creating AzureKeyVaultSecrets: %v", err)
	}
}

// cleanupNamespace deletes the AzureKeyVaultSecrets and Secrets a benchmark
// left in ns, once its controller is stopped, so later benchmarks (the
// memory one watches every namespace) do not see them. envtest runs no
// namespace or garbage collector, so deleting the namespace would not do.
func (e *benchEnv) cleanupNamespace(b *testing.B, ns string) {
	b.Cleanup(func() {
		ctx := context.Background()
		if err := e.client.DeleteAllOf(ctx, &v2beta1.AzureKeyVaultSecret{}, client.InNamespace(ns)); err != nil {
			b.Errorf("cleanup %s: %v", ns, err)
		}
		if err := e.client.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace(ns)); err != nil {
			b.Errorf("cleanup %s: %v", ns, err)
		}
	})
}

// tracker follows AzureKeyVaultSecrets and their output Secrets through
// watches (one informer each, in the benchmark process) and says when every
// one is Ready for its current generation and every output holds the
// expected value. It never polls the API.
type tracker struct {
	mu      sync.Mutex
	want    map[types.NamespacedName]string // AzureKeyVaultSecret (and output) → value
	ready   map[types.NamespacedName]bool
	correct map[types.NamespacedName]bool
	nReady  int
	nRight  int
	done    chan struct{}
	closed  bool
}

// track starts watching the namespaces before the objects are created.
// want maps each AzureKeyVaultSecret to the value its output must hold.
func (e *benchEnv) track(b *testing.B, namespaces []string, want map[types.NamespacedName]string) *tracker {
	b.Helper()
	t := &tracker{
		want: want, ready: map[types.NamespacedName]bool{}, correct: map[types.NamespacedName]bool{},
		done: make(chan struct{}),
	}
	nsCfg := map[string]cache.Config{}
	for _, ns := range namespaces {
		nsCfg[ns] = cache.Config{}
	}
	c, err := cache.New(e.cfg, cache.Options{
		Scheme:            e.client.Scheme(),
		DefaultNamespaces: nsCfg,
		ByObject: map[client.Object]cache.ByObject{
			// Outputs only: the memory benchmark's 50,000 other Secrets stay out.
			&corev1.Secret{}: {Label: labels.SelectorFromSet(labels.Set{controller.ManagedLabel: "true"})},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	for _, obj := range []client.Object{&v2beta1.AzureKeyVaultSecret{}, &corev1.Secret{}} {
		inf, err := c.GetInformer(ctx, obj)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    t.observe,
			UpdateFunc: func(_, o any) { t.observe(o) },
			DeleteFunc: t.forget,
		}); err != nil {
			b.Fatal(err)
		}
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		b.Fatal("tracker: cache did not sync")
	}
	return t
}

func (t *tracker) observe(obj any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch o := obj.(type) {
	case *v2beta1.AzureKeyVaultSecret:
		k := client.ObjectKeyFromObject(o)
		if _, ok := t.want[k]; ok {
			c := meta.FindStatusCondition(o.Status.Conditions, controller.ConditionReady)
			t.setLocked(t.ready, &t.nReady, k, c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == o.Generation)
		}
	case *corev1.Secret:
		k := client.ObjectKeyFromObject(o)
		if v, ok := t.want[k]; ok {
			t.setLocked(t.correct, &t.nRight, k, string(o.Data["value"]) == v)
		}
	}
}

func (t *tracker) forget(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	o, ok := obj.(client.Object)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	k := client.ObjectKeyFromObject(o)
	switch o.(type) {
	case *v2beta1.AzureKeyVaultSecret:
		t.setLocked(t.ready, &t.nReady, k, false)
	case *corev1.Secret:
		t.setLocked(t.correct, &t.nRight, k, false)
	}
}

func (t *tracker) setLocked(m map[types.NamespacedName]bool, n *int, k types.NamespacedName, v bool) {
	switch {
	case v && !m[k]:
		*n++
	case !v && m[k]:
		*n--
	}
	m[k] = v
	if t.nReady == len(t.want) && t.nRight == len(t.want) && !t.closed {
		t.closed = true
		close(t.done)
	}
}

// wait returns when everything is synced, or fails b after timeout (which
// bounds a hang; it asserts no speed).
func (t *tracker) wait(b *testing.B, timeout time.Duration) {
	b.Helper()
	select {
	case <-t.done:
	case <-time.After(timeout):
		t.mu.Lock()
		defer t.mu.Unlock()
		b.Fatalf("after %s: %d/%d AzureKeyVaultSecrets ready, %d/%d outputs correct", timeout, t.nReady, len(t.want), t.nRight, len(t.want))
	}
}
