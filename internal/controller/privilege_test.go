package controller_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/devtools/devcluster"
)

// TestNoPrivilegeThroughAnAzureKeyVaultSecret runs the attack that made a
// token out of an AzureKeyVaultSecret, on a control plane with a real
// kube-controller-manager (internal/devtools/devcluster): an AzureKeyVaultSecret
// asking for a Secret of type kubernetes.io/service-account-token with the
// annotation kubernetes.io/service-account.name would, if latchkey created
// that Secret, be filled by the controller manager with a non-expiring
// token for the ServiceAccount.
//
//   - The harness sees the attack: such a Secret created directly (as an
//     admin may) is filled with a token within seconds.
//   - The CRD refuses the type at apply time.
//   - Objects stored before the CRD had its rules (applied here under the
//     CRD without them) are refused again by the controller, with the
//     reason SecretTypeNotAllowed, and no Secret of the type is ever
//     created; the service-account annotation and labels of Kubernetes'
//     domains on an allowed output are not copied, so no token appears
//     either; a refreshInterval of 1ms stored then is raised to the minimum
//     (condition RefreshInterval=False, BelowMinimum) and Key Vault is not
//     read in a loop.
func TestNoPrivilegeThroughAnAzureKeyVaultSecret(t *testing.T) {
	bins, err := devcluster.BinariesFromEnv(false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cluster, err := devcluster.Start(ctx, devcluster.Options{StateDir: t.TempDir(), Binaries: bins, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Stop)
	c, err := client.New(cluster.Config, client.Options{Scheme: controller.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	const ns = "default" // its ServiceAccount "default" exists once the cluster is up

	// The harness sees the attack.
	control := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "control-token", Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}},
		Type:       corev1.SecretTypeServiceAccountToken,
	}
	if err := c.Create(ctx, control); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(control), control); err != nil {
			return err
		}
		if len(control.Data[corev1.ServiceAccountTokenKey]) == 0 {
			return errorf("kube-controller-manager has not filled the control Secret: keys %v", keys(control.Data))
		}
		return nil
	})

	// Objects stored before the CRD had its rules.
	v := newVault(t)
	v.setSecret(t, "plain", "privilege-plain-s3cr3t-value", "")
	v.setSecret(t, "fast", "privilege-fast-s3cr3t-value", "")
	installCRD(t, cluster, withoutRules(t, ourCRD(t)))
	saToken := attackingAKVS(ns, "sa-token", v)
	bootstrap := attackingAKVS("kube-system", "bootstrap", v, func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Output.Secret.Name, a.Spec.Output.Secret.Type = "bootstrap-token-abcdef", "bootstrap.kubernetes.io/token"
	})
	annotated := akvs(ns, "annotated", "plain", inVault(v), func(a *v2beta1.AzureKeyVaultSecret) {
		a.Annotations = map[string]string{corev1.ServiceAccountNameKey: "default", "reloader.stakater.com/match": "true"}
		a.Labels = map[string]string{"app.kubernetes.io/name": "web", "team": "a"}
	})
	fast := akvs(ns, "fast", "fast", inVault(v), func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.RefreshInterval = &metav1.Duration{Duration: time.Millisecond}
	})
	for _, a := range []*v2beta1.AzureKeyVaultSecret{saToken, bootstrap, annotated, fast} {
		if err := c.Create(ctx, a); err != nil {
			t.Fatalf("create %s under the CRD without rules: %v", a.Name, err)
		}
	}

	// The CRD refuses the type at apply time.
	installCRD(t, cluster, ourCRD(t))
	eventually(t, func() error {
		again := attackingAKVS(ns, "sa-token-again", v)
		err := c.Create(ctx, again, client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), "spec.output.secret.type") || !strings.Contains(err.Error(), "is not allowed") {
			return errorf("the CRD accepts type %s: %v", corev1.SecretTypeServiceAccountToken, err)
		}
		return nil
	})

	// The controller refuses the objects stored before.
	cfg := controllerConfig()
	cfg.Manager.Selector = ""
	_, stop, err := startControllerOn(ctx, cluster.Config, cfg, newLogBuffer())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	for _, a := range []*v2beta1.AzureKeyVaultSecret{saToken, bootstrap} {
		got := waitForReadyOn(t, c, a, metav1.ConditionFalse, controller.ReasonSecretTypeNotAllowed)
		if msg := readyCondition(got).Message; !strings.Contains(msg, string(a.Spec.Output.Secret.Type)) {
			t.Errorf("%s: message %q does not name the type", a.Name, msg)
		}
	}
	waitForReadyOn(t, c, annotated, metav1.ConditionTrue, controller.ReasonSynced)
	got := waitForReadyOn(t, c, fast, metav1.ConditionTrue, controller.ReasonSynced)
	if cond := meta.FindStatusCondition(got.Status.Conditions, controller.ConditionRefreshInterval); cond == nil ||
		cond.Status != metav1.ConditionFalse || cond.Reason != controller.ReasonBelowMinimum {
		t.Errorf("RefreshInterval condition %+v, want False/%s", cond, controller.ReasonBelowMinimum)
	}
	readsBefore := v.reads()
	window(3 * time.Second) // a 1ms interval would read hundreds of times
	if n := v.reads() - readsBefore; n > 1 {
		t.Errorf("%d Key Vault reads in 3s: the 1ms interval is not raised to the minimum", n)
	}

	for _, a := range []*v2beta1.AzureKeyVaultSecret{saToken, bootstrap} {
		s := &corev1.Secret{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: a.Namespace, Name: a.Spec.Output.Secret.Name}, s); !apierrors.IsNotFound(err) {
			t.Errorf("Secret %s/%s of %s: %v (type %q), want none", a.Namespace, a.Spec.Output.Secret.Name, a.Name, err, s.Type)
		}
	}
	out := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "annotated"}, out); err != nil {
		t.Fatal(err)
	}
	if out.Type != corev1.SecretTypeOpaque || out.Annotations[corev1.ServiceAccountNameKey] != "" || out.Labels["app.kubernetes.io/name"] != "" ||
		len(out.Data[corev1.ServiceAccountTokenKey]) > 0 || out.Annotations["reloader.stakater.com/match"] != "true" || out.Labels["team"] != "a" {
		t.Errorf("the annotated output: type %q, labels %v, annotations %v, keys %v", out.Type, out.Labels, keys(out.Annotations), keys(out.Data))
	}
	// No token Secret but the control, anywhere.
	tokens := &corev1.SecretList{}
	if err := c.List(ctx, tokens, client.MatchingFields{"type": string(corev1.SecretTypeServiceAccountToken)}); err != nil {
		t.Fatal(err)
	}
	for _, s := range tokens.Items {
		if s.Name != control.Name || s.Namespace != control.Namespace {
			t.Errorf("a token Secret %s/%s exists", s.Namespace, s.Name)
		}
	}
}

// attackingAKVS asks for a Secret of type kubernetes.io/service-account-token
// with the annotation that names the ServiceAccount to mint a token for.
func attackingAKVS(ns, name string, v *testVault, mutate ...func(*v2beta1.AzureKeyVaultSecret)) *v2beta1.AzureKeyVaultSecret {
	return akvs(ns, name, "plain", append([]func(*v2beta1.AzureKeyVaultSecret){inVault(v), func(a *v2beta1.AzureKeyVaultSecret) {
		a.Annotations = map[string]string{corev1.ServiceAccountNameKey: "default"}
		a.Spec.Output.Secret.Name = "stolen-token"
		a.Spec.Output.Secret.Type = corev1.SecretTypeServiceAccountToken
	}}, mutate...)...)
}

// ourCRD reads the generated CRD.
func ourCRD(t *testing.T) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	raw, err := os.ReadFile("../../config/crd/spv.no_azurekeyvaultsecrets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(raw, crd); err != nil {
		t.Fatal(err)
	}
	return crd
}

// withoutRules is crd without its CEL rules: the CRD as it was when
// objects the rules refuse could still be stored. It fails the test when
// there were none to remove.
func withoutRules(t *testing.T, crd *apiextensionsv1.CustomResourceDefinition) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	removed := 0
	var strip func(s *apiextensionsv1.JSONSchemaProps)
	strip = func(s *apiextensionsv1.JSONSchemaProps) {
		removed += len(s.XValidations)
		s.XValidations = nil
		for k, p := range s.Properties {
			strip(&p)
			s.Properties[k] = p
		}
		if s.Items != nil && s.Items.Schema != nil {
			strip(s.Items.Schema)
		}
	}
	for i := range crd.Spec.Versions {
		strip(crd.Spec.Versions[i].Schema.OpenAPIV3Schema)
	}
	if removed == 0 {
		t.Fatal("the CRD has no CEL rules to remove")
	}
	return crd
}

// installCRD creates or replaces the CRD and waits until it is served.
func installCRD(t *testing.T, cluster *devcluster.Cluster, crd *apiextensionsv1.CustomResourceDefinition) {
	t.Helper()
	if _, err := envtest.InstallCRDs(cluster.Config, envtest.CRDInstallOptions{CRDs: []*apiextensionsv1.CustomResourceDefinition{crd}}); err != nil {
		t.Fatal(err)
	}
}

// waitForReadyOn is waitForReady against another API server.
func waitForReadyOn(t *testing.T, c client.Client, a *v2beta1.AzureKeyVaultSecret, status metav1.ConditionStatus, reason string) *v2beta1.AzureKeyVaultSecret {
	t.Helper()
	got := &v2beta1.AzureKeyVaultSecret{}
	eventually(t, func() error {
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(a), got); err != nil {
			return err
		}
		if r := readyCondition(got); r.Status == status && r.Reason == reason && r.ObservedGeneration == got.Generation {
			return nil
		}
		return fmt.Errorf("%s: conditions %+v, want Ready=%s/%s", a.Name, got.Status.Conditions, status, reason)
	})
	return got
}
