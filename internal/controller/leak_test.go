package controller_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/certbundle/certtest"
	"github.com/latchkey-dev/latchkey/internal/controller"
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
	pfx := string(certtest.Base64(certtest.PFX(t, chain[0].Key, certtest.Certs(chain...)...)))
	remember(string(certtest.KeyPEM(t, chain[0].Key, certtest.SEC1)), string(certtest.KeyPEM(t, chain[0].Key, certtest.PKCS8)))
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
	remember("leak-good-p4ssw0rd-value")
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

// TestLeakCheckFindsLeaks shows the check above can fail: a value, its
// base64, or one line of a multi-line value, anywhere in a haystack.
func TestLeakCheckFindsLeaks(t *testing.T) {
	t.Parallel()
	const value = "canary-s3cr3t-value"
	key := "-----BEGIN KEY-----\nAAAAbbbbCCCCddddEEEEffffGGGGhhhh\nIIIIjjjj\n-----END KEY-----\n"
	for name, haystack := range map[string]string{
		"raw":    `{"msg":"oops","value":"canary-s3cr3t-value"}`,
		"base64": `{"msg":"oops","value":"` + base64.StdEncoding.EncodeToString([]byte(value)) + `"}`,
	} {
		if leaks := leaksIn([]string{value}, map[string]string{name: haystack}); len(leaks) != 1 || !strings.Contains(leaks[0], name) {
			t.Errorf("%s: leaks %v, want one", name, leaks)
		}
	}
	if leaks := leaksIn([]string{key}, map[string]string{"line": "key: AAAAbbbbCCCCddddEEEEffffGGGGhhhh"}); len(leaks) != 1 {
		t.Errorf("a leaked line of a key was not found: %v", leaks)
	}
	if leaks := leaksIn([]string{value}, map[string]string{"clean": "Secret x: key \"value\" already exists"}); len(leaks) != 0 {
		t.Errorf("false positives: %v", leaks)
	}
}

func fns(f ...func(*v2beta1.AzureKeyVaultSecret)) []func(*v2beta1.AzureKeyVaultSecret) { return f }
