//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

// TestControllerSyncsREADMEExamples runs the controller as the chart
// installs it (two replicas, leader election, restricted pods) and applies
// the akv2k8s README's examples as written: the Secrets appear, and no value
// of Key Vault shows, in any form, in the controller's logs (previous runs
// too), read through the API server.
func TestControllerSyncsREADMEExamples(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cs, err := env.cluster.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(env.cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "seed-examples.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "spv.no", Version: "v1alpha1", Resource: "azurekeyvaultsecrets"}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if _, err := dyn.Resource(gvr).Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = dyn.Resource(gvr).Namespace(u.GetNamespace()).Delete(context.Background(), u.GetName(), metav1.DeleteOptions{})
		})
	}

	var secret, cert *corev1.Secret
	err = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		secret, err = cs.CoreV1().Secrets("default").Get(ctx, "keyvault-secret", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		cert, err = cs.CoreV1().Secrets("default").Get(ctx, "keyvault-certificate", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("Secrets did not appear: %v", err)
	}
	if string(secret.Data["azuresecret"]) != "asdfasdfasdf" {
		t.Errorf("keyvault-secret holds keys %v, not the README's value", len(secret.Data))
	}
	if cert.Type != corev1.SecretTypeTLS {
		t.Errorf("keyvault-certificate has type %s", cert.Type)
	}
	if _, err := tls.X509KeyPair(cert.Data["tls.crt"], cert.Data["tls.key"]); err != nil {
		t.Errorf("keyvault-certificate is not a usable key pair: %v", err)
	}

	// The controller's logs, from every replica, through the API server.
	pods, err := cs.CoreV1().Pods(releaseNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=controller"})
	if err != nil || len(pods.Items) != 2 {
		t.Fatalf("controller pods: %d, %v", len(pods.Items), err)
	}
	places := map[string]string{}
	for i := range pods.Items {
		if err := addLogs(ctx, cs, &pods.Items[i], places); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range env.leaks.FindAll(places) {
		t.Error(l)
	}
}
