package migration

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
	"github.com/latchkey-dev/latchkey/internal/webhook"
)

// The fixtures' vault and the values in it. Every value is distinctive, so
// a leak into a log is found by substring.
const (
	fixtureVault = "kv-fixtures"
	fixtureDir   = "testdata/akv2k8s-manifests"

	appSecret   = "fixture-app-secret-Aa1"
	otherSecret = "fixture-other-secret-Bb2"
	paddedValue = "fixture-padded-Cc3"
	decoded     = "fixture-decoded-Dd4"
	pinnedOld   = "fixture-pinned-old-Ee5"
	pinnedNew   = "fixture-pinned-new-Ff6"
	dbPass      = "fixture-db-Gg7"
	appToken    = "fixture-token-Hh8"
	registryPW  = "fixture-registry-Ii9"
	basicPass   = "fixture-pass-Jj0"
	sshKey      = "-----BEGIN OPENSSH PRIVATE KEY-----\nfixture-ssh-Kk1\n-----END OPENSSH PRIVATE KEY-----\n"
	registryCfg = `{"registry.fixture":{"auth":"Zml4dHVyZTpmaXh0dXJlLXJlZ2lzdHJ5LUxsMg=="}}`
)

// fixtureValues are the values above, for the leak check.
var fixtureValues = []string{appSecret, otherSecret, paddedValue, decoded, pinnedOld, pinnedNew, dbPass, appToken, registryPW, basicPass, "fixture-ssh-Kk1"}

// fixtureVaultSeed holds what the fixtures read; "pinned" gets its two
// versions from pinVersions.
func fixtureVaultSeed() akvemu.VaultSeed {
	return akvemu.VaultSeed{
		Name: fixtureVault, TenantID: tenantID,
		Secrets: []akvemu.SecretSeed{
			{Name: "app-secret", Value: to.Ptr(appSecret)},
			{Name: "other-secret", Value: to.Ptr(otherSecret)},
			{Name: "padded", Value: to.Ptr("  " + paddedValue + "\n")},
			{Name: "encoded", Value: to.Ptr(base64.StdEncoding.EncodeToString([]byte("  " + decoded + "\n")))},
			{Name: "db-config", ContentType: "application/x-json", Value: to.Ptr(`{"host": "db.fixture", "password": "` + dbPass + `"}`)},
			{Name: "app-config", ContentType: "application/x-yaml", Value: to.Ptr("host: app.fixture\ntoken: " + appToken + "\n")},
			{Name: "registry", Value: to.Ptr(`{"auths": {"registry.fixture": {"username": "fixture", "password": "` + registryPW + `"}}}`)},
			{Name: "registry-cfg", Value: to.Ptr(registryCfg)},
			{Name: "basic", Value: to.Ptr("fixture-user:" + basicPass)},
			{Name: "ssh", Value: to.Ptr(sshKey)},
		},
		Certificates: []akvemu.CertificateSeed{{Name: "server-cert", Generate: &akvemu.GenerateCertificateSeed{
			Subject: "CN=fixture.example", SANs: []string{"fixture.example"}, Chain: "with-intermediate",
		}}},
		Keys: []akvemu.KeySeed{{Name: "signing-key", Generate: akvemu.GenerateKeySeed{KeyType: "RSA"}}},
	}
}

// present stands for "any value" in an expectation.
const present = "<present>"

// expectation is what latchkey makes of one fixture object, in any served
// version.
type expectation struct {
	// ready is the Ready reason; message, when set, is part of its message.
	ready, message string
	// identityIgnored: the AzureIdentity=False/Ignored condition is set.
	identityIgnored bool
	// secret and configMap are keys the outputs hold, with their values
	// or present; secretType is the Secret's type. The outputs are named
	// output, or as the object.
	secret, configMap  map[string]string
	secretType, output string
	// refused, when set, is part of the webhook's refusal and of the
	// resolver's InvalidAzureKeyVaultSecret answer; else both serve
	// <name>@azurekeyvault[?query] with value (or present).
	refused, query, value string
}

// expectations by object name; every fixture object has one.
var expectations = map[string]expectation{
	"crd-v1alpha1": {ready: controller.ReasonSynced, secretType: "opaque",
		secret: map[string]string{"pinned": b64(pinnedOld)}, value: b64(pinnedOld)},
	"crd-v1": {ready: controller.ReasonSynced, secretType: "kubernetes.io/tls",
		secret: map[string]string{"tls.crt": present, "tls.key": present}, value: present},
	"crd-v2alpha1": {ready: controller.ReasonSynced, identityIgnored: true, secretType: "fixtures.example/config",
		secret:    map[string]string{"host": "app.fixture", "token": appToken},
		configMap: map[string]string{"host": "app.fixture", "token": appToken}, query: "token", value: appToken},
	"crd-v2beta1": {ready: controller.ReasonSynced, identityIgnored: true, secretType: "Opaque",
		secret: map[string]string{"value": pinnedOld}, configMap: map[string]string{"value": pinnedOld}, value: pinnedOld},

	"doc-secret-sync":        {ready: controller.ReasonSynced, secret: map[string]string{"secret-value": appSecret}, value: appSecret},
	"doc-secret-inject":      {ready: controller.ReasonInjectorOnly, value: appSecret},
	"doc-certificate-inject": {ready: controller.ReasonInjectorOnly, value: present},
	"doc-signing-key-inject": {ready: controller.ReasonInjectorOnly, value: present},
	"doc-pfx-inject":         {ready: controller.ReasonInjectorOnly, value: present},
	"doc-certificate-sync": {ready: controller.ReasonSynced, secretType: "kubernetes.io/tls",
		secret: map[string]string{"tls.crt": present, "tls.key": present}, query: "tls.key", value: present},
	"doc-signing-key-sync": {ready: controller.ReasonSynced, secret: map[string]string{"signing-key": present}, value: present},
	"doc-multi-key-value-secret": {ready: controller.ReasonSynced,
		secret: map[string]string{"host": "db.fixture", "password": dbPass}, query: "password", value: dbPass},
	"doc-multi-akvs-1": {ready: controller.ReasonSynced, output: "doc-multi-akvs",
		secret: map[string]string{"secret-value-1": appSecret}, value: appSecret},
	"doc-multi-akvs-2": {ready: controller.ReasonSynced, output: "doc-multi-akvs",
		secret: map[string]string{"secret-value-2": otherSecret}, value: otherSecret},
	"doc-secret-to-configmap": {ready: controller.ReasonSynced, configMap: map[string]string{"secret-value": appSecret}, value: appSecret},
	"doc-label-filtered":      {ready: controller.ReasonSynced, secret: map[string]string{"secret-value": otherSecret}, value: otherSecret},
	"doc-pfx-secret-sync": {ready: controller.ReasonSynced, secretType: "kubernetes.io/tls",
		secret: map[string]string{"tls.crt": present, "tls.key": present}, value: present},
	"doc-transform": {ready: controller.ReasonSynced, secret: map[string]string{"myKey": decoded}, value: decoded},

	"type-opaque":           {ready: controller.ReasonSynced, secretType: "opaque", secret: map[string]string{"value": paddedValue}, value: paddedValue},
	"type-dockerconfigjson": {ready: controller.ReasonSynced, secretType: "kubernetes.io/dockerconfigjson", secret: map[string]string{".dockerconfigjson": present}, value: present},
	"type-dockercfg":        {ready: controller.ReasonSynced, secretType: "kubernetes.io/dockercfg", secret: map[string]string{".dockercfg": registryCfg}, value: registryCfg},
	"type-basic-auth": {ready: controller.ReasonSynced, secretType: "kubernetes.io/basic-auth",
		secret: map[string]string{"username": "fixture-user", "password": basicPass}, query: "password", value: basicPass},
	"type-ssh-auth": {ready: controller.ReasonSynced, secretType: "kubernetes.io/ssh-auth", secret: map[string]string{"ssh-privatekey": sshKey}, value: sshKey},

	"repo-v1-inject":        {ready: controller.ReasonInjectorOnly, value: otherSecret},
	"go-client-zero-values": {ready: controller.ReasonSynced, configMap: map[string]string{"value": appSecret}, value: appSecret},

	"schema-valid-unknown-transform": {ready: controller.ReasonInvalidSpec,
		message: "spec.output.transform[0] is not a transform", refused: "spec.output.transform[0] is not a transform"},
	"schema-valid-multi-key-no-type": {ready: controller.ReasonInvalidSpec,
		message: "spec.vault.object.contentType must be", refused: "spec.vault.object.contentType must be"},
	"schema-valid-empty-vault-name": {ready: controller.ReasonInvalidSpec,
		message: "spec.vault.name is required", refused: "spec.vault.name is required"},
	// Only the output is wrong: the env injector serves the object.
	"schema-valid-invalid-secret-name": {ready: controller.ReasonInvalidSpec, message: "spec.output.secret.name is not a Secret name", value: appSecret},
}

// refusedByAkv2k8s are fixture objects akv2k8s's own CRD refuses, with
// the API server's message.
var refusedByAkv2k8s = map[string]string{"refused-by-akv2k8s": "spec.output.secret.name: Required value"}

// refusedByLatchkey are fixture objects akv2k8s's CRD accepts and
// latchkey's refuses on purpose (the migration guide's table says why),
// with the API server's message.
var refusedByLatchkey = map[string]string{"refused-by-latchkey": "spec.output.secret.type: Invalid value"}

// refusedByUs is the refusal latchkey's CRD gives a fixture object, if any.
func refusedByUs(name string) (string, bool) {
	if want, ok := refusedByAkv2k8s[name]; ok {
		return want, true
	}
	want, ok := refusedByLatchkey[name]
	return want, ok
}

// servedVersions are latchkey's, oldest first.
var servedVersions = []string{"v1alpha1", "v1", "v2alpha1", "v2beta1"}

// TestAkv2k8sManifests: every AzureKeyVaultSecret shape akv2k8s's CRD and
// documentation use (testdata/akv2k8s-manifests) is accepted by akv2k8s's
// CRD under its own apiVersion; after the CRD replacement the docs
// describe, latchkey's accepts each in every served version (strict field
// validation, as kubectl applies), the controller syncs it or says why on
// the object, and the webhook and the resolver serve its placeholder or
// refuse it naming the field.
func TestAkv2k8sManifests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	env, cfg, c, emu := cluster(t, akv2k8sCRD, fixtureVaultSeed())
	fixtures := loadFixtures(t, pinVersions(ctx, t, emu))

	// 1. akv2k8s's CRD, under the fixture's own apiVersion.
	create(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "akv2k8s-crd"}})
	for _, f := range fixtures {
		u := f.DeepCopy()
		u.SetNamespace("akv2k8s-crd")
		err := c.Create(ctx, u, client.DryRunAll, client.FieldValidation(metav1.FieldValidationStrict))
		if want, refused := refusedByAkv2k8s[f.GetName()]; refused {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s (%s) under akv2k8s's CRD: %v, want a refusal saying %q", f.GetName(), f.GetAPIVersion(), err, want)
			}
		} else if err != nil {
			t.Errorf("%s (%s) refused by akv2k8s's CRD: %v", f.GetName(), f.GetAPIVersion(), err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// 2. latchkey's CRD, every served version; its controller.
	applyOurCRD(ctx, t, env, c)
	logs := &leakcheck.Buffer{}
	startController(ctx, t, cfg, emu, logs)
	for _, v := range servedVersions {
		create(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fixtures-" + v}})
		for _, f := range fixtures {
			u := f.DeepCopy()
			u.SetAPIVersion("spv.no/" + v)
			u.SetNamespace("fixtures-" + v)
			err := c.Create(ctx, u, client.FieldValidation(metav1.FieldValidationStrict))
			if want, refused := refusedByUs(f.GetName()); refused {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("%s under spv.no/%s: %v, want a refusal saying %q", f.GetName(), v, err, want)
				}
			} else if err != nil {
				t.Errorf("%s refused under spv.no/%s: %v", f.GetName(), v, err)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// 3. What the controller, the webhook and the resolver make of each.
	values := resolverValues(t, emu, c)
	injector := &webhook.Defaulter{Reader: c, Options: webhook.Options{Image: "registry.test/latchkey-env:test"}}
	for _, v := range servedVersions {
		for _, f := range fixtures {
			name := f.GetName()
			if _, refused := refusedByUs(name); refused {
				continue
			}
			t.Run(v+"/"+name, func(t *testing.T) {
				e, ok := expectations[name]
				if !ok {
					t.Fatalf("no expectation for %s", name)
				}
				ns := "fixtures-" + v
				checkSynced(ctx, t, c, ns, name, e)
				checkInjected(ctx, t, injector, values, ns, name, e)
			})
		}
	}
	for _, value := range fixtureValues {
		if strings.Contains(logs.String(), value) {
			t.Errorf("the controller's log holds a value")
		}
	}
}

// checkSynced waits for the controller's status on the object and checks
// it and the outputs.
func checkSynced(ctx context.Context, t *testing.T, c client.Client, ns, name string, e expectation) {
	t.Helper()
	a := &v2beta1.AzureKeyVaultSecret{}
	var ready *metav1.Condition
	poll(ctx, t, func() bool {
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, a); err != nil {
			return false
		}
		ready = meta.FindStatusCondition(a.Status.Conditions, controller.ConditionReady)
		return ready != nil && ready.ObservedGeneration == a.Generation && ready.Reason == e.ready
	}, func() string { return "status " + describe(a.Status) + ", want Ready reason " + e.ready })
	if !strings.Contains(ready.Message, e.message) {
		t.Errorf("Ready message %q, want it to say %q", ready.Message, e.message)
	}
	identity := meta.FindStatusCondition(a.Status.Conditions, controller.ConditionAzureIdentity)
	if e.identityIgnored != (identity != nil && identity.Status == metav1.ConditionFalse && identity.Reason == controller.ReasonIgnored) {
		t.Errorf("AzureIdentity condition %+v, want it set: %v", identity, e.identityIgnored)
	}
	output := types.NamespacedName{Namespace: ns, Name: name}
	if e.output != "" {
		output.Name = e.output
	}
	if e.secret != nil {
		s := &corev1.Secret{}
		if err := c.Get(ctx, output, s); err != nil {
			t.Fatalf("Secret: %v", err)
		}
		if e.secretType != "" && string(s.Type) != e.secretType {
			t.Errorf("Secret type %q, want %q", s.Type, e.secretType)
		}
		holds(t, "Secret", s.Data, e.secret)
	}
	if e.configMap != nil {
		cm := &corev1.ConfigMap{}
		if err := c.Get(ctx, output, cm); err != nil {
			t.Fatalf("ConfigMap: %v", err)
		}
		data := map[string][]byte{}
		for k, v := range cm.Data {
			data[k] = []byte(v)
		}
		holds(t, "ConfigMap", data, e.configMap)
	}
}

// checkInjected admits a pod naming the object through the webhook and
// asks the resolver for its placeholder.
func checkInjected(ctx context.Context, t *testing.T, injector *webhook.Defaulter, values *resolver.Values, ns, name string, e expectation) {
	t.Helper()
	placeholder := podcontract.Placeholder{AKVS: name, Query: e.query}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "registry.test/app:1", Command: []string{"/app"},
			Env: []corev1.EnvVar{{Name: "V", Value: placeholder.String()}},
		}}},
	}
	err := injector.Default(ctx, pod)
	switch {
	case e.refused == "" && err != nil:
		t.Errorf("the webhook refused the pod: %v", err)
	case e.refused != "" && (err == nil || !strings.Contains(err.Error(), e.refused)):
		t.Errorf("the webhook: %v, want a refusal saying %q", err, e.refused)
	}
	got, err := values.Resolve(ctx, ns, []resolver.Wanted{{Var: "V", Placeholder: placeholder}})
	if e.refused != "" {
		var d *resolver.Denial
		if !errors.As(err, &d) || d.Code != protocol.CodeInvalidSpec || !strings.Contains(d.Message, e.refused) {
			t.Errorf("the resolver: %v, want %s saying %q", err, protocol.CodeInvalidSpec, e.refused)
		}
		return
	}
	if err != nil {
		t.Fatalf("the resolver: %v", err)
	}
	if v := got["V"]; (e.value == present && v == "") || (e.value != present && v != e.value) {
		t.Errorf("the resolver's value for %s is not the one expected", placeholder)
	}
}

// holds checks that data holds want's keys with their values.
func holds(t *testing.T, kind string, data map[string][]byte, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, ok := data[k]
		switch {
		case !ok:
			t.Errorf("%s has no key %s: keys %v", kind, k, slices.Sorted(maps.Keys(data)))
		case v == present && len(got) == 0, v != present && string(got) != v:
			t.Errorf("%s key %s does not hold the value expected", kind, k)
		}
	}
}

// describe is a status for a failure message: conditions only.
func describe(st v2beta1.AzureKeyVaultSecretStatus) string {
	var b strings.Builder
	for _, c := range st.Conditions {
		b.WriteString(c.Type + "=" + string(c.Status) + "/" + c.Reason + " (" + c.Message + ") ")
	}
	return b.String()
}

// poll waits until done, failing with what() when the context ends.
func poll(ctx context.Context, t *testing.T, done func() bool, what func() string) {
	t.Helper()
	for !done() {
		select {
		case <-ctx.Done():
			t.Fatal(what())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// loadFixtures reads every object of testdata/akv2k8s-manifests, with
// PINNED_VERSION replaced by pinned.
func loadFixtures(t *testing.T, pinned string) []*unstructured.Unstructured {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", fixtureDir, err)
	}
	var out []*unstructured.Unstructured
	names := map[string]string{}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		raw = bytes.ReplaceAll(raw, []byte("PINNED_VERSION"), []byte(pinned))
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if other, dup := names[u.GetName()]; dup {
				t.Fatalf("%s: object %s is also in %s", file, u.GetName(), other)
			}
			names[u.GetName()] = file
			out = append(out, u)
		}
	}
	for name := range expectations {
		if _, ok := names[name]; !ok {
			t.Errorf("expectation for %s, which no fixture holds", name)
		}
	}
	return out
}

// pinVersions stores two versions of the secret "pinned", as an operator
// would, and returns the older one's id.
func pinVersions(ctx context.Context, t *testing.T, emu *akvemu.Server) string {
	t.Helper()
	opts := emu.ClientOptions()
	cred, err := azidentity.NewClientSecretCredential(tenantID, clientID, clientSecret, &azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := azsecrets.NewClient("https://"+fixtureVault+".vault.azure.net", cred, &azsecrets.ClientOptions{ClientOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, v := range []string{pinnedOld, pinnedNew} {
		resp, err := secrets.SetSecret(ctx, "pinned", azsecrets.SetSecretParameters{Value: to.Ptr(v)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, resp.ID.Version())
	}
	return versions[0]
}

// resolverValues is the resolver's reading of AzureKeyVaultSecrets and Key
// Vault (what answers a pod once it is authorised), with the tests'
// identity and no tenancy policy.
func resolverValues(t *testing.T, emu *akvemu.Server, c client.Reader) *resolver.Values {
	t.Helper()
	objects, _, err := keyvault.OpenForProcess(keyvault.AuthConfigFromEnv(keyvault.ModeEnvironment, os.Getenv), keyvault.ProcessOptions{Transport: emu.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	return &resolver.Values{AKVS: c, Tenancy: allowAll{}, Objects: objects, RefreshInterval: time.Hour}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// allowAll is a tenancy guard without a policy.
type allowAll struct{}

func (allowAll) Allows(string, string, string) bool { return true }
