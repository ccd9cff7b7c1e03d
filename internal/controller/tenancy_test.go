package controller_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/latchkey-dev/latchkey/internal/controller"
)

// TestTenancyGuard runs a controller with a tenancy policy that lets the
// test's namespace read one vault only: an AzureKeyVaultSecret naming
// another vault gets VaultNotAllowed and no output, without a Key Vault
// read; when the admin grants the vault, the object syncs at once (the
// policy file is re-read, every AzureKeyVaultSecret requeued).
func TestTenancyGuard(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	allowed, denied := newVault(t), newVault(t)
	denied.setSecret(t, "guarded", "tenancy-s3cr3t-value", "")
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(vaults ...string) {
		t.Helper()
		var b strings.Builder
		b.WriteString("namespaces:\n  " + ns + ":\n")
		for _, v := range vaults {
			b.WriteString("    - vault: " + v + "\n")
		}
		if err := os.WriteFile(policy, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(allowed.name)
	startTestController(t, "tenancy", []string{ns}, func(c *controller.Config) { c.TenancyPolicy = policy })
	create(t, akvs(ns, "guarded", "guarded", inVault(denied), shard("tenancy")))

	a := waitForReady(t, ns, "guarded", metav1.ConditionFalse, controller.ReasonVaultNotAllowed)
	if msg := readyCondition(a).Message; !strings.Contains(msg, denied.name) || !strings.Contains(msg, ns) {
		t.Errorf("message %q does not name the vault and the namespace", msg)
	}
	if n := denied.requests("GetSecret", -1); n != 0 {
		t.Errorf("%d Key Vault reads of a vault the namespace may not use", n)
	}
	err := suite.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "guarded"}, &corev1.Secret{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("an output exists for a denied vault: %v", err)
	}

	write(allowed.name, denied.name)
	waitForReady(t, ns, "guarded", metav1.ConditionTrue, controller.ReasonSynced)
}
