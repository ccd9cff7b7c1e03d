//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

// TestNodeRunsRealPods proves the node is real: containerd pulls the image
// from the loopback registry, an init container writes into a memory-backed
// emptyDir, the kubelet projects a service-account token with a custom
// audience, the pod reaches Succeeded, and its logs come back through the API
// server from the kubelet.
func TestNodeRunsRealPods(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cs, err := env.cluster.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ns := createNamespace(ctx, t, "smoke")
	const audience = "latchkey-e2e-smoke"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke", Namespace: ns},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			DNSPolicy:     corev1.DNSDefault,
			InitContainers: []corev1.Container{{
				Name: "copy", Image: env.toolbox, ImagePullPolicy: corev1.PullAlways,
				Args:         []string{"cp", "/etc/greeting", "/shared/greeting"},
				VolumeMounts: []corev1.VolumeMount{{Name: "shared", MountPath: "/shared"}},
			}},
			Containers: []corev1.Container{{
				Name: "main", Image: env.toolbox, ImagePullPolicy: corev1.PullIfNotPresent,
				Args: []string{"report", "/shared/greeting", "/var/run/secrets/latchkey/token"},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "shared", MountPath: "/shared", ReadOnly: true},
					{Name: "token", MountPath: "/var/run/secrets/latchkey", ReadOnly: true},
				},
				SecurityContext: &corev1.SecurityContext{
					RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532),
					AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
			Volumes: []corev1.Volume{
				{Name: "shared", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
				{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
						Audience: audience, ExpirationSeconds: ptr.To[int64](600), Path: "token",
					}}},
				}}},
			},
		},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	phase := waitForPodDone(ctx, t, ns, pod.Name)
	logs, err := cs.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "main"}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("logs through the API server: %v", err)
	}
	if phase != corev1.PodSucceeded {
		t.Fatalf("pod ended %s; logs:\n%s", phase, logs)
	}
	for _, want := range []string{"content=hello from the image", "audience=" + audience, "fstype=tmpfs"} {
		if !hasLine(string(logs), want) {
			t.Errorf("logs lack the line %q:\n%s", want, logs)
		}
	}
}

// TestPodsReachTheAPIServerThroughItsService proves kube-proxy programs
// Services: a pod calls the API server at the `kubernetes` Service's cluster
// IP with its own service-account token, as every in-cluster client does.
func TestPodsReachTheAPIServerThroughItsService(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cs, err := env.cluster.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ns := createNamespace(ctx, t, "service")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "version", Namespace: ns},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			DNSPolicy:     corev1.DNSDefault,
			Containers: []corev1.Container{{
				Name: "main", Image: env.toolbox, Args: []string{"apiserver-version"},
			}},
		},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	phase := waitForPodDone(ctx, t, ns, pod.Name)
	logs, err := cs.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if phase != corev1.PodSucceeded || !hasLine(string(logs), "version="+want.GitVersion) {
		t.Fatalf("pod ended %s, want Succeeded and version=%s in its logs:\n%s", phase, want.GitVersion, logs)
	}
}

// createNamespace makes a fresh namespace for one test and deletes it after.
func createNamespace(ctx context.Context, t *testing.T, prefix string) string {
	t.Helper()
	cs, err := env.cluster.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		err := cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", ns.Name, err)
		}
	})
	// Pods need the namespace's default ServiceAccount, which the controller
	// manager creates asynchronously.
	if err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatalf("default ServiceAccount in %s: %v", ns.Name, err)
	}
	return ns.Name
}

// waitForPodDone waits until the pod has Succeeded or Failed and returns the phase.
func waitForPodDone(ctx context.Context, t *testing.T, ns, name string) corev1.PodPhase {
	t.Helper()
	cs, err := env.cluster.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	var pod *corev1.Pod
	err = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pod, err = cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed, nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s did not finish: %v; status: %+v", ns, name, err, pod.Status)
	}
	return pod.Status.Phase
}
