package devenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// demoPodTimeout bounds the wait for the demo pod's output: pulling from
// the node's registry, the install init container and the resolver call
// take seconds; a minute more is a failure worth reporting.
const demoPodTimeout = 2 * time.Minute

// runDemoPod creates the demo pod for real on the node, waits for its
// output and prints it: the end-to-end proof that the webhook's rewrite,
// latchkey-env and the resolver deliver a value to a real process. The
// output carries names, lengths and short hashes, never values.
func runDemoPod(ctx context.Context, cs kubernetes.Interface, image, resolverURL string, w io.Writer) error {
	pod, err := cs.CoreV1().Pods(demoNamespace).Create(ctx, demoPodSpec(image), metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create the demo pod: %w", err)
	}
	logs, err := waitForDemoOutput(ctx, cs, pod.Name)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, `
The same pod, created for real on the node (image %s),
prints (the variable's name and the value's length, never the value):

%s
%s came from the Key Vault emulator through the resolver (%s); the pod holds
no Key Vault credential and no API token (automountServiceAccountToken: false,
latchkey-env presents a token bound to the resolver's audience only).
`, image, indent(logs, "  "), demoVar, resolverURL)
	return nil
}

// waitForDemoOutput polls the pod until its app container is running and
// has printed its line about demoVar, and returns its logs. A container
// that terminates or cannot start fails the wait with the reason, rather
// than leaving the caller to time out without one.
func waitForDemoOutput(ctx context.Context, cs kubernetes.Interface, name string) (string, error) {
	var logs, last string
	var failed error
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, demoPodTimeout, true, func(ctx context.Context) (bool, error) {
		pod, err := cs.CoreV1().Pods(demoNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // transient: keep polling
		}
		last = podState(pod)
		if failed = podFailure(pod); failed != nil {
			return false, failed
		}
		if pod.Status.Phase != corev1.PodRunning {
			return false, nil
		}
		raw, err := cs.CoreV1().Pods(demoNamespace).GetLogs(name, &corev1.PodLogOptions{Container: "app"}).DoRaw(ctx)
		if err != nil {
			return false, nil //nolint:nilerr // logs not available yet
		}
		logs = string(raw)
		return strings.Contains(logs, demoVar+":"), nil
	})
	if failed != nil {
		return "", failed
	}
	if err != nil {
		return "", fmt.Errorf("demo pod: no output after %s (last state: %s): %w", demoPodTimeout, last, err)
	}
	return logs, nil
}

// podFailure is why the pod can no longer print its output: it ended, or
// its app container exited. Waiting states (image pulls, back-off) are not
// failures: they may resolve.
func podFailure(pod *corev1.Pod) error {
	if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		return fmt.Errorf("demo pod ended: %s", podState(pod))
	}
	for _, s := range pod.Status.ContainerStatuses {
		if t := s.State.Terminated; t != nil {
			return errors.New("demo pod: container " + s.Name + " exited: " + t.Reason + " " + t.Message)
		}
	}
	return nil
}

// podState is a one-line summary of the pod for error messages: its phase
// and why each container (init containers included) is waiting, if it is.
func podState(pod *corev1.Pod) string {
	parts := []string{string(pod.Status.Phase)}
	for _, s := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
		if w := s.State.Waiting; w != nil {
			parts = append(parts, s.Name+": "+w.Reason+" "+w.Message)
		}
	}
	return strings.Join(parts, "; ")
}
