package controller_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/latchkey-dev/latchkey/internal/controller"
)

// TestREADMEExamples applies the akv2k8s README's AzureKeyVaultSecrets as
// written (config/samples/seed-examples.yaml) against the README's vault
// (config/samples/emulator-seed.yaml) and checks the Secrets it shows.
//
// The README prints `type: opaque` for its first example, which sets no
// type; akv2k8s 1.8.4 itself, and latchkey, create `Opaque` then (a Secret
// of type `opaque` comes from writing `type: opaque`, see the type matrix).
func TestREADMEExamples(t *testing.T) {
	raw, err := os.ReadFile("../../config/samples/seed-examples.yaml")
	if err != nil {
		t.Fatal(err)
	}
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
		create(t, u)
		// The examples live in the default namespace: leave it as found, so
		// the test can run again (-count).
		t.Cleanup(func() { _ = suite.client.Delete(context.Background(), u) })
	}

	s := waitForSecret(t, "default", "keyvault-secret", nil)
	if s.Type != corev1.SecretTypeOpaque || len(s.Data) != 1 || string(s.Data["azuresecret"]) != "asdfasdfasdf" {
		t.Errorf("keyvault-secret: type %q, data keys %v", s.Type, keys(s.Data))
	}
	c := waitForSecret(t, "default", "keyvault-certificate", nil)
	if c.Type != corev1.SecretTypeTLS || len(c.Data) != 2 {
		t.Errorf("keyvault-certificate: type %q, data keys %v", c.Type, keys(c.Data))
	}
	if _, err := tls.X509KeyPair(c.Data["tls.crt"], c.Data["tls.key"]); err != nil {
		t.Errorf("keyvault-certificate is not a usable key pair: %v", err)
	}
	waitForReady(t, "default", "my-azure-keyvault-secret", metav1.ConditionTrue, controller.ReasonInjectorOnly)
}

// TestEveryServedVersionSyncsIdentically creates the same object through each
// served version (v1alpha1 spelling its transforms `transforms`) and expects
// the same Secret from each: one schema, no conversion webhook.
func TestEveryServedVersionSyncsIdentically(t *testing.T) {
	ns := namespace(t)
	setSecret(t, "versions", "  padded value  ", "")
	for _, v := range []string{"v1alpha1", "v1", "v2alpha1", "v2beta1"} {
		transformKey := "transform"
		if v == "v1alpha1" {
			transformKey = "transforms"
		}
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "spv.no/" + v,
			"kind":       "AzureKeyVaultSecret",
			"metadata":   map[string]any{"name": "via-" + v, "namespace": ns},
			"spec": map[string]any{
				"vault": map[string]any{"name": vault, "object": map[string]any{"name": "versions", "type": "secret"}},
				"output": map[string]any{
					transformKey: []any{"trim", "base64encode"},
					"secret":     map[string]any{"name": "out-" + v, "dataKey": "value"},
				},
			},
		}}
		create(t, u)
	}
	for _, v := range []string{"v1alpha1", "v1", "v2alpha1", "v2beta1"} {
		s := waitForSecret(t, ns, "out-"+v, nil)
		if got := string(s.Data["value"]); got != "cGFkZGVkIHZhbHVl" { // base64("padded value")
			t.Errorf("%s: value %q, want the trimmed, base64-encoded value", v, got)
		}
	}
}

// TestMalformedObjectsAreRefused checks that the schema refuses bad objects
// at apply time with a message naming the problem.
func TestMalformedObjectsAreRefused(t *testing.T) {
	ns := namespace(t)
	tests := []struct {
		name, want string
		spec       map[string]any
	}{
		{"unknown object type", `Unsupported value: "secrets"`,
			map[string]any{"vault": map[string]any{"name": "v", "object": map[string]any{"name": "o", "type": "secrets"}}}},
		{"no vault name", "spec.vault.name: Required value",
			map[string]any{"vault": map[string]any{"object": map[string]any{"name": "o", "type": "secret"}}}},
		{"multi-key without content type", "vault.object.contentType is required for multi-key-value-secret",
			map[string]any{"vault": map[string]any{"name": "v", "object": map[string]any{"name": "o", "type": "multi-key-value-secret"}}}},
		{"unknown transform", `Unsupported value: "rot13"`,
			map[string]any{"vault": map[string]any{"name": "v", "object": map[string]any{"name": "o", "type": "secret"}},
				"output": map[string]any{"transform": []any{"rot13"}, "secret": map[string]any{"name": "s", "dataKey": "k"}}}},
		{"output Secret without name", "spec.output.secret.name: Required value",
			map[string]any{"vault": map[string]any{"name": "v", "object": map[string]any{"name": "o", "type": "secret"}},
				"output": map[string]any{"secret": map[string]any{"dataKey": "k"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "spv.no/v1", "kind": "AzureKeyVaultSecret",
				"metadata": map[string]any{"name": "bad", "namespace": ns}, "spec": tc.spec,
			}}
			err := suite.client.Create(context.Background(), u)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("create: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
