package scheme

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
)

// Slim is the cache transform of latchkey's informers: it drops what no
// latchkey server reads from a cached object, managedFields and kubectl's
// last-applied copy of the whole object. With 10,000 AzureKeyVaultSecrets
// that is megabytes, and the copy is never carried into outputs.
func Slim(in any) (any, error) {
	if obj, err := meta.Accessor(in); err == nil {
		obj.SetManagedFields(nil)
		if a := obj.GetAnnotations(); a != nil {
			if _, ok := a[corev1.LastAppliedConfigAnnotation]; ok {
				delete(a, corev1.LastAppliedConfigAnnotation)
				obj.SetAnnotations(a)
			}
		}
	}
	return in, nil
}
