//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/latchkey-dev/latchkey/internal/devtools/devcluster"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
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
// NetworkPolicy enforcer on the node: kube-router's network policy
// controller alone (iptables and ipset; built from
// hack/tools/kube-router), since the node's CNI bridge plugin enforces
// nothing by itself. Enforced, the policies must let an injected pod get
// its values from the resolver (through the resolver's Service, to the
// resolver pods' port) and let any source reach the webhook's port, while
// refusing the resolver to pods of a namespace not labelled for injection
// and the labelled namespace's pods anything but the resolver. Without the
// enforcer (LATCHKEY_KUBE_ROUTER unset) the test says so and checks only
// that injection keeps working under the policies; test/docs checks
// statically that they select the resolver and webhook pods and their
// container ports.
func TestNetworkPolicyExample(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	f := newInjectorFixture(ctx, t, "netpol")
	enforced := startPolicyEnforcer(ctx, t) // before the policies: its cleanup runs after theirs
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
	if enforced {
		waitForPolicyRules(ctx, t, mainRelease.namespace, "latchkey-resolver", "latchkey-webhook")
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
			if got := dialFrom(ctx, t, c.ns, c.addr); !strings.Contains(got, c.want) {
				t.Errorf("%s: dial %s from %s: %s, want %s", c.why, c.addr, c.ns, strings.TrimSpace(got), c.want)
			}
		}
	}
	pod := f.start(ctx, t, f.deployment("netpol", nil, mainRelease.resolverAliases(ctx, t, f.cs)))
	f.checkOutput(ctx, t, pod, "sa_token=absent")
	for _, c := range pod.Spec.Containers {
		found := false
		for _, e := range c.Env {
			found = found || e.Name == podcontract.EnvResolverURL
		}
		if !found {
			t.Errorf("container %s is not in resolver mode", c.Name)
		}
	}
}

// kubeRouterChains are the prefixes of the iptables chains (and ipsets)
// kube-router's network policy controller makes.
var kubeRouterChains = []string{"KUBE-ROUTER-", "KUBE-NWPLCY-", "KUBE-POD-FW-", "KUBE-SRC-", "KUBE-DST-"}

// startPolicyEnforcer runs kube-router's network policy controller alone
// (no routing, no service proxy: kube-proxy and the bridge plugin stay in
// charge) on the node as a host process, with the admin kubeconfig; its log
// is <LogDir>/kube-router.log. When the test ends (after the policies are
// deleted) it stops it and removes its chains and ipsets, so the rest of
// the suite runs unfiltered; the cluster's teardown removes them too should
// this process die first. It returns false when LATCHKEY_KUBE_ROUTER is
// unset (not run through make test-e2e).
func startPolicyEnforcer(ctx context.Context, t *testing.T) bool {
	t.Helper()
	bin := os.Getenv("LATCHKEY_KUBE_ROUTER")
	if bin == "" {
		t.Log("LATCHKEY_KUBE_ROUTER is not set (run through make test-e2e): the policies are applied, not enforced")
		return false
	}
	if err := devcluster.RemoveChains(kubeRouterChains...); err != nil { // a killed run's
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(env.cluster.LogDir(), "kube-router.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--kubeconfig="+env.cluster.Kubeconfig, "--hostname-override="+env.cluster.Node.Name,
		"--run-firewall=true", "--run-router=false", "--run-service-proxy=false",
		"--service-cluster-ip-range="+env.cluster.ServiceCIDR(), "--health-port=0", "--metrics-port=0", "--v=2")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = logFile.Close()
		if err := devcluster.RemoveChains(kubeRouterChains...); err != nil {
			t.Errorf("removing kube-router's rules: %v", err)
		}
		if t.Failed() {
			log, _ := os.ReadFile(logFile.Name())
			t.Logf("kube-router:\n%s", log)
		}
	})
	select {
	case err := <-done:
		t.Fatalf("kube-router exited: %v (log: %s)", err, logFile.Name())
	case <-time.After(2 * time.Second):
	}
	t.Log("NetworkPolicies are enforced by kube-router's network policy controller")
	return true
}

// waitForPolicyRules waits until kube-router has programmed a rule for each
// named policy of namespace ns (its rules' comments name the policy).
func waitForPolicyRules(ctx context.Context, t *testing.T, ns string, names ...string) {
	t.Helper()
	var save []byte
	if err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		if save, err = exec.CommandContext(ctx, "iptables-save", "-t", "filter").Output(); err != nil {
			return false, err
		}
		for _, n := range names {
			if !regexp.MustCompile(`selected by policy name:? ` + regexp.QuoteMeta(n) + ` namespace ` + regexp.QuoteMeta(ns) + `\b`).Match(save) {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		t.Fatalf("kube-router did not program rules for %v in %s: %v\n%s", names, ns, err, save)
	}
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
// what it printed. The pod dials a few seconds after it starts: the
// enforcer learns its address from the API server and only then puts it in
// the sets and chains its policies match.
func dialFrom(ctx context.Context, t *testing.T, ns, addr string) string {
	t.Helper()
	cs, err := env.cluster.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	pod, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "dial-"}, Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever, AutomountServiceAccountToken: ptr.To(false),
		Containers: []corev1.Container{{Name: "dial", Image: env.toolbox, Args: []string{"dial", addr, "8s"}}},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitForPodDone(ctx, t, ns, pod.Name)
	logs, err := cs.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
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
