//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"go.yaml.in/yaml/v3"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/devtools/certtest"
)

// The seed's identity (config/samples/emulator-seed.yaml), which may read
// every object of its vault.
const (
	seedTenant       = "00000000-0000-4000-8000-00000000a11c"
	seedClientID     = "00000000-0000-4000-8000-0000000c11e7"
	seedClientSecret = "local-dev-client-secret"
)

// vaultSecrets is a client of the emulator's vault through the Azure SDK's
// own clients (azidentity, azsecrets), as the seed's identity: what Key
// Vault holds, read without latchkey's code, so that an expectation built
// from it does not share a bug with what it checks.
func vaultSecrets(vault string) (*azsecrets.Client, error) {
	opts := env.emu.ClientOptions()
	cred, err := azidentity.NewClientSecretCredential(seedTenant, seedClientID, seedClientSecret, &azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
	if err != nil {
		return nil, err
	}
	return azsecrets.NewClient("https://"+vault+".vault.azure.net", cred, &azsecrets.ClientOptions{ClientOptions: opts})
}

// expectedHashes gives the lines `toolbox env-hashes` must print for vars:
// the SHA-256 of each placeholder's value, worked out from what Key Vault
// holds (vaultSecrets) by the rules akv2k8s documents, not by latchkey's
// output package.
func expectedHashes(ctx context.Context, t *testing.T, specs map[string]v2beta1.AzureKeyVaultObject, vars []injected) []string {
	t.Helper()
	kv, err := vaultSecrets("my-kv")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, v := range vars {
		akvs, query, _ := strings.Cut(v.placeholder, "@azurekeyvault")
		spec, ok := specs[akvs]
		if !ok {
			t.Fatalf("%s names %s, which the test does not define", v.name, akvs)
		}
		value := expectedValue(ctx, t, kv, spec, strings.TrimPrefix(query, "?"))
		lines = append(lines, fmt.Sprintf("%s=%x", v.name, sha256.Sum256(value)))
	}
	return lines
}

// expectedValue is what a placeholder with query gives for the object
// spec: a secret's value; a multi-key secret's key, a string of the JSON or
// YAML document; a certificate's tls.crt or tls.key from the PFX Key Vault
// keeps as its backing secret (certtest.TLSFromPFX).
func expectedValue(ctx context.Context, t *testing.T, kv *azsecrets.Client, spec v2beta1.AzureKeyVaultObject, query string) []byte {
	t.Helper()
	resp, err := kv.GetSecret(ctx, spec.Name, "", nil)
	if err != nil || resp.Value == nil {
		t.Fatalf("reading %s with azsecrets: %v", spec.Name, err)
	}
	value := *resp.Value
	switch {
	case spec.Type == v2beta1.ObjectTypeSecret && query == "":
		return []byte(value)
	case spec.Type == v2beta1.ObjectTypeMultiKeyValueSecret:
		doc := map[string]any{}
		unmarshal := json.Unmarshal
		if spec.ContentType == v2beta1.ContentTypeYAML {
			unmarshal = yaml.Unmarshal
		}
		if err := unmarshal([]byte(value), &doc); err != nil {
			t.Fatalf("%s: %v", spec.Name, err)
		}
		s, ok := doc[query].(string)
		if !ok {
			t.Fatalf("%s has no string key %q (the test expects one)", spec.Name, query)
		}
		return []byte(s)
	case spec.Type == v2beta1.ObjectTypeCertificate && (query == "tls.crt" || query == "tls.key"):
		if ct := resp.ContentType; ct == nil || *ct != "application/x-pkcs12" {
			t.Fatalf("%s: backing secret of content type %v; the test reads PFX only", spec.Name, ct)
		}
		crt, key := certtest.TLSFromPFX(t, value)
		if query == "tls.key" {
			return key
		}
		return crt
	}
	t.Fatalf("the test has no expectation for query %q on a %s", query, spec.Type)
	return nil
}

// hasLine reports whether out, a program's output, holds line as a whole
// line: "pid=1" is not found in "pid=12".
func hasLine(out, line string) bool {
	return slices.Contains(strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n"), line)
}
