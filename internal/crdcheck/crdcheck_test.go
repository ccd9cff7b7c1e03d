package crdcheck_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/latchkey-dev/latchkey/internal/crdcheck"
	"github.com/latchkey-dev/latchkey/internal/devtools/kubetest"
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

// TestAkv2k8sCRDMatchesUpstream compares testdata/akv2k8s-crd.yaml with
// akv2k8s's published CRD, descriptions aside: names, scope, and each
// version's schema, subresources and printer columns. The published file is
// not in this repository; point LATCHKEY_AKV2K8S_CRD at a copy, e.g.
//
//	git -C <public-helm-charts> show 17b554b:stable/akv2k8s/crds/azurekeyvaultsecret.yaml > /tmp/akv2k8s-crd.yaml
//	LATCHKEY_AKV2K8S_CRD=/tmp/akv2k8s-crd.yaml go test ./internal/crdcheck -run Upstream
func TestAkv2k8sCRDMatchesUpstream(t *testing.T) {
	path := os.Getenv("LATCHKEY_AKV2K8S_CRD")
	if path == "" {
		t.Skip("LATCHKEY_AKV2K8S_CRD is not set: nothing to compare testdata/akv2k8s-crd.yaml with")
	}
	ours, upstream := load(t, akv2k8s), load(t, path)
	for _, crd := range []*apiextensionsv1.CustomResourceDefinition{ours, upstream} {
		crd.ObjectMeta, crd.Status = metav1.ObjectMeta{}, apiextensionsv1.CustomResourceDefinitionStatus{}
		for i := range crd.Spec.Versions {
			v := &crd.Spec.Versions[i]
			undescribe(v.Schema.OpenAPIV3Schema)
			for j := range v.AdditionalPrinterColumns {
				v.AdditionalPrinterColumns[j].Description = ""
			}
		}
	}
	if !equality.Semantic.DeepEqual(ours.Spec, upstream.Spec) {
		a, _ := yaml.Marshal(ours.Spec)
		b, _ := yaml.Marshal(upstream.Spec)
		t.Errorf("testdata/akv2k8s-crd.yaml differs from %s:\n--- ours\n%s\n--- upstream\n%s", path, a, b)
	}
}

// undescribe drops descriptions and orders required lists, which YAML
// writers order differently.
func undescribe(s *apiextensionsv1.JSONSchemaProps) {
	if s == nil {
		return
	}
	s.Description = ""
	slices.Sort(s.Required)
	for k, p := range s.Properties {
		undescribe(&p)
		s.Properties[k] = p
	}
	if s.Items != nil {
		undescribe(s.Items.Schema)
	}
}
