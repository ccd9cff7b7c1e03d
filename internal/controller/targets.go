package controller

import (
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/akvsplan"
	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/output"
)

// target is one output of an AzureKeyVaultSecret: a Secret or a ConfigMap.
type target struct {
	kind outputKind
	name string
	spec output.Spec
	// createType is the type a Secret is created with: the spec's verbatim
	// (akv2k8s wrote "opaque" as given), else Opaque.
	createType string
}

func (t target) render(obj backend.Object) (map[string][]byte, error) {
	return output.Render(t.spec, obj)
}

// targetsOf lists the outputs an AzureKeyVaultSecret asks for (akvsplan
// decides which).
func targetsOf(akvs *v2beta1.AzureKeyVaultSecret) []target {
	var ts []target
	for _, o := range akvsplan.Of(akvs).Outputs {
		var kind outputKind = configMapKind{}
		if o.Spec.Target == output.TargetSecret {
			kind = secretKind{}
		}
		ts = append(ts, target{kind: kind, name: o.Name, spec: o.Spec, createType: o.CreateType})
	}
	return ts
}

// writesTo reports whether akvs writes to the output kind/name. One whose
// spec cannot be used is taken to write to every output it holds keys in:
// a typo in a transform, or a field akv2k8s's schema let through, must not
// cost its outputs their keys (they stay until the spec is fixed, or the
// AzureKeyVaultSecret deleted).
func writesTo(akvs *v2beta1.AzureKeyVaultSecret, kind, name string) bool {
	if len(v2beta1.Check(akvs)) > 0 {
		return true
	}
	for _, t := range targetsOf(akvs) {
		if t.kind.name() == kind && t.name == name {
			return true
		}
	}
	return false
}

func claimantOf(akvs *v2beta1.AzureKeyVaultSecret) claimant {
	return claimant{Name: akvs.Name, UID: akvs.UID, Created: akvs.CreationTimestamp.Time}
}

// setOwnerRef makes akvs an owner of obj, so deleting every owner lets the
// garbage collector delete an output latchkey created. It is not a controller
// reference: several AzureKeyVaultSecrets may share an output.
func setOwnerRef(c client.Client, akvs *v2beta1.AzureKeyVaultSecret, obj client.Object) error {
	if err := controllerutil.SetOwnerReference(akvs, obj, c.Scheme()); err != nil {
		return fmt.Errorf("set owner reference: %w", err)
	}
	return nil
}
