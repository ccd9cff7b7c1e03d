package resolver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// untilCached waits until r's pod cache holds p (or, held false, no
// longer holds it).
func untilCached(t testing.TB, r *testResolver, p *corev1.Pod, held bool) {
	t.Helper()
	eventually(t, func() error {
		if _, h := r.Pods.Holds(p.Namespace, p.Name, p.UID); h != held {
			return fmt.Errorf("pod %s/%s %s: held %v, want %v", p.Namespace, p.Name, p.UID, h, held)
		}
		return nil
	})
}

// untilWatched waits until r watches namespace ns and has listed its pods.
func untilWatched(t testing.TB, r *testResolver, ns string) {
	t.Helper()
	eventually(t, func() error {
		if synced, _ := r.Pods.Holds(ns, "", ""); !synced {
			return fmt.Errorf("the pods of %s are not watched", ns)
		}
		return nil
	})
}

// TestPodRecreated: a pod deleted and recreated under the same name. The
// old pod's token is refused and the new pod's served, from the watch,
// without reading either pod.
func TestPodRecreated(t *testing.T) {
	t.Parallel()
	r := newResolver(t, nil)
	w := newWorld(t, r)
	w.akvs("db", vault, "db-password", v2beta1.ObjectTypeSecret)
	old := w.pod("web-1", app("app", "DB", "db@azurekeyvault"))
	oldTok := token(t, old, audience)
	untilCached(t, r, old, true)
	if a := ask(t, r, oldTok, "app", dbEnv); a.status != http.StatusOK {
		t.Fatalf("the first pod: %d %s", a.status, a.raw)
	}
	gets := r.podGets.Load()
	if err := suite.client.Delete(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	untilCached(t, r, old, false)
	if a := ask(t, r, oldTok, "app", dbEnv); a.status != http.StatusForbidden || a.err.Code != protocol.CodePodNotFound {
		t.Errorf("the deleted pod's token: %d %s, want 403 %s", a.status, a.raw, protocol.CodePodNotFound)
	}
	again := w.pod("web-1", app("app", "DB", "db@azurekeyvault"))
	newTok := token(t, again, audience)
	untilCached(t, r, again, true)
	if a := ask(t, r, oldTok, "app", dbEnv); a.status != http.StatusForbidden || a.err.Code != protocol.CodePodMismatch {
		t.Errorf("the old pod's token after the recreation: %d %s, want 403 %s", a.status, a.raw, protocol.CodePodMismatch)
	}
	if a := ask(t, r, newTok, "app", dbEnv); a.status != http.StatusOK || a.env["DB"] != dbPassword {
		t.Errorf("the new pod's token: %d %s", a.status, a.raw)
	}
	if n := r.podGets.Load() - gets; n != 0 {
		t.Errorf("%d pod reads, want 0 (the watch saw both pods)", n)
	}
}

// TestPodRecreatedAtOnce: the new pod's token arrives before the watch
// has told the deletion or the new pod (the cache holds the old pod under
// that name): the request waits for the watch and is served.
func TestPodRecreatedAtOnce(t *testing.T) {
	t.Parallel()
	r := newResolver(t, nil)
	w := newWorld(t, r)
	w.akvs("db", vault, "db-password", v2beta1.ObjectTypeSecret)
	old := w.pod("web-1", app("app", "DB", "db@azurekeyvault"))
	untilCached(t, r, old, true)
	if err := suite.client.Delete(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	again := w.pod("web-1", app("app", "DB", "db@azurekeyvault"))
	if a := ask(t, r, token(t, again, audience), "app", dbEnv); a.status != http.StatusOK || a.env["DB"] != dbPassword {
		t.Errorf("the new pod's token: %d %s", a.status, a.raw)
	}
	if n := r.podGets.Load(); n > 1 {
		t.Errorf("%d pod reads, want at most 1", n)
	}
}

// TestPodWatchLags: a token that arrives before the watch brought its pod
// waits for the watch (no read) when the watch is only late, and, when it
// is later than the wait, is served after exactly one read.
func TestPodWatchLags(t *testing.T) {
	t.Parallel()
	r := newResolver(t, func(c *resolver.Config) { c.PodWait = 5 * time.Second })
	w := newWorld(t, r)
	w.akvs("db", vault, "db-password", v2beta1.ObjectTypeSecret)
	untilWatched(t, r, w.ns)

	r.podWatchLag.Store(int64(time.Second))
	p := w.pod("late", app("app", "DB", "db@azurekeyvault"))
	if a := ask(t, r, token(t, p, audience), "app", dbEnv); a.status != http.StatusOK || a.env["DB"] != dbPassword {
		t.Fatalf("a pod the watch brings late: %d %s", a.status, a.raw)
	}
	if n := r.podGets.Load(); n != 0 {
		t.Errorf("a late watch: %d pod reads, want 0", n)
	}
	if v := metric(t, r.registry, "latchkey_resolver_pod_lookups_total", "result", "watched"); v != 1 {
		t.Errorf("pod lookups answered by the watch: %v, want 1", v)
	}

	r.podWatchLag.Store(int64(10 * time.Second))
	q := w.pod("later", app("app", "DB", "db@azurekeyvault"))
	if a := ask(t, r, token(t, q, audience), "app", dbEnv); a.status != http.StatusOK || a.env["DB"] != dbPassword {
		t.Fatalf("a pod the watch brings after the wait: %d %s", a.status, a.raw)
	}
	if n := r.podGets.Load(); n != 1 {
		t.Errorf("a watch later than the wait: %d pod reads, want 1", n)
	}
	if v := metric(t, r.registry, "latchkey_resolver_api_reads_total", "resource", "pods"); v != 1 {
		t.Errorf("the pod reads metric: %v, want 1", v)
	}
	r.podWatchLag.Store(0)
}

// TestNamespaceUnlabelled: a namespace that loses its label is no longer
// watched, and its pods are refused.
func TestNamespaceUnlabelled(t *testing.T) {
	t.Parallel()
	r := newResolver(t, nil)
	w := newWorld(t, r)
	w.akvs("db", vault, "db-password", v2beta1.ObjectTypeSecret)
	p := w.pod("web-1", app("app", "DB", "db@azurekeyvault"))
	tok := token(t, p, audience)
	untilCached(t, r, p, true)
	ns := &corev1.Namespace{}
	if err := suite.client.Get(context.Background(), client.ObjectKey{Name: w.ns}, ns); err != nil {
		t.Fatal(err)
	}
	delete(ns.Labels, podcontract.DefaultNamespaceLabel)
	if err := suite.client.Update(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if synced, _ := r.Pods.Holds(w.ns, "", ""); synced {
			return fmt.Errorf("the pods of %s are still watched", w.ns)
		}
		return nil
	})
	if a := ask(t, r, tok, "app", dbEnv); a.status != http.StatusForbidden || a.err.Code != protocol.CodeNamespaceNotEnabled {
		t.Errorf("a pod of a namespace no longer labelled: %d %s, want 403 %s", a.status, a.raw, protocol.CodeNamespaceNotEnabled)
	}
}

// TestStrippedPod: the cache's copy of a pod the webhook rewrote keeps
// what the checks read (its mark verifies, its container is served) and
// is a fraction of the pod.
func TestStrippedPod(t *testing.T) {
	t.Parallel()
	w := newWorld(t, suite.res)
	c := app("app", "DB", "db@azurekeyvault", "PLAIN", "x")
	c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}}
	p := w.pod("web-1", c, app("sidecar", "LOG", "debug"))
	stored := &corev1.Pod{}
	if err := suite.client.Get(context.Background(), client.ObjectKeyFromObject(p), stored); err != nil {
		t.Fatal(err)
	}
	obj, err := resolver.StripPod(stored)
	if err != nil {
		t.Fatal(err)
	}
	stripped := obj.(*corev1.Pod)
	if !suite.marks.Verify(stripped) {
		t.Fatal("the admission mark does not verify on the stripped pod")
	}
	id := resolver.Identity{Namespace: p.Namespace, PodName: p.Name, PodUID: p.UID, ServiceAccount: "app"}
	ctr, d := resolver.Authorize(resolver.Request{Identity: id, Pod: stripped, NamespaceEnabled: true, Marks: suite.marks, Container: "app"})
	if d != nil {
		t.Fatalf("the stripped pod is refused: %v", d)
	}
	if _, d := resolver.MatchPlaceholders(ctr, dbEnv); d != nil {
		t.Fatalf("the stripped pod's placeholders: %v", d)
	}
	if _, d := resolver.Authorize(resolver.Request{Identity: id, Pod: stripped, NamespaceEnabled: true, Marks: suite.marks, Container: "sidecar"}); d == nil || d.Code != protocol.CodeContainerNotRewritten {
		t.Errorf("the sidecar of the stripped pod: %v, want %s", d, protocol.CodeContainerNotRewritten)
	}
	full, _ := json.Marshal(stored)
	small, _ := json.Marshal(stripped)
	t.Logf("stored pod %d bytes of JSON, stripped %d", len(full), len(small))
	if len(small)*3 > len(full) {
		t.Errorf("the stripped pod is %d bytes of JSON, the stored one %d: want less than a third", len(small), len(full))
	}
}
