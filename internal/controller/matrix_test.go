package controller_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/certbundle"
	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/devtools/certtest"
)

// secretTypes is every spelling of spec.output.secret.type users write, with
// the short name used in object names.
var secretTypes = []struct{ slug, spelling string }{
	{"unset", ""},
	{"opaque-cap", "Opaque"},
	{"opaque-lower", "opaque"},
	{"tls", "kubernetes.io/tls"},
	{"basic-auth", "kubernetes.io/basic-auth"},
	{"dockerconfigjson", "kubernetes.io/dockerconfigjson"},
	{"dockercfg", "kubernetes.io/dockercfg"},
	{"ssh-auth", "kubernetes.io/ssh-auth"},
	{"custom", "example.com/custom"},
}

// matrixCase is one AzureKeyVaultSecret of the type matrix and what its
// output must be.
type matrixCase struct {
	name string
	akvs *v2beta1.AzureKeyVaultSecret
	// reason is the expected Ready reason; a failure reason means no output.
	reason string
	// secretType is the expected Secret type; data its exact data (or
	// check, when the bytes are not known in advance).
	secretType string
	data       map[string][]byte
	check      func(map[string][]byte) error
	// configMap, when set, is the expected ConfigMap data (text and binary
	// together) and binary the keys expected under binaryData.
	configMap map[string][]byte
	binary    []string
}

// matrixFixtures are the Key Vault objects of the type matrix.
type matrixFixtures struct {
	vault *testVault
	// rsaChain is leaf, intermediate, root; ecChain leaf, two
	// intermediates, root.
	rsaChain, ecChain   []*certtest.Cert
	rsaChainPEM         []byte
	ecChainPEM          []byte
	rsaKeyPEM, ecKeyPEM []byte
	keyRSA, keyEC       []byte // PEM public keys of the key objects
	versionOne          string
}

// Values of the matrix's secrets (long and distinctive: the leak checks look for them).
const (
	plainValue       = "matrix-plain-s3cr3t-value"
	basicUser        = "matrix-user"
	basicPassword    = "matrix-p4ssw0rd-value"
	basic64User      = "matrix-user64"
	basic64Password  = "matrix-p4ssw0rd64-value"
	dockerUser       = "matrix-docker-user"
	dockerPassword   = "matrix-docker-p4ssw0rd"
	dockercfgValue   = `{"registry.example":{"auth":"bWF0cml4LWRvY2tlcmNmZzpwYXNz","email":"matrix@example.com"}}`
	sshValue         = "-----BEGIN OPENSSH PRIVATE KEY-----\nmatrix-ssh-pr1vate-key-material\n-----END OPENSSH PRIVATE KEY-----\n"
	jsonDocument     = `{"alpha":"matrix-json-alpha-value","beta":"matrix-json-beta-value","count":42}`
	yamlDocument     = "alpha: matrix-yaml-alpha-value\nbeta: matrix-yaml-beta-value\n"
	basicJSONDoc     = `{"username":"matrix-multi-user","password":"matrix-multi-p4ssw0rd"}`
	versionOneValue  = "matrix-version-one-value"
	versionTwoValue  = "matrix-version-two-value"
	transformedValue = "matrix-transformed-value"
)

func dockerJSON() string {
	return `{"auths":{"registry.example":{"username":"` + dockerUser + `","password":"` + dockerPassword + `","email":"matrix@example.com"}}}`
}

func buildMatrixFixtures(t *testing.T) *matrixFixtures {
	t.Helper()
	v := newVault(t)
	f := &matrixFixtures{vault: v}
	f.rsaChain = certtest.Chain(t, certtest.RSA, 1)
	f.ecChain = certtest.Chain(t, certtest.ECDSA, 2)
	f.rsaChainPEM = certtest.CertPEM(certtest.Certs(f.rsaChain...)...)
	f.ecChainPEM = certtest.CertPEM(certtest.Certs(f.ecChain...)...)
	f.rsaKeyPEM = certtest.KeyPEM(t, f.rsaChain[0].Key, certtest.PKCS1)
	f.ecKeyPEM = certtest.KeyPEM(t, f.ecChain[0].Key, certtest.SEC1)
	remember(string(f.rsaKeyPEM), string(f.ecKeyPEM))

	pfx := string(certtest.Base64(certtest.PFX(t, f.rsaChain[0].Key, certtest.Certs(f.rsaChain...)...)))
	// The PEM certificate's chain is imported out of order: root, second
	// intermediate, leaf, first intermediate.
	pemCert := string(certtest.PEM(t, f.ecChain[0].Key, certtest.PKCS8, certtest.Certs(certtest.Reorder(f.ecChain, 3, 2, 0, 1)...)...))

	v.setSecret(t, "plain", plainValue, "")
	v.setSecret(t, "pfx", pfx, "application/x-pkcs12")
	v.setSecret(t, "basic", basicUser+":"+basicPassword, "")
	v.setSecret(t, "basic64", base64.StdEncoding.EncodeToString([]byte(basic64User+":"+basic64Password)), "")
	v.setSecret(t, "dockerjson", dockerJSON(), "")
	v.setSecret(t, "dockercfg", dockercfgValue, "")
	v.setSecret(t, "ssh", sshValue, "")
	v.setSecret(t, "multi-json", jsonDocument, "application/x-json")
	v.setSecret(t, "multi-yaml", yamlDocument, "application/x-yaml")
	v.setSecret(t, "multi-basic", basicJSONDoc, "application/x-json")
	remember("matrix-json-alpha-value", "matrix-json-beta-value", "matrix-yaml-alpha-value", "matrix-yaml-beta-value",
		"matrix-multi-user", "matrix-multi-p4ssw0rd", basicPassword, basic64Password, dockerPassword, transformedValue)
	f.versionOne = v.setSecret(t, "versioned", versionOneValue, "")
	v.setSecret(t, "versioned", versionTwoValue, "")
	v.setSecret(t, "padded", "  "+base64.StdEncoding.EncodeToString([]byte(transformedValue))+"\n", "")
	v.setSecret(t, "binary", base64.StdEncoding.EncodeToString([]byte("matrix\x00\xff\xfebinary")), "")
	v.importCertificate(t, "cert-pfx", pfx, "application/x-pkcs12", true)
	v.importCertificate(t, "cert-pem", pemCert, "application/x-pem-file", true)
	v.importCertificate(t, "cert-sealed", pfx, "application/x-pkcs12", false)
	f.keyRSA = jwkPublicPEM(t, v.createKey(t, "key-rsa", azkeys.KeyTypeRSA, nil))
	f.keyEC = jwkPublicPEM(t, v.createKey(t, "key-ec", azkeys.KeyTypeEC, ptr.To(azkeys.CurveNameP256)))
	return f
}

// objectOf configures the Key Vault object an AzureKeyVaultSecret reads.
func objectOf(name string, typ v2beta1.ObjectType, contentType v2beta1.ContentType) func(*v2beta1.AzureKeyVaultSecret) {
	return func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Vault.Object = v2beta1.AzureKeyVaultObject{Name: name, Type: typ, ContentType: contentType}
	}
}

func withSecretType(typ string) func(*v2beta1.AzureKeyVaultSecret) {
	return func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Output.Secret.Type = corev1.SecretType(typ) }
}

// TestTypeMatrix creates, at once and in one namespace, an
// AzureKeyVaultSecret for each spelling of output.secret.type and each kind
// of object (secret, certificate backed by PFX and by PEM, RSA and EC key,
// multi-key JSON and YAML), plus ConfigMap outputs, a pinned version,
// transforms, chainOrder, both basic-auth formats, dockerconfigjson auth
// generation, tls from a secret holding a PFX and a non-exportable
// certificate, and checks every Secret's type and data as product.md §1
// lists them. Combinations the API server refuses (a certificate as
// kubernetes.io/ssh-auth lacks ssh-privatekey) must say so in Ready.
func TestTypeMatrix(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	f := buildMatrixFixtures(t)
	cases := append(secretObjectCases(f), certificateCases(f)...)
	cases = append(cases, keyAndMultiKeyCases(f)...)
	cases = append(cases, extraCases(f)...)
	for i := range cases {
		c := &cases[i]
		c.akvs.Namespace = ns
		inVault(f.vault)(c.akvs)
		create(t, c.akvs)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkMatrixCase(t, ns, c)
		})
	}
}

func checkMatrixCase(t *testing.T, ns string, c matrixCase) {
	t.Helper()
	reason := c.reason
	if reason == "" {
		reason = controller.ReasonSynced
	}
	status := metav1.ConditionTrue
	if reason != controller.ReasonSynced && reason != controller.ReasonMergedIntoExisting {
		status = metav1.ConditionFalse
	}
	a := waitForReady(t, ns, c.name, status, reason)
	if status == metav1.ConditionFalse {
		if msg := readyCondition(a).Message; msg == "" {
			t.Error("a failure without a message")
		}
		s := &corev1.Secret{}
		if err := suite.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: c.name}, s); err == nil {
			t.Errorf("a failed AzureKeyVaultSecret wrote Secret %s", c.name)
		}
		return
	}
	if c.akvs.Spec.Output.Secret != nil {
		s := getSecret(t, ns, c.akvs.Spec.Output.Secret.Name)
		if string(s.Type) != c.secretType {
			t.Errorf("Secret type %q, want %q", s.Type, c.secretType)
		}
		switch {
		case c.check != nil:
			if err := c.check(s.Data); err != nil {
				t.Error(err)
			}
		default:
			assertData(t, s.Data, c.data)
		}
	}
	if c.akvs.Spec.Output.ConfigMap != nil {
		cm := &corev1.ConfigMap{}
		if err := suite.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: c.akvs.Spec.Output.ConfigMap.Name}, cm); err != nil {
			t.Fatal(err)
		}
		got := map[string][]byte{}
		for k, v := range cm.Data {
			got[k] = []byte(v)
		}
		for k, v := range cm.BinaryData {
			got[k] = v
		}
		assertData(t, got, c.configMap)
		if binary := slices.Sorted(maps.Keys(cm.BinaryData)); !slices.Equal(binary, c.binary) {
			t.Errorf("binaryData keys %v, want %v", binary, c.binary)
		}
	}
}

// secretObjectCases: a secret object under every Secret type, each with a
// value that type accepts.
func secretObjectCases(f *matrixFixtures) []matrixCase {
	var cases []matrixCase
	for _, st := range secretTypes {
		c := matrixCase{name: "secret-" + st.slug, secretType: orOpaque(st.spelling)}
		source := "plain"
		switch st.spelling {
		case "kubernetes.io/tls":
			source = "pfx"
			c.data = map[string][]byte{"tls.crt": f.rsaChainPEM, "tls.key": f.rsaKeyPEM}
		case "kubernetes.io/basic-auth":
			source = "basic"
			c.data = data("username", basicUser, "password", basicPassword)
		case "kubernetes.io/dockerconfigjson":
			source = "dockerjson"
			c.check = dockerAuthGenerated
		case "kubernetes.io/dockercfg":
			source = "dockercfg"
			c.data = data(".dockercfg", dockercfgValue)
		case "kubernetes.io/ssh-auth":
			source = "ssh"
			c.data = data("ssh-privatekey", sshValue)
		default:
			c.data = data("value", plainValue)
		}
		c.akvs = akvs("", c.name, source, withSecretType(st.spelling))
		cases = append(cases, c)
	}
	return cases
}

// dockerAuthGenerated checks the seed's promise: each registry entry with a
// username and password gets its auth.
func dockerAuthGenerated(d map[string][]byte) error {
	if len(d) != 1 {
		return fmt.Errorf("keys %v, want only .dockerconfigjson", slices.Sorted(maps.Keys(d)))
	}
	var doc struct {
		Auths map[string]map[string]string `json:"auths"`
	}
	if err := json.Unmarshal(d[".dockerconfigjson"], &doc); err != nil {
		return fmt.Errorf(".dockerconfigjson is not JSON: %w", err)
	}
	entry := doc.Auths["registry.example"]
	want := base64.StdEncoding.EncodeToString([]byte(dockerUser + ":" + dockerPassword))
	if entry["auth"] != want || entry["username"] != dockerUser || entry["password"] != dockerPassword || entry["email"] != "matrix@example.com" {
		return errors.New(".dockerconfigjson entry lacks the generated auth or lost a field")
	}
	return nil
}

// certificateCases: certificates backed by PFX (RSA) and by PEM (EC) under
// every Secret type. kubernetes.io/tls gives tls.crt and tls.key; exactly
// Opaque the backing secret with its key; anything else the public chain.
// Types whose required keys a certificate cannot give are refused by the
// API server, which Ready reports.
func certificateCases(f *matrixFixtures) []matrixCase {
	backings := []struct {
		object, contentType string
		chainPEM, keyPEM    []byte
	}{
		{"cert-pfx", certbundle.ContentTypePKCS12, f.rsaChainPEM, f.rsaKeyPEM},
		{"cert-pem", certbundle.ContentTypePEM, f.ecChainPEM, f.ecKeyPEM},
	}
	var cases []matrixCase
	for _, b := range backings {
		for _, st := range secretTypes {
			c := matrixCase{name: b.object + "-" + st.slug, secretType: orOpaque(st.spelling)}
			switch st.spelling {
			case "kubernetes.io/tls":
				c.data = map[string][]byte{"tls.crt": b.chainPEM, "tls.key": b.keyPEM}
			case "Opaque":
				c.check = rawBackingSecret(b.contentType, b.chainPEM)
			case "kubernetes.io/basic-auth", "kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg", "kubernetes.io/ssh-auth":
				c.reason = controller.ReasonInvalidOutput
			default:
				c.data = map[string][]byte{"value": b.chainPEM}
			}
			c.akvs = akvs("", c.name, b.object, objectOf(b.object, v2beta1.ObjectTypeCertificate, ""), withSecretType(st.spelling))
			cases = append(cases, c)
		}
	}
	return cases
}

// rawBackingSecret checks an Opaque certificate output: the backing secret
// as Key Vault stores it (PFX bytes, or PEM text), private key included.
func rawBackingSecret(contentType string, chainPEM []byte) func(map[string][]byte) error {
	return func(d map[string][]byte) error {
		raw, ok := d["value"]
		if len(d) != 1 || !ok {
			return fmt.Errorf("keys %v, want only value", slices.Sorted(maps.Keys(d)))
		}
		if contentType == certbundle.ContentTypePKCS12 {
			raw = []byte(base64.StdEncoding.EncodeToString(raw))
		}
		b, err := certbundle.Parse(contentType, raw)
		if err != nil {
			return fmt.Errorf("the raw backing secret does not parse as %s: %w", contentType, err)
		}
		if b.Key == nil {
			return errors.New("the raw backing secret has no private key")
		}
		if !bytes.Equal(b.CertPEM(), chainPEM) {
			return errors.New("the raw backing secret holds another chain")
		}
		return nil
	}
}

// keyAndMultiKeyCases: keys give a PEM public key under the data key and
// multi-key secrets one data key per top-level key, whatever the Secret
// type; types with required keys they lack are refused by the API server.
func keyAndMultiKeyCases(f *matrixFixtures) []matrixCase {
	objects := []struct {
		object string
		mutate func(*v2beta1.AzureKeyVaultSecret)
		data   map[string][]byte
	}{
		{"key-rsa", objectOf("key-rsa", v2beta1.ObjectTypeKey, ""), map[string][]byte{"value": f.keyRSA}},
		{"key-ec", objectOf("key-ec", v2beta1.ObjectTypeKey, ""), map[string][]byte{"value": f.keyEC}},
		{"multi-json", objectOf("multi-json", v2beta1.ObjectTypeMultiKeyValueSecret, v2beta1.ContentTypeJSON),
			data("alpha", "matrix-json-alpha-value", "beta", "matrix-json-beta-value", "count", "42")},
		{"multi-yaml", objectOf("multi-yaml", v2beta1.ObjectTypeMultiKeyValueSecret, v2beta1.ContentTypeYAML),
			data("alpha", "matrix-yaml-alpha-value", "beta", "matrix-yaml-beta-value")},
	}
	var cases []matrixCase
	for _, o := range objects {
		for _, st := range secretTypes {
			c := matrixCase{name: o.object + "-" + st.slug, secretType: orOpaque(st.spelling), data: o.data}
			if strings.HasPrefix(st.spelling, "kubernetes.io/") {
				c.reason = controller.ReasonInvalidOutput
			}
			c.akvs = akvs("", c.name, o.object, o.mutate, withSecretType(st.spelling))
			cases = append(cases, c)
		}
	}
	// A multi-key secret holding username and password makes a basic-auth Secret.
	cases = append(cases, matrixCase{
		name: "multi-basic-auth", secretType: "kubernetes.io/basic-auth",
		data: data("username", "matrix-multi-user", "password", "matrix-multi-p4ssw0rd"),
		akvs: akvs("", "multi-basic-auth", "multi-basic", objectOf("multi-basic", v2beta1.ObjectTypeMultiKeyValueSecret, v2beta1.ContentTypeJSON), withSecretType("kubernetes.io/basic-auth")),
	})
	return cases
}

// extraCases: ConfigMap outputs, version pinning, transforms, chainOrder,
// basic-auth's base64 format and a non-exportable certificate.
func extraCases(f *matrixFixtures) []matrixCase {
	toConfigMap := func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Output = &v2beta1.AzureKeyVaultOutput{ConfigMap: &v2beta1.AzureKeyVaultOutputConfigMap{Name: a.Name, DataKey: "value"}}
	}
	alsoConfigMap := func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Output.ConfigMap = &v2beta1.AzureKeyVaultOutputConfigMap{Name: a.Name + "-cm", DataKey: "chain.pem"}
	}
	transform := func(ts ...v2beta1.Transform) func(*v2beta1.AzureKeyVaultSecret) {
		return func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Output.Transform = ts }
	}
	pinned := func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Vault.Object.Version = f.versionOne }
	chainOrder := func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Output.Secret.ChainOrder = v2beta1.ChainOrderEnsureServerFirst
	}
	cert := func(name string) func(*v2beta1.AzureKeyVaultSecret) {
		return objectOf(name, v2beta1.ObjectTypeCertificate, "")
	}
	tlsData := map[string][]byte{"tls.crt": f.rsaChainPEM, "tls.key": f.rsaKeyPEM}
	return []matrixCase{
		{name: "cm-secret", akvs: akvs("", "cm-secret", "plain", toConfigMap),
			configMap: data("value", plainValue)},
		{name: "cm-certificate", akvs: akvs("", "cm-certificate", "cert-pfx", cert("cert-pfx"), toConfigMap),
			configMap: map[string][]byte{"value": f.rsaChainPEM}},
		{name: "cm-key", akvs: akvs("", "cm-key", "key-ec", objectOf("key-ec", v2beta1.ObjectTypeKey, ""), toConfigMap),
			configMap: map[string][]byte{"value": f.keyEC}},
		{name: "cm-multi-key", akvs: akvs("", "cm-multi-key", "multi-yaml", objectOf("multi-yaml", v2beta1.ObjectTypeMultiKeyValueSecret, v2beta1.ContentTypeYAML), toConfigMap),
			configMap: data("alpha", "matrix-yaml-alpha-value", "beta", "matrix-yaml-beta-value")},
		{name: "cm-binary", akvs: akvs("", "cm-binary", "binary", toConfigMap, transform(v2beta1.TransformBase64Decode)),
			configMap: data("value", "matrix\x00\xff\xfebinary"), binary: []string{"value"}},
		// One AzureKeyVaultSecret, two outputs: the key goes to the Secret only.
		{name: "tls-and-cm", akvs: akvs("", "tls-and-cm", "cert-pfx", cert("cert-pfx"), withSecretType("kubernetes.io/tls"), alsoConfigMap),
			secretType: "kubernetes.io/tls", data: tlsData, configMap: map[string][]byte{"chain.pem": f.rsaChainPEM}},
		{name: "pinned", akvs: akvs("", "pinned", "versioned", pinned),
			secretType: "Opaque", data: data("value", versionOneValue)},
		{name: "latest", akvs: akvs("", "latest", "versioned"),
			secretType: "Opaque", data: data("value", versionTwoValue)},
		{name: "trim-base64decode", akvs: akvs("", "trim-base64decode", "padded", transform(v2beta1.TransformTrim, v2beta1.TransformBase64Decode)),
			secretType: "Opaque", data: data("value", transformedValue)},
		{name: "base64encode", akvs: akvs("", "base64encode", "plain", transform(v2beta1.TransformBase64Encode)),
			secretType: "Opaque", data: data("value", base64.StdEncoding.EncodeToString([]byte(plainValue)))},
		// The PEM certificate was imported root first; the chain comes out
		// leaf first, then by issuer, with and without chainOrder.
		{name: "chain-order", akvs: akvs("", "chain-order", "cert-pem", cert("cert-pem"), withSecretType("kubernetes.io/tls"), chainOrder),
			secretType: "kubernetes.io/tls", data: map[string][]byte{"tls.crt": f.ecChainPEM, "tls.key": f.ecKeyPEM}},
		{name: "basic-auth-base64", akvs: akvs("", "basic-auth-base64", "basic64", withSecretType("kubernetes.io/basic-auth")),
			secretType: "kubernetes.io/basic-auth", data: data("username", basic64User, "password", basic64Password)},
		{name: "sealed-tls", akvs: akvs("", "sealed-tls", "cert-sealed", cert("cert-sealed"), withSecretType("kubernetes.io/tls")),
			reason: controller.ReasonNotExportable},
		{name: "sealed-opaque", akvs: akvs("", "sealed-opaque", "cert-sealed", cert("cert-sealed"), withSecretType("Opaque")),
			reason: controller.ReasonNotExportable},
		{name: "sealed-public", akvs: akvs("", "sealed-public", "cert-sealed", cert("cert-sealed")),
			secretType: "Opaque", data: map[string][]byte{"value": f.rsaChainPEM}},
	}
}

// TestMultiKeyRemovedKeysArePruned removes a key from a multi-key secret in
// Key Vault and expects it gone from the Secret, for JSON and YAML.
func TestMultiKeyRemovedKeysArePruned(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	v := newVault(t)
	docs := []struct {
		name        string
		contentType v2beta1.ContentType
		before      string
		after       string
	}{
		{"json", v2beta1.ContentTypeJSON, `{"keep":"prune-json-keep-value","drop":"prune-json-drop-value"}`, `{"keep":"prune-json-kept-value"}`},
		{"yaml", v2beta1.ContentTypeYAML, "keep: prune-yaml-keep-value\ndrop: prune-yaml-drop-value\n", "keep: prune-yaml-kept-value\n"},
	}
	for _, d := range docs {
		remember("prune-"+d.name+"-keep-value", "prune-"+d.name+"-drop-value", "prune-"+d.name+"-kept-value")
		v.setSecret(t, "multi-"+d.name, d.before, string(d.contentType))
		create(t, akvs(ns, d.name, "multi-"+d.name, inVault(v), everySecond,
			objectOf("multi-"+d.name, v2beta1.ObjectTypeMultiKeyValueSecret, d.contentType)))
	}
	for _, d := range docs {
		waitForSecret(t, ns, d.name, hasData(data("keep", "prune-"+d.name+"-keep-value", "drop", "prune-"+d.name+"-drop-value")))
		v.setSecret(t, "multi-"+d.name, d.after, string(d.contentType))
	}
	for _, d := range docs {
		waitForSecret(t, ns, d.name, hasData(data("keep", "prune-"+d.name+"-kept-value")))
	}
}

// hasData is a waitForSecret check for exact data.
func hasData(want map[string][]byte) func(*corev1.Secret) error {
	return func(s *corev1.Secret) error {
		if !equalData(s.Data, want) {
			return fmt.Errorf("Secret %s has keys %v, want %v", s.Name, slices.Sorted(maps.Keys(s.Data)), slices.Sorted(maps.Keys(want)))
		}
		return nil
	}
}

func assertData(t *testing.T, got, want map[string][]byte) {
	t.Helper()
	if equalData(got, want) {
		return
	}
	t.Errorf("data keys %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	for k, w := range want {
		if g, ok := got[k]; ok && !bytes.Equal(g, w) {
			t.Errorf("data[%s] differs (%d bytes, want %d)", k, len(g), len(w))
		}
	}
}

func equalData(got, want map[string][]byte) bool {
	if len(got) != len(want) {
		return false
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || !bytes.Equal(g, w) {
			return false
		}
	}
	return true
}

// data builds a data map from key, value pairs.
func data(kv ...string) map[string][]byte {
	m := map[string][]byte{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	return m
}

func orOpaque(t string) string {
	if t == "" {
		return "Opaque"
	}
	return t
}

// jwkPublicPEM is the PEM public key of a Key Vault key, as latchkey writes it.
func jwkPublicPEM(t *testing.T, k *azkeys.JSONWebKey) []byte {
	t.Helper()
	var pub crypto.PublicKey
	switch *k.Kty {
	case azkeys.KeyTypeRSA:
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(k.N), E: int(new(big.Int).SetBytes(k.E).Int64())}
	case azkeys.KeyTypeEC:
		point := append(append([]byte{4}, k.X...), k.Y...)
		ec, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			t.Fatal(err)
		}
		pub = ec
	default:
		t.Fatalf("key type %s", *k.Kty)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
