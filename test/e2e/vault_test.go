//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/backends"
	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
	"github.com/latchkey-dev/latchkey/internal/devtools/vaulttest"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/scheme"
)

// TestHashiCorpVault on the real node: a real Vault (v1.1.2, on the host,
// at the node's address) whose Kubernetes auth reviews tokens with the
// cluster's API server, a role binding the install's ServiceAccount of a
// labelled namespace to a policy on that namespace's path. A pod of the
// namespace gets the Vault value injected through the resolver, which
// logged in as that ServiceAccount and verified the pod's token with the
// keys the install gave it (the cluster's first issuer is Vault v1.1's
// kubernetes/serviceaccount, which publishes none); a pod in direct mode
// gets it by logging in itself, as its own ServiceAccount, with the token
// the webhook projected for Vault; the same object is synced into a Secret
// by the controller. No value reaches a pod, event
// or log.
func TestHashiCorpVault(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cs, err := env.cluster.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(env.cluster.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	ns := createNamespace(ctx, t, "vault")
	labelForInjection(ctx, t, cs, ns, mainRelease.label)
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: vaultServiceAccount}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	v := vaulttest.StartOn(t, env.vaultListen)
	ca, err := os.ReadFile(env.cluster.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	v.EnableKubernetesAuth(t, "kubernetes", env.cluster.Config.Host, ca, vaultReviewer(ctx, t, cs, ns))
	v.Policy(t, ns, "secret/data/"+ns+"/*")
	v.Role(t, "kubernetes", ns, []string{vaultServiceAccount}, []string{ns}, time.Hour, ns)
	value := "vault-e2e-" + rand.Text()
	leaks := &leakcheck.Set{}
	leaks.Add("the Vault value", value)
	v.Put(t, ns+"/db", map[string]any{"password": value, "user": "app"})

	a := &v2beta1.AzureKeyVaultSecret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-password"},
		Spec: v2beta1.AzureKeyVaultSecretSpec{
			Vault: v2beta1.AzureKeyVault{Name: "secret", Object: v2beta1.AzureKeyVaultObject{Name: ns + "/db", Type: v2beta1.ObjectTypeSecret},
				HashiCorpVault: &v2beta1.HashiCorpVault{Role: ns, Key: "password"}},
			Output: &v2beta1.AzureKeyVaultOutput{Secret: &v2beta1.AzureKeyVaultOutputSecret{Name: "db", DataKey: "password"}},
		}}
	if err := cl.Create(ctx, a); err != nil {
		t.Fatal(err)
	}

	// Injected through the resolver.
	f := &injectorFixture{cs: cs, ns: ns, rel: mainRelease, vars: []injected{{"INJECTED_VAULT", "db-password@azurekeyvault"}}}
	f.want = []string{fmt.Sprintf("INJECTED_VAULT=%x", sha256.Sum256([]byte(value)))}
	dep := f.deployment("vault", nil, mainRelease.resolverAliases(ctx, t, cs))
	dep.Spec.Template.Spec.Containers[0].EnvFrom = nil
	pod := f.start(ctx, t, dep)
	for _, c := range []string{"init", "app"} {
		logs := waitForOutput(ctx, t, cs, pod, c, false)
		for _, line := range []string{f.want[0], "latchkey_vars=0"} {
			if !hasLine(logs, line) {
				t.Errorf("%s: output lacks %q:\n%s", c, line, logs)
			}
		}
	}

	// Direct mode: the container logs in itself, as its pod's
	// ServiceAccount, with the token the webhook projected for Vault.
	direct := f.deployment("vault-direct", []corev1.EnvVar{{Name: podcontract.EnvDisableAuthService, Value: "true"}}, nil)
	direct.Spec.Template.Spec.Containers[0].EnvFrom = nil
	direct.Spec.Template.Spec.ServiceAccountName = vaultServiceAccount
	pod = f.start(ctx, t, direct)
	for _, c := range []string{"init", "app"} {
		logs := waitForOutput(ctx, t, cs, pod, c, false)
		for _, line := range []string{f.want[0], "latchkey_vars=0", "sa_token=absent"} {
			if !hasLine(logs, line) {
				t.Errorf("direct mode, %s: output lacks %q:\n%s", c, line, logs)
			}
		}
	}
	if !slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == podcontract.VaultTokenVolume }) {
		t.Errorf("the direct-mode pod has no %s volume", podcontract.VaultTokenVolume)
	}

	// Synced into a Secret.
	var last string
	err = wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			var got v2beta1.AzureKeyVaultSecret
			if cl.Get(ctx, client.ObjectKeyFromObject(a), &got) == nil {
				last = fmt.Sprintf("%+v", got.Status.Conditions)
			}
			return false, nil
		}
		return string(s.Data["password"]) == value, nil
	})
	if err != nil {
		t.Fatalf("the Secret db never held the Vault value: %v; conditions %s", err, last)
	}

	places, err := leakPlaces(ctx, cs, ns, mainRelease.namespace)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leaks.FindAll(places) {
		t.Error(l)
	}
}

// vaultReviewer is the token Vault's Kubernetes auth reviews logins with:
// a ServiceAccount of ns allowed to create TokenReviews.
func vaultReviewer(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string) string {
	t.Helper()
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "vault-reviewer"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ns + "-vault-reviewer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:auth-delegator"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "vault-reviewer", Namespace: ns}}}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), crb.Name, metav1.DeleteOptions{})
	})
	tok, err := backends.ServiceAccountTokens{Client: cs}.ServiceAccountToken(ctx, ns, "vault-reviewer", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
