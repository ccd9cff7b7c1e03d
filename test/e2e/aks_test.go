//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/latchkey-dev/latchkey/internal/webhook"
)

// TestEnvImagePullPath: an injected pod pulls latchkey-env itself, from
// where docs/install-aks.md says (<image.registry>/latchkey-env:<tag>, the
// webhook's --env-image), with the node's access to the registry: its
// namespace's default ServiceAccount has no pull secret and the pod gets
// none from the webhook (the chart's imagePullSecrets are for latchkey's
// own pods). The node's registry stands in for an ACR attached to the
// cluster, which every node pulls from without a secret.
func TestEnvImagePullPath(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	f := newInjectorFixture(ctx, t, "pullpath")
	sa, err := f.cs.CoreV1().ServiceAccounts(f.ns).Get(ctx, "default", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sa.ImagePullSecrets) > 0 {
		t.Fatalf("the default ServiceAccount has pull secrets %v", sa.ImagePullSecrets)
	}
	dep := f.deployment("pullpath", nil, mainRelease.resolverAliases(ctx, t, f.cs))
	dep.Spec.Template.Spec.ImagePullSecrets = nil
	pod := f.start(ctx, t, dep)
	f.checkOutput(ctx, t, pod, "sa_token=absent")

	want := env.cluster.Node.Registry.Host + "/latchkey/latchkey-env:" + imageTag // image.registry, image.tag of the install
	if got := webhookArg(ctx, t, f, "--env-image="); got != want {
		t.Errorf("the webhook injects %s, the values say %s", got, want)
	}
	if len(pod.Spec.ImagePullSecrets) > 0 {
		t.Errorf("the injected pod has pull secrets %v", pod.Spec.ImagePullSecrets)
	}
	install := pod.Spec.InitContainers[0]
	if install.Name != "latchkey-env-install" || install.Image != want {
		t.Errorf("init container %s runs %s, want latchkey-env-install running %s", install.Name, install.Image, want)
	}
	for _, s := range pod.Status.InitContainerStatuses {
		if s.Name == install.Name && (s.ImageID == "" || s.State.Terminated == nil || s.State.Terminated.ExitCode != 0) {
			t.Errorf("latchkey-env-install: image %q pulled as %q, state %+v", s.Image, s.ImageID, s.State)
		}
	}
}

// webhookArg is the value of the webhook Deployment's argument with prefix.
func webhookArg(ctx context.Context, t *testing.T, f *injectorFixture, prefix string) string {
	t.Helper()
	d, err := f.cs.AppsV1().Deployments(mainRelease.namespace).Get(ctx, mainRelease.name+"-webhook", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, prefix); ok {
			return v
		}
	}
	t.Fatalf("the webhook has no %s argument", prefix)
	return ""
}

// TestNetworkPolicyExample applies the network policies of
// docs/install-aks.md as a user would (latchkey's namespace and release
// name changed to the suite's, team-a to a test namespace), beside a
// policy denying all other ingress in latchkey's namespace, and runs an
// injected pod, which must get its values from the resolver. The node's
// network (the CNI bridge plugin) enforces no policy: this shows the
// policies are valid, accepted and leave injection working; test/docs
// checks statically that they select the resolver and webhook pods and
// their container ports.
func TestNetworkPolicyExample(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	f := newInjectorFixture(ctx, t, "netpol")
	policies := guidePolicies(t)
	if len(policies) < 3 {
		t.Fatalf("%d policies in the guide, want the resolver's, the webhook's and the egress example", len(policies))
	}
	policies = append(policies, networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "default-deny-ingress", Namespace: "latchkey"},
		Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}},
	})
	for _, np := range policies {
		switch np.Namespace {
		case "latchkey":
			np.Namespace = mainRelease.namespace
		case "team-a":
			np.Namespace = f.ns
		default:
			t.Fatalf("policy %s in namespace %s: the guide's are in latchkey and team-a", np.Name, np.Namespace)
		}
		for i := range np.Spec.Egress {
			for j := range np.Spec.Egress[i].To {
				if sel := np.Spec.Egress[i].To[j].NamespaceSelector; sel != nil && sel.MatchLabels["kubernetes.io/metadata.name"] == "latchkey" {
					sel.MatchLabels["kubernetes.io/metadata.name"] = mainRelease.namespace
				}
			}
		}
		if _, err := f.cs.NetworkingV1().NetworkPolicies(np.Namespace).Create(ctx, &np, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s/%s: %v", np.Namespace, np.Name, err)
		}
		if np.Namespace == mainRelease.namespace {
			t.Cleanup(func() {
				_ = f.cs.NetworkingV1().NetworkPolicies(np.Namespace).Delete(context.Background(), np.Name, metav1.DeleteOptions{})
			})
		}
	}
	pod := f.start(ctx, t, f.deployment("netpol", nil, mainRelease.resolverAliases(ctx, t, f.cs)))
	f.checkOutput(ctx, t, pod, "sa_token=absent")
	for _, c := range pod.Spec.Containers {
		found := false
		for _, e := range c.Env {
			found = found || e.Name == webhook.ResolverURLEnv
		}
		if !found {
			t.Errorf("container %s is not in resolver mode", c.Name)
		}
	}
}

// guidePolicies are the NetworkPolicies of docs/install-aks.md's YAML blocks.
func guidePolicies(t *testing.T) []networkingv1.NetworkPolicy {
	t.Helper()
	file, err := os.Open(filepath.Join("..", "..", "docs", "install-aks.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = file.Close() }()
	var blocks []string
	var cur *strings.Builder
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```yaml":
			cur = &strings.Builder{}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	var out []networkingv1.NetworkPolicy
	for _, b := range blocks {
		for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(b, -1) {
			var np networkingv1.NetworkPolicy
			if yaml.UnmarshalStrict([]byte(doc), &np) == nil && np.Kind == "NetworkPolicy" {
				out = append(out, np)
			}
		}
	}
	return out
}
