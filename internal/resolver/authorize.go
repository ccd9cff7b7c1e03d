package resolver

import (
	"net"
	"net/http"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/latchkey-dev/latchkey/internal/injectmark"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// Request is what Authorize decides on: who asks (from the token), the pod
// as the API server stores it, and what the request names.
type Request struct {
	Identity Identity
	Pod      *corev1.Pod
	// NamespaceEnabled: the pod's namespace carries the injection label now.
	NamespaceEnabled bool
	// Marks verify the webhook's admission mark on Pod.
	Marks *injectmark.Keys
	// Container is the container the request names.
	Container string
	// CallerIP is the request's source address; checked against the pod's
	// IPs only when RequirePodIP is set.
	CallerIP     string
	RequirePodIP bool
}

// Authorize is step 4 (and 5) of the checks: the stored pod is the token's
// (same UID, same ServiceAccount), is not being deleted, its namespace is
// still labelled, it carries the mark the webhook wrote when it admitted
// it (an HMAC no user can write), and the container named is one
// of its containers or init containers (never an ephemeral container) that
// latchkey rewrote in resolver mode; optionally the caller is at the pod's
// IP. It returns that container, which it does not copy: treat it as
// read-only.
func Authorize(r Request) (*corev1.Container, *Denial) {
	id, pod := r.Identity, r.Pod
	if pod.UID != id.PodUID {
		return nil, deny(http.StatusForbidden, protocol.CodePodMismatch, "pod %s/%s is not the pod the token was issued for (it was recreated)", id.Namespace, id.PodName)
	}
	if sa := serviceAccountOf(pod); sa != id.ServiceAccount {
		return nil, deny(http.StatusForbidden, protocol.CodePodMismatch, "pod %s/%s runs as ServiceAccount %s, the token is %s's", id.Namespace, id.PodName, sa, id.ServiceAccount)
	}
	if pod.DeletionTimestamp != nil {
		return nil, deny(http.StatusForbidden, protocol.CodePodTerminating, "pod %s/%s is being deleted", id.Namespace, id.PodName)
	}
	if !r.NamespaceEnabled {
		return nil, deny(http.StatusForbidden, protocol.CodeNamespaceNotEnabled, "namespace %s is not labelled for injection", id.Namespace)
	}
	if !r.Marks.Verify(pod) {
		return nil, deny(http.StatusForbidden, protocol.CodePodNotInjected, "pod %s/%s does not carry the mark latchkey's webhook writes on the pods it rewrites", id.Namespace, id.PodName)
	}
	c := findContainer(pod, r.Container)
	if c == nil {
		return nil, deny(http.StatusForbidden, protocol.CodeContainerNotFound, "pod %s/%s has no container or init container %q (ephemeral containers are never served)", id.Namespace, id.PodName, r.Container)
	}
	if !rewrittenForResolver(c) {
		return nil, deny(http.StatusForbidden, protocol.CodeContainerNotRewritten, "container %s of pod %s/%s was not rewritten by latchkey in resolver mode", c.Name, id.Namespace, id.PodName)
	}
	if r.RequirePodIP && !atPodIP(pod, r.CallerIP) {
		return nil, deny(http.StatusForbidden, protocol.CodeCallerAddressMismatch, "the request does not come from pod %s/%s's address", id.Namespace, id.PodName)
	}
	return c, nil
}

func serviceAccountOf(pod *corev1.Pod) string {
	if pod.Spec.ServiceAccountName == "" {
		return "default"
	}
	return pod.Spec.ServiceAccountName
}

// findContainer looks in containers and init containers only.
func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// rewrittenForResolver reports whether the webhook made a container start
// with latchkey's binary in resolver mode: a container it left in direct
// mode reads Key Vault itself, with its own identity, and is not served.
func rewrittenForResolver(c *corev1.Container) bool {
	if !injectmark.Rewritten(c) {
		return false
	}
	hasURL := false
	for _, e := range c.Env {
		switch {
		case e.Name == podcontract.EnvDisableAuthService && podcontract.IsDirectMode(e.Value):
			return false
		case e.Name == podcontract.EnvResolverURL && e.Value != "":
			hasURL = true
		}
	}
	return hasURL
}

// atPodIP reports whether addr is one of the pod's IPs.
func atPodIP(pod *corev1.Pod, addr string) bool {
	ip := net.ParseIP(addr)
	if ip == nil {
		return false
	}
	ips := []string{pod.Status.PodIP}
	for _, p := range pod.Status.PodIPs {
		ips = append(ips, p.IP)
	}
	return slices.ContainsFunc(ips, func(s string) bool { return s != "" && net.ParseIP(s).Equal(ip) })
}

// Wanted is one placeholder a request may have: its variable and what the
// placeholder names.
type Wanted struct {
	Var string
	podcontract.Placeholder
}

// MatchPlaceholders is step 5: every variable the request names must be a
// placeholder, and the container's env in the stored spec must give that
// variable exactly that value (its last entry of that name, the one the
// container sees). A request cannot name more variables than that env
// holds. The placeholders come back sorted by variable. It costs
// O(variables + env).
func MatchPlaceholders(c *corev1.Container, env map[string]string) ([]Wanted, *Denial) {
	if len(env) == 0 {
		return nil, deny(http.StatusBadRequest, protocol.CodeBadRequest, "the request names no variable")
	}
	if len(env) > len(c.Env) {
		return nil, deny(http.StatusBadRequest, protocol.CodeBadRequest, "the request names %d variables; container %s's env in the stored pod spec holds %d",
			len(env), c.Name, len(c.Env))
	}
	spec := specValues(c)
	var out []Wanted
	var notPlaceholders, notInSpec []string
	for _, name := range sortedKeys(env) {
		p, ok := podcontract.ParsePlaceholder(env[name])
		if !ok {
			notPlaceholders = append(notPlaceholders, name)
			continue
		}
		if v, ok := spec[name]; !ok || v != env[name] {
			notInSpec = append(notInSpec, name)
			continue
		}
		out = append(out, Wanted{Var: name, Placeholder: p})
	}
	if len(notPlaceholders) > 0 {
		return nil, deny(http.StatusBadRequest, protocol.CodeBadRequest, "%s %s: not an @azurekeyvault placeholder",
			plural("variable", len(notPlaceholders)), strings.Join(notPlaceholders, ", "))
	}
	if len(notInSpec) > 0 {
		d := deny(http.StatusForbidden, protocol.CodePlaceholderNotInSpec, "%s %s: container %s's env in the stored pod spec does not hold that placeholder",
			plural("variable", len(notInSpec)), strings.Join(notInSpec, ", "), c.Name)
		d.Failures = []protocol.Failure{{Code: protocol.CodePlaceholderNotInSpec, Message: "not in the stored pod spec", Variables: notInSpec}}
		return nil, d
	}
	return out, nil
}

// specValues are the literal values the container's env gives each
// variable: its last entry wins, as in the kubelet; an entry from valueFrom
// has none.
func specValues(c *corev1.Container) map[string]string {
	m := make(map[string]string, len(c.Env))
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			delete(m, e.Name)
			continue
		}
		m[e.Name] = e.Value
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
