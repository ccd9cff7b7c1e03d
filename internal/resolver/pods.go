package resolver

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/singleflight"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/internal/injectmark"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// Pod cache bounds.
const (
	// DefaultPodWait is how long a request whose pod the cache does not
	// hold yet (or holds under another UID) waits for the watch to bring
	// it before one GET: a pod's containers start moments after the pod
	// is created, and the watch is usually that fast too.
	DefaultPodWait = time.Second
	// deletedPodTTL is how long the UID of a pod the watch saw deleted is
	// remembered, so that its token, until it expires, is refused without
	// a wait and a GET. Projected tokens live an hour by default; after
	// that a leftover token costs the wait and a GET, and is refused all
	// the same.
	deletedPodTTL = time.Hour
	// maxDeletedPods bounds that memory (about 100 bytes each).
	maxDeletedPods = 100_000
	// podGetTimeout bounds one GET, which every request for that UID
	// waiting on it shares.
	podGetTimeout = 10 * time.Second
)

// PodCache holds the pods of the namespaces labelled for injection, fed by
// one watch per namespace and stripped to what the checks read
// (StripPod), so a request costs no API call in steady state. A namespace
// that loses its label is no longer watched and its pods leave memory.
//
// A request for a pod the cache does not hold under the token's UID (the
// watch lagging behind a pod just created, or a pod deleted and recreated
// under the same name) waits at most Wait for the watch's next event on
// that name, then reads the pod once: concurrent requests for one UID
// share that GET. A pod the watch saw deleted is refused at once.
type PodCache struct {
	// Namespaces is the informer of the labelled namespaces, Label their
	// label (its value must be "enabled").
	Namespaces func(ctx context.Context) (crcache.Informer, error)
	Label      string
	// Watch lists and watches pods (a client of the core group; protobuf
	// keeps the lists of a large namespace cheap).
	Watch rest.Interface
	// Live reads one pod from the API server: the fallback.
	Live client.Reader
	// Wait is how long a request waits for the watch (zero: no wait).
	Wait time.Duration
	// Observe, if set, counts lookups by result: cached, watched (found
	// after waiting for the watch), read (a GET made), joined (shared a
	// GET in flight), deleted (refused: the watch saw it deleted).
	Observe func(result string)
	// Now is the clock of the deleted pods' memory; nil means time.Now.
	Now func() time.Time
	Log logr.Logger

	mu sync.Mutex
	// spaces are the watched namespaces; ctx is Start's.
	spaces map[string]*podWatch
	ctx    context.Context
	// events are closed at the next event of a pod's name, then dropped.
	events map[types.NamespacedName]chan struct{}
	// deleted are the UIDs of pods the watch saw deleted, and when.
	deleted map[types.UID]time.Time
	flight  singleflight.Group
}

type podWatch struct {
	informer toolscache.SharedIndexInformer
	stop     context.CancelFunc
}

// Start follows the labelled namespaces (Namespaces' informer) until ctx
// ends, then stops every watch.
func (c *PodCache) Start(ctx context.Context) error {
	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
	inf, err := c.Namespaces(ctx)
	if err != nil {
		return fmt.Errorf("namespace informer: %w", err)
	}
	reg, err := inf.AddEventHandler(c.namespaceHandler())
	if err != nil {
		return fmt.Errorf("namespace informer: %w", err)
	}
	<-ctx.Done()
	_ = inf.RemoveEventHandler(reg)
	c.mu.Lock()
	defer c.mu.Unlock()
	for ns, w := range c.spaces {
		w.stop()
		delete(c.spaces, ns)
	}
	return nil
}

// NeedLeaderElection is false: every replica serves.
func (c *PodCache) NeedLeaderElection() bool { return false }

// namespaceHandler follows the informer of labelled namespaces: a pod
// watch starts with a namespace's label and stops when the label (or the
// namespace) goes.
func (c *PodCache) namespaceHandler() toolscache.ResourceEventHandler {
	follow := func(obj any) {
		ns, ok := obj.(*corev1.Namespace)
		if !ok {
			return
		}
		c.follow(ns.Name, ns.DeletionTimestamp == nil && ns.Labels[c.Label] == "enabled")
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    follow,
		UpdateFunc: func(_, obj any) { follow(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if ns, ok := obj.(*corev1.Namespace); ok {
				c.follow(ns.Name, false)
			}
		},
	}
}

// follow starts or stops watching the pods of namespace ns.
func (c *PodCache) follow(ns string, watch bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, watching := c.spaces[ns]
	switch {
	case watch && !watching && c.ctx != nil:
		ctx, stop := context.WithCancel(c.ctx)
		lw := toolscache.NewListWatchFromClient(c.Watch, "pods", ns, fields.Everything())
		inf := toolscache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, toolscache.Indexers{})
		if err := inf.SetTransform(StripPod); err != nil {
			c.Log.Error(err, "pod watch not started", "namespace", ns)
			stop()
			return
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    c.changed,
			UpdateFunc: func(_, obj any) { c.changed(obj) },
			DeleteFunc: c.gone,
		}); err != nil {
			c.Log.Error(err, "pod watch not started", "namespace", ns)
			stop()
			return
		}
		if c.spaces == nil {
			c.spaces = map[string]*podWatch{}
		}
		c.spaces[ns] = &podWatch{informer: inf, stop: stop}
		go inf.RunWithContext(ctx)
		c.Log.V(1).Info("watching pods", "namespace", ns)
	case !watch && watching:
		w.stop()
		delete(c.spaces, ns)
		c.Log.V(1).Info("no longer watching pods", "namespace", ns)
	}
}

// changed wakes the requests waiting for this pod's name.
func (c *PodCache) changed(obj any) {
	if p, ok := obj.(*corev1.Pod); ok {
		c.wake(types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
	}
}

// gone remembers a deleted pod's UID and wakes the requests waiting for
// its name.
func (c *PodCache) gone(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	now := c.now()
	c.mu.Lock()
	if c.deleted == nil {
		c.deleted = map[types.UID]time.Time{}
	}
	if len(c.deleted) >= maxDeletedPods {
		for uid, at := range c.deleted {
			if now.Sub(at) >= deletedPodTTL {
				delete(c.deleted, uid)
			}
		}
	}
	if len(c.deleted) < maxDeletedPods {
		c.deleted[p.UID] = now
	}
	c.mu.Unlock()
	c.wake(types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
}

func (c *PodCache) wake(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.events[key]; ok {
		close(ch)
		delete(c.events, key)
	}
}

// found is the cache's answer for a request's pod.
type found struct {
	// pod is the pod under the token's UID or, when that pod was seen
	// deleted, the pod now of that name if any (Authorize refuses it).
	pod *corev1.Pod
	// deleted: the watch saw the token's pod deleted.
	deleted bool
	// watched: the pod's namespace is watched.
	watched bool
	// next, on a miss, is closed at the next event of that name (taken
	// before a second look, so no event is missed).
	next chan struct{}
}

// lookup is the cache's answer for id.
func (c *PodCache) lookup(id Identity) found {
	key := types.NamespacedName{Namespace: id.Namespace, Name: id.PodName}
	c.mu.Lock()
	at, deleted := c.deleted[id.PodUID]
	deleted = deleted && c.now().Sub(at) < deletedPodTTL
	w := c.spaces[id.Namespace]
	c.mu.Unlock()
	switch {
	case deleted && w != nil:
		return found{pod: named(w, key, ""), deleted: true, watched: true}
	case deleted:
		return found{deleted: true}
	case w == nil:
		return found{}
	}
	if p := named(w, key, id.PodUID); p != nil {
		return found{pod: p, watched: true}
	}
	c.mu.Lock()
	if c.events == nil {
		c.events = map[types.NamespacedName]chan struct{}{}
	}
	ch, ok := c.events[key]
	if !ok {
		ch = make(chan struct{})
		c.events[key] = ch
	}
	c.mu.Unlock()
	return found{pod: named(w, key, id.PodUID), watched: true, next: ch}
}

// named is the pod of name key in w's store, under uid unless uid is
// empty, or nil.
func named(w *podWatch, key types.NamespacedName, uid types.UID) *corev1.Pod {
	obj, exists, err := w.informer.GetStore().GetByKey(key.String())
	if err != nil || !exists {
		return nil
	}
	if p, ok := obj.(*corev1.Pod); ok && (uid == "" || p.UID == uid) {
		return p
	}
	return nil
}

// forget drops the event channel of key if it is still ch (a request
// that stopped waiting; others waiting on ch have their own deadline).
func (c *PodCache) forget(key types.NamespacedName, ch chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.events[key] == ch {
		delete(c.events, key)
	}
}

// Get returns the stored pod of id: from the cache, after waiting for the
// watch if need be, else as the API server has it now (which may have
// another UID: Authorize refuses it). A pod that does not exist, or that
// the watch saw deleted (with no other pod of its name), is a 403 Denial; a failed read another error
// (503). The pod is shared: treat it as read-only.
func (c *PodCache) Get(ctx context.Context, id Identity) (*corev1.Pod, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	waited := false
	for {
		f := c.lookup(id)
		switch {
		case f.deleted && f.pod != nil:
			c.observe("deleted")
			return f.pod, nil
		case f.deleted:
			c.observe("deleted")
			return nil, podGone(id)
		case f.pod != nil && waited:
			c.observe("watched")
			return f.pod, nil
		case f.pod != nil:
			c.observe("cached")
			return f.pod, nil
		case !f.watched || c.Wait <= 0:
			return c.read(ctx, id)
		}
		if timer == nil {
			timer = time.NewTimer(c.Wait)
		}
		select {
		case <-f.next:
			waited = true
		case <-timer.C:
			c.forget(types.NamespacedName{Namespace: id.Namespace, Name: id.PodName}, f.next)
			return c.read(ctx, id)
		case <-ctx.Done():
			c.forget(types.NamespacedName{Namespace: id.Namespace, Name: id.PodName}, f.next)
			return nil, ctx.Err()
		}
	}
}

// read GETs the pod, once for all the requests of that UID at the time.
func (c *PodCache) read(ctx context.Context, id Identity) (*corev1.Pod, error) {
	ch := c.flight.DoChan(string(id.PodUID), func() (any, error) {
		c.observe("read")
		gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), podGetTimeout)
		defer cancel()
		pod := &corev1.Pod{}
		err := c.Live.Get(gctx, types.NamespacedName{Namespace: id.Namespace, Name: id.PodName}, pod)
		switch {
		case apierrors.IsNotFound(err):
			return nil, podGone(id)
		case err != nil:
			return nil, fmt.Errorf("read pod %s/%s: %w", id.Namespace, id.PodName, err)
		}
		stripped, _ := StripPod(pod)
		return stripped, nil
	})
	select {
	case res := <-ch:
		if res.Shared {
			c.observe("joined")
		}
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*corev1.Pod), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Holds reports whether the pods of namespace ns are watched and listed,
// and whether the cache holds the pod name under uid (tests wait on it).
func (c *PodCache) Holds(ns, name string, uid types.UID) (synced, holds bool) {
	c.mu.Lock()
	w := c.spaces[ns]
	c.mu.Unlock()
	if w == nil {
		return false, false
	}
	return w.informer.HasSynced(), named(w, types.NamespacedName{Namespace: ns, Name: name}, uid) != nil
}

// Synced reports whether every watched namespace's pods have been listed:
// until then a request may wait for the watch, or read its pod.
func (c *PodCache) Synced() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.spaces {
		if !w.informer.HasSynced() {
			return false
		}
	}
	return c.ctx != nil
}

// Len is the number of pods the cache holds.
func (c *PodCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, w := range c.spaces {
		n += len(w.informer.GetStore().ListKeys())
	}
	return n
}

func podGone(id Identity) *Denial {
	return deny(http.StatusForbidden, protocol.CodePodNotFound, "pod %s/%s no longer exists", id.Namespace, id.PodName)
}

func (c *PodCache) observe(result string) {
	if c.Observe != nil {
		c.Observe(result)
	}
}

func (c *PodCache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// StripPod is the cache's transform: a pod reduced to what the checks
// read (Authorize, MatchPlaceholders, injectmark): its name, namespace,
// UID and deletion timestamp, the admission mark annotation, its
// ServiceAccount, its IPs, and of its containers and init containers the
// names, and of those latchkey rewrote the command, arguments and env the
// mark covers (an env entry from valueFrom keeps only that it is one).
// Ephemeral containers, which are never served, volumes, images, status
// and managed fields are dropped. Anything but a pod passes unchanged.
func StripPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	out := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			DeletionTimestamp: p.DeletionTimestamp,
		},
		Spec: corev1.PodSpec{
			ServiceAccountName: p.Spec.ServiceAccountName,
			InitContainers:     stripContainers(p.Spec.InitContainers),
			Containers:         stripContainers(p.Spec.Containers),
		},
		Status: corev1.PodStatus{PodIP: p.Status.PodIP, PodIPs: p.Status.PodIPs},
	}
	if mark, ok := p.Annotations[podcontract.InjectedAnnotation]; ok {
		out.Annotations = map[string]string{podcontract.InjectedAnnotation: mark}
	}
	return out, nil
}

func stripContainers(list []corev1.Container) []corev1.Container {
	if len(list) == 0 {
		return nil
	}
	out := make([]corev1.Container, len(list))
	for i := range list {
		c := &list[i]
		out[i].Name = c.Name
		if !injectmark.Rewritten(c) {
			continue
		}
		out[i].Command, out[i].Args = c.Command, c.Args
		out[i].Env = make([]corev1.EnvVar, len(c.Env))
		for j, e := range c.Env {
			out[i].Env[j] = corev1.EnvVar{Name: e.Name, Value: e.Value}
			if e.ValueFrom != nil {
				out[i].Env[j].ValueFrom = &corev1.EnvVarSource{}
			}
		}
	}
	return out
}
