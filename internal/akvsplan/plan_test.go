package akvsplan_test

import (
	"math"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/akvsplan"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/output"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

func akvs(obj v2beta1.AzureKeyVaultObject, out *v2beta1.AzureKeyVaultOutput, refresh *metav1.Duration) *v2beta1.AzureKeyVaultSecret {
	return &v2beta1.AzureKeyVaultSecret{Spec: v2beta1.AzureKeyVaultSecretSpec{
		Vault: v2beta1.AzureKeyVault{Name: "kv", Object: obj}, Output: out, RefreshInterval: refresh,
	}}
}

// TestOf holds the plan to what the controller, the webhook and the
// resolver each read from an AzureKeyVaultSecret before they shared it.
func TestOf(t *testing.T) {
	for _, c := range []struct {
		name string
		in   *v2beta1.AzureKeyVaultSecret
		want akvsplan.Plan
		obj  keyvault.Ref
	}{{
		name: "injector only: no output",
		in:   akvs(v2beta1.AzureKeyVaultObject{Name: "db", Type: v2beta1.ObjectTypeSecret}, nil, nil),
		want: akvsplan.Plan{Backend: keyvault.Backend, Ref: podcontract.Ref{Vault: "kv", Name: "db", Type: "secret"}},
		obj:  keyvault.Ref{Backend: keyvault.Backend, Store: "kv", Kind: keyvault.KindSecret, Name: "db"},
	}, {
		name: "secret output without a type is created Opaque; transforms reach the ref and the output",
		in: akvs(v2beta1.AzureKeyVaultObject{Name: "db", Type: v2beta1.ObjectTypeSecret, Version: "v1"},
			&v2beta1.AzureKeyVaultOutput{Transform: []v2beta1.Transform{"trim"}, Secret: &v2beta1.AzureKeyVaultOutputSecret{Name: "out", DataKey: "pw"}},
			&metav1.Duration{Duration: time.Hour}),
		want: akvsplan.Plan{
			Backend: keyvault.Backend,
			Ref:     podcontract.Ref{Vault: "kv", Name: "db", Type: "secret", Version: "v1", Transform: []string{"trim"}},
			Outputs: []akvsplan.Output{{Name: "out", CreateType: "Opaque",
				Spec: output.Spec{ObjectType: "secret", Transforms: []string{"trim"}, Target: output.TargetSecret, DataKey: "pw"}}},
			RefreshInterval: time.Hour,
		},
		obj: keyvault.Ref{Backend: keyvault.Backend, Store: "kv", Kind: keyvault.KindSecret, Name: "db", Version: "v1"},
	}, {
		name: "certificate into a TLS Secret and a ConfigMap, Secret first",
		in: akvs(v2beta1.AzureKeyVaultObject{Name: "tls", Type: v2beta1.ObjectTypeCertificate},
			&v2beta1.AzureKeyVaultOutput{
				Secret:    &v2beta1.AzureKeyVaultOutputSecret{Name: "tls-out", Type: "kubernetes.io/tls"},
				ConfigMap: &v2beta1.AzureKeyVaultOutputConfigMap{Name: "ca", DataKey: "ca.crt"},
			}, nil),
		want: akvsplan.Plan{
			Backend: keyvault.Backend,
			Ref:     podcontract.Ref{Vault: "kv", Name: "tls", Type: "certificate"},
			Outputs: []akvsplan.Output{
				{Name: "tls-out", CreateType: "kubernetes.io/tls", Spec: output.Spec{ObjectType: "certificate", Target: output.TargetSecret, SecretType: "kubernetes.io/tls"}},
				{Name: "ca", Spec: output.Spec{ObjectType: "certificate", Target: output.TargetConfigMap, DataKey: "ca.crt"}},
			},
		},
		obj: keyvault.Ref{Backend: keyvault.Backend, Store: "kv", Kind: keyvault.KindCertificate, Name: "tls"},
	}, {
		name: "empty output names are no outputs; v1alpha1 transforms apply; a zero refresh interval is the process's",
		in: akvs(v2beta1.AzureKeyVaultObject{Name: "k", Type: v2beta1.ObjectTypeKey},
			&v2beta1.AzureKeyVaultOutput{Transforms: []v2beta1.Transform{"base64encode"}, Secret: &v2beta1.AzureKeyVaultOutputSecret{}, ConfigMap: &v2beta1.AzureKeyVaultOutputConfigMap{}},
			&metav1.Duration{}),
		want: akvsplan.Plan{Backend: keyvault.Backend, Ref: podcontract.Ref{Vault: "kv", Name: "k", Type: "key", Transform: []string{"base64encode"}}},
		obj:  keyvault.Ref{Backend: keyvault.Backend, Store: "kv", Kind: keyvault.KindKey, Name: "k"},
	}, {
		name: "multi-key-value secret: a Key Vault secret, its content type kept",
		in: akvs(v2beta1.AzureKeyVaultObject{Name: "cfg", Type: v2beta1.ObjectTypeMultiKeyValueSecret, ContentType: v2beta1.ContentTypeYAML},
			&v2beta1.AzureKeyVaultOutput{ConfigMap: &v2beta1.AzureKeyVaultOutputConfigMap{Name: "cfg"}}, &metav1.Duration{Duration: -time.Minute}),
		want: akvsplan.Plan{
			Backend: keyvault.Backend,
			Ref:     podcontract.Ref{Vault: "kv", Name: "cfg", Type: "multi-key-value-secret", ContentType: "application/x-yaml"},
			Outputs: []akvsplan.Output{{Name: "cfg", Spec: output.Spec{ObjectType: "multi-key-value-secret", ContentType: "application/x-yaml", Target: output.TargetConfigMap}}},
		},
		obj: keyvault.Ref{Backend: keyvault.Backend, Store: "kv", Kind: keyvault.KindSecret, Name: "cfg"},
	}} {
		t.Run(c.name, func(t *testing.T) {
			got := akvsplan.Of(c.in)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("plan\n got %+v\nwant %+v", got, c.want)
			}
			if o := got.Object(); o != c.obj {
				t.Errorf("object %v, want %v", o, c.obj)
			}
		})
	}
}

// TestMaxAge: the refresh rule the controller and the resolver share.
func TestMaxAge(t *testing.T) {
	const def = 10 * time.Minute
	for _, c := range []struct {
		name             string
		plan             akvsplan.Plan
		interval, maxAge time.Duration
		pinned           bool
	}{
		{"process default", akvsplan.Plan{Ref: podcontract.Ref{Name: "a"}}, def, def, false},
		{"spec.refreshInterval wins", akvsplan.Plan{RefreshInterval: time.Minute}, time.Minute, time.Minute, false},
		{"a pinned version is never too old", akvsplan.Plan{Ref: podcontract.Ref{Version: "v1"}, RefreshInterval: time.Minute}, time.Minute, math.MaxInt64, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.plan.Interval(def); got != c.interval {
				t.Errorf("Interval = %v, want %v", got, c.interval)
			}
			if got := c.plan.MaxAge(def); got != c.maxAge {
				t.Errorf("MaxAge = %v, want %v", got, c.maxAge)
			}
			if got := c.plan.Pinned(); got != c.pinned {
				t.Errorf("Pinned = %v, want %v", got, c.pinned)
			}
		})
	}
}
