package chart

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// The chart's RBAC, recorded: every permission the chart may grant, to whom,
// where, and why. TestRBAC renders every combination of values that changes
// RBAC and fails on a permission no entry records (a new rule, a wider verb
// set, a rule without the resourceNames recorded, a wider scope) and on an
// entry no render uses. Changing the chart's RBAC means changing this ledger
// with the reason, where a reviewer sees both.

// scope is where a recorded permission may hold.
type scope int

const (
	// cluster: every namespace, and cluster-scoped resources.
	cluster scope = iota
	// release: the release's namespace only.
	release
	// watched: the namespaces the controller watches (every namespace
	// with watchAllNamespaces, else the release's and controller.namespaces).
	watched
)

// permission is one entry of the ledger.
type permission struct {
	// who: a component (controller, webhook, resolver), test (the helm
	// test's ServiceAccount) or reader (a subject of metrics.readers).
	who   string
	where scope
	// apiGroup and resources, or urls (non-resource URLs).
	apiGroup  string
	resources []string
	urls      []string
	verbs     []string
	// names, when set, are the resourceNames the permission must be
	// limited to.
	names []string
	why   string
}

// ledger is every permission the chart grants, with its reason.
var ledger = []permission{
	// The controller.
	{who: "controller", where: watched, apiGroup: "spv.no", resources: []string{"azurekeyvaultsecrets"}, verbs: []string{"get", "list", "watch"},
		why: "read the AzureKeyVaultSecrets it syncs (cached)"},
	{who: "controller", where: watched, apiGroup: "spv.no", resources: []string{"azurekeyvaultsecrets/status"}, verbs: []string{"patch", "update"},
		why: "report what it did; nothing else about them is written"},
	{who: "controller", where: watched, apiGroup: "", resources: []string{"secrets", "configmaps"}, verbs: []string{"get", "list", "watch", "create", "update", "delete"},
		why: "write the outputs, whose names the AzureKeyVaultSecrets choose (no resourceNames possible); list/watch only those labelled " +
			"latchkey.dev/managed (the cache's selector, which RBAC cannot express); get a named output before adopting or merging into it; " +
			"delete one once nothing is left in it. It reads any Secret of the watched namespaces: it also holds the Key Vault identity"},
	{who: "controller", where: watched, apiGroup: "", resources: []string{"events"}, verbs: []string{"create", "patch"},
		why: "events on AzureKeyVaultSecrets, on change or failure (core events)"},
	{who: "controller", where: watched, apiGroup: "events.k8s.io", resources: []string{"events"}, verbs: []string{"create", "patch"},
		why: "events on AzureKeyVaultSecrets, on change or failure (events.k8s.io, the recorder's API)"},
	{who: "controller", where: watched, apiGroup: "apps", resources: []string{"deployments", "statefulsets", "daemonsets"}, verbs: []string{"get", "list", "watch", "patch"},
		why: "rollouts.enabled only: roll out the workloads annotated latchkey.dev/rollout-on-change when a version they consume changes; " +
			"list/watch feed a slimmed cache, patch writes latchkey.dev/ annotations only (RBAC cannot limit it to opted-in workloads: the threat model says so)"},
	{who: "controller", where: release, apiGroup: "coordination.k8s.io", resources: []string{"leases"}, verbs: []string{"get", "update"},
		names: []string{"latchkey-controller"}, why: "leader election: take and renew its one Lease"},
	{who: "controller", where: release, apiGroup: "coordination.k8s.io", resources: []string{"leases"}, verbs: []string{"create"},
		why: "leader election: make the Lease the first time (a create cannot be limited to a name)"},
	{who: "controller", where: cluster, apiGroup: "apiextensions.k8s.io", resources: []string{"customresourcedefinitions"}, verbs: []string{"get"},
		names: []string{"azurekeyvaultsecrets.spv.no"}, why: "refuse to start on akv2k8s's CRD, whose schema would prune latchkey's fields"},
	// The webhook.
	{who: "webhook", where: cluster, apiGroup: "spv.no", resources: []string{"azurekeyvaultsecrets"}, verbs: []string{"get", "list", "watch"},
		why: "the AzureKeyVaultSecrets placeholders name (cached)"},
	{who: "webhook", where: cluster, apiGroup: "", resources: []string{"configmaps"}, verbs: []string{"get"},
		why: "ConfigMaps a container reads through envFrom or configMapKeyRef, by the names pods give"},
	{who: "webhook", where: cluster, apiGroup: "", resources: []string{"serviceaccounts", "secrets"}, verbs: []string{"get"},
		why: "env_injector.imageLookups: the image pull secrets of a pod without a command and of its ServiceAccount, one by name, " +
			"to read the image's ENTRYPOINT/CMD; RBAC cannot narrow it to pods being admitted, so the switch drops it"},
	// The resolver.
	{who: "resolver", where: cluster, urls: []string{"/.well-known/openid-configuration", "/openid/v1/jwks"}, verbs: []string{"get"},
		why: "verify pods' tokens locally against the service-account issuer's published keys (every ServiceAccount has it by default; granted for clusters that removed that binding)"},
	{who: "resolver", where: cluster, apiGroup: "authentication.k8s.io", resources: []string{"tokenreviews"}, verbs: []string{"create"},
		why: "review pods' tokens while the issuer's keys cannot be read (and, with metrics.auth, scrapers' tokens)"},
	{who: "resolver", where: cluster, apiGroup: "", resources: []string{"pods"}, verbs: []string{"get", "list", "watch"},
		why: "the pod a token names (its UID, ServiceAccount and containers' env), watched in each labelled namespace and read once when the watch is late"},
	{who: "resolver", where: cluster, apiGroup: "", resources: []string{"namespaces"}, verbs: []string{"get", "list", "watch"},
		why: "which namespaces are labelled for injection (namespaces are cluster-scoped: no narrower grant)"},
	{who: "resolver", where: cluster, apiGroup: "spv.no", resources: []string{"azurekeyvaultsecrets"}, verbs: []string{"get", "list", "watch"},
		why: "the AzureKeyVaultSecrets placeholders name (cached)"},
	{who: "resolver", where: cluster, apiGroup: "", resources: []string{"configmaps"}, verbs: []string{"get", "list", "watch", "update"},
		names: []string{"latchkey-resolver-ca"}, why: "publish the CA bundle into each labelled namespace: its own ConfigMaps alone (listed and watched by name)"},
	{who: "resolver", where: cluster, apiGroup: "", resources: []string{"configmaps"}, verbs: []string{"create"},
		why: "make the CA bundle ConfigMap where missing (a create cannot be limited to a name)"},
	{who: "resolver", where: release, apiGroup: "coordination.k8s.io", resources: []string{"leases"}, verbs: []string{"get", "update"},
		names: []string{"latchkey-resolver"}, why: "leader election of the CA bundle publisher: its one Lease"},
	{who: "resolver", where: release, apiGroup: "coordination.k8s.io", resources: []string{"leases"}, verbs: []string{"create"},
		why: "leader election: make the Lease the first time"},
	// metrics.auth: each component reviews its scrapers.
	{who: "controller", where: cluster, apiGroup: "authentication.k8s.io", resources: []string{"tokenreviews"}, verbs: []string{"create"},
		why: "metrics.auth: who a scraper is"},
	{who: "controller", where: cluster, apiGroup: "authorization.k8s.io", resources: []string{"subjectaccessreviews"}, verbs: []string{"create"},
		why: "metrics.auth: may the scraper get /metrics"},
	{who: "webhook", where: cluster, apiGroup: "authentication.k8s.io", resources: []string{"tokenreviews"}, verbs: []string{"create"},
		why: "metrics.auth: who a scraper is"},
	{who: "webhook", where: cluster, apiGroup: "authorization.k8s.io", resources: []string{"subjectaccessreviews"}, verbs: []string{"create"},
		why: "metrics.auth: may the scraper get /metrics"},
	{who: "resolver", where: cluster, apiGroup: "authorization.k8s.io", resources: []string{"subjectaccessreviews"}, verbs: []string{"create"},
		why: "metrics.auth: may the scraper get /metrics"},
	{who: "test", where: cluster, urls: []string{"/metrics"}, verbs: []string{"get"},
		why: "the helm test scrapes each component's metrics with its own token"},
	{who: "reader", where: cluster, urls: []string{"/metrics"}, verbs: []string{"get"},
		why: "metrics.readers: scrapers the admin names"},
}

// subjects maps the RBAC subjects the renders bind to the ledger's who.
var subjects = map[string]string{
	"ServiceAccount latchkey-system/latchkey-controller": "controller",
	"ServiceAccount latchkey-system/latchkey-webhook":    "webhook",
	"ServiceAccount latchkey-system/latchkey-resolver":   "resolver",
	"ServiceAccount latchkey-system/latchkey-test":       "test",
	"ServiceAccount monitoring/prometheus":               "reader",
	"Group monitoring-team":                              "reader",
}

// grant is one verb on one resource (or URL) that one subject holds in one
// namespace ("" for all), as a render binds it.
type grant struct {
	who, namespace, apiGroup, resource, url, verb string
	names                                         []string
	from                                          string // the binding and role, for messages
}

func (g grant) String() string {
	what := g.apiGroup + "/" + g.resource
	if g.url != "" {
		what = "URL " + g.url
	}
	where := "every namespace"
	if g.namespace != "" {
		where = "namespace " + g.namespace
	}
	s := fmt.Sprintf("%s may %s %s in %s", g.who, g.verb, what, where)
	if len(g.names) > 0 {
		s += fmt.Sprintf(" named %v", g.names)
	}
	return s + " (" + g.from + ")"
}

// TestRBAC renders every combination of values that changes the chart's
// RBAC and holds each permission granted against the ledger; switches that
// take permissions away must take them away.
func TestRBAC(t *testing.T) {
	for _, p := range ledger {
		if strings.TrimSpace(p.why) == "" {
			t.Errorf("ledger entry %+v has no reason", p)
		}
	}
	used := make([]bool, len(ledger))
	for _, tc := range []struct {
		name string
		args []string
		// watchedNS is the controller's namespaces; nil: all.
		watchedNS []string
		// absent are permissions this render must not grant: who and
		// resource (or URL).
		absent [][2]string
	}{
		{name: "defaults", absent: [][2]string{{"controller", "deployments"}, {"controller", "statefulsets"}, {"controller", "daemonsets"}}},
		{name: "rollouts", args: []string{"--set", "rollouts.enabled=true"}},
		{name: "rollouts, watched namespaces", args: []string{"--set", "rollouts.enabled=true", "--set", "watchAllNamespaces=false", "--set", "controller.namespaces={team-a}"},
			watchedNS: []string{"latchkey-system", "team-a"}},
		{name: "watched namespaces", args: []string{"--set", "watchAllNamespaces=false", "--set", "controller.namespaces={team-a,team-b}"},
			watchedNS: []string{"latchkey-system", "team-a", "team-b"}},
		{name: "akv2k8s values", args: []string{"-f", "testdata/akv2k8s-values.yaml"}, watchedNS: []string{"latchkey-system"}},
		{name: "metrics.auth off", args: []string{"--set", "metrics.auth=false"}, absent: [][2]string{
			{"controller", "tokenreviews"}, {"controller", "subjectaccessreviews"}, {"webhook", "tokenreviews"},
			{"webhook", "subjectaccessreviews"}, {"resolver", "subjectaccessreviews"}, {"test", "/metrics"}}},
		{name: "metrics readers", args: []string{"--set-json", `metrics.readers=[{"kind":"ServiceAccount","name":"prometheus","namespace":"monitoring"},{"kind":"Group","name":"monitoring-team"}]`}},
		{name: "image lookups off", args: []string{"--set", "env_injector.imageLookups=false"}, absent: [][2]string{{"webhook", "secrets"}, {"webhook", "serviceaccounts"}}},
		{name: "resolver off", args: []string{"--set", "resolver.enabled=false"}, absent: [][2]string{{"resolver", "pods"}, {"resolver", "tokenreviews"}}},
		{name: "env_injector off", args: []string{"--set", "env_injector.enabled=false"}, absent: [][2]string{{"webhook", "configmaps"}, {"resolver", "pods"}}},
		{name: "controller off", args: []string{"--set", "controller.enabled=false"}, absent: [][2]string{{"controller", "secrets"}, {"controller", "tokenreviews"}}},
		{name: "only the controller", args: []string{"--set", "env_injector.enabled=false", "--set", "metrics.auth=false"},
			absent: [][2]string{{"webhook", "azurekeyvaultsecrets"}, {"test", "/metrics"}}},
		{name: "cert-manager", args: []string{"--set", "certManager.enabled=true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			grants := grantsOf(t, renderList(t, tc.args...))
			if len(grants) == 0 {
				t.Fatal("no permission rendered")
			}
			for _, g := range grants {
				i := slices.IndexFunc(ledger, func(p permission) bool { return p.covers(g, tc.watchedNS) })
				if i < 0 {
					t.Errorf("no recorded reason for: %s", g)
					continue
				}
				used[i] = true
				// The same grant covered by a narrower entry is the one meant.
				for j, p := range ledger {
					if j != i && p.covers(g, tc.watchedNS) {
						used[j] = true
					}
				}
			}
			for _, a := range tc.absent {
				for _, g := range grants {
					if g.who == a[0] && (g.resource == a[1] || g.url == a[1]) {
						t.Errorf("granted although switched off: %s", g)
					}
				}
			}
		})
	}
	for i, p := range ledger {
		if !used[i] {
			t.Errorf("ledger entry no render grants (remove it, or render what grants it): %s %v%v %v", p.who, p.resources, p.urls, p.verbs)
		}
	}
}

// covers reports whether the entry allows g, with watchedNS the
// controller's namespaces (nil: all).
func (p permission) covers(g grant, watchedNS []string) bool {
	if p.who != g.who || !slices.Contains(p.verbs, g.verb) {
		return false
	}
	if g.url != "" {
		return slices.Contains(p.urls, g.url) && p.where == cluster && g.namespace == ""
	}
	if p.apiGroup != g.apiGroup || !slices.Contains(p.resources, g.resource) {
		return false
	}
	if p.names != nil && (len(g.names) == 0 || slices.ContainsFunc(g.names, func(n string) bool { return !slices.Contains(p.names, n) })) {
		return false
	}
	switch p.where {
	case cluster:
		return g.namespace == ""
	case release:
		return g.namespace == "latchkey-system"
	default:
		if watchedNS == nil {
			return g.namespace == ""
		}
		return slices.Contains(watchedNS, g.namespace)
	}
}

// grantsOf expands the bindings of a render into grants: one per subject,
// namespace, API group, resource (or URL), verb. A binding to a role the
// render lacks, a subject the ledger does not know, a wildcard, and a
// non-resource URL bound in one namespace (where it grants nothing) fail
// the test.
func grantsOf(t *testing.T, objs []*unstructured.Unstructured) []grant {
	t.Helper()
	roles := map[string][]rbacv1.PolicyRule{} // "ClusterRole name" or "Role ns/name"
	type binding struct {
		namespace string // "" for a ClusterRoleBinding
		name      string
		roleRef   rbacv1.RoleRef
		subjects  []rbacv1.Subject
	}
	var bindings []binding
	for _, u := range objs {
		switch u.GetKind() {
		case "ClusterRole", "Role":
			var r rbacv1.ClusterRole // a Role's fields are the same
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &r); err != nil {
				t.Fatal(err)
			}
			key := "ClusterRole " + u.GetName()
			if u.GetKind() == "Role" {
				key = "Role " + u.GetNamespace() + "/" + u.GetName()
			}
			roles[key] = r.Rules
		case "ClusterRoleBinding", "RoleBinding":
			var b rbacv1.RoleBinding // a ClusterRoleBinding's fields are the same
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &b); err != nil {
				t.Fatal(err)
			}
			bindings = append(bindings, binding{namespace: u.GetNamespace(), name: u.GetKind() + " " + u.GetName(), roleRef: b.RoleRef, subjects: b.Subjects})
		}
	}
	var grants []grant
	for _, b := range bindings {
		key := "ClusterRole " + b.roleRef.Name
		if b.roleRef.Kind == "Role" {
			key = "Role " + b.namespace + "/" + b.roleRef.Name
		}
		rules, ok := roles[key]
		if !ok {
			t.Errorf("%s binds %s, which the chart does not render", b.name, key)
			continue
		}
		for _, s := range b.subjects {
			id := s.Kind + " " + s.Name
			if s.Kind == rbacv1.ServiceAccountKind {
				id = s.Kind + " " + s.Namespace + "/" + s.Name
			}
			who, known := subjects[id]
			if !known {
				t.Errorf("%s binds %s to %s, a subject the ledger does not know", b.name, key, id)
				continue
			}
			from := b.name + " → " + key
			for _, r := range rules {
				for _, v := range r.Verbs {
					for _, url := range r.NonResourceURLs {
						if b.namespace != "" {
							t.Errorf("%s: non-resource URL %s bound in a namespace grants nothing", from, url)
						}
						grants = append(grants, grant{who: who, namespace: b.namespace, url: url, verb: v, from: from})
					}
					for _, g := range r.APIGroups {
						for _, res := range r.Resources {
							if v == "*" || g == "*" || res == "*" {
								t.Errorf("%s: wildcard in %v", from, r)
							}
							grants = append(grants, grant{who: who, namespace: b.namespace, apiGroup: g, resource: res, verb: v, names: r.ResourceNames, from: from})
						}
					}
				}
			}
		}
	}
	return grants
}

// renderList returns every object `helm template` renders, in order (several
// may share kind and name in different namespaces).
func renderList(t *testing.T, extra ...string) []*unstructured.Unstructured {
	t.Helper()
	args := append([]string{"template", "latchkey", chartDir, "--namespace", "latchkey-system"}, extra...)
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(helm(t, args...)), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}
