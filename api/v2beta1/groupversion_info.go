// Package v2beta1 is the stored version of the spv.no API: the
// AzureKeyVaultSecret of akv2k8s, extended with refresh and status fields.
//
// The other served versions (v1alpha1, v1, v2alpha1) share this schema: the
// CRD is generated from these types and every version is given the same
// schema (hack/crdversions), so no conversion webhook is needed and objects
// created through any version read back identically.
// +kubebuilder:object:generate=true
// +groupName=spv.no
package v2beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of these types.
	GroupVersion = schema.GroupVersion{Group: "spv.no", Version: "v2beta1"}

	// SchemeBuilder registers these types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds these types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &AzureKeyVaultSecret{}, &AzureKeyVaultSecretList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
