package crdcheck_test

import (
	"context"
	"os"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/latchkey-dev/latchkey/internal/crdcheck"
	"github.com/latchkey-dev/latchkey/internal/kubetest"
)

const (
	ours    = "../../config/crd/spv.no_azurekeyvaultsecrets.yaml"
	akv2k8s = "testdata/akv2k8s-crd.yaml"
)

func load(t *testing.T, path string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(raw, crd); err != nil {
		t.Fatal(err)
	}
	return crd
}

// TestCheck: latchkey's generated CRD passes; akv2k8s's shape, and ours
// with v2beta1 no longer stored or a field gone, are refused with the fix.
func TestCheck(t *testing.T) {
	if err := crdcheck.Check(load(t, ours)); err != nil {
		t.Fatalf("latchkey's own CRD refused: %v", err)
	}
	notStored := load(t, ours)
	for i := range notStored.Spec.Versions {
		notStored.Spec.Versions[i].Storage = notStored.Spec.Versions[i].Name == "v1"
	}
	noConditions := load(t, ours)
	for i := range noConditions.Spec.Versions {
		delete(noConditions.Spec.Versions[i].Schema.OpenAPIV3Schema.Properties["status"].Properties, "conditions")
	}
	for name, tc := range map[string]struct {
		crd  *apiextensionsv1.CustomResourceDefinition
		want string
	}{
		"akv2k8s":                {load(t, akv2k8s), "lacks spec.refreshInterval, status.conditions, status.observedGeneration"},
		"v2beta1 not stored":     {notStored, "does not serve and store v2beta1"},
		"status.conditions gone": {noConditions, "lacks status.conditions"},
	} {
		err := crdcheck.Check(tc.crd)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), crdcheck.Fix) {
			t.Errorf("%s: %v, want an error saying %q and the fix", name, err, tc.want)
		}
	}
}

// TestVerify reads the CRD an API server serves: akv2k8s's is refused,
// and once latchkey's is applied over it, accepted.
func TestVerify(t *testing.T) {
	_, cfg := kubetest.Start(t, kubetest.Options{CRDDirectoryPaths: []string{akv2k8s}})
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := crdcheck.Verify(ctx, c); err == nil || !strings.Contains(err.Error(), "not latchkey's") {
		t.Fatalf("akv2k8s's CRD served: %v, want a refusal", err)
	}
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{ours}}); err != nil {
		t.Fatal(err)
	}
	if err := crdcheck.Verify(ctx, c); err != nil {
		t.Fatalf("latchkey's CRD served: %v", err)
	}
}
