package controller

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
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

func (t target) render(obj keyvault.Object) (map[string][]byte, error) {
	return output.Render(t.spec, obj)
}

// targetsOf lists the outputs an AzureKeyVaultSecret asks for. An output
// with an empty name is no output, as akv2k8s read it (v2beta1.Check
// decides everything else about the names).
func targetsOf(akvs *v2beta1.AzureKeyVaultSecret) []target {
	out := akvs.Spec.Output
	if out == nil {
		return nil
	}
	obj := akvs.Spec.Vault.Object
	base := output.Spec{
		ObjectType:  string(obj.Type),
		ContentType: string(obj.ContentType),
		Transforms:  out.TransformNames(),
	}
	var ts []target
	if s := out.Secret; s != nil && s.Name != "" {
		spec := base
		spec.Target, spec.SecretType, spec.DataKey = output.TargetSecret, string(s.Type), s.DataKey
		createType := string(s.Type)
		if createType == "" {
			createType = string(corev1.SecretTypeOpaque)
		}
		ts = append(ts, target{kind: secretKind{}, name: s.Name, spec: spec, createType: createType})
	}
	if cm := out.ConfigMap; cm != nil && cm.Name != "" {
		spec := base
		spec.Target, spec.DataKey = output.TargetConfigMap, cm.DataKey
		ts = append(ts, target{kind: configMapKind{}, name: cm.Name, spec: spec})
	}
	return ts
}

// targets reports whether akvs writes to the output kind/name. One whose
// spec cannot be used is taken to write to every output it holds keys in:
// a typo in a transform, or a field akv2k8s's schema let through, must not
// cost its outputs their keys (they stay until the spec is fixed, or the
// AzureKeyVaultSecret deleted).
func targets(akvs *v2beta1.AzureKeyVaultSecret, kind, name string) bool {
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

// refOf names the Key Vault object an AzureKeyVaultSecret reads.
func refOf(akvs *v2beta1.AzureKeyVaultSecret) keyvault.Ref {
	obj := akvs.Spec.Vault.Object
	kind := keyvault.KindSecret
	switch obj.Type {
	case v2beta1.ObjectTypeCertificate:
		kind = keyvault.KindCertificate
	case v2beta1.ObjectTypeKey:
		kind = keyvault.KindKey
	}
	return keyvault.Ref{Vault: akvs.Spec.Vault.Name, Kind: kind, Name: obj.Name, Version: obj.Version}
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
