package webhook

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"
)

// TestInjectedPodStaysRestricted: a pod that meets Pod Security
// "restricted" still meets it once the webhook has rewritten it, in
// resolver mode and in direct mode (the install init container, the
// in-memory volume, the resolver's token and CA volumes), as Kubernetes'
// own Pod Security admission code evaluates it: injection never needs a
// namespace to allow more.
func TestInjectedPodStaysRestricted(t *testing.T) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	restricted := api.LevelVersion{Level: api.LevelRestricted, Version: api.LatestVersion()}
	for name, resolver := range map[string]*ResolverOptions{
		"resolver mode": {URL: "https://latchkey-resolver.latchkey.svc", Audience: "aud", CAConfigMap: "latchkey-resolver-ca"},
		"direct mode":   nil,
	} {
		t.Run(name, func(t *testing.T) {
			p := pod(corev1.Container{
				Name: "app", Image: "app:1", Command: []string{"/app"}, Env: env("PASS", "db@azurekeyvault"),
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			})
			p.Spec.SecurityContext = &corev1.PodSecurityContext{
				RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			}
			if r := policy.AggregateCheckResults(evaluator.EvaluatePod(restricted, &p.ObjectMeta, &p.Spec)); !r.Allowed {
				t.Fatalf("the test pod is not restricted before injection: %s", r.ForbiddenDetail())
			}
			o := testOpts
			o.Resolver = resolver
			if err := mutate(p, analyze(p, nil), testRefs, nil, o); err != nil {
				t.Fatal(err)
			}
			if len(p.Spec.InitContainers) == 0 {
				t.Fatal("not injected")
			}
			if r := policy.AggregateCheckResults(evaluator.EvaluatePod(restricted, &p.ObjectMeta, &p.Spec)); !r.Allowed {
				t.Errorf("the injected pod is not restricted: %s", r.ForbiddenDetail())
			}
		})
	}
}
