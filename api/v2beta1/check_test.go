package v2beta1_test

import (
	"reflect"
	"testing"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
)

// hashicorp makes a spec read HashiCorp Vault's KV engine, key of it.
func hashicorp(key string) func(*v2beta1.AzureKeyVaultSecret) {
	return func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Vault.Name = "secret"
		a.Spec.Vault.HashiCorpVault = &v2beta1.HashiCorpVault{Address: "https://vault.example:8200", Role: "app", Key: key}
	}
}

// TestCheck: what akv2k8s's schema accepted and latchkey cannot act on is a
// problem naming the field; output-only problems leave the object usable by
// the env injector.
func TestCheck(t *testing.T) {
	base := func(mutate ...func(*v2beta1.AzureKeyVaultSecret)) *v2beta1.AzureKeyVaultSecret {
		a := &v2beta1.AzureKeyVaultSecret{Spec: v2beta1.AzureKeyVaultSecretSpec{
			Vault: v2beta1.AzureKeyVault{Name: "kv", Object: v2beta1.AzureKeyVaultObject{Name: "o", Type: v2beta1.ObjectTypeSecret}},
			Output: &v2beta1.AzureKeyVaultOutput{
				Secret:    &v2beta1.AzureKeyVaultOutputSecret{Name: "db", DataKey: "password"},
				ConfigMap: &v2beta1.AzureKeyVaultOutputConfigMap{Name: "db", DataKey: "password"},
			},
		}}
		for _, m := range mutate {
			m(a)
		}
		return a
	}
	tests := []struct {
		name string
		akvs *v2beta1.AzureKeyVaultSecret
		// want lists field: outputOnly.
		want map[string]bool
	}{
		{"valid", base(), nil},
		{"HashiCorp Vault: one key", base(hashicorp("password")), nil},
		{"HashiCorp Vault: every key, no content type needed", base(hashicorp(""), func(a *v2beta1.AzureKeyVaultSecret) {
			a.Spec.Vault.Object.Type = v2beta1.ObjectTypeMultiKeyValueSecret
		}), nil},
		{"HashiCorp Vault: pinned", base(hashicorp("k"), func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Vault.Object.Version = "12" }), nil},
		{"HashiCorp Vault: a secret without key", base(hashicorp("")), map[string]bool{"spec.vault.hashicorpVault.key": false}},
		{"HashiCorp Vault: every key with a key", base(hashicorp("k"), func(a *v2beta1.AzureKeyVaultSecret) {
			a.Spec.Vault.Object.Type = v2beta1.ObjectTypeMultiKeyValueSecret
		}), map[string]bool{"spec.vault.hashicorpVault.key": false}},
		{"HashiCorp Vault: a certificate", base(hashicorp("k"), func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Vault.Object.Type = v2beta1.ObjectTypeCertificate }),
			map[string]bool{"spec.vault.object.type": false}},
		{"HashiCorp Vault: version not a number", base(hashicorp("k"), func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Vault.Object.Version = "abc" }),
			map[string]bool{"spec.vault.object.version": false}},
		{"HashiCorp Vault: bad address, no mount", base(hashicorp("k"), func(a *v2beta1.AzureKeyVaultSecret) {
			a.Spec.Vault.HashiCorpVault.Address, a.Spec.Vault.Name = "https://user:pw@vault:8200", ""
		}), map[string]bool{"spec.vault.name": false, "spec.vault.hashicorpVault.address": false}},
		{"valid without output", base(func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Output = nil }), nil},
		{"akv2k8s Go client's empty outputs and identity", base(func(a *v2beta1.AzureKeyVaultSecret) {
			a.Spec.Output.Secret.Name, a.Spec.Output.ConfigMap = "", &v2beta1.AzureKeyVaultOutputConfigMap{}
			a.Spec.Vault.AzureIdentity = &v2beta1.AzureIdentity{}
		}), nil},
		{"azureIdentity is no problem", base(func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Vault.AzureIdentity = &v2beta1.AzureIdentity{Name: "id"} }), nil},
		{"every transform", base(func(a *v2beta1.AzureKeyVaultSecret) {
			a.Spec.Output.Transform = []v2beta1.Transform{"trim", "base64encode", "base64decode"}
		}), nil},
		{"empty names", base(func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Vault.Name, a.Spec.Vault.Object.Name = "", "" }),
			map[string]bool{"spec.vault.name": false, "spec.vault.object.name": false}},
		{"no type", base(func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Vault.Object.Type = "" }), map[string]bool{"spec.vault.object.type": false}},
		{"unknown type", base(func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Vault.Object.Type = "secrets" }), map[string]bool{"spec.vault.object.type": false}},
		{"multi-key without content type", base(func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Vault.Object.Type = v2beta1.ObjectTypeMultiKeyValueSecret }),
			map[string]bool{"spec.vault.object.contentType": false}},
		{"multi-key with content type", base(func(a *v2beta1.AzureKeyVaultSecret) {
			a.Spec.Vault.Object.Type, a.Spec.Vault.Object.ContentType = v2beta1.ObjectTypeMultiKeyValueSecret, v2beta1.ContentTypeYAML
		}), nil},
		{"unknown transform", base(func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Output.Transform = []v2beta1.Transform{"trim", "rot13"} }),
			map[string]bool{"spec.output.transform[1]": false}},
		{"unknown v1alpha1 transform", base(func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Output.Transforms = []v2beta1.Transform{"Trim"} }),
			map[string]bool{"spec.output.transforms[0]": false}},
		{"transform wins over transforms", base(func(a *v2beta1.AzureKeyVaultSecret) {
			a.Spec.Output.Transform, a.Spec.Output.Transforms = []v2beta1.Transform{"trim"}, []v2beta1.Transform{"rot13"}
		}), nil},
		{"output names and keys", base(func(a *v2beta1.AzureKeyVaultSecret) {
			a.Spec.Output.Secret.Name, a.Spec.Output.Secret.DataKey = "Not_A_Name", "a key"
			a.Spec.Output.ConfigMap.Name, a.Spec.Output.Secret.ChainOrder = "-x", "serverlast"
		}), map[string]bool{"spec.output.secret.name": true, "spec.output.secret.dataKey": true, "spec.output.secret.chainOrder": true, "spec.output.configMap.name": true}},
		{"unreadable fields, and nothing more about them", base(func(a *v2beta1.AzureKeyVaultSecret) {
			a.Spec.Vault = v2beta1.AzureKeyVault{}
			a.Spec.Output.Secret.DataKey = ""
			a.Unreadable = []v2beta1.UnreadableField{{Path: "spec.vault", Want: "an object"}, {Path: "spec.output.secret.dataKey", Want: "a string"}}
		}), map[string]bool{"spec.vault": false, "spec.output.secret.dataKey": true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]bool{}
			ps := v2beta1.Check(tc.akvs)
			for _, p := range ps {
				got[p.Field] = p.OutputOnly
			}
			if len(got) == 0 {
				got = nil
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("problems %q, want fields %v", ps, tc.want)
			}
			injection := 0
			for _, outputOnly := range tc.want {
				if !outputOnly {
					injection++
				}
			}
			if n := len(ps.ForInjection()); n != injection {
				t.Errorf("%d problems for injection, want %d: %q", n, injection, ps)
			}
		})
	}
}

// TestTransformNames: transform wins; v1alpha1's transforms when it is
// empty; none without an output.
func TestTransformNames(t *testing.T) {
	for _, tc := range []struct {
		out  *v2beta1.AzureKeyVaultOutput
		want []string
	}{
		{nil, nil},
		{&v2beta1.AzureKeyVaultOutput{}, nil},
		{&v2beta1.AzureKeyVaultOutput{Transforms: []v2beta1.Transform{"trim"}}, []string{"trim"}},
		{&v2beta1.AzureKeyVaultOutput{Transform: []v2beta1.Transform{"base64encode", "trim"}, Transforms: []v2beta1.Transform{"trim"}}, []string{"base64encode", "trim"}},
	} {
		if got := tc.out.TransformNames(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.out, got, tc.want)
		}
	}
}
