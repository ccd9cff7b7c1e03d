// Package crdcheck makes sure the AzureKeyVaultSecret CRD the API server
// serves is latchkey's. akv2k8s's CRD has the same name, group and
// versions, so a cluster migrating from it may still serve the old schema
// (CRDs in a chart's crds/ folder are never upgraded by Helm). Under that
// schema the API server silently prunes the fields latchkey added, such as
// spec.refreshInterval, and shows akv2k8s's columns: the controller must
// refuse to start and say how to fix it, rather than run on quietly wrong.
package crdcheck

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
)

// Name is the CRD's name, shared with akv2k8s.
const Name = "azurekeyvaultsecrets.spv.no"

// Fix is what the error tells the user to run.
const Fix = "kubectl apply --server-side --force-conflicts -f charts/latchkey/crds/ (see docs/migrate-from-akv2k8s.md)"

// required are schema paths of the storage version that latchkey's CRD
// declares and akv2k8s's does not: without them the API server prunes
// what the controller and users write there.
var required = [][]string{
	{"spec", "refreshInterval"},
	{"status", "conditions"},
	{"status", "observedGeneration"},
}

// Check decides whether crd is latchkey's: the version latchkey stores
// (v2beta1) is served and stored, and its schema declares every required
// field. The error names what is missing and the fix.
func Check(crd *apiextensionsv1.CustomResourceDefinition) error {
	want := v2beta1.GroupVersion.Version
	var v *apiextensionsv1.CustomResourceDefinitionVersion
	for i := range crd.Spec.Versions {
		if crd.Spec.Versions[i].Name == want {
			v = &crd.Spec.Versions[i]
		}
	}
	switch {
	case v == nil:
		return fmt.Errorf("the %s CRD has no version %s: apply latchkey's CRDs: %s", Name, want, Fix)
	case !v.Served || !v.Storage:
		return fmt.Errorf("the %s CRD does not serve and store %s: apply latchkey's CRDs: %s", Name, want, Fix)
	case v.Schema == nil || v.Schema.OpenAPIV3Schema == nil:
		return fmt.Errorf("the %s CRD's %s has no schema: apply latchkey's CRDs: %s", Name, want, Fix)
	}
	var missing []string
	for _, path := range required {
		if !declares(v.Schema.OpenAPIV3Schema, path) {
			missing = append(missing, strings.Join(path, "."))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the %s CRD the API server serves is not latchkey's (akv2k8s's?): its %s schema lacks %s, which the API server would prune; apply latchkey's CRDs: %s",
			Name, want, strings.Join(missing, ", "), Fix)
	}
	return nil
}

// declares reports whether schema lists the property path explicitly.
func declares(schema *apiextensionsv1.JSONSchemaProps, path []string) bool {
	for _, p := range path {
		next, ok := schema.Properties[p]
		if !ok {
			return false
		}
		schema = &next
	}
	return true
}

// Verify reads the served CRD and checks it. It needs `get` on
// customresourcedefinitions (resourceName azurekeyvaultsecrets.spv.no).
func Verify(ctx context.Context, r client.Reader) error {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	if err := r.Get(ctx, types.NamespacedName{Name: Name}, u); err != nil {
		return fmt.Errorf("read the %s CRD (is it applied? %s): %w", Name, Fix, err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, crd); err != nil {
		return errors.Join(fmt.Errorf("decode the %s CRD", Name), err)
	}
	return Check(crd)
}
