//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

const webhookName = "latchkey-webhook"

// TestWebhookDown: with no webhook running, a pod that may hold a
// placeholder in an opted-in namespace is refused (failurePolicy Fail: it
// never starts with a placeholder where a value should be), while a pod
// without placeholders there, and any pod elsewhere, is admitted without a
// call (the match condition and the namespace selector). Once the webhook
// is back, the refused pod is admitted.
func TestWebhookDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	f := newInjectorFixture(ctx, t, "webhook-down") // labelled, with the AzureKeyVaultSecrets
	cs, optedIn := f.cs, f.ns
	elsewhere := createNamespace(ctx, t, "webhook-down-other")

	scaleWebhook(ctx, t, cs, 0)
	t.Cleanup(func() { scaleWebhook(context.Background(), t, cs, 2) })
	if err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(releaseNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=webhook"})
		return err == nil && len(pods.Items) == 0, nil
	}); err != nil {
		t.Fatalf("webhook pods still there: %v", err)
	}

	placeholder := corev1.EnvVar{Name: "INJECTED_SECRET", Value: "app-secret@azurekeyvault"}
	if _, err := cs.CoreV1().Pods(optedIn).Create(ctx, plainPod("with-placeholder", placeholder), metav1.CreateOptions{}); err == nil {
		t.Error("a pod with a placeholder was admitted while the webhook was down")
	} else if !strings.Contains(err.Error(), "pods.env-injector.latchkey.dev") {
		t.Errorf("refused, but not by latchkey's webhook: %v", err)
	}
	for ns, pod := range map[string]*corev1.Pod{
		optedIn:   plainPod("no-placeholder", corev1.EnvVar{Name: "PLAIN", Value: "x"}),
		elsewhere: plainPod("elsewhere", placeholder),
	} {
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Errorf("%s/%s refused while the webhook was down, though latchkey has nothing to do with it: %v", ns, pod.Name, err)
		}
	}

	scaleWebhook(ctx, t, cs, 2)
	var last error
	if err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		_, last = cs.CoreV1().Pods(optedIn).Create(ctx, plainPod("with-placeholder", placeholder), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return last == nil, nil
	}); err != nil {
		t.Errorf("the pod with a placeholder is still refused with the webhook back: %v", last)
	}
}

// plainPod is a pod with one container (command set: no registry lookup).
func plainPod(name string, e corev1.EnvVar) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			Containers:                   []corev1.Container{{Name: "app", Image: env.toolbox, Command: []string{"/toolbox", "sleep", "1s"}, Env: []corev1.EnvVar{e}}},
			RestartPolicy:                corev1.RestartPolicyNever,
		},
	}
}

// scaleWebhook sets the webhook's replicas and, scaling up, waits for them
// to be ready and the Service to route to them.
func scaleWebhook(ctx context.Context, t *testing.T, cs kubernetes.Interface, n int32) {
	t.Helper()
	if _, err := cs.AppsV1().Deployments(releaseNamespace).UpdateScale(ctx, webhookName,
		&autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: webhookName, Namespace: releaseNamespace}, Spec: autoscalingv1.ScaleSpec{Replicas: n}},
		metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		return
	}
	if err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(releaseNamespace).Get(ctx, webhookName, metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == n && d.Status.UpdatedReplicas == n, nil
	}); err != nil {
		t.Fatalf("the webhook did not come back to %d ready replicas: %v", n, err)
	}
}
