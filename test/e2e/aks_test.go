//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/latchkey-dev/latchkey/internal/ociimage"
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
// policy denying all other ingress in latchkey's namespace, with a
// NetworkPolicy enforcer on the node (kube-network-policies, built from
// hack/tools/kube-network-policies: the node's CNI bridge plugin enforces
// nothing by itself). Enforced, the policies must let an injected pod get
// its values from the resolver (through the resolver's Service, to the
// resolver pods' port) and let any source reach the webhook's port, while
// refusing the resolver to pods of a namespace not labelled for injection
// and the labelled namespace's pods anything but the resolver. Without
// the enforcer (LATCHKEY_KUBE_NETWORK_POLICIES unset) the test says so and
// checks only that injection keeps working under the policies.
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
	enforced := startPolicyEnforcer(ctx, t, f)
	if enforced {
		resolverIP, webhookIP := podIP(ctx, t, f, "resolver"), podIP(ctx, t, f, "webhook")
		outside := createNamespace(ctx, t, "netpol-outside")
		for _, c := range []struct {
			ns, addr, want, why string
		}{
			{f.ns, resolverIP + ":8443", "dial=ok", "a labelled namespace reaches the resolver pods' port"},
			{outside, resolverIP + ":8443", "dial=failed", "an unlabelled namespace is refused by the resolver's policy"},
			{outside, webhookIP + ":9443", "dial=ok", "the webhook's port is open to any source"},
			{f.ns, webhookIP + ":9443", "dial=failed", "the labelled namespace's egress policy allows only the resolver"},
		} {
			if got := dialFrom(ctx, t, f, c.ns, c.addr); !strings.Contains(got, c.want) {
				t.Errorf("%s: dial %s from %s: %s, want %s", c.why, c.addr, c.ns, strings.TrimSpace(got), c.want)
			}
		}
		if t.Failed() {
			logs, _ := f.cs.CoreV1().Pods("kube-system").GetLogs("kube-network-policies", &corev1.PodLogOptions{}).DoRaw(ctx)
			t.Logf("kube-network-policies:\n%s", logs)
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

// startPolicyEnforcer runs kube-network-policies on the node as a
// privileged host-network pod in kube-system (it reads pods, namespaces
// and NetworkPolicies and programs nftables, queueing new connections of
// pods to itself), waits until it has programmed its rules, and removes it
// (and, on SIGTERM, it its rules) when the test ends. fail-open: should it
// die, packets pass instead of every pod of the node losing its network.
func startPolicyEnforcer(ctx context.Context, t *testing.T, f *injectorFixture) bool {
	t.Helper()
	bin := os.Getenv("LATCHKEY_KUBE_NETWORK_POLICIES")
	if bin == "" {
		t.Log("LATCHKEY_KUBE_NETWORK_POLICIES is not set (run through make test-e2e): the policies are applied, not enforced")
		return false
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	img, err := ociimage.Build(ociimage.Spec{
		Files:      []ociimage.File{{Path: "/kube-network-policies", Mode: 0o755, Data: data}},
		Entrypoint: []string{"/kube-network-policies"}, OS: "linux", Architecture: runtime.GOARCH,
	})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := env.cluster.Node.Registry.Push(ctx, "e2e/kube-network-policies:1", img)
	if err != nil {
		t.Fatal(err)
	}
	const name, ns = "kube-network-policies", "kube-system"
	rbac := f.cs.RbacV1()
	if _, err := f.cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "namespaces", "nodes"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: []string{"get", "list", "watch"}},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.PodSpec{
		HostNetwork: true, ServiceAccountName: name, NodeName: env.cluster.Node.Name,
		Containers: []corev1.Container{{Name: name, Image: ref,
			Args:            []string{"--hostname-override=" + env.cluster.Node.Name, "--disable-nri", "--fail-open", "--metrics-bind-address=127.0.0.1:0", "--v=4"},
			SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}},
	}}
	if _, err := f.cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_ = f.cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{})
		_ = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := f.cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		_ = rbac.ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
		_ = rbac.ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
		_ = f.cs.CoreV1().ServiceAccounts(ns).Delete(ctx, name, metav1.DeleteOptions{})
	})
	var logs []byte
	if err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		logs, _ = f.cs.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
		return strings.Contains(string(logs), "Syncing nftables rules"), nil
	}); err != nil {
		t.Fatalf("kube-network-policies did not program its rules: %v\n%s", err, logs)
	}
	t.Log("NetworkPolicies are enforced by kube-network-policies")
	return true
}

// podIP is the IP of a running pod of the main release's component.
func podIP(ctx context.Context, t *testing.T, f *injectorFixture, component string) string {
	t.Helper()
	pods, err := f.cs.CoreV1().Pods(mainRelease.namespace).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/instance=" + mainRelease.name + ",app.kubernetes.io/component=" + component})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
			return p.Status.PodIP
		}
	}
	t.Fatalf("no running %s pod", component)
	return ""
}

// dialFrom runs `toolbox dial addr` in a pod of namespace ns and returns
// what it printed.
func dialFrom(ctx context.Context, t *testing.T, f *injectorFixture, ns, addr string) string {
	t.Helper()
	pod, err := f.cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "dial-"}, Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever, AutomountServiceAccountToken: ptr.To(false),
		// Dial once the enforcer has learnt the pod's address (from the
		// API server: the enforcer runs without NRI).
		Containers: []corev1.Container{{Name: "dial", Image: env.toolbox, Args: []string{"dial", addr, "5s"}}},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitForPodDone(ctx, t, ns, pod.Name)
	logs, err := f.cs.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return string(logs)
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
