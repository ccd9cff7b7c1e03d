package chart

import (
	"strings"
	"testing"
)

// notes renders the chart's NOTES.txt as `helm install` prints it.
func notes(t *testing.T, args ...string) string {
	t.Helper()
	t.Setenv("KUBECONFIG", t.TempDir()+"/none") // a client dry run reads no cluster
	out := string(helm(t, append([]string{"install", "latchkey", chartDir, "--namespace", "latchkey-system", "--dry-run=client"}, args...)...))
	i := strings.Index(out, "NOTES:\n")
	if i < 0 {
		t.Fatalf("no NOTES:\n%s", out)
	}
	return out[i:]
}

// TestNOTES: what `helm install` prints says what was installed, how to
// check it, where the docs are, which identity the webhook reads ACR with
// (and how to narrow it), and what became of the akv2k8s values used.
func TestNOTES(t *testing.T) {
	contains := func(t *testing.T, n string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(n, w) {
				t.Errorf("NOTES lack %q:\n%s", w, n)
			}
		}
	}
	n := notes(t)
	contains(t, n,
		"controller  (Deployment latchkey-controller)", "webhook     (Deployment latchkey-webhook)", "resolver    (Deployment latchkey-resolver)",
		"keyVaultAuth=azureCloudConfig", "The webhook reads image configs from ACR", `env_injector.acrAuth to workload-identity with an AcrPull-only identity, or "none"`,
		"helm test latchkey -n latchkey-system --logs", "kubectl label namespace <namespace> azure-key-vault-env-injection=enabled",
		"kubectl apply --server-side --force-conflicts", "https://github.com/latchkey-dev/latchkey/tree/main/docs")
	if strings.Contains(n, "akv2k8s values taken") {
		t.Errorf("NOTES list akv2k8s values without any set:\n%s", n)
	}

	n = notes(t, "--set", "keyVaultAuth=environment", "--set", "resolver.enabled=false")
	contains(t, n, "no resolver (direct mode)")
	if strings.Contains(n, "from ACR") {
		t.Errorf("NOTES speak of ACR lookups without an ACR identity:\n%s", n)
	}

	n = notes(t, "-f", "testdata/akv2k8s-values.yaml", "--set", "controller.env.OBJECT_LABELS=shard=1",
		"--set", "env_injector.podLabels.aadpodidbinding=kv", "--set", "env_injector.env.AZURE_CLIENT_SECRET=s")
	contains(t, n, "akv2k8s values taken:",
		"global.keyVaultAuth → keyVaultAuth", "global.logLevel → <component>.logLevel", "azureKeyVaultResyncPeriod → --refresh-interval=30s",
		"OBJECT_LABELS → the controller's --selector=shard=1", "env_injector.replicaCount → env_injector.replicas",
		"env_injector.podLabels.aadpodidbinding → the resolver", "env_injector.env.AZURE_CLIENT_SECRET → the resolver",
		"only those matching shard=1", "injects into pods of namespaces labelled akv-injection=enabled")
	if strings.Contains(n, "=s\n") || strings.Contains(n, "AZURE_CLIENT_SECRET=s") {
		t.Errorf("NOTES show a value:\n%s", n)
	}
}
