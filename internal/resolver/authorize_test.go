package resolver

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/latchkey-dev/latchkey/internal/injectmark"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// rewritten is a container as the webhook leaves it in resolver mode.
func rewritten(name string, env ...string) corev1.Container {
	c := corev1.Container{Name: name, Command: []string{podcontract.BinaryPath, "run", "--"}, Args: []string{"/app"}}
	for i := 0; i+1 < len(env); i += 2 {
		c.Env = append(c.Env, corev1.EnvVar{Name: env[i], Value: env[i+1]})
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: podcontract.EnvResolverURL, Value: "https://resolver"})
	return c
}

// testMarks are the tests' admission mark keys.
var testMarks = func() *injectmark.Keys {
	k, err := injectmark.New([]byte(strings.Repeat("m", injectmark.MinKeyBytes)))
	if err != nil {
		panic(err)
	}
	return k
}()

// storedPod is an injected pod of ServiceAccount app in namespace team,
// changed by mutate, then marked by the webhook.
func storedPod(mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web-1", UID: "uid-1"},
		Spec: corev1.PodSpec{
			ServiceAccountName: "app",
			InitContainers:     []corev1.Container{rewritten("migrate", "DB", "db@azurekeyvault")},
			Containers: []corev1.Container{
				rewritten("app", "DB", "db@azurekeyvault", "CRT", "web@azurekeyvault?tls.crt"),
				{Name: "sidecar", Command: []string{"/sidecar"}, Env: []corev1.EnvVar{{Name: "DB", Value: "db@azurekeyvault"}}},
			},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", Command: []string{podcontract.BinaryPath}, Env: []corev1.EnvVar{{Name: "DB", Value: "db@azurekeyvault"}, {Name: podcontract.EnvResolverURL, Value: "https://resolver"}},
			}}},
		},
		Status: corev1.PodStatus{PodIP: "10.0.0.7", PodIPs: []corev1.PodIP{{IP: "10.0.0.7"}, {IP: "fd00::7"}}},
	}
	for _, m := range mutate {
		m(p)
	}
	p.Annotations = map[string]string{podcontract.InjectedAnnotation: testMarks.Sign(p.Namespace, p)}
	return p
}

// changed is p changed after the webhook marked it.
func changed(p *corev1.Pod, change func(*corev1.Pod)) *corev1.Pod {
	change(p)
	return p
}

var theIdentity = Identity{Namespace: "team", ServiceAccount: "app", PodName: "web-1", PodUID: "uid-1"}

func TestAuthorize(t *testing.T) {
	tests := []struct {
		name      string
		pod       *corev1.Pod
		container string
		disabled  bool
		podIP     string // set: RequirePodIP with this caller
		want      string // code, "" allowed
	}{
		{"container", storedPod(), "app", false, "", ""},
		{"init container", storedPod(), "migrate", false, "", ""},
		{"recreated pod: another UID", storedPod(func(p *corev1.Pod) { p.UID = "uid-2" }), "app", false, "", protocol.CodePodMismatch},
		{"another ServiceAccount", storedPod(func(p *corev1.Pod) { p.Spec.ServiceAccountName = "admin" }), "app", false, "", protocol.CodePodMismatch},
		{"default ServiceAccount", storedPod(func(p *corev1.Pod) { p.Spec.ServiceAccountName = "" }), "app", false, "", protocol.CodePodMismatch},
		{"terminating", storedPod(func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{} }), "app", false, "", protocol.CodePodTerminating},
		{"namespace unlabelled", storedPod(), "app", true, "", protocol.CodeNamespaceNotEnabled},
		{"not injected", changed(storedPod(), func(p *corev1.Pod) { delete(p.Annotations, podcontract.InjectedAnnotation) }), "app", false, "", protocol.CodePodNotInjected},
		{"forged mark: true", changed(storedPod(), func(p *corev1.Pod) { p.Annotations[podcontract.InjectedAnnotation] = "true" }), "app", false, "", protocol.CodePodNotInjected},
		{"forged mark: another key", changed(storedPod(), func(p *corev1.Pod) {
			other, _ := injectmark.New([]byte(strings.Repeat("o", injectmark.MinKeyBytes)))
			p.Annotations[podcontract.InjectedAnnotation] = other.Sign(p.Namespace, p)
		}), "app", false, "", protocol.CodePodNotInjected},
		{"mark of another namespace", changed(storedPod(), func(p *corev1.Pod) { p.Namespace = "other" }), "app", false, "", protocol.CodePodNotInjected},
		{"a placeholder added after the mark", changed(storedPod(), func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: "MORE", Value: "admin@azurekeyvault"})
		}), "app", false, "", protocol.CodePodNotInjected},
		{"a container made to look rewritten after the mark", changed(storedPod(), func(p *corev1.Pod) {
			p.Spec.Containers[1].Command = []string{podcontract.BinaryPath, "run", "--", "/sidecar"}
		}), "sidecar", false, "", protocol.CodePodNotInjected},
		{"no such container", storedPod(), "nope", false, "", protocol.CodeContainerNotFound},
		{"ephemeral container", storedPod(), "debug", false, "", protocol.CodeContainerNotFound},
		{"container not rewritten", storedPod(), "sidecar", false, "", protocol.CodeContainerNotRewritten},
		{"container in direct mode", storedPod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: podcontract.EnvDisableAuthService, Value: "True"})
		}), "app", false, "", protocol.CodeContainerNotRewritten},
		{"rewritten without the resolver", storedPod(func(p *corev1.Pod) { p.Spec.Containers[0].Env = nil }), "app", false, "", protocol.CodeContainerNotRewritten},
		{"caller at the pod IP", storedPod(), "app", false, "10.0.0.7", ""},
		{"caller at the pod's IPv6", storedPod(), "app", false, "fd00:0::7", ""},
		{"caller elsewhere", storedPod(), "app", false, "10.0.0.8", protocol.CodeCallerAddressMismatch},
		{"pod without an IP", storedPod(func(p *corev1.Pod) { p.Status = corev1.PodStatus{} }), "app", false, "10.0.0.7", protocol.CodeCallerAddressMismatch},
		{"caller address unparsable", storedPod(), "app", false, "nonsense", protocol.CodeCallerAddressMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := theIdentity
			id.Namespace = tt.pod.Namespace
			c, d := Authorize(Request{Identity: id, Pod: tt.pod, NamespaceEnabled: !tt.disabled, Marks: testMarks, Container: tt.container,
				CallerIP: tt.podIP, RequirePodIP: tt.podIP != ""})
			switch {
			case tt.want == "" && d != nil:
				t.Fatalf("refused: %v", d)
			case tt.want == "" && c.Name != tt.container:
				t.Fatalf("container %s, want %s", c.Name, tt.container)
			case tt.want != "" && (d == nil || d.Code != tt.want || d.Status != http.StatusForbidden):
				t.Fatalf("Authorize = %v, want 403 %s", d, tt.want)
			}
		})
	}
}

func TestMatchPlaceholders(t *testing.T) {
	c := rewritten("app", "DB", "db@azurekeyvault", "CRT", "web@azurekeyvault?tls.crt", "TWICE", "a@azurekeyvault", "TWICE", "b@azurekeyvault", "PLAIN", "hello")
	c.Env = append(c.Env, corev1.EnvVar{Name: "FROM", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}})
	tests := []struct {
		name    string
		env     map[string]string
		status  int
		want    []string // variables served, or refused
		akvs    []string
		queries []string
	}{
		{"all of them", map[string]string{"DB": "db@azurekeyvault", "CRT": "web@azurekeyvault?tls.crt"}, 0, []string{"CRT", "DB"}, []string{"web", "db"}, []string{"tls.crt", ""}},
		{"the last entry of a name wins", map[string]string{"TWICE": "b@azurekeyvault"}, 0, []string{"TWICE"}, []string{"b"}, []string{""}},
		{"an earlier entry of that name", map[string]string{"TWICE": "a@azurekeyvault"}, http.StatusForbidden, []string{"TWICE"}, nil, nil},
		{"another placeholder for the variable", map[string]string{"DB": "admin@azurekeyvault"}, http.StatusForbidden, []string{"DB"}, nil, nil},
		{"another query", map[string]string{"CRT": "web@azurekeyvault?tls.key"}, http.StatusForbidden, []string{"CRT"}, nil, nil},
		{"a variable the container lacks", map[string]string{"DB": "db@azurekeyvault", "EXTRA": "db@azurekeyvault"}, http.StatusForbidden, []string{"EXTRA"}, nil, nil},
		{"a plain value is not a placeholder", map[string]string{"PLAIN": "hello"}, http.StatusBadRequest, nil, nil, nil},
		{"valueFrom is never a placeholder", map[string]string{"FROM": "db@azurekeyvault"}, http.StatusForbidden, []string{"FROM"}, nil, nil},
		{"nothing asked", map[string]string{}, http.StatusBadRequest, nil, nil, nil},
		{"more variables than the env holds", func() map[string]string {
			m := map[string]string{}
			for i := range len(c.Env) + 1 {
				m[fmt.Sprintf("V%d", i)] = "db@azurekeyvault"
			}
			return m
		}(), http.StatusBadRequest, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, d := MatchPlaceholders(&c, tt.env)
			if tt.status != 0 {
				if d == nil || d.Status != tt.status {
					t.Fatalf("MatchPlaceholders = %v, %v; want status %d", got, d, tt.status)
				}
				if tt.status == http.StatusForbidden && (d.Code != protocol.CodePlaceholderNotInSpec || !slices.Equal(d.Failures[0].Variables, tt.want)) {
					t.Errorf("denial %+v, want %s for %v", d, protocol.CodePlaceholderNotInSpec, tt.want)
				}
				return
			}
			if d != nil {
				t.Fatalf("refused: %v", d)
			}
			var vars, akvs, queries []string
			for _, w := range got {
				vars, akvs, queries = append(vars, w.Var), append(akvs, w.AKVS), append(queries, w.Query)
			}
			if !slices.Equal(vars, tt.want) || !slices.Equal(akvs, tt.akvs) || !slices.Equal(queries, tt.queries) {
				t.Errorf("got %v %v %v, want %v %v %v", vars, akvs, queries, tt.want, tt.akvs, tt.queries)
			}
		})
	}
}

func TestIdentityOf(t *testing.T) {
	extra := func(kv ...string) map[string]authenticationv1.ExtraValue {
		m := map[string]authenticationv1.ExtraValue{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = append(m[kv[i]], kv[i+1])
		}
		return m
	}
	pod := extra(extraPodName, "web-1", extraPodUID, "uid-1")
	tests := []struct {
		name string
		user authenticationv1.UserInfo
		want *Identity
	}{
		{"pod-bound token", authenticationv1.UserInfo{Username: "system:serviceaccount:team:app", Extra: pod}, &theIdentity},
		{"plain service-account token", authenticationv1.UserInfo{Username: "system:serviceaccount:team:app"}, nil},
		{"pod name only", authenticationv1.UserInfo{Username: "system:serviceaccount:team:app", Extra: extra(extraPodName, "web-1")}, nil},
		{"two pod names", authenticationv1.UserInfo{Username: "system:serviceaccount:team:app", Extra: extra(extraPodName, "a", extraPodName, "b", extraPodUID, "u")}, nil},
		{"a user", authenticationv1.UserInfo{Username: "alice", Extra: pod}, nil},
		{"a node", authenticationv1.UserInfo{Username: "system:node:n1", Extra: pod}, nil},
		{"malformed username", authenticationv1.UserInfo{Username: "system:serviceaccount:team", Extra: pod}, nil},
		{"too many parts", authenticationv1.UserInfo{Username: "system:serviceaccount:team:app:x", Extra: pod}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, d := IdentityOf(tt.user)
			if tt.want == nil {
				if d == nil || d.Code != protocol.CodeNoPodClaims || d.Status != http.StatusForbidden {
					t.Fatalf("IdentityOf = %+v, %v; want 403 %s", id, d, protocol.CodeNoPodClaims)
				}
				return
			}
			if d != nil || id != *tt.want {
				t.Fatalf("IdentityOf = %+v, %v; want %+v", id, d, *tt.want)
			}
		})
	}
}

func TestReviewed(t *testing.T) {
	user := authenticationv1.UserInfo{Username: "system:serviceaccount:team:app"}
	tests := []struct {
		name   string
		status authenticationv1.TokenReviewStatus
		ok     bool
	}{
		{"authenticated for the audience", authenticationv1.TokenReviewStatus{Authenticated: true, User: user, Audiences: []string{"latchkey-x"}}, true},
		{"not authenticated", authenticationv1.TokenReviewStatus{Authenticated: false, Audiences: []string{"latchkey-x"}, Error: "bad"}, false},
		{"audiences ignored by the API server", authenticationv1.TokenReviewStatus{Authenticated: true, User: user}, false},
		{"another audience", authenticationv1.TokenReviewStatus{Authenticated: true, User: user, Audiences: []string{"api"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, d := Reviewed(tt.status, "latchkey-x")
			if tt.ok != (d == nil) || (d != nil && (d.Status != http.StatusUnauthorized || d.Code != protocol.CodeTokenRejected)) {
				t.Fatalf("Reviewed = %+v, %v", got, d)
			}
			if tt.ok && got.Username != user.Username {
				t.Errorf("user %+v", got)
			}
		})
	}
}
