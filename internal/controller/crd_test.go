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
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
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

// TestSchemaRefusesWhatAkv2k8sRefused: what akv2k8s's schema refused (an
// unknown object type, a missing vault name, an output Secret without a
// name) is refused at apply time with a message naming the problem; what it
// accepted is accepted (TestInvalidSpecIsReported).
func TestSchemaRefusesWhatAkv2k8sRefused(t *testing.T) {
	ns := namespace(t)
	tests := []struct {
		name, want string
		spec       map[string]any
	}{
		{"unknown object type", `Unsupported value: "secrets"`,
			map[string]any{"vault": map[string]any{"name": "v", "object": map[string]any{"name": "o", "type": "secrets"}}}},
		{"no vault name", "spec.vault.name: Required value",
			map[string]any{"vault": map[string]any{"object": map[string]any{"name": "o", "type": "secret"}}}},
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

// TestSchemaAndControllerAgreeOnSecretTypes: the CRD's CEL rule and
// v2beta1.SecretTypeRefused (the controller's) decide every output type
// alike, in every served version, and as the product brief says: akv2k8s's
// types and custom ones pass; types of the domains Kubernetes and Helm
// give a meaning to are refused at apply time, naming the rule.
func TestSchemaAndControllerAgreeOnSecretTypes(t *testing.T) {
	ns := namespace(t)
	for _, tc := range []struct {
		typ     string
		allowed bool
	}{
		{"", true}, {"Opaque", true}, {"opaque", true}, {"my-type", true},
		{"kubernetes.io/tls", true}, {"kubernetes.io/basic-auth", true}, {"kubernetes.io/dockerconfigjson", true},
		{"kubernetes.io/dockercfg", true}, {"kubernetes.io/ssh-auth", true},
		{"example.com/custom", true}, {"fixtures.example/config", true}, {"notkubernetes.io/x", true},
		{"kubernetes.io.example.com/x", true}, {"example.com/kubernetes.io/x", true}, {"helm.sh.example/x", true},
		{"kubernetes.io/service-account-token", false}, {"bootstrap.kubernetes.io/token", false},
		{"KUBERNETES.IO/service-account-token", false}, {"Bootstrap.Kubernetes.IO/token", false},
		{"kubernetes.io/opaque", false}, {"kubernetes.io/Opaque", false}, {"kubernetes.io/", false},
		{"k8s.io/x", false}, {"node.k8s.io/x", false}, {"helm.sh/release.v1", false}, {"sub.helm.sh/x", false},
	} {
		if got := v2beta1.SecretTypeRefused(corev1.SecretType(tc.typ)) == ""; got != tc.allowed {
			t.Errorf("SecretTypeRefused(%q): allowed %v, want %v", tc.typ, got, tc.allowed)
		}
		for _, v := range []string{"v1alpha1", "v1", "v2alpha1", "v2beta1"} {
			err := dryRunCreate(ns, v, map[string]any{
				"vault":  map[string]any{"name": "v", "object": map[string]any{"name": "o", "type": "secret"}},
				"output": map[string]any{"secret": map[string]any{"name": "s", "type": tc.typ}},
			})
			switch {
			case tc.allowed && err != nil:
				t.Errorf("%s type %q refused: %v", v, tc.typ, err)
			case !tc.allowed && (err == nil || !strings.Contains(err.Error(), "spec.output.secret.type: Invalid value") || !strings.Contains(err.Error(), "is not allowed")):
				t.Errorf("%s type %q: %v, want a refusal naming spec.output.secret.type", v, tc.typ, err)
			}
		}
	}
}

// TestSchemaBoundsRefreshInterval: spec.refreshInterval must be a duration
// Go reads (the schema's string type accepted "1d", which no consumer can
// use) and at least v2beta1.MinRefreshInterval, in every served version;
// what the CRD accepts, the consumers use unraised.
func TestSchemaBoundsRefreshInterval(t *testing.T) {
	ns := namespace(t)
	const notDuration, tooShort = "must be a duration such as", "must be at least 30s"
	for _, tc := range []struct{ value, refused string }{
		{"30s", ""}, {"1h30m", ""}, {"10m", ""}, {"0.5m", ""}, {"2h", ""}, {"30000ms", ""},
		{"29s", tooShort}, {"1ms", tooShort}, {"0s", tooShort}, {"29999ms", tooShort}, {"0.49m", tooShort},
		{"1d", notDuration}, {"-1m", notDuration}, {"1", notDuration}, {"", notDuration}, {"1 h", notDuration}, {"P1D", notDuration},
	} {
		for _, v := range []string{"v1alpha1", "v1", "v2alpha1", "v2beta1"} {
			err := dryRunCreate(ns, v, map[string]any{
				"vault":           map[string]any{"name": "v", "object": map[string]any{"name": "o", "type": "secret"}},
				"refreshInterval": tc.value,
			})
			switch {
			case tc.refused == "" && err != nil:
				t.Errorf("%s refreshInterval %q refused: %v", v, tc.value, err)
			case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), "spec.refreshInterval") || !strings.Contains(err.Error(), tc.refused)):
				t.Errorf("%s refreshInterval %q: %v, want a refusal saying %q", v, tc.value, err, tc.refused)
			}
		}
		if tc.refused != "" {
			continue
		}
		d, err := time.ParseDuration(tc.value)
		if err != nil {
			t.Errorf("%q accepted by the CRD, but Go cannot read it: %v", tc.value, err)
			continue
		}
		spec := v2beta1.AzureKeyVaultSecretSpec{RefreshInterval: &metav1.Duration{Duration: d}}
		if got, raised := spec.EffectiveRefreshInterval(time.Hour); got != d || raised {
			t.Errorf("%q accepted by the CRD, but the consumers use %v (raised %v)", tc.value, got, raised)
		}
	}
}

// dryRunCreate asks the API server to create an AzureKeyVaultSecret with
// spec under spv.no/<version>, without storing it.
func dryRunCreate(ns, version string, spec map[string]any) error {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "spv.no/" + version, "kind": "AzureKeyVaultSecret",
		"metadata": map[string]any{"name": "dry-run", "namespace": ns}, "spec": spec,
	}}
	return suite.client.Create(context.Background(), u, client.DryRunAll)
}

// TestInvalidSpecIsReported: values akv2k8s's schema accepted and latchkey
// cannot act on are accepted by the API server, then reported on the object
// (Ready=False, reason InvalidSpec, the field named) with a Warning event.
// An object that was synced keeps its output as it was while its spec is
// invalid, and syncs again once fixed.
func TestInvalidSpecIsReported(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	v := newVault(t)
	v.setSecret(t, "invalid-spec", "invalid-spec-s3cr3t-value", "")
	tests := []struct {
		name, field string
		mutate      func(*v2beta1.AzureKeyVaultSecret)
	}{
		{"unknown-transform", "spec.output.transform[1]", func(a *v2beta1.AzureKeyVaultSecret) {
			a.Spec.Output.Transform = []v2beta1.Transform{"trim", "rot13"}
		}},
		{"multi-key-without-content-type", "spec.vault.object.contentType", func(a *v2beta1.AzureKeyVaultSecret) {
			a.Spec.Vault.Object.Type = v2beta1.ObjectTypeMultiKeyValueSecret
		}},
		{"empty-object-name", "spec.vault.object.name", func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Vault.Object.Name = "" }},
		{"bad-secret-name", "spec.output.secret.name", func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Output.Secret.Name = "Not_A_Name" }},
	}
	for _, tc := range tests {
		create(t, akvs(ns, tc.name, "invalid-spec", inVault(v), tc.mutate))
	}
	for _, tc := range tests {
		got := waitForReady(t, ns, tc.name, metav1.ConditionFalse, controller.ReasonInvalidSpec)
		if msg := readyCondition(got).Message; !strings.HasPrefix(msg, tc.field+" ") {
			t.Errorf("%s: message %q, want it to name %s", tc.name, msg, tc.field)
		}
		eventually(t, func() error {
			for _, e := range eventsFor(t, ns, tc.name) {
				if strings.Contains(e, "Warning InvalidSpec") && strings.Contains(e, tc.field) {
					return nil
				}
			}
			return errorf("%s: no InvalidSpec event: %v", tc.name, eventsFor(t, ns, tc.name))
		})
	}

	// A synced object whose spec turns invalid keeps its output.
	good := akvs(ns, "turns-invalid", "invalid-spec", inVault(v))
	create(t, good)
	waitForSecret(t, ns, "turns-invalid", hasData(data("value", "invalid-spec-s3cr3t-value")))
	before := getSecret(t, ns, "turns-invalid")
	update(t, good, func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Output.Transform = []v2beta1.Transform{"base64"} })
	waitForReady(t, ns, "turns-invalid", metav1.ConditionFalse, controller.ReasonInvalidSpec)
	window(time.Second) // for the outputs controller, which sees the change too, to act if it would
	if s := getSecret(t, ns, "turns-invalid"); s.ResourceVersion != before.ResourceVersion {
		t.Errorf("the output was written while the spec was invalid: data keys %v", keys(s.Data))
	}
	update(t, good, func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Output.Transform = []v2beta1.Transform{"base64encode"} })
	waitForReady(t, ns, "turns-invalid", metav1.ConditionTrue, controller.ReasonSynced)
	waitForSecret(t, ns, "turns-invalid", hasData(data("value", "aW52YWxpZC1zcGVjLXMzY3IzdC12YWx1ZQ==")))
}

// TestAzureIdentityIsIgnoredAndSaidSo: spec.vault.azureIdentity in
// akv2k8s's shape is accepted; the object syncs with the controller's
// identity, and the condition AzureIdentity=False/Ignored says that the
// field is not honoured, without making the object un-Ready. It goes when
// the field does.
func TestAzureIdentityIsIgnoredAndSaidSo(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	v := newVault(t)
	v.setSecret(t, "with-identity", "with-identity-s3cr3t-value", "")
	a := akvs(ns, "with-identity", "with-identity", inVault(v), func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Vault.AzureIdentity = &v2beta1.AzureIdentity{Name: "team-a-identity"}
	})
	create(t, a)
	waitForSecret(t, ns, "with-identity", hasData(data("value", "with-identity-s3cr3t-value")))
	got := waitForReady(t, ns, "with-identity", metav1.ConditionTrue, controller.ReasonSynced)
	c := meta.FindStatusCondition(got.Status.Conditions, controller.ConditionAzureIdentity)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != controller.ReasonIgnored || c.ObservedGeneration != got.Generation ||
		!strings.Contains(c.Message, "keyVaultAuth") || !strings.Contains(c.Message, "workload identity") {
		t.Errorf("AzureIdentity condition %+v", c)
	}
	update(t, a, func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Vault.AzureIdentity = nil })
	eventually(t, func() error {
		got := getAKVS(t, ns, "with-identity")
		if c := meta.FindStatusCondition(got.Status.Conditions, controller.ConditionAzureIdentity); c != nil || got.Status.ObservedGeneration != got.Generation {
			return errorf("AzureIdentity condition %+v at generation %d", c, got.Status.ObservedGeneration)
		}
		return nil
	})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
