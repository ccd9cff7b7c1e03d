package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
)

// pausedShard labels AzureKeyVaultSecrets no controller syncs, so a test can
// prepare the world (an akv2k8s Secret naming the object's UID) before the
// controller sees them; removing the label hands them to the suite's.
const pausedShard = "paused"

func unpause(t *testing.T, a *v2beta1.AzureKeyVaultSecret, labels map[string]string) {
	t.Helper()
	update(t, a, func(a *v2beta1.AzureKeyVaultSecret) {
		delete(a.Labels, testControllerLabel)
		maps.Copy(a.Labels, labels)
	})
}

// foreignSecret creates a Secret no AzureKeyVaultSecret created.
func foreignSecret(t *testing.T, ns, name string, typ corev1.SecretType, d map[string][]byte) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"team": "foreign"}},
		Type:       typ, Data: d,
	}
	create(t, s)
	return s
}

// ownersOf reads the latchkey.dev/owners annotation: AzureKeyVaultSecret
// name → the data keys it owns.
func ownersOf(s *corev1.Secret) map[string][]string {
	var rec map[string]struct {
		Keys []string `json:"keys"`
	}
	raw, ok := s.Annotations[controller.OwnersAnnotation]
	if !ok || json.Unmarshal([]byte(raw), &rec) != nil {
		return nil
	}
	out := map[string][]string{}
	for name, r := range rec {
		out[name] = r.Keys
	}
	return out
}

// ownedBy is a waitForSecret check of the owners annotation.
func ownedBy(want map[string][]string) func(*corev1.Secret) error {
	return func(s *corev1.Secret) error {
		got := ownersOf(s)
		if len(got) != len(want) {
			return fmt.Errorf("owners %v, want %v", got, want)
		}
		for name, keys := range want {
			if !slices.Equal(got[name], keys) {
				return fmt.Errorf("owners %v, want %v", got, want)
			}
		}
		return nil
	}
}

func allOf(checks ...func(*corev1.Secret) error) func(*corev1.Secret) error {
	return func(s *corev1.Secret) error {
		for _, c := range checks {
			if err := c(s); err != nil {
				return err
			}
		}
		return nil
	}
}

// TestAdoptsSecretCreatedByAkv2k8s migrates a Secret akv2k8s created: its
// ownerReference names the AzureKeyVaultSecret's UID, it has no latchkey
// annotation, and its type is the seed's lower-case `opaque`. latchkey
// adopts it, updates the value, labels it and records its key, and keeps
// the type.
func TestAdoptsSecretCreatedByAkv2k8s(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	v := newVault(t)
	v.setSecret(t, "adopt-object", "adopt-new-s3cr3t-value", "")
	a := akvs(ns, "migrated", "adopt-object", inVault(v), shard(pausedShard))
	create(t, a)
	old := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "migrated", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "spv.no/v1", Kind: "AzureKeyVaultSecret", Name: a.Name, UID: a.UID,
			Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
		}}},
		Type: "opaque",
		Data: data("value", "adopt-old-s3cr3t-value"),
	}
	remember("adopt-old-s3cr3t-value")
	create(t, old)

	unpause(t, a, map[string]string{"app": "migrated"})
	s := waitForSecret(t, ns, "migrated", allOf(hasData(data("value", "adopt-new-s3cr3t-value")), ownedBy(map[string][]string{"migrated": {"value"}})))
	waitForReady(t, ns, "migrated", metav1.ConditionTrue, controller.ReasonSynced)
	if s.Type != "opaque" {
		t.Errorf("type %q: an existing Secret's type must not change", s.Type)
	}
	if s.Labels["app"] != "migrated" || s.Labels[controller.ManagedLabel] != "true" {
		t.Errorf("labels %v, want the AzureKeyVaultSecret's and the managed label", s.Labels)
	}
	if refs := s.OwnerReferences; len(refs) != 1 || refs[0].UID != a.UID {
		t.Errorf("ownerReferences %+v, want akv2k8s's one, kept", refs)
	}
}

// TestMergesIntoForeignOpaqueSecret adds our key to an Opaque Secret someone
// else created, leaves theirs alone, and on deletion of the
// AzureKeyVaultSecret removes only our key, with Key Vault failing every
// request: cleanup reads the owners annotation, not Key Vault.
func TestMergesIntoForeignOpaqueSecret(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	v := newVault(t)
	v.setSecret(t, "merge-object", "merge-ours-s3cr3t-value", "")
	remember("merge-theirs-s3cr3t-value")
	foreignSecret(t, ns, "shared", corev1.SecretTypeOpaque, data("theirs", "merge-theirs-s3cr3t-value"))
	a := akvs(ns, "merger", "merge-object", inVault(v), func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Output.Secret.Name, a.Spec.Output.Secret.DataKey = "shared", "ours"
	})
	create(t, a)

	s := waitForSecret(t, ns, "shared", allOf(
		hasData(data("theirs", "merge-theirs-s3cr3t-value", "ours", "merge-ours-s3cr3t-value")),
		ownedBy(map[string][]string{"merger": {"ours"}})))
	st := waitForReady(t, ns, "merger", metav1.ConditionTrue, controller.ReasonMergedIntoExisting)
	if len(s.OwnerReferences) != 0 || s.Type != corev1.SecretTypeOpaque || s.Labels["team"] != "foreign" {
		t.Errorf("foreign Secret changed beyond our key: ownerReferences %v, type %s, labels %v", s.OwnerReferences, s.Type, s.Labels)
	}
	if !strings.Contains(readyCondition(st).Message, "shared") {
		t.Errorf("message %q does not name the Secret", readyCondition(st).Message)
	}

	v.fail(t, akvemu.FaultRule{Status: 500})
	deleteObject(t, a)
	s = waitForSecret(t, ns, "shared", hasData(data("theirs", "merge-theirs-s3cr3t-value")))
	if _, ok := s.Annotations[controller.OwnersAnnotation]; ok || s.Labels[controller.ManagedLabel] != "" || s.Labels["team"] != "foreign" {
		t.Errorf("after release: annotations %v, labels %v; want ours gone, theirs kept", s.Annotations, s.Labels)
	}
}

// TestLeavesForeignSecretAlone: a foreign Secret that already has our key,
// or is not Opaque, is never written; Ready says why.
func TestLeavesForeignSecretAlone(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	v := newVault(t)
	v.setSecret(t, "foreign-object", "foreign-ours-s3cr3t-value", "")
	remember("foreign-theirs-s3cr3t-value", "foreign-tls-s3cr3t-value")
	tests := []struct {
		name, want string
		secret     *corev1.Secret
	}{
		{"same-key", `key "value" already exists`, foreignSecret(t, ns, "same-key", corev1.SecretTypeOpaque, data("value", "foreign-theirs-s3cr3t-value"))},
		{"not-opaque", "is of type kubernetes.io/tls", foreignSecret(t, ns, "not-opaque", corev1.SecretTypeTLS, data("tls.crt", "c", "tls.key", "foreign-tls-s3cr3t-value"))},
	}
	for _, tc := range tests {
		create(t, akvs(ns, tc.name, "foreign-object", inVault(v)))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := waitForReady(t, ns, tc.name, metav1.ConditionFalse, controller.ReasonForeignOutput)
			if msg := readyCondition(a).Message; !strings.Contains(msg, tc.want) {
				t.Errorf("message %q, want it to say %q", msg, tc.want)
			}
			s := getSecret(t, ns, tc.name)
			if s.ResourceVersion != tc.secret.ResourceVersion {
				t.Errorf("the foreign Secret was written (resourceVersion %s → %s)", tc.secret.ResourceVersion, s.ResourceVersion)
			}
		})
	}
}

// TestOlderAzureKeyVaultSecretKeepsContestedKey: two AzureKeyVaultSecrets
// write one key of one Secret. The younger one writes first; the older one
// then takes the key, the younger reports KeyConflict, and over several
// refreshes nothing flips (the Secret is not written again).
func TestOlderAzureKeyVaultSecretKeepsContestedKey(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	v := newVault(t)
	v.setSecret(t, "contest-older", "contest-older-s3cr3t-value", "")
	v.setSecret(t, "contest-younger", "contest-younger-s3cr3t-value", "")
	toShared := func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Output.Secret.Name = "contested"; inVault(v)(a) }
	// Names sort the other way round, so a tie on creationTimestamp would
	// give the key to the younger: the test shows the age decides.
	older := akvs(ns, "zz-older", "contest-older", toShared, shard(pausedShard))
	create(t, older)
	eventually(t, func() error { // creationTimestamp has whole seconds
		if !time.Now().After(older.CreationTimestamp.Add(time.Second)) {
			return fmt.Errorf("still the second %s was created in", older.Name)
		}
		return nil
	})
	create(t, akvs(ns, "aa-younger", "contest-younger", toShared, everySecond))
	waitForSecret(t, ns, "contested", hasData(data("value", "contest-younger-s3cr3t-value")))

	unpause(t, older, map[string]string{testControllerLabel: fastShard})
	waitForSecret(t, ns, "contested", allOf(hasData(data("value", "contest-older-s3cr3t-value")), ownedBy(map[string][]string{"zz-older": {"value"}, "aa-younger": {}})))
	waitForReady(t, ns, "zz-older", metav1.ConditionTrue, controller.ReasonSynced)
	y := waitForReady(t, ns, "aa-younger", metav1.ConditionFalse, controller.ReasonKeyConflict)
	if msg := readyCondition(y).Message; !strings.Contains(msg, "zz-older") {
		t.Errorf("message %q does not name the owner", msg)
	}

	before := getSecret(t, ns, "contested").ResourceVersion
	window(4 * time.Second) // several refreshes of both
	if s := getSecret(t, ns, "contested"); s.ResourceVersion != before || string(s.Data["value"]) != "contest-older-s3cr3t-value" {
		t.Errorf("the contested Secret was written again (resourceVersion %s → %s)", before, s.ResourceVersion)
	}
	if c := readyCondition(getAKVS(t, ns, "aa-younger")); c.Reason != controller.ReasonKeyConflict {
		t.Errorf("the younger flipped to %s", c.Reason)
	}
}

// TestCopiesLabelsAndAnnotations copies the AzureKeyVaultSecret's labels and
// annotations except those of Kubernetes' reserved domains (the
// service-account annotation that would make the Secret a token; kubectl's;
// app.kubernetes.io), Helm's, Argo CD's and Flux's and Helm's owner=helm
// label, keeps what others set on the Secret, and removes a label the
// AzureKeyVaultSecret no longer has.
func TestCopiesLabelsAndAnnotations(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	v := newVault(t)
	v.setSecret(t, "labels-object", "labels-s3cr3t-value", "")
	a := akvs(ns, "labelled", "labels-object", inVault(v), func(a *v2beta1.AzureKeyVaultSecret) {
		a.Labels = map[string]string{
			"app": "web", "tier": "front",
			"app.kubernetes.io/instance": "argocd-app", "app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/name": "web",
			"kustomize.toolkit.fluxcd.io/name": "flux", "helm.toolkit.fluxcd.io/name": "release", "owner": "helm",
		}
		a.Annotations = map[string]string{
			"reloader.stakater.com/match":                        "true",
			"reflector.v1.k8s.emberstack.com/reflection-allowed": "true",
			"kubectl.kubernetes.io/last-applied-configuration":   `{"kind":"AzureKeyVaultSecret"}`,
			"meta.helm.sh/release-name":                          "release",
			"argocd.argoproj.io/tracking-id":                     "app:spv.no/AzureKeyVaultSecret:ns/labelled",
			"kubernetes.io/service-account.name":                 "default",
			"helm.sh/resource-policy":                            "keep",
			"replicator.v1.mittwald.de/replicate-to":             "team-b",
		}
	})
	create(t, a)
	copied := func(labels, annotations []string) func(*corev1.Secret) error {
		return func(s *corev1.Secret) error {
			gotL := slices.Sorted(maps.Keys(s.Labels))
			gotA := slices.DeleteFunc(slices.Sorted(maps.Keys(s.Annotations)), func(k string) bool { return k == controller.OwnersAnnotation })
			if !slices.Equal(gotL, labels) || !slices.Equal(gotA, annotations) {
				return fmt.Errorf("labels %v, annotations %v; want %v and %v", gotL, gotA, labels, annotations)
			}
			return nil
		}
	}
	waitForSecret(t, ns, "labelled", copied(
		[]string{"app", controller.ManagedLabel, "tier"},
		[]string{"reflector.v1.k8s.emberstack.com/reflection-allowed", "reloader.stakater.com/match", "replicator.v1.mittwald.de/replicate-to"}))

	// Someone else labels the Secret; then the AzureKeyVaultSecret drops a label.
	s := getSecret(t, ns, "labelled")
	update(t, s, func(s *corev1.Secret) {
		s.Labels["team"] = "payments"
		s.Annotations["example.com/note"] = "kept"
	})
	update(t, a, func(a *v2beta1.AzureKeyVaultSecret) { delete(a.Labels, "tier") })
	waitForSecret(t, ns, "labelled", copied(
		[]string{"app", controller.ManagedLabel, "team"},
		[]string{"example.com/note", "reflector.v1.k8s.emberstack.com/reflection-allowed", "reloader.stakater.com/match", "replicator.v1.mittwald.de/replicate-to"}))
}

// TestCleanupOnRename: renaming the output deletes the Secret latchkey
// created and removes our key from a foreign one, which stays; Key Vault
// fails every request meanwhile.
func TestCleanupOnRename(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	v := newVault(t)
	v.setSecret(t, "rename-object", "rename-s3cr3t-value", "")
	remember("rename-theirs-s3cr3t-value")
	foreignSecret(t, ns, "foreign-old", corev1.SecretTypeOpaque, data("theirs", "rename-theirs-s3cr3t-value"))
	ours := akvs(ns, "ours", "rename-object", inVault(v))
	merged := akvs(ns, "merged", "rename-object", inVault(v), func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Output.Secret.Name, a.Spec.Output.Secret.DataKey = "foreign-old", "ours"
	})
	create(t, ours)
	create(t, merged)
	waitForSecret(t, ns, "ours", hasData(data("value", "rename-s3cr3t-value")))
	waitForSecret(t, ns, "foreign-old", hasData(data("theirs", "rename-theirs-s3cr3t-value", "ours", "rename-s3cr3t-value")))
	waitForReady(t, ns, "ours", metav1.ConditionTrue, controller.ReasonSynced)
	waitForReady(t, ns, "merged", metav1.ConditionTrue, controller.ReasonMergedIntoExisting)

	v.fail(t, akvemu.FaultRule{Status: 500})
	for _, a := range []*v2beta1.AzureKeyVaultSecret{ours, merged} {
		update(t, a, func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Output.Secret.Name = a.Name + "-renamed" })
	}
	assertGone(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ours"}})
	waitForSecret(t, ns, "foreign-old", allOf(hasData(data("theirs", "rename-theirs-s3cr3t-value")), ownedBy(nil)))
}

// TestCleanupOnDelete: a Secret two AzureKeyVaultSecrets share loses the
// key of the one deleted and is deleted with the last, with Key Vault
// failing every request.
func TestCleanupOnDelete(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	v := newVault(t)
	v.setSecret(t, "delete-first", "delete-first-s3cr3t-value", "")
	v.setSecret(t, "delete-second", "delete-second-s3cr3t-value", "")
	toShared := func(key string) func(*v2beta1.AzureKeyVaultSecret) {
		return func(a *v2beta1.AzureKeyVaultSecret) {
			a.Spec.Output.Secret.Name, a.Spec.Output.Secret.DataKey = "shared", key
		}
	}
	first := akvs(ns, "first", "delete-first", inVault(v), toShared("first"))
	second := akvs(ns, "second", "delete-second", inVault(v), toShared("second"))
	create(t, first)
	create(t, second)
	waitForSecret(t, ns, "shared", allOf(
		hasData(data("first", "delete-first-s3cr3t-value", "second", "delete-second-s3cr3t-value")),
		ownedBy(map[string][]string{"first": {"first"}, "second": {"second"}})))

	v.fail(t, akvemu.FaultRule{Status: 500})
	deleteObject(t, first)
	s := waitForSecret(t, ns, "shared", allOf(hasData(data("second", "delete-second-s3cr3t-value")), ownedBy(map[string][]string{"second": {"second"}})))
	if refs := s.OwnerReferences; len(refs) != 1 || refs[0].Name != "second" {
		t.Errorf("ownerReferences %+v, want only the remaining owner", refs)
	}
	deleteObject(t, second)
	assertGone(t, s)
}

// TestKeyVaultErrorKeepsGoodSecret: the object deleted in Key Vault, or Key
// Vault answering 500, never empties a good Secret; Ready says why, and the
// controller recovers by itself when Key Vault does.
func TestKeyVaultErrorKeepsGoodSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		reason   string
		breakKV  func(t *testing.T, v *testVault)
		repairKV func(t *testing.T, v *testVault)
		message  string
	}{
		{"object deleted", controller.ReasonObjectNotFound,
			func(t *testing.T, v *testVault) { v.deleteSecret(t, "kept") },
			func(t *testing.T, v *testVault) {
				if _, err := v.secrets.RecoverDeletedSecret(context.Background(), "kept", nil); err != nil {
					t.Fatal(err)
				}
			}, "kept"},
		{"Key Vault failing", controller.ReasonKeyVaultUnavailable,
			func(t *testing.T, v *testVault) { v.fail(t, akvemu.FaultRule{Status: 500}) },
			func(_ *testing.T, v *testVault) { v.recover() }, "500"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t)
			v := newVault(t)
			v.setSecret(t, "kept", "kept-good-s3cr3t-value", "")
			create(t, akvs(ns, "kept", "kept", inVault(v), everySecond))
			good := waitForSecret(t, ns, "kept", hasData(data("value", "kept-good-s3cr3t-value")))
			waitForReady(t, ns, "kept", metav1.ConditionTrue, controller.ReasonSynced)

			tc.breakKV(t, v)
			a := waitForReady(t, ns, "kept", metav1.ConditionFalse, tc.reason)
			if msg := readyCondition(a).Message; !strings.Contains(msg, tc.message) {
				t.Errorf("message %q does not say %q", msg, tc.message)
			}
			if s := getSecret(t, ns, "kept"); s.ResourceVersion != good.ResourceVersion {
				t.Errorf("the Secret was written while Key Vault failed (resourceVersion %s → %s)", good.ResourceVersion, s.ResourceVersion)
			}

			tc.repairKV(t, v)
			waitForReady(t, ns, "kept", metav1.ConditionTrue, controller.ReasonSynced)
			waitForSecret(t, ns, "kept", hasData(data("value", "kept-good-s3cr3t-value")))
		})
	}
}

// TestExistingSecretTypeIsKept: changing output.secret.type of an
// AzureKeyVaultSecret whose Secret exists leaves the Secret's type alone
// (the API server forbids changing it) and keeps syncing.
func TestExistingSecretTypeIsKept(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	v := newVault(t)
	v.setSecret(t, "retype-object", "retype-s3cr3t-value", "")
	a := akvs(ns, "retyped", "retype-object", inVault(v))
	create(t, a)
	waitForSecret(t, ns, "retyped", hasData(data("value", "retype-s3cr3t-value")))
	update(t, a, func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Output.Secret.Type = "example.com/other"
		a.Spec.Output.Secret.DataKey = "renamed-key"
	})
	s := waitForSecret(t, ns, "retyped", hasData(data("renamed-key", "retype-s3cr3t-value")))
	waitForReady(t, ns, "retyped", metav1.ConditionTrue, controller.ReasonSynced)
	if s.Type != corev1.SecretTypeOpaque {
		t.Errorf("type %q, want the Secret's original Opaque", s.Type)
	}
}

// TestRepairsEditedOrDeletedOutput: an output someone edits is put back, and
// one someone deletes is created again, without waiting for a refresh (the
// suite's interval is an hour) and without reading Key Vault again.
func TestRepairsEditedOrDeletedOutput(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	v := newVault(t)
	v.setSecret(t, "repair-object", "repair-s3cr3t-value", "")
	create(t, akvs(ns, "repaired", "repair-object", inVault(v)))
	s := waitForSecret(t, ns, "repaired", hasData(data("value", "repair-s3cr3t-value")))
	reads := v.reads()

	update(t, s, func(s *corev1.Secret) {
		s.Data["value"] = []byte("tampered")
		s.Data["extra"] = []byte("someone's")
	})
	// Keys others add to our Secret are theirs to keep; ours is restored.
	waitForSecret(t, ns, "repaired", hasData(data("value", "repair-s3cr3t-value", "extra", "someone's")))

	deleteObject(t, s)
	waitForSecret(t, ns, "repaired", allOf(hasData(data("value", "repair-s3cr3t-value")), ownedBy(map[string][]string{"repaired": {"value"}})))
	if n := v.reads() - reads; n != 0 {
		t.Errorf("%d Key Vault reads to repair the output, want 0 (the shared cache holds the object)", n)
	}
}

// TestRemovingAnOutputReleasesIt: dropping the ConfigMap output, then every
// output (the object then only serves the env injector), deletes what
// latchkey created, and the status stops naming it.
func TestRemovingAnOutputReleasesIt(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	v := newVault(t)
	v.setSecret(t, "dropped-object", "dropped-s3cr3t-value", "")
	a := akvs(ns, "dropped", "dropped-object", inVault(v), func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Output.ConfigMap = &v2beta1.AzureKeyVaultOutputConfigMap{Name: "dropped", DataKey: "value"}
	})
	create(t, a)
	waitForSecret(t, ns, "dropped", nil)
	eventually(t, func() error {
		st := getAKVS(t, ns, "dropped").Status
		if st.SecretName != "dropped" || st.ConfigMapName != "dropped" {
			return errorf("status names Secret %q and ConfigMap %q", st.SecretName, st.ConfigMapName)
		}
		return nil
	})

	update(t, a, func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Output.ConfigMap = nil })
	assertGone(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "dropped"}})
	eventually(t, func() error {
		if st := getAKVS(t, ns, "dropped").Status; st.ConfigMapName != "" || st.ConfigMapHash != "" || st.SecretName != "dropped" {
			return errorf("status names ConfigMap %q (hash %q) and Secret %q after the ConfigMap output was removed", st.ConfigMapName, st.ConfigMapHash, st.SecretName)
		}
		return nil
	})

	update(t, a, func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Output = nil })
	assertGone(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "dropped"}})
	got := waitForReady(t, ns, "dropped", metav1.ConditionTrue, controller.ReasonInjectorOnly)
	if st := got.Status; st.SecretName != "" || st.SecretHash != "" {
		t.Errorf("status names Secret %q (hash %q) after every output was removed", st.SecretName, st.SecretHash)
	}
}

// TestCleanupAfterRestart: an AzureKeyVaultSecret deleted while its
// controller is down has its Secret deleted when a controller starts again:
// the owners annotation on the Secret is all cleanup needs.
func TestCleanupAfterRestart(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	v := newVault(t)
	v.setSecret(t, "restart-object", "restart-s3cr3t-value", "")
	first := startTestController(t, "restart", []string{ns})
	a := akvs(ns, "orphaned", "restart-object", inVault(v), shard("restart"))
	create(t, a)
	waitForSecret(t, ns, "orphaned", hasData(data("value", "restart-s3cr3t-value")))
	first.stop()

	deleteObject(t, a)
	v.fail(t, akvemu.FaultRule{Status: 500})
	window(time.Second) // no controller of this shard runs: the Secret stays
	getSecret(t, ns, "orphaned")
	startTestController(t, "restart", []string{ns})
	assertGone(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orphaned"}})
}
