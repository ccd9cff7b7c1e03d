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
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/scheme"
)

// TestPodBeforeItsAzureKeyVaultSecret: as Helm and Argo CD do, the
// Deployment comes first and its AzureKeyVaultSecret a few seconds later.
// The pod is admitted; its containers wait (the default ENV_INJECTOR_RETRIES
// and ENV_INJECTOR_WAIT_BEFORE_RETRY, saying what they wait for) and start
// with the value once the AzureKeyVaultSecret exists, without a restart.
func TestPodBeforeItsAzureKeyVaultSecret(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	f := newInjectorFixture(ctx, t, "late")
	late := injected{"INJECTED_LATE", "late-secret@azurekeyvault"}
	lateObject := v2beta1.AzureKeyVaultObject{Name: "test-secret", Type: v2beta1.ObjectTypeSecret}
	lines := expectedHashes(ctx, t, map[string]v2beta1.AzureKeyVaultObject{"late-secret": lateObject}, []injected{late})

	dep := f.deployment("late", []corev1.EnvVar{{Name: late.name, Value: late.placeholder}}, mainRelease.resolverAliases(ctx, t, f.cs))
	if _, err := f.cs.AppsV1().Deployments(f.ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The first container to ask, the init container, waits for it.
	logs := waitForInitLog(ctx, t, f, "app=late", "waiting for the AzureKeyVaultSecrets to be created")
	if !strings.Contains(logs, "late-secret") {
		t.Errorf("the wait does not name the AzureKeyVaultSecret:\n%s", logs)
	}
	createAKVS(ctx, t, f.ns, "late-secret", lateObject)

	pod := waitForRunningPod(ctx, t, f.cs, f.ns, "app=late")
	f.checkOutput(ctx, t, pod, append([]string{"sa_token=absent"}, lines...)...)
	for _, s := range pod.Status.InitContainerStatuses {
		if s.Name == "init" && s.RestartCount != 0 {
			t.Errorf("the init container restarted %d times; it should have waited in its first run", s.RestartCount)
		}
	}
	f.checkNoLeaks(ctx, t)
}

// TestAzureKeyVaultSecretNeverCreated: a pod whose AzureKeyVaultSecret never
// comes fails after the retries it asks for, with a message naming the
// variable and the AzureKeyVaultSecret (never a value), and the kubelet
// restarts the container to wait again.
func TestAzureKeyVaultSecretNeverCreated(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	f := newInjectorFixture(ctx, t, "never")
	dep := f.deployment("never", []corev1.EnvVar{
		{Name: "INJECTED_NEVER", Value: "never@azurekeyvault"},
		{Name: "ENV_INJECTOR_RETRIES", Value: "2"}, {Name: "ENV_INJECTOR_WAIT_BEFORE_RETRY", Value: "1"},
	}, mainRelease.resolverAliases(ctx, t, f.cs))
	if _, err := f.cs.AppsV1().Deployments(f.ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pod *corev1.Pod
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := f.cs.CoreV1().Pods(f.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=never"})
		if err != nil || len(pods.Items) == 0 {
			return false, nil
		}
		pod = &pods.Items[0]
		return lastExit(pod, "init") >= 0, nil
	})
	if err != nil {
		t.Fatalf("the init container did not fail: %v", err)
	}
	if code := lastExit(pod, "init"); code != 1 {
		t.Errorf("the init container exited %d, want 1", code)
	}
	logs, err := f.cs.CoreV1().Pods(f.ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "init", Previous: true}).DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"cannot start the program: variable INJECTED_NEVER (AzureKeyVaultSecret never)",
		"AzureKeyVaultSecret " + f.ns + "/never does not exist",
		"gave up after 2 retries over 3s (ENV_INJECTOR_RETRIES, ENV_INJECTOR_WAIT_BEFORE_RETRY)",
		`reason="AzureKeyVaultSecret not found"`,
	} {
		if !strings.Contains(string(logs), want) {
			t.Errorf("the failure does not say %q:\n%s", want, logs)
		}
	}
	if n := strings.Count(string(logs), "waiting for the AzureKeyVaultSecrets to be created"); n != 2 {
		t.Errorf("%d waits logged, want 2:\n%s", n, logs)
	}
	f.checkNoLeaks(ctx, t)
}

// waitForInitLog waits for the init container of the pod of selector to log
// msg and returns the log.
func waitForInitLog(ctx context.Context, t *testing.T, f *injectorFixture, selector, msg string) string {
	t.Helper()
	var logs []byte
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := f.cs.CoreV1().Pods(f.ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil || len(pods.Items) == 0 {
			return false, nil
		}
		logs, err = f.cs.CoreV1().Pods(f.ns).GetLogs(pods.Items[0].Name, &corev1.PodLogOptions{Container: "init"}).DoRaw(ctx)
		return err == nil && strings.Contains(string(logs), msg), nil
	})
	if err != nil {
		t.Fatalf("the init container of %s did not log %q: %v\n%s", selector, msg, err, logs)
	}
	return string(logs)
}

// createAKVS creates an AzureKeyVaultSecret without output reading obj from
// the fixtures' vault.
func createAKVS(ctx context.Context, t *testing.T, ns, name string, obj v2beta1.AzureKeyVaultObject) {
	t.Helper()
	cl, err := client.New(env.cluster.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	a := &v2beta1.AzureKeyVaultSecret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v2beta1.AzureKeyVaultSecretSpec{Vault: v2beta1.AzureKeyVault{Name: "my-kv", Object: obj}}}
	if err := cl.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
}
