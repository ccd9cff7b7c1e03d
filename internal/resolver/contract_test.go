package resolver_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/scheme"
	"github.com/latchkey-dev/latchkey/internal/webhook"
)

// TestContractWithTheWebhook: a container the real webhook rewrote in
// resolver mode is one the resolver serves, named to the binary, with the CA
// bundle the resolver publishes.
func TestContractWithTheWebhook(t *testing.T) {
	akvs := &v2beta1.AzureKeyVaultSecret{ObjectMeta: objectMeta("team", "db"), Spec: v2beta1.AzureKeyVaultSecretSpec{
		Vault: v2beta1.AzureKeyVault{Name: "kv", Object: v2beta1.AzureKeyVaultObject{Name: "db", Type: v2beta1.ObjectTypeSecret}},
	}}
	d := &webhook.Defaulter{
		Reader:  fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(akvs).Build(),
		Options: webhook.Options{Image: "env:1", Resolver: &webhook.ResolverOptions{URL: "https://resolver", Audience: "aud", CAConfigMap: "ca"}, Marks: suite.marks},
	}
	pod := podSpec("team", "web-1", app("app", "DB", "db@azurekeyvault"))
	if err := d.Default(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	pod.UID = "uid-1"
	id := resolver.Identity{Namespace: "team", ServiceAccount: "app", PodName: "web-1", PodUID: "uid-1"}
	c, denial := resolver.Authorize(resolver.Request{Identity: id, Pod: pod, NamespaceEnabled: true, Marks: suite.marks, Container: "app"})
	if denial != nil {
		t.Fatalf("a container the webhook rewrote is refused: %v", denial)
	}
	if _, denial := resolver.MatchPlaceholders(c, map[string]string{"DB": "db@azurekeyvault"}); denial != nil {
		t.Fatalf("its placeholder is refused: %v", denial)
	}
	if env := getEnv(c.Env, podcontract.EnvContainer); env != "app" {
		t.Errorf("the webhook names the container %q to the binary", env)
	}
	caSources := 0
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if src.ConfigMap == nil {
				continue
			}
			caSources++
			if src.ConfigMap.Items[0].Key != podcontract.CABundleKey {
				t.Errorf("the webhook projects key %q of the CA ConfigMap, the resolver publishes %q", src.ConfigMap.Items[0].Key, podcontract.CABundleKey)
			}
		}
	}
	if caSources == 0 {
		t.Error("the webhook projects no CA ConfigMap: nothing to compare with the resolver's key")
	}
}

func getEnv(env []corev1.EnvVar, name string) string {
	for _, e := range env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}
