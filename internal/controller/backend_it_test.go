package controller_test

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/devtools/backendtest"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
)

// TestSecondBackend: a backend other than Azure Key Vault (backendtest's,
// in memory) serves an AzureKeyVaultSecret end to end on the real API
// server. The controller is production's; only the registration (the
// Sources it reads through) says which backend serves the AzureKeyVaultSecret
// API type's Backend. The suite's controller ignores the shard.
func TestSecondBackend(t *testing.T) {
	ns := namespace(t)
	mem := &backendtest.Store{}
	mem.Put("mem-store", "db-password", []byte("from-memory"))

	c := controllerConfig()
	c.Manager.Namespaces = []string{ns}
	c.Manager.Selector = testControllerLabel + "=memory"
	// The one registration: the AzureKeyVaultSecret API type selects
	// keyvault.Backend, and here that name is the memory store's.
	backendtest.RunController(t, suite.cfg, c, backend.Sources{keyvault.Backend: backend.NewCache(mem, backend.CacheOptions{})}, newLogBuffer())

	create(t, akvs(ns, "db", "db-password", func(a *v2beta1.AzureKeyVaultSecret) {
		a.Labels = map[string]string{testControllerLabel: "memory"}
		a.Spec.Vault.Name = "mem-store"
	}))
	waitForSecret(t, ns, "db", func(s *corev1.Secret) error {
		if got := string(s.Data["value"]); got != "from-memory" {
			return fmt.Errorf("the Secret holds %d bytes, not the memory store's value", len(got))
		}
		return nil
	})
	got := waitForReady(t, ns, "db", metav1.ConditionTrue, controller.ReasonSynced)
	if v := got.Status.ObjectVersion; v != "1" {
		t.Errorf("status names version %q, want the memory store's 1", v)
	}

	// A failure crosses the seam as its class: a missing object is
	// ObjectNotFound, as it is for Key Vault.
	create(t, akvs(ns, "gone", "no-such-object", func(a *v2beta1.AzureKeyVaultSecret) {
		a.Labels = map[string]string{testControllerLabel: "memory"}
		a.Spec.Vault.Name = "mem-store"
	}))
	waitForReady(t, ns, "gone", metav1.ConditionFalse, controller.ReasonObjectNotFound)
}
