package resolver

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/scheme"
)

// maxAges records the maxAge of each read asked of it.
type maxAges []time.Duration

func (m *maxAges) Get(_ context.Context, ref keyvault.Ref, maxAge time.Duration) (keyvault.Object, error) {
	*m = append(*m, maxAge)
	return keyvault.Object{Ref: ref, Version: "v1", Value: []byte("refresh-test-value")}, nil
}

// TestRefreshIntervalMinimum: the age a served read may have is the
// AzureKeyVaultSecret's spec.refreshInterval, raised to the minimum when
// shorter (an object stored before the CRD refused it: a fake client,
// which applies no CRD rule, stands for it), else the resolver's own.
func TestRefreshIntervalMinimum(t *testing.T) {
	for _, tc := range []struct {
		spec *metav1.Duration
		want time.Duration
	}{
		{&metav1.Duration{Duration: time.Millisecond}, v2beta1.MinRefreshInterval},
		{&metav1.Duration{Duration: 29 * time.Second}, v2beta1.MinRefreshInterval},
		{&metav1.Duration{Duration: time.Minute}, time.Minute},
		{nil, time.Hour},
	} {
		a := &v2beta1.AzureKeyVaultSecret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "app"},
			Spec: v2beta1.AzureKeyVaultSecretSpec{
				Vault:           v2beta1.AzureKeyVault{Name: "kv", Object: v2beta1.AzureKeyVaultObject{Name: "o", Type: v2beta1.ObjectTypeSecret}},
				RefreshInterval: tc.spec,
			},
		}
		var got maxAges
		v := &Values{
			AKVS:    fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(a).Build(),
			Tenancy: allowEverything{}, Objects: &got, RefreshInterval: time.Hour,
		}
		if _, err := v.Resolve(context.Background(), "team", []Wanted{{Var: "V", Placeholder: podcontract.Placeholder{AKVS: "app"}}}); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("spec.refreshInterval %v: reads with maxAge %v, want %v", tc.spec, got, tc.want)
		}
	}
}

type allowEverything struct{}

func (allowEverything) Allows(string, string, string) bool { return true }
