package controller_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/latchkey-dev/latchkey/internal/controller"
)

// TestWrongCredentialsAreReported runs a controller of its own whose AKS
// cloud config (azure.json, the default keyVaultAuth) holds a wrong client
// secret: its AzureKeyVaultSecret gets Ready=False AuthenticationFailed
// with a message naming the identity and Entra ID's answer, never the
// secret, and no output. The file keeps the wrong secret out of the
// process environment the suite's controller shares.
func TestWrongCredentialsAreReported(t *testing.T) {
	t.Parallel()
	const wrongSecret = "wrong-client-s3cr3t-value"
	remember(wrongSecret)
	ns := namespace(t)
	path := filepath.Join(t.TempDir(), "azure.json")
	cfg, err := json.Marshal(map[string]string{
		"cloud": "AzurePublicCloud", "tenantId": tenantID, "aadClientId": clientID, "aadClientSecret": wrongSecret,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	startTestController(t, "wrong-credentials", []string{ns}, func(c *controller.Config) {
		c.AuthMode, c.AzureJSONPath = "azureCloudConfig", path
	})
	v := newVault(t)
	v.setSecret(t, "auth-object", "auth-s3cr3t-value", "")
	create(t, akvs(ns, "unauthenticated", "auth-object", inVault(v), shard("wrong-credentials")))

	a := waitForReady(t, ns, "unauthenticated", metav1.ConditionFalse, controller.ReasonAuthenticationFailed)
	msg := readyCondition(a).Message
	for _, want := range []string{"could not get a token", clientID, "401"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, wrongSecret) {
		t.Error("the message holds the client secret")
	}
	if a.Status.SecretName != "" {
		t.Errorf("status names Secret %q although nothing was written", a.Status.SecretName)
	}
}
