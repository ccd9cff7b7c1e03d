// Package migration shows the take-over of a cluster akv2k8s 1.x leaves
// behind, as docs/migrate-from-akv2k8s.md describes it: its CRD, its
// AzureKeyVaultSecrets with its status fields, the Secrets it created and
// owns, and pods its webhook wrapped. Against a real API server and etcd,
// with latchkey's controller reading the Key Vault emulator through the
// Azure SDK.
package migration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/crdcheck"
	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
	"github.com/latchkey-dev/latchkey/internal/devtools/kubetest"
	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
	"github.com/latchkey-dev/latchkey/internal/logging"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
	"github.com/latchkey-dev/latchkey/internal/scheme"
	"github.com/latchkey-dev/latchkey/internal/webhook"
)

const (
	tenantID     = "44444444-4444-4444-8444-444444444444"
	clientID     = "dddddddd-0000-4000-8000-000000000001"
	clientSecret = "migration-sp-secret-Hh5Jj7"
	vault        = "kv-migrate"
	ns           = "team-a"

	dbPassword = "db-password-Mm2Nn4" // unchanged since akv2k8s synced it
	apiKeyOld  = "api-key-old-Bb8Cc1" // what akv2k8s synced
	apiKeyNew  = "api-key-new-Dd3Ff5" // what Key Vault holds now

	akv2k8sCRD = "../../internal/crdcheck/testdata/akv2k8s-crd.yaml"
	olderCRD   = "testdata/older-schema-crd.yaml"
	ourCRDs    = "../../config/crd"

	// poison is what the poisoned object holds where an object belongs: it
	// must appear in no status, event, log or error.
	poison = "take-over-poison-Pp3"
)

// TestTakeOverFromAkv2k8s: latchkey refuses to run on akv2k8s's CRD; after
// the documented server-side apply of its own, every AzureKeyVaultSecret is
// still there with akv2k8s's status fields; the controller adopts the
// Secrets akv2k8s created (same objects, same UIDs, no moment without
// data), leaves an unchanged one's data as it was and brings a stale one up
// to date; and pods akv2k8s's webhook wrapped are not touched (no restart)
// nor rewritten by latchkey's webhook.
//
// Among them: an object in the shape akv2k8s's reference documents (an
// azureIdentity, a ConfigMap beside the Secret), which syncs; and one stored
// under an older schema that kept anything (a number for a string, a string
// for an object), which no AzureKeyVaultSecret type can decode: it is
// reported on itself, the webhook and the resolver refuse it naming the
// fields, its spec is left as stored, and every other object syncs.
func TestTakeOverFromAkv2k8s(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env, cfg, c, emu := cluster(t, olderCRD)

	// The cluster as akv2k8s left it: one object from the days of an older
	// schema, then akv2k8s 1.8's CRD and objects.
	create(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{podcontract.DefaultNamespaceLabel: "enabled"}}})
	poisoned := poisonedObject(ctx, t, c)
	kubectlApply(t, env, akv2k8sCRD)
	if err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		probe := poisonedSpec("probe")
		return c.Create(ctx, probe, client.DryRunAll) != nil, nil // refused: akv2k8s's schema is served
	}); err != nil {
		t.Fatal("akv2k8s's CRD not served")
	}
	db := akv2k8sObject(ctx, t, c, "db", "db-password", "db-credentials", "password")
	api := akv2k8sObject(ctx, t, c, "api", "api-key", "api-credentials", "key")
	documented := documentedObject(ctx, t, c)
	dbSecret := akv2k8sSecret(ctx, t, c, db, "db-credentials", "password", dbPassword)
	apiSecret := akv2k8sSecret(ctx, t, c, api, "api-credentials", "key", apiKeyOld)
	pod := akv2k8sPod(ctx, t, c)

	// 1. latchkey's controller refuses the old schema, saying what to do.
	if _, err := controller.Setup(cfg, controllerConfig(emu), logger(t, io.Discard)); err == nil || !strings.Contains(err.Error(), crdcheck.Fix) {
		t.Fatalf("controller on akv2k8s's CRD: %v, want a refusal naming the fix", err)
	}

	// 2. The documented CRD replacement: server-side apply over akv2k8s's.
	applyOurCRD(ctx, t, env, c)

	// 3. Every AzureKeyVaultSecret kept its spec and akv2k8s's status, and
	// reads through latchkey's types, the poisoned one included.
	for _, name := range []string{"db", "api", "documented"} {
		a := &v2beta1.AzureKeyVaultSecret{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, a); err != nil {
			t.Fatal(err)
		}
		if a.Spec.Vault.Name != vault || a.Spec.Output.Secret.Name != name+"-credentials" || a.Status.SecretName != name+"-credentials" || a.Status.SecretHash == "" {
			t.Errorf("%s after the CRD replacement: spec %+v status %+v", name, a.Spec, a.Status)
		}
	}
	if err := c.List(ctx, &v2beta1.AzureKeyVaultSecretList{}, client.InNamespace(ns)); err != nil {
		t.Fatalf("list with the poisoned object: %v", err)
	}

	// 4. latchkey's controller takes over.
	logs := &leakcheck.Buffer{}
	startController(ctx, t, cfg, emu, logs)
	for _, name := range []string{"db", "api", "documented"} {
		waitReady(ctx, t, c, name)
	}
	checkDocumented(ctx, t, c, documented)
	checkPoisoned(ctx, t, c, emu, poisoned)
	for _, tc := range []struct {
		before     *corev1.Secret
		key, value string
	}{
		{dbSecret, "password", dbPassword}, // unchanged in Key Vault: left as it was
		{apiSecret, "key", apiKeyNew},      // changed since akv2k8s synced it: updated in place
	} {
		got := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(tc.before), got); err != nil {
			t.Fatal(err)
		}
		if got.UID != tc.before.UID {
			t.Errorf("Secret %s was recreated (%s → %s): consumers saw it disappear", got.Name, tc.before.UID, got.UID)
		}
		if string(got.Data[tc.key]) != tc.value {
			t.Errorf("Secret %s key %s does not hold the value Key Vault holds", got.Name, tc.key)
		}
		if len(got.OwnerReferences) != 1 || got.OwnerReferences[0].UID != tc.before.OwnerReferences[0].UID {
			t.Errorf("Secret %s owner references: %+v", got.Name, got.OwnerReferences)
		}
		if got.Labels[controller.ManagedLabel] != "true" {
			t.Errorf("Secret %s not marked as managed by latchkey: labels %v", got.Name, got.Labels)
		}
	}
	for _, v := range []string{dbPassword, apiKeyOld, apiKeyNew, clientSecret, poison} {
		if strings.Contains(logs.String(), v) {
			t.Errorf("the controller's log holds a value")
		}
	}

	// 5. The wrapped pod: nobody wrote to it, and latchkey's webhook leaves
	// such pods alone (they keep akv2k8s's binary until they are replaced).
	stored := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(pod), stored); err != nil {
		t.Fatal(err)
	}
	if stored.ResourceVersion != pod.ResourceVersion {
		t.Errorf("the wrapped pod was written to during the take-over")
	}
	again := stored.DeepCopy()
	d := &webhook.Defaulter{Reader: c, Options: webhook.Options{Image: "registry.test/latchkey-env:test"}}
	if err := d.Default(ctx, again); err != nil {
		t.Fatal(err)
	}
	if !equalSpec(stored, again) {
		t.Errorf("latchkey's webhook rewrote a pod akv2k8s had wrapped")
	}
}

// applyOurCRD replaces the CRD as docs/migrate-from-akv2k8s.md says and
// waits until the API server serves latchkey's schema.
func applyOurCRD(ctx context.Context, t *testing.T, env *envtest.Environment, c client.Client) {
	t.Helper()
	kubectlApply(t, env, ourCRDs)
	if err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		return crdcheck.Verify(ctx, c) == nil, nil
	}); err != nil {
		t.Fatalf("latchkey's CRD not served: %v", crdcheck.Verify(ctx, c))
	}
}

// kubectlApply applies path as a cluster admin would replace a CRD:
// kubectl apply --server-side --force-conflicts.
func kubectlApply(t *testing.T, env *envtest.Environment, path string) {
	t.Helper()
	admin, err := env.AddUser(envtest.User{Name: "cluster-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubectl, err := admin.Kubectl()
	if err != nil {
		t.Fatal(err)
	}
	if out, errOut, err := kubectl.Run("apply", "--server-side", "--force-conflicts", "-f", path); err != nil {
		t.Fatalf("kubectl apply -f %s: %v\n%s\n%s", path, err, readAll(out), readAll(errOut))
	}
}

// startEmulator starts the Key Vault emulator with the tests' identity, the
// take-over's vault and more.
// cluster starts what each test here runs on: an API server with the CRDs
// of crdPath, a client for it, and the Key Vault emulator with the
// fixtures' vaults plus more. latchkey's components read Key Vault as the
// emulator's service principal (keyVaultAuth=environment) and log through
// the loggers they are given.
func cluster(t *testing.T, crdPath string, more ...akvemu.VaultSeed) (*envtest.Environment, *rest.Config, client.Client, *akvemu.Server) {
	t.Helper()
	t.Setenv("AZURE_TENANT_ID", tenantID)
	t.Setenv("AZURE_CLIENT_ID", clientID)
	t.Setenv("AZURE_CLIENT_SECRET", clientSecret)
	ctrllog.SetLogger(logr.Discard())
	env, cfg := kubetest.Start(t, kubetest.Options{CRDDirectoryPaths: []string{crdPath}})
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	return env, cfg, c, startEmulator(t, more...)
}

func startEmulator(t *testing.T, more ...akvemu.VaultSeed) *akvemu.Server {
	t.Helper()
	emu, err := akvemu.New(akvemu.Options{Seed: &akvemu.Seed{
		Tenants: []akvemu.TenantSeed{{ID: tenantID}},
		Apps:    []akvemu.AppSeed{{ClientID: clientID, TenantID: tenantID, Secrets: []string{clientSecret}}},
		Vaults: append([]akvemu.VaultSeed{{Name: vault, TenantID: tenantID, Secrets: []akvemu.SecretSeed{
			{Name: "db-password", Value: to.Ptr(dbPassword)},
			{Name: "api-key", Value: to.Ptr(apiKeyNew)},
		}}}, more...),
	}})
	if err == nil {
		err = emu.Start(context.Background())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	return emu
}

// akv2k8sObject creates an AzureKeyVaultSecret as akv2k8s's users wrote
// them, with the status akv2k8s's controller wrote (through the status
// subresource, as it did).
func akv2k8sObject(ctx context.Context, t *testing.T, c client.Client, name, object, secret, key string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "spv.no/v2beta1", "kind": "AzureKeyVaultSecret",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"vault":  map[string]any{"name": vault, "object": map[string]any{"name": object, "type": "secret"}},
			"output": map[string]any{"secret": map[string]any{"name": secret, "dataKey": key}},
		},
	}}
	create(ctx, t, c, u)
	u.Object["status"] = map[string]any{"secretHash": "5f0c2d8e", "secretName": secret, "lastAzureUpdate": "2025-06-01T10:00:00Z"}
	if err := c.Status().Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	return u
}

// documentedObject creates an AzureKeyVaultSecret in the shape akv2k8s's
// reference page documents (azureIdentity, transform, a typed Secret with
// chainOrder, a ConfigMap), with akv2k8s's status, under akv2k8s's CRD.
func documentedObject(ctx context.Context, t *testing.T, c client.Client) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "spv.no/v2beta1", "kind": "AzureKeyVaultSecret",
		"metadata": map[string]any{"name": "documented", "namespace": ns},
		"spec": map[string]any{
			"vault": map[string]any{
				"name":          vault,
				"azureIdentity": map[string]any{"name": "team-a-pod-identity"},
				"object":        map[string]any{"name": "db-password", "type": "secret"},
			},
			"output": map[string]any{
				"transform": []any{"trim"},
				"secret":    map[string]any{"name": "documented-credentials", "type": "opaque", "dataKey": "password", "chainOrder": "ensureserverfirst"},
				"configMap": map[string]any{"name": "documented-config", "dataKey": "password"},
			},
		},
	}}
	create(ctx, t, c, u)
	u.Object["status"] = map[string]any{"secretHash": "9a1b", "secretName": "documented-credentials",
		"configMapHash": "9a1c", "configMapName": "documented-config", "lastAzureUpdate": "2025-06-01T10:00:00Z"}
	if err := c.Status().Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	return u
}

// checkDocumented: the documented object synced both outputs, and says
// that its azureIdentity is not used, without being un-Ready.
func checkDocumented(ctx context.Context, t *testing.T, c client.Client, u *unstructured.Unstructured) {
	t.Helper()
	a := &v2beta1.AzureKeyVaultSecret{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(u), a); err != nil {
		t.Fatal(err)
	}
	if cond := meta.FindStatusCondition(a.Status.Conditions, controller.ConditionAzureIdentity); cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != controller.ReasonIgnored {
		t.Errorf("documented: AzureIdentity condition %+v, want False/Ignored", cond)
	}
	s, cm := &corev1.Secret{}, &corev1.ConfigMap{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "documented-credentials"}, s); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "documented-config"}, cm); err != nil {
		t.Fatal(err)
	}
	if s.Type != "opaque" || string(s.Data["password"]) != dbPassword || cm.Data["password"] != dbPassword {
		t.Errorf("documented: Secret of type %q, outputs not holding the value Key Vault holds", s.Type)
	}
}

// poisonedSpec is an object no AzureKeyVaultSecret type decodes: a number
// where the version's string belongs, a string where the output Secret's
// object does.
func poisonedSpec(name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "spv.no/v2beta1", "kind": "AzureKeyVaultSecret",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"vault":  map[string]any{"name": vault, "object": map[string]any{"name": "db-password", "type": "secret", "version": int64(20240101)}},
			"output": map[string]any{"secret": poison},
		},
	}}
}

// poisonedObject stores the poisoned object under the older schema.
func poisonedObject(ctx context.Context, t *testing.T, c client.Client) *unstructured.Unstructured {
	t.Helper()
	u := poisonedSpec("poisoned")
	create(ctx, t, c, u)
	return u
}

// checkPoisoned: the poisoned object says why on itself (Ready=False,
// InvalidSpec, the fields named, no value) and in a Warning event; its
// stored spec is as it was; the webhook refuses a pod naming it and the
// resolver answers InvalidAzureKeyVaultSecret.
func checkPoisoned(ctx context.Context, t *testing.T, c client.Client, emu *akvemu.Server, before *unstructured.Unstructured) {
	t.Helper()
	// The env injector reads no output Secret: it names the version only.
	const injection = "spec.vault.object.version cannot be read: want a string"
	const fields = injection + "; spec.output.secret cannot be read: want an object"
	a := &v2beta1.AzureKeyVaultSecret{}
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(before), a); err != nil {
			return false, nil
		}
		r := meta.FindStatusCondition(a.Status.Conditions, controller.ConditionReady)
		return r != nil && r.Reason == controller.ReasonInvalidSpec, nil
	})
	if err != nil {
		t.Fatalf("poisoned: status %+v, want Ready=False/InvalidSpec", a.Status)
	}
	if r := meta.FindStatusCondition(a.Status.Conditions, controller.ConditionReady); r.Status != metav1.ConditionFalse || r.Message != fields {
		t.Errorf("poisoned: Ready %+v, want False saying %q", r, fields)
	}
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		events := &corev1.EventList{}
		if err := c.List(ctx, events, client.InNamespace(ns)); err != nil {
			return false, nil
		}
		for _, e := range events.Items {
			if e.InvolvedObject.Name == "poisoned" && e.Type == corev1.EventTypeWarning && e.Reason == controller.ReasonInvalidSpec && e.Message == fields {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Error("poisoned: no Warning InvalidSpec event naming the fields")
	}
	after := &unstructured.Unstructured{}
	after.SetGroupVersionKind(before.GroupVersionKind())
	if err := c.Get(ctx, client.ObjectKeyFromObject(before), after); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(after.Object["spec"], before.Object["spec"]) {
		t.Errorf("poisoned: the stored spec changed: %v → %v", before.Object["spec"], after.Object["spec"])
	}

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "uses-poisoned", Namespace: ns}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "app", Image: "registry.test/app:1", Command: []string{"/app"}, Env: []corev1.EnvVar{{Name: "DB", Value: "poisoned@azurekeyvault"}},
	}}}}
	d := &webhook.Defaulter{Reader: c, Options: webhook.Options{Image: "registry.test/latchkey-env:test"}}
	if err := d.Default(ctx, pod); err == nil || !strings.Contains(err.Error(), "AzureKeyVaultSecret "+ns+"/poisoned, named by an @azurekeyvault placeholder, cannot be used: "+injection) {
		t.Errorf("the webhook on a pod naming the poisoned object: %v", err)
	}
	_, err = resolverValues(t, emu, c).Resolve(ctx, ns, []resolver.Wanted{{Var: "DB", Placeholder: podcontract.Placeholder{AKVS: "poisoned"}}})
	var denial *resolver.Denial
	if !errors.As(err, &denial) || denial.Code != protocol.CodeInvalidSpec || !strings.Contains(denial.Message, injection) {
		t.Errorf("the resolver on the poisoned object: %v, want %s naming the fields", err, protocol.CodeInvalidSpec)
	}
	for _, text := range []string{fmt.Sprint(a.Status), fmt.Sprint(err)} {
		if strings.Contains(text, poison) {
			t.Errorf("the poisoned object's stored value was quoted: %s", text)
		}
	}
}

// akv2k8sSecret creates the Secret akv2k8s's controller made for owner:
// Opaque, the value under dataKey, owned by the AzureKeyVaultSecret.
func akv2k8sSecret(ctx context.Context, t *testing.T, c client.Client, owner *unstructured.Unstructured, name, key, value string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "spv.no/v2beta1", Kind: "AzureKeyVaultSecret", Name: owner.GetName(), UID: owner.GetUID(),
			Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
		}}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{key: []byte(value)},
	}
	create(ctx, t, c, s)
	return s
}

// akv2k8sPod stores a pod as akv2k8s's webhook left it: its init container
// copied its binary into a shared volume, the container starts that binary.
func akv2k8sPod(ctx context.Context, t *testing.T, c client.Client) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "wrapped", Namespace: ns},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{
				Name: "copy-azurekeyvault-env", Image: "spvest/azure-keyvault-env:1.8.4",
				Command:      []string{"sh", "-c", "cp /usr/local/bin/azure-keyvault-env /azure-keyvault/"},
				VolumeMounts: []corev1.VolumeMount{{Name: "azure-keyvault-env", MountPath: "/azure-keyvault/"}},
			}},
			Containers: []corev1.Container{{
				Name: "app", Image: "registry.test/app:1",
				Command:      []string{"/azure-keyvault/azure-keyvault-env"},
				Args:         []string{"/app"},
				Env:          []corev1.EnvVar{{Name: "DB_PASSWORD", Value: "db@azurekeyvault"}},
				VolumeMounts: []corev1.VolumeMount{{Name: "azure-keyvault-env", MountPath: "/azure-keyvault/"}},
			}},
			Volumes: []corev1.Volume{{Name: "azure-keyvault-env", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}},
		},
	}
	create(ctx, t, c, p)
	return p
}

func controllerConfig(emu *akvemu.Server) controller.Config {
	c := controller.DefaultConfig()
	c.AuthMode = "environment"
	c.Transport = emu.HTTPClient()
	c.Registry = prometheus.NewRegistry()
	c.Manager.LeaderElection = false
	c.Manager.MetricsAddr, c.Manager.HealthAddr = "0", "0"
	c.Manager.SkipNameValidation = true
	return c
}

func startController(ctx context.Context, t *testing.T, cfg *rest.Config, emu *akvemu.Server, logs io.Writer) {
	t.Helper()
	mgr, err := controller.Setup(cfg, controllerConfig(emu), logger(t, logs))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitReady(ctx context.Context, t *testing.T, c client.Client, name string) {
	t.Helper()
	waitReadyIn(ctx, t, c, ns, name)
}

func waitReadyIn(ctx context.Context, t *testing.T, c client.Client, namespace, name string) {
	t.Helper()
	a := &v2beta1.AzureKeyVaultSecret{}
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, a); err != nil {
			return false, nil
		}
		return meta.IsStatusConditionTrue(a.Status.Conditions, "Ready"), nil
	})
	if err != nil {
		t.Fatalf("%s not Ready: %+v", name, a.Status)
	}
}

func create(ctx context.Context, t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
}

func logger(t *testing.T, w io.Writer) logr.Logger {
	t.Helper()
	log, err := logging.New(w, logging.Options{Level: "debug", Format: "text"})
	if err != nil {
		t.Fatal(err)
	}
	return log
}

func equalSpec(a, b *corev1.Pod) bool {
	return a.Spec.String() == b.Spec.String() && len(a.Annotations) == len(b.Annotations)
}

func readAll(r io.Reader) string {
	b, _ := io.ReadAll(r)
	return string(b)
}

// TestSideBySide: akv2k8s and latchkey run together while namespaces move
// one by one. latchkey's controller, started with a label selector, syncs
// only the AzureKeyVaultSecrets carrying that label and leaves akv2k8s's
// alone (no status, no Secret); latchkey's webhook, with its own namespace
// label, selects only the namespaces moved to it, while akv2k8s's label
// keeps selecting the others for akv2k8s's webhook.
func TestSideBySide(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, cfg, c, emu := cluster(t, ourCRDs)
	const ourLabel = "latchkey-injection"
	moved := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "moved", Labels: map[string]string{ourLabel: "enabled"}}}
	stays := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "stays", Labels: map[string]string{podcontract.DefaultNamespaceLabel: "enabled"}}}
	for _, n := range []*corev1.Namespace{moved, stays} {
		create(ctx, t, c, n)
	}
	ours := sideObject(moved.Name, map[string]string{"latchkey.dev/controller": "latchkey"})
	theirs := sideObject(stays.Name, nil)
	for _, a := range []*v2beta1.AzureKeyVaultSecret{ours, theirs} {
		create(ctx, t, c, a)
	}

	conf := controllerConfig(emu)
	conf.Manager.Selector = "latchkey.dev/controller=latchkey"
	mgr, err := controller.Setup(cfg, conf, logger(t, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	defer func() { stop(); <-done }()

	waitReadyIn(ctx, t, c, moved.Name, ours.Name)
	if err := c.Get(ctx, types.NamespacedName{Namespace: moved.Name, Name: "db-credentials"}, &corev1.Secret{}); err != nil {
		t.Errorf("latchkey did not write its object's Secret: %v", err)
	}
	// The ours one is Ready, so the controller has run; the other, which
	// akv2k8s owns, has been left as it was.
	left := &v2beta1.AzureKeyVaultSecret{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(theirs), left); err != nil {
		t.Fatal(err)
	}
	if len(left.Status.Conditions) > 0 || left.Status.ObservedGeneration != 0 {
		t.Errorf("latchkey touched an AzureKeyVaultSecret outside its selector: %+v", left.Status)
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: stays.Name, Name: "db-credentials"}, &corev1.Secret{}); err == nil {
		t.Errorf("latchkey wrote a Secret for an AzureKeyVaultSecret outside its selector")
	}

	mwc := webhook.Configuration(webhook.ConfigOptions{Name: "latchkey", URL: "https://127.0.0.1:9443/mutate", NamespaceLabel: ourLabel, ExcludeNamespaces: []string{"kube-system"}})
	sel, err := metav1.LabelSelectorAsSelector(mwc.Webhooks[0].NamespaceSelector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(labelSet(moved.Labels)) || sel.Matches(labelSet(stays.Labels)) {
		t.Errorf("latchkey's webhook selector %s: want the moved namespace only", sel)
	}
}

func sideObject(namespace string, labels map[string]string) *v2beta1.AzureKeyVaultSecret {
	return &v2beta1.AzureKeyVaultSecret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "db", Labels: labels},
		Spec: v2beta1.AzureKeyVaultSecretSpec{
			Vault:  v2beta1.AzureKeyVault{Name: vault, Object: v2beta1.AzureKeyVaultObject{Name: "db-password", Type: v2beta1.ObjectTypeSecret}},
			Output: &v2beta1.AzureKeyVaultOutput{Secret: &v2beta1.AzureKeyVaultOutputSecret{Name: "db-credentials", DataKey: "password"}},
		},
	}
}

func labelSet(m map[string]string) labels.Set { return labels.Set(m) }
