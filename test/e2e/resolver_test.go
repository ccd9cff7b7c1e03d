//go:build e2e

package e2e

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// The resolver as the chart installs it (release "latchkey").
const (
	resolverName     = "latchkey-resolver"
	resolverSelector = "app.kubernetes.io/component=resolver"
	resolverReplicas = 2
	resolverPort     = "8443" // resolver.port
)

// TestInjectorResolverMode: the injector scenarios of the direct-mode test
// with the default delivery, the resolver. The pod holds no Key Vault
// credential and no service-account token (automountServiceAccountToken:
// false); the only token it has is the one the webhook projected for the
// resolver's audience, which the API server refuses (401): the pod has no
// Kubernetes API access. Nothing anywhere holds a value.
func TestInjectorResolverMode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	f := newInjectorFixture(ctx, t, "resolve")
	pod := f.start(ctx, t, f.deployment("resolved", nil, mainRelease.resolverAliases(ctx, t, f.cs)))
	f.checkOutput(ctx, t, pod, "sa_token=absent", "resolver_token_api=401")
	for _, c := range append(pod.Spec.InitContainers[1:], pod.Spec.Containers...) {
		names := map[string]bool{}
		for _, e := range c.Env {
			names[e.Name] = true
			if strings.HasPrefix(e.Name, "AZURE_") {
				t.Errorf("container %s has %s: resolver mode needs no credential in the pod", c.Name, e.Name)
			}
		}
		if !names[podcontract.EnvResolverURL] || !names[podcontract.EnvContainer] {
			t.Errorf("container %s was not rewritten for the resolver: env %v", c.Name, names)
		}
	}
	// The values came through the resolver: it logged serving each container.
	served := mainRelease.resolverLogs(ctx, t, f.cs)
	for _, c := range []string{"init", "app"} {
		if !containsLine(served, `"pod":"`+pod.Name+`"`, `"container":"`+c+`"`, `"msg":"placeholders served"`) {
			t.Errorf("no resolver logged serving %s/%s", pod.Name, c)
		}
	}
	f.checkNoLeaks(ctx, t)
}

// resolverLogs is the logs of every resolver pod of release r.
func (r release) resolverLogs(ctx context.Context, t *testing.T, cs kubernetes.Interface) string {
	t.Helper()
	pods, err := cs.CoreV1().Pods(r.namespace).List(ctx, metav1.ListOptions{LabelSelector: resolverSelector})
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, p := range pods.Items {
		logs, err := cs.CoreV1().Pods(r.namespace).GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(logs)
	}
	return all.String()
}

// containsLine reports whether one line of text holds every part.
func containsLine(text string, parts ...string) bool {
	for _, line := range strings.Split(text, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// TestResolverCARotation: a pod started before a CA rotation (helm upgrade
// --set resolver.caRotation=1) keeps starting its container afterwards:
// its bundle already held the CA that becomes current. The rotation
// restarts neither the pod nor the resolvers (they reload their
// certificate), and the bundle published to the namespace moves on to the
// new current and next CAs, keeping the former current one for resolvers
// that have not reloaded yet.
func TestResolverCARotation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f := newInjectorFixture(ctx, t, "rotate")
	dep := f.deployment("restarting", nil, mainRelease.resolverAliases(ctx, t, f.cs))
	// The program prints and exits: the kubelet starts it again (within 2 s
	// on this node), and each start asks the resolver.
	dep.Spec.Template.Spec.Containers[0].Args = []string{"env-hashes"}
	if _, err := f.cs.AppsV1().Deployments(f.ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := waitForRun(ctx, t, f.cs, f.ns, "app=restarting", time.Time{})
	before := mainRelease.readBundle(ctx, t, f.cs, f.ns)
	if len(before) != 2 {
		t.Fatalf("the namespace's CA bundle holds %d certificates, want current and next", len(before))
	}
	resolvers := podUIDs(ctx, t, f.cs, releaseNamespace, resolverSelector)

	if err := runHelm(ctx, "upgrade", "latchkey", env.chart, "--namespace", releaseNamespace, "--values", env.values,
		"--set", "resolver.caRotation=1", "--wait", "--timeout", "3m"); err != nil {
		t.Fatal(err)
	}
	tlsSecret, err := f.cs.CoreV1().Secrets(releaseNamespace).Get(ctx, resolverName+"-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	serving := parseCerts(t, tlsSecret.Data["tls.crt"])[0]
	if serving.CheckSignatureFrom(before[1]) != nil {
		t.Fatalf("after the rotation the serving certificate (issuer %s) is not signed by the former next CA %s", serving.Issuer, before[1].Subject)
	}
	mainRelease.waitForPresenting(ctx, t, f.cs, resolverSelector, resolverPort, serving)
	rotated := time.Now()

	// A start after the rotation, of the same pod, succeeds.
	after := waitForRun(ctx, t, f.cs, f.ns, "app=restarting", rotated)
	if after.UID != pod.UID {
		t.Errorf("the pod was replaced (%s → %s); only its container should restart", pod.UID, after.UID)
	}
	logs := waitForOutput(ctx, t, f.cs, after, "app", true)
	for _, line := range append([]string{"pid=1", "latchkey_vars=0"}, f.want...) {
		if !hasLine(logs, line) {
			t.Errorf("the run after the rotation lacks the line %q:\n%s", line, logs)
		}
	}
	if now := podUIDs(ctx, t, f.cs, releaseNamespace, resolverSelector); now != resolvers {
		t.Errorf("the resolvers restarted on a CA rotation: %s → %s", resolvers, now)
	}
	// The namespace's bundle moves on: the former current CA (until the next
	// rotation: a resolver may present it until it reloads), the former
	// next CA, now current, and a new next.
	err = wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		b := mainRelease.readBundle(ctx, t, f.cs, f.ns)
		return len(b) == 3 && b[0].Equal(before[0]) && b[1].Equal(before[1]) && !b[2].Equal(before[0]) && !b[2].Equal(before[1]), nil
	})
	if err != nil {
		t.Errorf("the namespace's CA bundle did not become the former current, the former next and a new CA: %v", err)
	}
	f.checkNoLeaks(ctx, t) // the app's runs before and after the rotation too
}

// TestResolverScaledToZero: with no resolver running, a starting container
// fails with a message naming the resolver and the variables (never a
// value), and starts by itself once the resolver is back.
func TestResolverScaledToZero(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f := newInjectorFixture(ctx, t, "outage")
	aliases := mainRelease.resolverAliases(ctx, t, f.cs)
	mainRelease.readBundle(ctx, t, f.cs, f.ns) // published before the outage, as for any namespace in use
	scaleResolver(ctx, t, f.cs, 0)
	t.Cleanup(func() { scaleResolver(context.Background(), t, f.cs, resolverReplicas) })
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := f.cs.CoreV1().Pods(releaseNamespace).List(ctx, metav1.ListOptions{LabelSelector: resolverSelector})
		return err == nil && len(pods.Items) == 0, nil
	})
	if err != nil {
		t.Fatalf("resolver pods still there: %v", err)
	}

	dep := f.deployment("outage", []corev1.EnvVar{{Name: "ENV_INJECTOR_RETRIES", Value: "1"}, {Name: "ENV_INJECTOR_WAIT_BEFORE_RETRY", Value: "1"}}, aliases)
	if _, err := f.cs.AppsV1().Deployments(f.ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The first container to ask is the init container; it fails, and says why.
	var pod *corev1.Pod
	err = wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := f.cs.CoreV1().Pods(f.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=outage"})
		if err != nil || len(pods.Items) == 0 {
			return false, nil
		}
		pod = &pods.Items[0]
		for _, s := range pod.Status.InitContainerStatuses {
			if s.Name == "init" && s.RestartCount > 0 {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("the init container did not fail while the resolver was down: %v", err)
	}
	logs, err := f.cs.CoreV1().Pods(f.ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "init", Previous: true}).DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"resolver unavailable", "INJECTED_SECRET", "INJECTED_TLS_KEY"} {
		if !strings.Contains(string(logs), want) {
			t.Errorf("the failure does not say %q:\n%s", want, logs)
		}
	}
	if s := lastExit(pod, "init"); s == 0 {
		t.Errorf("the init container failed with exit code 0")
	}

	scaleResolver(ctx, t, f.cs, resolverReplicas)
	pod = waitForRunningPod(ctx, t, f.cs, f.ns, "app=outage")
	f.checkOutput(ctx, t, pod, "sa_token=absent")
	f.checkNoLeaks(ctx, t)
}

// resolverAliases maps the name of release r's resolver Service to its
// cluster IP: test pods have no cluster DNS (DNSPolicy Default), kube-proxy
// does the rest.
func (r release) resolverAliases(ctx context.Context, t *testing.T, cs kubernetes.Interface) []corev1.HostAlias {
	t.Helper()
	name := r.name + "-resolver"
	svc, err := cs.CoreV1().Services(r.namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return []corev1.HostAlias{{IP: svc.Spec.ClusterIP, Hostnames: []string{name + "." + r.namespace + ".svc"}}}
}

// waitForRun waits for a pod of selector whose app container has run and
// exited 0 in a run started after since, and returns the pod. A run after
// since that failed fails the test with its output.
func waitForRun(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, selector string, since time.Time) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	var last string
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil || len(pods.Items) == 0 {
			return false, nil
		}
		pod = &pods.Items[0]
		for _, s := range pod.Status.ContainerStatuses {
			term := s.LastTerminationState.Terminated
			if s.Name != "app" || term == nil || !term.StartedAt.After(since) {
				continue
			}
			last = fmt.Sprintf("exit %d (%s) started %s", term.ExitCode, term.Reason, term.StartedAt)
			if term.ExitCode != 0 {
				logs, _ := cs.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "app", Previous: true}).DoRaw(ctx)
				return false, fmt.Errorf("a run failed: %s:\n%s", last, logs)
			}
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no successful run of %s since %s: %v (last: %s)", selector, since.Format(time.RFC3339), err, last)
	}
	return pod
}

// lastExit is the exit code of container's last terminated run, -1 if none.
func lastExit(pod *corev1.Pod, container string) int32 {
	for _, s := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
		if s.Name == container && s.LastTerminationState.Terminated != nil {
			return s.LastTerminationState.Terminated.ExitCode
		}
	}
	return -1
}

// readBundle reads the CA bundle release r's resolver published into namespace ns.
func (r release) readBundle(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string) []*x509.Certificate {
	t.Helper()
	var cm *corev1.ConfigMap
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var err error
		cm, err = cs.CoreV1().ConfigMaps(ns).Get(ctx, r.name+"-resolver-ca", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("no CA bundle in %s: %v", ns, err)
	}
	return parseCerts(t, []byte(cm.Data["ca.crt"]))
}

func parseCerts(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	certs, err := pemCerts(data)
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

// pemCerts parses every PEM block of data as a certificate.
func pemCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return certs, nil
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
}

// podUIDs identifies the running pods of selector (names, UIDs and restart
// counts), to show nothing restarted.
func podUIDs(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, selector string) string {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range pods.Items {
		restarts := int32(0)
		for _, s := range p.Status.ContainerStatuses {
			restarts += s.RestartCount
		}
		ids = append(ids, fmt.Sprintf("%s/%s/%d", p.Name, p.UID, restarts))
	}
	return strings.Join(ids, ",")
}

// scaleResolver sets the resolver's replicas and, scaling up, waits for
// them all to be ready.
func scaleResolver(ctx context.Context, t *testing.T, cs kubernetes.Interface, n int32) {
	t.Helper()
	if _, err := cs.AppsV1().Deployments(releaseNamespace).UpdateScale(ctx, resolverName,
		&autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: resolverName, Namespace: releaseNamespace}, Spec: autoscalingv1.ScaleSpec{Replicas: n}},
		metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		return
	}
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(releaseNamespace).Get(ctx, resolverName, metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == n && d.Status.UpdatedReplicas == n, nil
	})
	if err != nil {
		t.Fatalf("the resolver did not come back to %d ready replicas: %v", n, err)
	}
}
