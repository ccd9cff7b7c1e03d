//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// TestHelmTest: `helm test` of the installed chart passes: its pod (the
// env image's `latchkey-env check`, as Pod Security restricted, without a
// shell) finds the CRD served in every version, the webhook and the
// resolver answering at their Services over the TLS their clients verify,
// and each component's metrics answering only an authorised scraper. With
// the resolver scaled to zero it fails and says which part did not answer.
func TestHelmTest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := mainRelease.helmTest(ctx)
	if err != nil {
		t.Fatalf("helm test: %v\n%s", err, out)
	}
	for _, want := range []string{
		"ok CRD azurekeyvaultsecrets.spv.no served in v1alpha1, v1, v2alpha1, v2beta1",
		"ok webhook answers at https://latchkey-webhook.latchkey-system.svc/mutate-v1-pod",
		"ok resolver answers at https://latchkey-resolver.latchkey-system.svc",
		// metrics.auth (the default): refused without credentials,
		// answered with the test's ServiceAccount token.
		"ok metrics authenticated at https://latchkey-controller-metrics.latchkey-system.svc:8080/metrics",
		"ok metrics authenticated at https://latchkey-webhook-metrics.latchkey-system.svc:8080/metrics",
		"ok metrics authenticated at https://latchkey-resolver-metrics.latchkey-system.svc:8080/metrics",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("helm test does not say %q:\n%s", want, out)
		}
	}

	cs, err := env.cluster.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	scaleResolver(ctx, t, cs, 0)
	t.Cleanup(func() { scaleResolver(context.Background(), t, cs, resolverReplicas) })
	if err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(releaseNamespace).List(ctx, metav1.ListOptions{LabelSelector: resolverSelector})
		return err == nil && len(pods.Items) == 0, nil
	}); err != nil {
		t.Fatalf("resolver pods still there: %v", err)
	}
	out, err = mainRelease.helmTest(ctx)
	if err == nil {
		t.Fatalf("helm test passed without a resolver:\n%s", out)
	}
	if !strings.Contains(out, "FAIL resolver answers at https://latchkey-resolver.latchkey-system.svc") ||
		!strings.Contains(out, "ok webhook answers") {
		t.Errorf("helm test does not say the resolver alone did not answer:\n%s", out)
	}
}

// helmTest runs `helm test` for release r and returns its output and the
// test pod's log (kept until the next run: hook-delete-policy
// before-hook-creation).
func (r release) helmTest(ctx context.Context) (string, error) {
	out, err := helmOutput(ctx, "test", r.name, "--namespace", r.namespace, "--timeout", "2m")
	cs, cerr := env.cluster.Clientset()
	if cerr != nil {
		return out, cerr
	}
	logs, lerr := cs.CoreV1().Pods(r.namespace).GetLogs(r.name+"-test", &corev1.PodLogOptions{}).DoRaw(ctx)
	if lerr != nil {
		return out + "\n(no test pod log: " + lerr.Error() + ")", err
	}
	return out + "\n" + string(logs), err
}
