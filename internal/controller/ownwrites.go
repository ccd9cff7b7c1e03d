package controller

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ownWrites remembers the resourceVersion of the last write this controller
// made to each output, so the watch on outputs can tell our own writes from
// others' edits: an event carrying a version we wrote needs no reconcile.
// Without it, every new output would reconcile its owner a second time.
// The zero value is ready to use; entries are small and bounded by the
// number of outputs.
type ownWrites struct {
	versions sync.Map // ownWriteKey -> resourceVersion
}

type ownWriteKey struct {
	kind string
	name types.NamespacedName
}

func (w *ownWrites) record(kind string, obj client.Object) {
	w.versions.Store(ownWriteKey{kind, client.ObjectKeyFromObject(obj)}, obj.GetResourceVersion())
}

// wrote reports whether obj is, to the version, what this controller wrote.
func (w *ownWrites) wrote(kind string, obj client.Object) bool {
	v, ok := w.versions.Load(ownWriteKey{kind, client.ObjectKeyFromObject(obj)})
	return ok && v == obj.GetResourceVersion()
}
