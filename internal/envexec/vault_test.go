package envexec_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/latchkey-dev/latchkey/internal/backends"
	"github.com/latchkey-dev/latchkey/internal/devtools/kubetest"
	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
	"github.com/latchkey-dev/latchkey/internal/devtools/vaulttest"
	"github.com/latchkey-dev/latchkey/internal/envexec"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// TestDirectModeHashiCorpVault: a direct-mode container whose placeholders
// name Vault-backed AzureKeyVaultSecrets logs in to a real Vault (v1.1.2)
// itself, with the token the webhook projects for it (here one the real
// API server issued for the pod's ServiceAccount, written where the
// kubelet would), and reads KV version 2 with the refs the webhook
// recorded: one login and one read for two placeholders of one path, no
// Key Vault credential needed. A path the role's policy refuses fails,
// naming the variable and "permission denied". Neither a value nor the
// token reaches the logs or an error.
func TestDirectModeHashiCorpVault(t *testing.T) {
	t.Parallel()
	_, cfg := kubetest.Start(t, kubetest.Options{APIServerArgs: map[string][]string{"service-account-issuer": {vaulttest.Issuer}}})
	kube := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	for _, ns := range []string{"apps", "vault-auth"} {
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, sa := range []struct{ ns, name string }{{"apps", "web"}, {"vault-auth", "reviewer"}} {
		if _, err := kube.CoreV1().ServiceAccounts(sa.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa.name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "vault-reviewer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:auth-delegator"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "reviewer", Namespace: "vault-auth"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	api := backends.ServiceAccountTokens{Client: kube}
	reviewer, err := api.ServiceAccountToken(ctx, "vault-auth", "reviewer", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	v := vaulttest.Start(t)
	proxy := v.NewProxy(t)
	v.EnableKubernetesAuth(t, "kubernetes", cfg.Host, cfg.CAData, reviewer)
	v.Policy(t, "apps", "secret/data/apps/*")
	v.Role(t, "kubernetes", "apps", []string{"web"}, []string{"apps"}, time.Hour, "apps")
	password, user := "vault-pass-"+rand.Text(), "vault-user-"+rand.Text()
	v.Put(t, "apps/db", map[string]any{"password": password, "user": user})
	v.Put(t, "other/db", map[string]any{"password": "other-" + rand.Text()})

	// What the kubelet projects: the pod's ServiceAccount, Vault's audience
	// (v1.1's roles name none: the API server's own).
	tok, err := api.ServiceAccountToken(ctx, "apps", "web", []string{vaulttest.Issuer}, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := &leakcheck.Set{}
	secrets.Add("password", password)
	secrets.Add("user", user)
	secrets.Add("the pod's token", tok)

	h := func(key string) *podcontract.HashiCorpVaultRef {
		return &podcontract.HashiCorpVaultRef{Address: proxy.Address, Role: "apps", AuthMount: "kubernetes", ServiceAccount: "web", Namespace: "apps", Key: key}
	}
	refs := podcontract.Refs{
		"db-password": {Vault: "secret", Name: "apps/db", Type: "secret", HashiCorpVault: h("password")},
		"db":          {Vault: "secret", Name: "apps/db", Type: "multi-key-value-secret", HashiCorpVault: h("")},
		"elsewhere":   {Vault: "secret", Name: "other/db", Type: "secret", HashiCorpVault: h("password")},
	}
	run := func(environ ...string) (map[string]string, string, error) {
		env := append([]string{"PATH=" + progDir(t), "ENV_INJECTOR_LOG_LEVEL=debug", "ENV_INJECTOR_RETRIES=0",
			podcontract.EnvDisableAuthService + "=true", podcontract.EnvRefs + "=" + refs.String(), podcontract.EnvVaultToken + "=" + tokenFile}, environ...)
		var logs bytes.Buffer
		var c execCall
		err := envexec.Run(ctx, envexec.Options{Argv: []string{"prog"}, Environ: env, Stderr: &logs, Exec: capture(&c)})
		secrets.Check(t, "the logs", logs.String())
		if err != nil {
			secrets.Check(t, "the error", err.Error())
		}
		got := map[string]string{}
		for _, kv := range c.env {
			k, val, _ := strings.Cut(kv, "=")
			got[k] = val
		}
		return got, logs.String(), err
	}

	got, logs, err := run("DB_PASSWORD=db-password@azurekeyvault", "DB_USER=db@azurekeyvault?user")
	if c := got; c["DB_PASSWORD"] != password || c["DB_USER"] != user {
		t.Fatalf("Run = %v; the program's DB_PASSWORD and DB_USER are not Vault's values\nlogs:\n%s", err, logs)
	}
	logins := proxy.Count("PUT", "/v1/auth/kubernetes/login") + proxy.Count("POST", "/v1/auth/kubernetes/login")
	if reads := proxy.Count("GET", "/v1/secret/data/apps/db"); logins != 1 || reads != 1 {
		t.Errorf("%d logins and %d reads for two placeholders of one path, want 1 and 1", logins, reads)
	}
	if _, left := got[podcontract.EnvVaultToken]; left {
		t.Errorf("%s reached the program", podcontract.EnvVaultToken)
	}

	_, logs, err = run("DB_PASSWORD=elsewhere@azurekeyvault")
	if err == nil || !strings.Contains(err.Error(), "DB_PASSWORD") || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("a path the role refuses: %v; want an error naming DB_PASSWORD and permission denied\nlogs:\n%s", err, logs)
	}
}
