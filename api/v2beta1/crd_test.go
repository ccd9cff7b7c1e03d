package v2beta1_test

import (
	"os"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// TestEveryFieldIsDescribed walks the generated CRD: every field of every
// served version has a description, so `kubectl explain akvs.spec…` says
// what each field is for (the descriptions are these types' doc comments;
// hack/crdversions gives the older versions the same schema). metadata is
// the exception: the API server describes it with ObjectMeta's own schema.
func TestEveryFieldIsDescribed(t *testing.T) {
	raw, err := os.ReadFile("../../config/crd/spv.no_azurekeyvaultsecrets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(raw, crd); err != nil {
		t.Fatal(err)
	}
	var served int
	for _, v := range crd.Spec.Versions {
		if !v.Served {
			continue
		}
		served++
		root := v.Schema.OpenAPIV3Schema
		if root.Description == "" {
			t.Errorf("%s: the kind has no description", v.Name)
		}
		for name, p := range root.Properties {
			if name != "metadata" {
				undescribed(t, v.Name, name, p)
			}
		}
	}
	if served != 4 {
		t.Errorf("%d served versions, want v1alpha1, v1, v2alpha1 and v2beta1", served)
	}
}

// undescribed reports the fields under path that have no description.
func undescribed(t *testing.T, version, path string, s apiextensionsv1.JSONSchemaProps) {
	t.Helper()
	if s.Description == "" {
		t.Errorf("%s: %s has no description", version, path)
	}
	for name, p := range s.Properties {
		undescribed(t, version, path+"."+name, p)
	}
	if s.Items != nil && s.Items.Schema != nil {
		for name, p := range s.Items.Schema.Properties {
			undescribed(t, version, path+"[]."+name, p)
		}
	}
}
