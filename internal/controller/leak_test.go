package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/devtools/certtest"
	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
)

// TestNoValueLeaks drives the controller through the paths whose messages
// are built from what Key Vault returned (documents that do not parse,
// wrong basic-auth values, non-exportable certificates, values the API
// server refuses) and successful syncs, then looks for every value any test
// has put in Key Vault so far in the controllers' logs (debug level), all
// Events, every AzureKeyVaultSecret and the metadata of every output.
// TestMain sweeps once more when all tests are done.
func TestNoValueLeaks(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	v := newVault(t)
	chain := certtest.Chain(t, certtest.ECDSA, 0)
	// importCertificate remembers the PFX: the check looks for its private
	// key in every encoding.
	pfx := string(certtest.Base64(certtest.PFX(t, chain[0].Key, certtest.Certs(chain...)...)))
	v.importCertificate(t, "sealed", pfx, "application/x-pkcs12", false)
	v.importCertificate(t, "exportable", pfx, "application/x-pkcs12", true)

	multi := func(ct v2beta1.ContentType) func(*v2beta1.AzureKeyVaultSecret) {
		return func(a *v2beta1.AzureKeyVaultSecret) {
			a.Spec.Vault.Object.Type, a.Spec.Vault.Object.ContentType = v2beta1.ObjectTypeMultiKeyValueSecret, ct
		}
	}
	certificate := func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Vault.Object.Type = v2beta1.ObjectTypeCertificate }
	decode := func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Output.Transform = []v2beta1.Transform{v2beta1.TransformBase64Decode}
	}
	tests := []struct {
		name, value, reason string
		mutate              []func(*v2beta1.AzureKeyVaultSecret)
	}{
		{"bad-json", `{"leak-key": "leak-invalid-json-s3cr3t-value"`, controller.ReasonInvalidOutput, fns(multi(v2beta1.ContentTypeJSON))},
		{"bad-yaml", "- leak-yaml-list-s3cr3t-value\n", controller.ReasonInvalidOutput, fns(multi(v2beta1.ContentTypeYAML))},
		{"bad-data-key", `{"bad key!": "leak-bad-key-s3cr3t-value"}`, controller.ReasonInvalidOutput, fns(multi(v2beta1.ContentTypeJSON))},
		{"bad-basic-auth", "leak-basic-no-colon-s3cr3t-value", controller.ReasonInvalidOutput, fns(withSecretType("kubernetes.io/basic-auth"))},
		{"bad-docker", "leak-docker-not-json-s3cr3t-value", controller.ReasonInvalidOutput, fns(withSecretType("kubernetes.io/dockerconfigjson"))},
		{"bad-dockercfg", "leak-dockercfg-not-json-s3cr3t-value", controller.ReasonOutputWriteFailed, fns(withSecretType("kubernetes.io/dockercfg"))},
		{"bad-base64", "leak-not-base64-s3cr3t-value!", controller.ReasonInvalidOutput, fns(decode)},
		{"bad-pfx", "leak-not-a-pfx-s3cr3t-value", controller.ReasonInvalidOutput, fns(withSecretType("kubernetes.io/tls"))},
		{"sealed", "", controller.ReasonNotExportable, fns(certificate, withSecretType("kubernetes.io/tls"))},
		{"exportable", "", controller.ReasonSynced, fns(certificate, withSecretType("kubernetes.io/tls"))},
		{"basic-auth", "leak-user:leak-good-p4ssw0rd-value", controller.ReasonSynced, fns(withSecretType("kubernetes.io/basic-auth"))},
		{"plain", "leak-plain-s3cr3t-value", controller.ReasonSynced, nil},
	}
	for _, tc := range tests {
		if tc.value != "" {
			v.setSecret(t, tc.name, tc.value, "")
		}
		create(t, akvs(ns, tc.name, tc.name, append(tc.mutate, inVault(v), everySecond)...))
	}
	for _, tc := range tests {
		status := metav1.ConditionFalse
		if tc.reason == controller.ReasonSynced {
			status = metav1.ConditionTrue
		}
		waitForReady(t, ns, tc.name, status, tc.reason)
	}
	window(2 * time.Second) // a few retries and refreshes, each logging

	for _, leak := range findLeaks(context.Background()) {
		t.Error(leak)
	}
}

// TestLeakCheckFindsLeaks shows the check above can fail: each planted
// leak (a JSON-escaped document, a line of a PEM key, base64, a quoted
// value…) is found in each place the check reads: a controller log, an
// Event, an AzureKeyVaultSecret, and the metadata of a Secret and a
// ConfigMap. The plants' secrets are not remembered, so the suite's own
// sweep ignores them.
func TestLeakCheckFindsLeaks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := namespace(t)
	plants := leakcheck.Plants(t)
	planted := map[string]string{}
	log := &leakcheck.Buffer{}
	for i, p := range plants {
		planted[fmt.Sprintf("leakcheck.test/plant-%d", i)] = p.Text
		_, _ = log.Write([]byte(p.Text + "\n"))
	}
	meta := metav1.ObjectMeta{Namespace: ns, Name: "planted", Annotations: planted}
	// No controller syncs it: no controller has this shard.
	a := akvs(ns, "planted", "planted", func(a *v2beta1.AzureKeyVaultSecret) {
		a.ObjectMeta = *meta.DeepCopy()
		a.Labels = map[string]string{testControllerLabel: "none"}
	})
	create(t, a)
	create(t, &corev1.Secret{ObjectMeta: *meta.DeepCopy()})
	create(t, &corev1.ConfigMap{ObjectMeta: *meta.DeepCopy()})
	for i, p := range plants {
		create(t, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("planted-%d", i)},
			InvolvedObject: corev1.ObjectReference{Kind: "AzureKeyVaultSecret", Namespace: ns, Name: "planted"},
			Reason:         "Planted",
			Message:        p.Text,
			Type:           corev1.EventTypeWarning,
		})
	}

	places := []string{"controller log #0", "AzureKeyVaultSecret " + ns + "/planted", "Secret metadata " + ns + "/planted",
		"ConfigMap metadata " + ns + "/planted"}
	for i, p := range plants {
		leaks := strings.Join(leaksIn(ctx, leakcheck.NewSet(p.Secret), []*leakcheck.Buffer{log}), "\n")
		for _, place := range append(places, fmt.Sprintf("Event %s/planted-%d", ns, i)) {
			if !strings.Contains(leaks, "leaked into "+place+" at") {
				t.Errorf("%s in %s: not found; found:\n%s", p.Form, place, leaks)
			}
		}
	}
}

func fns(f ...func(*v2beta1.AzureKeyVaultSecret)) []func(*v2beta1.AzureKeyVaultSecret) { return f }
