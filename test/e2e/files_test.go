//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/scheme"
)

// TestFiles on the real node: a pod gets its declared files (a secret and
// a certificate's tls.crt and tls.key, from the emulator, checked against
// what the Azure SDK reads) before its program starts; the secret changes
// in the emulator and the file changes in place within the refresh
// interval, as one set, and the program gets SIGHUP; with the resolver down a refresh keeps the old
// files, and they catch up once it is back; a Job with files (and the
// refresh sidecar) completes; a pod outside a labelled namespace gets
// nothing. No value reaches a pod spec, event or log.
func TestFiles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	f := newInjectorFixture(ctx, t, "files")
	cl, err := client.New(env.cluster.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := vaultSecrets("my-kv")
	if err != nil {
		t.Fatal(err)
	}
	// A secret of the test's own, which it changes: refreshed every 30 s.
	object := "files-" + strings.ToLower(rand.Text()[:8])
	setSecret := func(value string) {
		t.Helper()
		if _, err := kv.SetSecret(ctx, object, azsecrets.SetSecretParameters{Value: &value}, nil); err != nil {
			t.Fatal(err)
		}
	}
	setSecret("files-v1-" + rand.Text())
	a := &v2beta1.AzureKeyVaultSecret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "rotating"},
		Spec: v2beta1.AzureKeyVaultSecretSpec{Vault: v2beta1.AzureKeyVault{Name: "my-kv", Object: v2beta1.AzureKeyVaultObject{Name: object, Type: v2beta1.ObjectTypeSecret}},
			RefreshInterval: &metav1.Duration{Duration: 30 * time.Second}}}
	if err := cl.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	specs := map[string]v2beta1.AzureKeyVaultObject{"rotating": a.Spec.Vault.Object, "app-cert": {Name: "test-cert", Type: v2beta1.ObjectTypeCertificate}}
	hashOf := func(akvs, query string) string {
		return fmt.Sprintf("%x", sha256.Sum256(expectedValue(ctx, t, kv, specs[akvs], query)))
	}
	aliases := mainRelease.resolverAliases(ctx, t, f.cs)
	annotations := map[string]string{
		podcontract.FileAnnotationPrefix + "secret.txt":  "rotating",
		podcontract.FileAnnotationPrefix + "tls.crt":     "app-cert?tls.crt",
		podcontract.FileAnnotationPrefix + "tls.key":     "app-cert?tls.key",
		podcontract.FileModeAnnotationPrefix + "tls.key": "0440",
		podcontract.FilesDirAnnotation:                   "/etc/files",
		podcontract.FilesRefreshAnnotation:               "true",
	}
	podSpec := func(args ...string) corev1.PodSpec {
		return corev1.PodSpec{
			DNSPolicy: corev1.DNSDefault, AutomountServiceAccountToken: ptr.To(false), HostAliases: aliases,
			Containers: []corev1.Container{{Name: "app", Image: env.app, Args: args}},
		}
	}

	// Files before start; then the change in place, and the program told
	// (SIGHUP, through the shared process namespace).
	signalled := maps.Clone(annotations)
	signalled[podcontract.FilesSignalAnnotation] = "HUP toolbox"
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "files", Annotations: signalled},
		Spec: podSpec("file-hashes", "/etc/files", "--watch")}
	pod.Spec.ShareProcessNamespace = ptr.To(true)
	if _, err := f.cs.CoreV1().Pods(f.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForFiles(ctx, t, f, "files", map[string]string{"secret.txt": hashOf("rotating", ""), "tls.crt": hashOf("app-cert", "tls.crt"), "tls.key": hashOf("app-cert", "tls.key")})
	changed := time.Now()
	setSecret("files-v2-" + rand.Text())
	waitForFiles(ctx, t, f, "files", map[string]string{"secret.txt": hashOf("rotating", "")})
	t.Logf("the file changed %s after the value", time.Since(changed).Round(time.Second))
	waitForLog(ctx, t, f, "files", "app", "signal=hangup")

	// The resolver down: the files stay; back, they catch up.
	scaleResolver(ctx, t, f.cs, 0)
	t.Cleanup(func() { scaleResolver(context.Background(), t, f.cs, resolverReplicas) })
	held := hashOf("rotating", "")
	setSecret("files-v3-" + rand.Text())
	waitForLog(ctx, t, f, "files", podcontract.FilesRefreshContainer, "refresh failed; the files stay as they are")
	if logs := podLog(ctx, t, f, "files", "app"); !hasLine(lastBlock(logs), "file secret.txt="+held) {
		t.Errorf("the files changed while the resolver was down:\n%s", logs)
	}
	scaleResolver(ctx, t, f.cs, resolverReplicas)
	waitForFiles(ctx, t, f, "files", map[string]string{"secret.txt": hashOf("rotating", "")})

	// A Job with files and the refresh sidecar completes.
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "files-job"}, Spec: batchv1.JobSpec{
		BackoffLimit: ptr.To[int32](0),
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: annotations}, Spec: func() corev1.PodSpec {
			s := podSpec("file-hashes", "/etc/files")
			s.RestartPolicy = corev1.RestartPolicyNever
			return s
		}()},
	}}
	if _, err := f.cs.BatchV1().Jobs(f.ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		j, err := f.cs.BatchV1().Jobs(f.ns).Get(ctx, "files-job", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		if j.Status.Failed > 0 {
			return false, fmt.Errorf("the Job failed: %+v", j.Status.Conditions)
		}
		return j.Status.Succeeded > 0, nil
	})
	if err != nil {
		t.Fatalf("the Job with files did not complete: %v", err)
	}

	// Outside a labelled namespace: nothing.
	plain := createNamespace(ctx, t, "files-off")
	off := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: plain, Name: "files", Annotations: annotations}, Spec: podSpec("sleep", "1s")}
	stored, err := f.cs.CoreV1().Pods(plain).Create(ctx, off, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.Spec.InitContainers) != 0 || stored.Annotations[podcontract.InjectedAnnotation] != "" {
		t.Errorf("a pod outside a labelled namespace was given files: %+v", stored.Spec.InitContainers)
	}
	f.checkNoLeaks(ctx, t)
}

// waitForFiles waits until the app container of pod has printed a version
// of its files with every hash of want (by file name).
func waitForFiles(ctx context.Context, t *testing.T, f *injectorFixture, pod string, want map[string]string) {
	t.Helper()
	var logs string
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		l, err := f.cs.CoreV1().Pods(f.ns).GetLogs(pod, &corev1.PodLogOptions{Container: "app"}).DoRaw(ctx)
		if err != nil {
			return false, nil
		}
		logs = string(l)
		block := lastBlock(logs)
		for name, hash := range want {
			if !hasLine(block, "file "+name+"="+hash) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("pod %s: the files never held %v: %v\n%s", pod, want, err, logs)
	}
}

// lastBlock is the last version the app printed.
func lastBlock(logs string) string {
	blocks := strings.Split(strings.TrimSpace(logs), "files=done")
	if len(blocks) < 2 {
		return ""
	}
	return blocks[len(blocks)-2]
}

func podLog(ctx context.Context, t *testing.T, f *injectorFixture, pod, container string) string {
	t.Helper()
	l, err := f.cs.CoreV1().Pods(f.ns).GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return string(l)
}

func waitForLog(ctx context.Context, t *testing.T, f *injectorFixture, pod, container, msg string) {
	t.Helper()
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		l, err := f.cs.CoreV1().Pods(f.ns).GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
		return err == nil && strings.Contains(string(l), msg), nil
	})
	if err != nil {
		t.Fatalf("container %s of pod %s never logged %q: %v", container, pod, msg, err)
	}
}
