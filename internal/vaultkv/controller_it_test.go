package vaultkv_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/devtools/backendtest"
	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
	"github.com/latchkey-dev/latchkey/internal/scheme"
	"github.com/latchkey-dev/latchkey/internal/tenancy"
	"github.com/latchkey-dev/latchkey/internal/vaultkv"
	"github.com/latchkey-dev/latchkey/internal/vaultref"
)

// TestControllerSync: production's controller syncs Vault-backed
// AzureKeyVaultSecrets on the real API server from the real Vault, logged
// in as each resource's namespace: every output shape, a role's refusal, a
// tenancy refusal, a refresh without change that writes nothing, a new
// version, a sealed Vault that keeps the last good output, and one login
// for every resource of one principal.
func TestControllerSync(t *testing.T) {
	b := newBed(t, time.Hour)
	ctx := context.Background()
	b.vault.Put(t, "team-a/db", map[string]any{"username": "app", "password": "pw-1", "basic": "app:pw-1",
		"docker": `{"auths":{"r.example":{"auth":"YTpi"}}}`})
	b.vault.Put(t, "team-b/db", map[string]any{"password": "team-b-only"})

	policy, err := tenancy.Parse([]byte("namespaces:\n  " + b.nsA + ":\n    - hashicorpVault: {paths: [team-a/, team-b/]}\n  " +
		b.nsB + ":\n    - hashicorpVault: {paths: [team-b/]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	// team-a's grant names team-b/ on purpose: Vault's role still refuses.
	c := startVaultController(t, b, &vaultkv.Source{
		Defaults: vaultref.Defaults{Address: b.proxy.Address, ServiceAccount: "app"},
		Tenancy:  policy,
		Cache:    backend.NewCache(b.reader, backend.CacheOptions{}),
	}, b.nsA, b.nsB)

	roles := map[string]string{b.nsA: "team-a", b.nsB: "team-b"}
	akvs := func(ns, name, path string, typ v2beta1.ObjectType, key string, mut func(*v2beta1.AzureKeyVaultSecret)) {
		a := &v2beta1.AzureKeyVaultSecret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v2beta1.AzureKeyVaultSecretSpec{
			Vault: v2beta1.AzureKeyVault{Name: "secret", Object: v2beta1.AzureKeyVaultObject{Name: path, Type: typ},
				HashiCorpVault: &v2beta1.HashiCorpVault{Role: roles[ns], Key: key}},
			Output: &v2beta1.AzureKeyVaultOutput{Secret: &v2beta1.AzureKeyVaultOutputSecret{Name: name, DataKey: "value"}},
		}}
		if mut != nil {
			mut(a)
		}
		if err := c.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	ns := b.nsA
	akvs(ns, "one-key", "team-a/db", v2beta1.ObjectTypeSecret, "password", nil)
	akvs(ns, "every-key", "team-a/db", v2beta1.ObjectTypeMultiKeyValueSecret, "", nil)
	akvs(ns, "configmap", "team-a/db", v2beta1.ObjectTypeMultiKeyValueSecret, "", func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Output = &v2beta1.AzureKeyVaultOutput{ConfigMap: &v2beta1.AzureKeyVaultOutputConfigMap{Name: "configmap"}}
	})
	akvs(ns, "basic", "team-a/db", v2beta1.ObjectTypeSecret, "basic", func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Output.Secret.Type, a.Spec.Output.Secret.DataKey = corev1.SecretTypeBasicAuth, ""
	})
	akvs(ns, "docker", "team-a/db", v2beta1.ObjectTypeSecret, "docker", func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Output.Secret.Type, a.Spec.Output.Secret.DataKey = corev1.SecretTypeDockerConfigJson, ""
	})
	akvs(ns, "pinned", "team-a/db", v2beta1.ObjectTypeSecret, "password", func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Vault.Object.Version = "1"
	})
	akvs(ns, "transformed", "team-a/db", v2beta1.ObjectTypeSecret, "password", func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Output.Transform = []v2beta1.Transform{v2beta1.TransformBase64Encode}
	})

	c.waitData(t, "Secret", ns, "one-key", map[string]string{"value": "pw-1"})
	c.waitData(t, "Secret", ns, "every-key", map[string]string{"username": "app", "password": "pw-1", "basic": "app:pw-1",
		"docker": `{"auths":{"r.example":{"auth":"YTpi"}}}`})
	c.waitData(t, "ConfigMap", ns, "configmap", map[string]string{"username": "app", "password": "pw-1", "basic": "app:pw-1",
		"docker": `{"auths":{"r.example":{"auth":"YTpi"}}}`})
	c.waitData(t, "Secret", ns, "basic", map[string]string{"username": "app", "password": "pw-1"})
	c.waitData(t, "Secret", ns, "docker", map[string]string{".dockerconfigjson": `{"auths":{"r.example":{"auth":"YTpi"}}}`})
	c.waitData(t, "Secret", ns, "pinned", map[string]string{"value": "pw-1"})
	c.waitData(t, "Secret", ns, "transformed", map[string]string{"value": "cHctMQ=="})
	if got := c.waitReady(t, ns, "one-key", metav1.ConditionTrue, controller.ReasonSynced); got.Status.ObjectVersion != "1" {
		t.Errorf("status names version %q, want Vault's 1", got.Status.ObjectVersion)
	}
	if n := b.reader.Logins(); n != 1 {
		t.Errorf("%d logins for 7 resources of one namespace, ServiceAccount and role; want 1", n)
	}

	// Vault decides: team-a's role may not read team-b's path, and
	// team-a's ServiceAccount may not log in with team-b's role.
	akvs(ns, "other-path", "team-b/db", v2beta1.ObjectTypeSecret, "password", nil)
	cond := c.waitReady(t, ns, "other-path", metav1.ConditionFalse, controller.ReasonForbidden)
	if m := readyMessage(cond); !strings.Contains(m, "permission denied") || strings.Contains(m, "team-b-only") {
		t.Errorf("a path the role does not allow: %q; want permission denied, and no value", m)
	}
	akvs(ns, "other-role", "team-b/db", v2beta1.ObjectTypeSecret, "password", func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Vault.HashiCorpVault.Role = "team-b"
	})
	c.waitReady(t, ns, "other-role", metav1.ConditionFalse, controller.ReasonAuthenticationFailed)
	// The tenancy policy decides too, before any login.
	akvs(b.nsB, "tenancy", "team-a/db", v2beta1.ObjectTypeSecret, "password", func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Vault.HashiCorpVault.Role = "team-b"
	})
	if m := readyMessage(c.waitReady(t, b.nsB, "tenancy", metav1.ConditionFalse, controller.ReasonForbidden)); !strings.Contains(m, "tenancy policy") {
		t.Errorf("a path the tenancy policy does not grant: %q; want it named", m)
	}

	// A refresh without change writes nothing.
	before := c.secret(t, ns, "one-key").ResourceVersion
	reads := b.proxy.Count("GET", "/v1/secret/data/team-a/db")
	waitFor(t, "two refreshes", func() error {
		if n := b.proxy.Count("GET", "/v1/secret/data/team-a/db"); n < reads+2 {
			return fmt.Errorf("%d reads since", n-reads)
		}
		return nil
	})
	if after := c.secret(t, ns, "one-key").ResourceVersion; after != before {
		t.Errorf("a refresh without change rewrote the Secret (resourceVersion %s → %s)", before, after)
	}

	// A new version is picked up; the pinned one stays.
	b.vault.Put(t, "team-a/db", map[string]any{"username": "app", "password": "pw-2", "basic": "app:pw-2", "docker": "{}"})
	c.waitData(t, "Secret", ns, "one-key", map[string]string{"value": "pw-2"})
	waitFor(t, "status of version 2", func() error {
		if v := c.waitReady(t, ns, "one-key", metav1.ConditionTrue, controller.ReasonSynced).Status.ObjectVersion; v != "2" {
			return fmt.Errorf("status names version %q", v)
		}
		return nil
	})
	c.waitData(t, "Secret", ns, "pinned", map[string]string{"value": "pw-1"})

	// Sealed: the reason says so, the last good output stays.
	b.vault.Seal(t)
	if m := readyMessage(c.waitReady(t, ns, "one-key", metav1.ConditionFalse, controller.ReasonKeyVaultUnavailable)); !strings.Contains(m, "sealed") {
		t.Errorf("sealed: %q; want it said", m)
	}
	c.waitData(t, "Secret", ns, "one-key", map[string]string{"value": "pw-2"})
	b.vault.Unseal(t)
	c.waitReady(t, ns, "one-key", metav1.ConditionTrue, controller.ReasonSynced)

	// Neither a value team-a's role was refused nor a ServiceAccount token
	// a login used reaches the log, an event or a status.
	tokens := b.tokens.tokens()
	if len(tokens) == 0 {
		t.Fatal("no ServiceAccount token was issued: the leak check would look for nothing")
	}
	set := leakcheck.Of(t, append([]string{"team-b-only"}, tokens...)...)
	set.Check(t, "the controller's log", c.logs.String())
	for _, n := range []string{b.nsA, b.nsB} {
		var events corev1.EventList
		if err := c.List(ctx, &events, client.InNamespace(n)); err != nil {
			t.Fatal(err)
		}
		var list v2beta1.AzureKeyVaultSecretList
		if err := c.List(ctx, &list, client.InNamespace(n)); err != nil {
			t.Fatal(err)
		}
		evJSON, _ := json.Marshal(events.Items)
		stJSON, _ := json.Marshal(list.Items)
		set.Check(t, "events in "+n, string(evJSON))
		set.Check(t, "AzureKeyVaultSecrets in "+n, string(stJSON))
	}
}

type vaultController struct {
	client.Client
	// logs is everything the controller logged.
	logs *leakcheck.Buffer
}

func startVaultController(t *testing.T, b *bed, src backend.Source, namespaces ...string) *vaultController {
	t.Helper()
	c := controller.DefaultConfig()
	c.Manager.Namespaces = namespaces
	c.Manager.LeaderElection = false
	c.Manager.MetricsAddr, c.Manager.HealthAddr = "0", "0"
	c.Manager.SkipNameValidation = true
	c.Manager.Controller.RefreshInterval = 2 * time.Second
	c.Manager.Controller.Jitter = 0
	logs := &leakcheck.Buffer{}
	backendtest.RunController(t, suite.cfg, c, backend.Sources{vaultkv.Backend: src}, io.MultiWriter(testWriter{t}, logs))
	cl, err := client.New(suite.cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	return &vaultController{Client: cl, logs: logs}
}

func (c *vaultController) secret(t *testing.T, ns, name string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitData waits until the Secret or ConfigMap holds exactly want. A
// mismatch is reported by key, never by value.
func (c *vaultController) waitData(t *testing.T, kind, ns, name string, want map[string]string) {
	t.Helper()
	waitFor(t, kind+" "+ns+"/"+name, func() error {
		got := map[string]string{}
		key := types.NamespacedName{Namespace: ns, Name: name}
		if kind == "Secret" {
			s := &corev1.Secret{}
			if err := c.Get(context.Background(), key, s); err != nil {
				return err
			}
			for k, v := range s.Data {
				got[k] = string(v)
			}
		} else {
			cm := &corev1.ConfigMap{}
			if err := c.Get(context.Background(), key, cm); err != nil {
				return err
			}
			for k, v := range cm.Data {
				got[k] = v
			}
		}
		if len(got) != len(want) {
			return fmt.Errorf("%d keys, want %d", len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				return fmt.Errorf("key %s does not hold the expected value", k)
			}
		}
		return nil
	})
}

func (c *vaultController) waitReady(t *testing.T, ns, name string, status metav1.ConditionStatus, reason string) *v2beta1.AzureKeyVaultSecret {
	t.Helper()
	a := &v2beta1.AzureKeyVaultSecret{}
	waitFor(t, "Ready of "+ns+"/"+name, func() error {
		if err := c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, a); err != nil {
			return err
		}
		r := meta.FindStatusCondition(a.Status.Conditions, "Ready")
		if r == nil || r.Status != status || r.Reason != reason {
			return fmt.Errorf("Ready is %+v, want %s %s", r, status, reason)
		}
		return nil
	})
	return a
}

func readyMessage(a *v2beta1.AzureKeyVaultSecret) string {
	if r := meta.FindStatusCondition(a.Status.Conditions, "Ready"); r != nil {
		return r.Message
	}
	return ""
}

func waitFor(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if apierrors.IsNotFound(err) || time.Now().Before(deadline) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v", what, err)
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		t.Fatalf("%s: %v", what, err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
