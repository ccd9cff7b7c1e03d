package resolver_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// fruitEnv asks for the placeholder every denial test's pods hold: an
// object of denyVault, which no test may ever cause to be read.
var fruitEnv = map[string]string{"FRUIT": "fruit@azurekeyvault"}

// dbEnv asks for an object of the suite's main vault.
var dbEnv = map[string]string{"DB": "db@azurekeyvault"}

// denial is one refused request: who the resolver should log it for.
type denial struct {
	r       *testResolver
	a       answer
	ns, pod string // empty when the resolver cannot know them (401)
}

// TestDenials: each way of asking for what a pod may not have is refused
// with its status and code, logged (names and the reason, never a value),
// and costs Key Vault nothing.
func TestDenials(t *testing.T) {
	before := kvReads(denyVault)
	// The resolver of the local token checks, whose API calls are counted.
	local := newResolver(t, nil)
	w := newWorld(t, suite.res)
	w.akvs("fruit", denyVault, "fruit", v2beta1.ObjectTypeSecret)
	w.akvs("db", vault, "db-password", v2beta1.ObjectTypeSecret)
	podA := w.pod("pod-a", app("app", "FRUIT", "fruit@azurekeyvault"), app("sidecar", "PLAIN", "x"),
		app("direct", "FRUIT", "fruit@azurekeyvault", podcontract.EnvDisableAuthService, "true"))
	podB := w.pod("pod-b", app("app", "OTHER", "db@azurekeyvault"))
	tokenA := token(t, podA, audience)
	// The pods of the deletion cases ask once before, with a resolver of
	// their own, which then waits for its pod watch to see the change.
	clocked := newWorldIn(t, newResolver(t, nil), w.ns)

	tests := []struct {
		name   string
		run    func(t *testing.T) denial
		status int
		code   string
	}{
		{"another pod's token", func(t *testing.T) denial {
			return denial{suite.res, ask(t, suite.res, token(t, podB, audience), "app", fruitEnv), w.ns, "pod-b"}
		}, http.StatusForbidden, protocol.CodePlaceholderNotInSpec},

		{"another namespace's token", func(t *testing.T) denial {
			other := newWorld(t, suite.res)
			other.akvs("fruit", denyVault, "fruit", v2beta1.ObjectTypeSecret)
			p := other.pod("pod-a", app("app", "OTHER", "fruit@azurekeyvault"))
			return denial{suite.res, ask(t, suite.res, token(t, p, audience), "app", fruitEnv), other.ns, "pod-a"}
		}, http.StatusForbidden, protocol.CodePlaceholderNotInSpec},

		{"wrong audience", func(t *testing.T) denial {
			return denial{local, ask(t, local, token(t, podA, "https://kubernetes.default.svc"), "app", fruitEnv), "", ""}
		}, http.StatusUnauthorized, protocol.CodeTokenWrongAudience},

		{"expired token", func(t *testing.T) denial {
			r := newResolver(t, nil)
			tok := token(t, podA, audience)
			r.clock.Advance(601e9) // past the token's 600 s
			d := denial{r, ask(t, r, tok, "app", fruitEnv), "", ""}
			if n := r.reviews.Load(); n != 0 {
				t.Errorf("%d TokenReviews for an expired token, want 0", n)
			}
			return d
		}, http.StatusUnauthorized, protocol.CodeTokenExpired},

		{"no token", func(t *testing.T) denial {
			return denial{local, ask(t, local, "", "app", fruitEnv), "", ""}
		}, http.StatusUnauthorized, protocol.CodeTokenMissing},

		{"not a JWT", func(t *testing.T) denial {
			return denial{local, ask(t, local, "not-a-jwt", "app", fruitEnv), "", ""}
		}, http.StatusUnauthorized, protocol.CodeTokenMalformed},

		// Forgeries of a real token: no API call, no cache entry.
		{"unsigned token (alg none)", func(t *testing.T) denial {
			return denial{local, ask(t, local, unsignedCopy(t, tokenA), "app", fruitEnv), "", ""}
		}, http.StatusUnauthorized, protocol.CodeTokenMalformed},

		{"token re-signed with another key under the issuer's key id", func(t *testing.T) denial {
			stranger, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				t.Fatal(err)
			}
			return denial{local, ask(t, local, resign(t, tokenA, stranger, kid(t, tokenA)), "app", fruitEnv), "", ""}
		}, http.StatusUnauthorized, protocol.CodeTokenRejected},

		{"token whose claims name another pod", func(t *testing.T) denial {
			forged := tampered(t, tokenA, func(c map[string]any) {
				c["kubernetes.io"].(map[string]any)["pod"] = map[string]any{"name": "pod-b", "uid": string(podB.UID)}
			})
			return denial{local, ask(t, local, forged, "app", fruitEnv), "", ""}
		}, http.StatusUnauthorized, protocol.CodeTokenRejected},

		{"token not valid yet", func(t *testing.T) denial {
			r := newResolver(t, nil)
			r.clock.Advance(-2 * time.Minute) // the API server's clock runs ahead
			d := denial{r, ask(t, r, token(t, podA, audience), "app", fruitEnv), "", ""}
			if n := r.reviews.Load() + r.podGets.Load(); n != 0 {
				t.Errorf("%d API calls for a token not valid yet, want 0", n)
			}
			return d
		}, http.StatusUnauthorized, protocol.CodeTokenRejected},

		{"token without pod claims", func(t *testing.T) denial {
			tr, err := suite.cs.CoreV1().ServiceAccounts(w.ns).CreateToken(context.Background(), "app", &authenticationv1.TokenRequest{
				Spec: authenticationv1.TokenRequestSpec{Audiences: []string{audience}, ExpirationSeconds: ptr.To[int64](600)},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return denial{suite.res, ask(t, suite.res, tr.Status.Token, "app", fruitEnv), "", ""}
		}, http.StatusForbidden, protocol.CodeNoPodClaims},

		{"placeholder not in the stored spec", func(t *testing.T) denial {
			return denial{suite.res, ask(t, suite.res, tokenA, "app", map[string]string{"FRUIT": "fruit@azurekeyvault", "MORE": "fruit@azurekeyvault"}), w.ns, "pod-a"}
		}, http.StatusForbidden, protocol.CodePlaceholderNotInSpec},

		{"another placeholder under a variable of the spec", func(t *testing.T) denial {
			return denial{suite.res, ask(t, suite.res, tokenA, "app", map[string]string{"FRUIT": "fruit@azurekeyvault?password"}), w.ns, "pod-a"}
		}, http.StatusForbidden, protocol.CodePlaceholderNotInSpec},

		{"ephemeral container", func(t *testing.T) denial {
			p := w.pod("pod-debugged", app("app", "OTHER", "db@azurekeyvault"))
			addEphemeral(t, p)
			return denial{suite.res, ask(t, suite.res, token(t, p, audience), "debug", fruitEnv), w.ns, "pod-debugged"}
		}, http.StatusForbidden, protocol.CodeContainerNotFound},

		{"placeholder only in an ephemeral container", func(t *testing.T) denial {
			p := w.pod("pod-debugged-2", app("app", "OTHER", "db@azurekeyvault"))
			addEphemeral(t, p)
			return denial{suite.res, ask(t, suite.res, token(t, p, audience), "app", fruitEnv), w.ns, "pod-debugged-2"}
		}, http.StatusForbidden, protocol.CodePlaceholderNotInSpec},

		// A pod that asked once: the resolver has its token reviewed (and
		// the API server, which refuses a deleted pod's token, has it
		// cached too), so the pod read is what refuses it.
		{"deleted pod", func(t *testing.T) denial {
			p := clocked.pod("pod-deleted", app("app", "DB", "db@azurekeyvault"))
			tok := token(t, p, audience)
			if a := ask(t, clocked.r, tok, "app", dbEnv); a.status != http.StatusOK {
				t.Fatalf("before the deletion: %d %s", a.status, a.raw)
			}
			if err := suite.client.Delete(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			untilCached(t, clocked.r, p, false)
			return denial{clocked.r, ask(t, clocked.r, tok, "app", dbEnv), clocked.ns, "pod-deleted"}
		}, http.StatusForbidden, protocol.CodePodNotFound},

		{"recreated pod", func(t *testing.T) denial {
			p := clocked.pod("pod-recreated", app("app", "DB", "db@azurekeyvault"))
			tok := token(t, p, audience)
			if a := ask(t, clocked.r, tok, "app", dbEnv); a.status != http.StatusOK {
				t.Fatalf("before the deletion: %d %s", a.status, a.raw)
			}
			if err := suite.client.Delete(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			untilCached(t, clocked.r, clocked.pod("pod-recreated", app("app", "DB", "db@azurekeyvault")), true)
			return denial{clocked.r, ask(t, clocked.r, tok, "app", dbEnv), clocked.ns, "pod-recreated"}
		}, http.StatusForbidden, protocol.CodePodMismatch},

		{"terminating pod", func(t *testing.T) denial {
			p := podSpec(w.ns, "pod-terminating", app("app", "FRUIT", "fruit@azurekeyvault"))
			p.Finalizers = []string{"latchkey.dev/test"}
			injected := w.pod("unused", app("app", "FRUIT", "fruit@azurekeyvault"))
			p.Spec, p.Annotations = injected.Spec, injected.Annotations
			w.store(p)
			t.Cleanup(func() { removeFinalizers(t, p) })
			if err := suite.client.Delete(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			return denial{suite.res, ask(t, suite.res, token(t, p, audience), "app", fruitEnv), w.ns, "pod-terminating"}
		}, http.StatusForbidden, protocol.CodePodTerminating},

		{"unlabelled namespace", func(t *testing.T) denial {
			other := newWorldIn(t, suite.res, createNamespace(t, "", false))
			other.akvs("fruit", denyVault, "fruit", v2beta1.ObjectTypeSecret)
			p := other.pod("pod-a", app("app", "FRUIT", "fruit@azurekeyvault"))
			return denial{suite.res, ask(t, suite.res, token(t, p, audience), "app", fruitEnv), other.ns, "pod-a"}
		}, http.StatusForbidden, protocol.CodeNamespaceNotEnabled},

		// Also: a value the cache holds for a namespace allowed its vault is
		// not served to one that is not.
		{"vault outside the allow-list", func(t *testing.T) denial {
			crossEnv := map[string]string{"CROSS": "cross@azurekeyvault"}
			w.akvs("cross", crossVault, "cross", v2beta1.ObjectTypeSecret)
			allowed := w.pod("pod-cross", app("app", "CROSS", "cross@azurekeyvault"))
			if a := ask(t, suite.res, token(t, allowed, audience), "app", crossEnv); a.status != http.StatusOK {
				t.Fatalf("the allowed namespace: %d %s", a.status, a.raw)
			}
			other := newWorldIn(t, suite.res, createNamespace(t, tenancyNamespace, true))
			other.akvs("fruit", denyVault, "fruit", v2beta1.ObjectTypeSecret)
			other.akvs("cross", crossVault, "cross", v2beta1.ObjectTypeSecret)
			p := other.pod("pod-a", app("app", "FRUIT", "fruit@azurekeyvault", "CROSS", "cross@azurekeyvault"))
			tok := token(t, p, audience)
			if a := ask(t, suite.res, tok, "app", crossEnv); a.status != http.StatusForbidden || a.err.Code != protocol.CodeVaultNotAllowed {
				t.Errorf("a value cached for another namespace: %d %s, want 403 %s", a.status, a.raw, protocol.CodeVaultNotAllowed)
			}
			return denial{suite.res, ask(t, suite.res, tok, "app", fruitEnv), other.ns, "pod-a"}
		}, http.StatusForbidden, protocol.CodeVaultNotAllowed},

		{"container not rewritten", func(t *testing.T) denial {
			return denial{suite.res, ask(t, suite.res, tokenA, "sidecar", fruitEnv), w.ns, "pod-a"}
		}, http.StatusForbidden, protocol.CodeContainerNotRewritten},

		{"container in direct mode", func(t *testing.T) denial {
			return denial{suite.res, ask(t, suite.res, tokenA, "direct", fruitEnv), w.ns, "pod-a"}
		}, http.StatusForbidden, protocol.CodeContainerNotRewritten},

		{"pod not admitted by the webhook", func(t *testing.T) denial {
			injected := w.pod("template", app("app", "FRUIT", "fruit@azurekeyvault"))
			p := podSpec(w.ns, "pod-bypassed")
			p.Spec = injected.Spec // looks rewritten, but no webhook admitted it
			w.store(p)
			return denial{suite.res, ask(t, suite.res, token(t, p, audience), "app", fruitEnv), w.ns, "pod-bypassed"}
		}, http.StatusForbidden, protocol.CodePodNotInjected},

		{"pod created with a forged mark", func(t *testing.T) denial {
			injected := w.pod("template-forged", app("app", "FRUIT", "fruit@azurekeyvault"))
			p := podSpec(w.ns, "pod-forged-mark")
			p.Spec = injected.Spec // looks rewritten, claims the webhook's admission
			p.Annotations = map[string]string{podcontract.InjectedAnnotation: "true"}
			w.store(p)
			return denial{suite.res, ask(t, suite.res, token(t, p, audience), "app", fruitEnv), w.ns, "pod-forged-mark"}
		}, http.StatusForbidden, protocol.CodePodNotInjected},

		{"pod carrying the mark of another pod", func(t *testing.T) denial {
			marked := w.pod("template-marked", app("app", "DB", "db@azurekeyvault"))
			p := podSpec(w.ns, "pod-copied-mark")
			p.Spec, p.Annotations = *marked.Spec.DeepCopy(), marked.Annotations
			for i, e := range p.Spec.Containers[0].Env {
				if e.Name == "DB" {
					p.Spec.Containers[0].Env[i] = corev1.EnvVar{Name: "FRUIT", Value: "fruit@azurekeyvault"}
				}
			}
			w.store(p)
			return denial{suite.res, ask(t, suite.res, token(t, p, audience), "app", fruitEnv), w.ns, "pod-copied-mark"}
		}, http.StatusForbidden, protocol.CodePodNotInjected},
		// Turned invalid after the pod was admitted (the webhook refuses
		// pods naming one that is invalid already).
		{"AzureKeyVaultSecret that cannot be used", func(t *testing.T) denial {
			w.akvs("db-turned", vault, "db-password", v2beta1.ObjectTypeSecret)
			p := w.pod("pod-invalid", app("app", "DB", "db-turned@azurekeyvault"))
			a := &v2beta1.AzureKeyVaultSecret{}
			if err := suite.client.Get(context.Background(), client.ObjectKey{Namespace: w.ns, Name: "db-turned"}, a); err != nil {
				t.Fatal(err)
			}
			a.Spec.Output = &v2beta1.AzureKeyVaultOutput{Transform: []v2beta1.Transform{"rot13"}}
			if err := suite.client.Update(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			tok := token(t, p, audience)
			var got answer
			eventually(t, func() error { // until the resolver's informer sees the update
				got = ask(t, suite.res, tok, "app", map[string]string{"DB": "db-turned@azurekeyvault"})
				if got.status != http.StatusUnprocessableEntity || !strings.Contains(got.err.Message, "spec.output.transform[0] is not a transform") {
					return fmt.Errorf("answer %d %s", got.status, got.raw)
				}
				return nil
			})
			return denial{suite.res, got, w.ns, "pod-invalid"}
		}, http.StatusUnprocessableEntity, protocol.CodeInvalidSpec},

		{"caller elsewhere than the pod's IP", func(t *testing.T) denial {
			r := newResolver(t, func(c *resolver.Config) { c.RequirePodIP = true })
			p := newWorldIn(t, r, w.ns).pod("pod-ip", app("app", "FRUIT", "fruit@azurekeyvault"))
			p.Status.PodIP, p.Status.PodIPs = "10.1.2.3", []corev1.PodIP{{IP: "10.1.2.3"}}
			if err := suite.client.Status().Update(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			return denial{r, ask(t, r, token(t, p, audience), "app", fruitEnv), w.ns, "pod-ip"}
		}, http.StatusForbidden, protocol.CodeCallerAddressMismatch},
	}
	t.Run("each", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				d := tt.run(t)
				if d.a.status != tt.status || d.a.err.Code != tt.code {
					t.Fatalf("answer %d %s, want %d %s", d.a.status, d.a.raw, tt.status, tt.code)
				}
				want := map[string]any{"msg": "request refused", "code": tt.code}
				if d.pod != "" {
					want["namespace"], want["pod"] = d.ns, d.pod
				}
				l := logged(t, d.r, want)
				if l["reason"] == "" || l["status"] != float64(tt.status) {
					t.Errorf("log line %v lacks the reason or the status", l)
				}
				noValues(t, "the answer", d.a.raw)
				noValues(t, "the resolver's log", d.r.logs.String())
			})
		}
	})
	if n := kvReads(denyVault) - before; n != 0 {
		t.Errorf("denied requests made %d Key Vault reads, want 0", n)
	}
	if n, gets := local.reviews.Load(), local.podGets.Load(); n != 0 || gets != 0 {
		t.Errorf("tokens refused by the local checks cost %d TokenReviews and %d pod reads, want 0", n, gets)
	}
}

// addEphemeral adds a debug container holding a placeholder and made to
// look rewritten, as `kubectl debug` by a tenant could.
func addEphemeral(t *testing.T, p *corev1.Pod) {
	t.Helper()
	p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: "debug", Image: "registry.test/debug:1", Command: []string{podcontract.BinaryPath, "run", "--", "/bin/sh"},
		Env: []corev1.EnvVar{{Name: "FRUIT", Value: "fruit@azurekeyvault"}, {Name: podcontract.EnvResolverURL, Value: "https://resolver"}},
	}})
	if err := suite.client.SubResource("ephemeralcontainers").Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func removeFinalizers(t *testing.T, p *corev1.Pod) {
	cur := &corev1.Pod{}
	if err := suite.client.Get(context.Background(), client.ObjectKeyFromObject(p), cur); err != nil {
		return
	}
	cur.Finalizers = nil
	if err := suite.client.Update(context.Background(), cur); err != nil {
		t.Errorf("remove finalizer: %v", err)
	}
}
